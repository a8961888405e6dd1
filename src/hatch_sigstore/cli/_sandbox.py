"""``hatch-sigstore sandbox ...``: local stand-ins for rehearsals. NEVER for production.

``sandbox demo`` runs the whole pipeline locally (build, publish, consumer verification);
``sandbox up``/``down`` leave both stand-ins running for a rehearsal by hand; ``sandbox serve``
runs the local Sigstore alone in the foreground. Registration imports argparse only.
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
    _register_demo(actions)
    _register_up_down(actions)
    _register_serve(actions)


_DEFAULT_STATE = ".sandbox"
_OBJECT_STORAGE_HELP = (
    "keep package files in a local S3-like object store: downloads redirect there"
)


def _register_demo(actions: Any) -> None:
    demo = actions.add_parser(
        "demo",
        help="run the whole pipeline locally: hatch build, hatch publish -p gitlab, download",
        description="Start the local Sigstore and the GitLab registry stand-in, build "
        "example-project with `hatch build` under a GitLab-CI-like environment (rewrite, sign, "
        "self-verify), publish it with `hatch publish -p gitlab`, then download and verify it "
        "as a consumer with `hatch-sigstore download`. Exit status 0 only if every stage passed.",
    )
    demo.add_argument(
        "--example",
        metavar="DIR",
        help="the project to release (default: ./example-project, or the checkout's)",
    )
    demo.add_argument(
        "--keep",
        metavar="DIR",
        help="keep the workspace (built, published and downloaded files) in DIR",
    )
    demo.add_argument(
        "--object-storage",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=_OBJECT_STORAGE_HELP,
    )
    demo.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from hatch_sigstore.sandbox.demo import run_demo as demo

    result = demo(example=args.example, keep=args.keep, object_storage=args.object_storage)
    return 0 if result.ok else 1


def _register_up_down(actions: Any) -> None:
    up = actions.add_parser(
        "up",
        help="start both stand-ins in the background and write an env file",
        description="Start the local Sigstore and the GitLab registry stand-in in the "
        "background, create a project with a job token and a personal token, and write "
        f"STATE_DIR/sandbox.env (default {_DEFAULT_STATE}/) with the variables a GitLab job "
        "would have. `source` it to rehearse your own release by hand. NEVER for production.",
    )
    up.add_argument("--state-dir", default=_DEFAULT_STATE, metavar="DIR")
    up.add_argument(
        "--project",
        default="rehearsal/my-project",
        metavar="GROUP/PROJECT",
        help="the project path to create (default: rehearsal/my-project)",
    )
    up.add_argument("--object-storage", action="store_true", help=_OBJECT_STORAGE_HELP)
    up.set_defaults(func=run_up)
    down = actions.add_parser("down", help="stop what `sandbox up` started")
    down.add_argument("--state-dir", default=_DEFAULT_STATE, metavar="DIR")
    down.set_defaults(func=run_down)
    # The detached process behind `up`; not for direct use.
    services = actions.add_parser("services")
    services.add_argument("--state-dir", required=True)
    services.add_argument("--project", required=True)
    services.add_argument("--object-storage", action="store_true")
    services.set_defaults(func=run_services)


def run_up(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hatch_sigstore.sandbox.rehearsal import up

    env_file = up(
        Path(args.state_dir), project_path=args.project, object_storage=args.object_storage
    )
    print(
        "hatch-sigstore sandbox is up (NEVER for production).\n"
        f"  variables:  source {env_file}\n"
        "  then:       hatch build && hatch publish -p gitlab   (in your project)\n"
        f"  stop:       hatch-sigstore sandbox down --state-dir {args.state_dir}"
    )
    return 0


def run_down(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hatch_sigstore.sandbox.rehearsal import down

    stopped = down(Path(args.state_dir))
    print("hatch-sigstore sandbox stopped." if stopped else "No sandbox was running.")
    return 0


def run_services(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hatch_sigstore.sandbox.rehearsal import run_services as services

    return services(
        Path(args.state_dir), project_path=args.project, object_storage=args.object_storage
    )


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
    serve.add_argument(
        "--rekor-v2",
        action="store_true",
        help="also serve a Rekor v2 log and an RFC 3161 timestamp authority, and list both in "
        "the trust config (for sign --rekor-version 2)",
    )
    serve.add_argument(
        "--pypi",
        action="store_true",
        help="also run a PyPI stand-in (trusted publishing, PEP 740 uploads, simple API) that "
        "takes this sandbox's ID tokens and trusts its Sigstore",
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
            rekor_v2=args.rekor_v2,
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
    pypi = None
    if args.pypi:
        from hatch_sigstore.sandbox.pypi import PyPIIndex

        pypi = PyPIIndex.beside(sandbox, host=args.host)
        print(pypi.banner(), flush=True)
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
        if pypi is not None:
            pypi.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("hatch-sigstore sandbox: stopped.", file=sys.stderr, flush=True)
    return 0
