"""``hatch-sigstore sandbox ...``: local stand-ins for rehearsals. NEVER for production.

``sandbox serve`` runs the local Sigstore (OIDC issuer, Fulcio, Rekor v1) in the foreground.
More sub-subcommands (demo, up, down) register here too: each is a function taking the
``sandbox`` sub-subparsers. Registration imports argparse only.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sandbox",
        help="local Sigstore and GitLab stand-ins for rehearsals (NEVER for production)",
        description="Local stand-ins for the public Sigstore and GitLab, on loopback. "
        "Whatever they sign proves nothing: NEVER use them for production.",
    )
    actions = parser.add_subparsers(dest="sandbox_command", metavar="ACTION", required=True)
    _register_serve(actions)


def _register_serve(actions: Any) -> None:
    serve = actions.add_parser(
        "serve",
        help="run the local Sigstore in the foreground until Ctrl-C",
        description="Run a local Sigstore (OIDC issuer, Fulcio, Rekor v1) on loopback until "
        "Ctrl-C or SIGTERM. Prints its URL and the trust config to pass as --trust-config "
        "(or HATCH_SIGSTORE_TRUST_CONFIG). NEVER for production.",
    )
    serve.add_argument(
        "--state-dir",
        metavar="DIR",
        help="where to write trust_config.json and sandbox.json "
        "(default: a temporary directory, removed on exit)",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=int, default=0, help="port to listen on (default: any free port)"
    )
    serve.add_argument(
        "--gitlab-url",
        default="https://gitlab.example.com",
        metavar="URL",
        help="the GitLab server URL that minted tokens name as issuer "
        "(default: https://gitlab.example.com)",
    )
    serve.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="delay added to every request (default: 0)",
    )
    serve.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    import signal
    import sys
    from pathlib import Path

    from hatch_sigstore.errors import ConfigError

    if args.port < 0 or args.port > 65535:
        raise ConfigError(
            f"--port {args.port} is not a TCP port.",
            remediation="Pass a number from 0 (any free port) to 65535.",
        )
    if args.latency < 0:
        raise ConfigError("--latency must not be negative.", remediation="Pass 0 or more.")

    from hatch_sigstore.sandbox.sigstore import LocalSigstore

    try:
        sandbox = LocalSigstore(
            state_dir=Path(args.state_dir) if args.state_dir else None,
            gitlab_url=args.gitlab_url,
            host=args.host,
            port=args.port,
            latency=args.latency,
        )
    except OSError as exc:
        raise ConfigError(
            f"Cannot start the local Sigstore on {args.host}:{args.port}: {exc.strerror or exc}.",
            remediation="Pick another --port (0 picks a free one) or check --state-dir.",
        ) from exc

    if args.host not in ("127.0.0.1", "::1", "localhost"):
        print(
            f"warning: listening on {args.host}, not loopback: anyone who can reach it can mint "
            "tokens and certificates for any identity (harmless only to clients that trust "
            "this sandbox's trust config).",
            file=sys.stderr,
        )

    def stop(signum: int, frame: object) -> None:
        sandbox.request_stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    url = sandbox.url
    print(
        "hatch-sigstore sandbox: local Sigstore (OIDC issuer, Fulcio, Rekor v1). "
        "NEVER FOR PRODUCTION.\n"
        f"  URL:           {url}\n"
        f"  trust config:  {sandbox.trust_config_path}\n"
        f"  token issuer:  {sandbox.gitlab_url}\n"
        f"  mint a token:  curl -s -X POST {url}/sandbox/token "
        """-d '{"project_path": "group/project", "ref": "main"}'\n"""
        f"  sign:          SIGSTORE_ID_TOKEN=$(...) HATCH_SIGSTORE_TRUST_CONFIG="
        f"{sandbox.trust_config_path} hatch-sigstore sign FILE\n"
        "Press Ctrl-C to stop.",
        flush=True,
    )
    try:
        sandbox.serve_forever()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("hatch-sigstore sandbox: stopped.", file=sys.stderr, flush=True)
    return 0
