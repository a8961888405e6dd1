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
        help="the project to release (default: the example project shipped with hatch-sigstore)",
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
    demo.add_argument(
        "--pypi",
        action="store_true",
        help="also publish to the PyPI stand-in (hatch publish -p pypi: trusted publishing, "
        "PEP 740 attestations) and verify that as a consumer (download --index-url); the "
        "pipeline then runs on a sandbox issuer calling itself https://gitlab.com, as PyPI "
        "attests only gitlab.com",
    )
    demo.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from hatch_sigstore.sandbox.demo import run_demo as demo

    result = demo(
        example=args.example, keep=args.keep, object_storage=args.object_storage, pypi=args.pypi
    )
    return 0 if result.ok else 1


_STATE_HELP = (
    "where the sandbox keeps its state (default: a per-user folder for the project you are "
    "in, e.g. ~/.local/state/hatch-sigstore/sandbox/NAME-HASH; see `sandbox status`)"
)


def _add_state_dir(parser: Any) -> None:
    parser.add_argument("--state-dir", metavar="DIR", help=_STATE_HELP)


def _add_pipeline(parser: Any, *, what: str) -> None:
    ref = parser.add_mutually_exclusive_group()
    ref.add_argument("--tag", metavar="NAME", help=f"{what} a tag pipeline for tag NAME")
    ref.add_argument(
        "--branch", metavar="NAME", help=f"{what} a branch pipeline for NAME (default: main)"
    )
    parser.add_argument(
        "--protected",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="whether the ref is protected (CI_COMMIT_REF_PROTECTED, claim ref_protected); "
        "default: yes for tags and for main, no for other branches",
    )


def _state_of(args: argparse.Namespace) -> tuple[Any, Any]:
    """(state folder, project root) for the command line's --state-dir, or the current project."""
    from pathlib import Path

    from hatch_sigstore.sandbox._state import default_state_dir, project_root

    root = project_root()
    return (Path(args.state_dir) if args.state_dir else default_state_dir(root)), root


def _pipeline_of(args: argparse.Namespace) -> Any:
    from hatch_sigstore.sandbox.rehearsal import Pipeline

    if args.tag is None and args.branch is None and args.protected is None:
        return None
    return Pipeline.of(tag=args.tag, branch=args.branch, protected=args.protected)


def _register_up_down(actions: Any) -> None:
    up = actions.add_parser(
        "up",
        help="start both stand-ins in the background and write an env file",
        description="Start the local Sigstore and the GitLab registry stand-in in the "
        "background, create a project with a job token and a personal token, and write "
        "sandbox.env with the variables a GitLab job of a branch pipeline (default: main) or "
        "a tag pipeline (--tag) would have, its ID token included. `source` it to rehearse "
        "your own release by hand. The state lives in a per-user folder, never in your "
        "project. NEVER for production.",
    )
    _add_state_dir(up)
    up.add_argument(
        "--project",
        default="rehearsal/my-project",
        metavar="GROUP/PROJECT",
        help="the project path to create (default: rehearsal/my-project)",
    )
    _add_pipeline(up, what="rehearse")
    up.add_argument("--object-storage", action="store_true", help=_OBJECT_STORAGE_HELP)
    up.set_defaults(func=run_up)
    down = actions.add_parser("down", help="stop what `sandbox up` started")
    _add_state_dir(down)
    down.set_defaults(func=run_down)
    status = actions.add_parser(
        "status", help="say whether a sandbox runs for this project, and where its files are"
    )
    _add_state_dir(status)
    status.add_argument(
        "--env-file",
        action="store_true",
        help="print only the env file's path, for: "
        'source "$(hatch-sigstore sandbox status --env-file)"',
    )
    status.set_defaults(func=run_status)
    token = actions.add_parser(
        "token",
        help="print a fresh ID token of the running sandbox's job (the point of this command)",
        description="Mint another GitLab-CI-shaped ID token from the running sandbox, for its "
        "project and pipeline (or --tag/--branch), and print it on stdout, where it is meant "
        "to go: SIGSTORE_ID_TOKEN=$(hatch-sigstore sandbox token). With --output FILE it is "
        "written to FILE (mode 0600) and nothing is printed. The claims are those of GitLab's "
        "id_tokens (see the README). NEVER for production.",
    )
    _add_state_dir(token)
    token.add_argument(
        "--aud",
        default="sigstore",
        metavar="AUDIENCE",
        help="the aud claim: sigstore (for signing; the default) or pypi (trusted publishing)",
    )
    _add_pipeline(token, what="for")
    token.add_argument(
        "--expires-in", type=int, default=3600, metavar="SECONDS", help="lifetime (default 3600)"
    )
    token.add_argument("--output", "-o", metavar="FILE", help="write the token to FILE instead")
    token.set_defaults(func=run_token)
    # The detached process behind `up`; not for direct use.
    services = actions.add_parser("services")
    services.add_argument("--state-dir", required=True)
    services.add_argument("--project", required=True)
    services.add_argument("--pipeline", required=True)
    services.add_argument("--project-root")
    services.add_argument("--object-storage", action="store_true")
    services.set_defaults(func=run_services)


def run_up(args: argparse.Namespace) -> int:
    import sys

    from hatch_sigstore.sandbox.rehearsal import Pipeline, up

    state, root = _state_of(args)
    legacy = root / ".sandbox"
    if (legacy / "sandbox.env").exists() or (legacy / "registry").is_dir():
        print(
            f"warning: {legacy} is the state folder of an older hatch-sigstore sandbox, inside "
            "your project: delete it (rm -r .sandbox). It holds tokens, and an sdist without an "
            "include list would ship it.",
            file=sys.stderr,
        )
    pipeline = _pipeline_of(args) or Pipeline()
    env_file = up(
        state,
        project_path=args.project,
        pipeline=pipeline,
        project_root=root,
        object_storage=args.object_storage,
    )
    print(
        "hatch-sigstore sandbox is up (NEVER for production).\n"
        f"  pipeline:   {pipeline.ref_type} {pipeline.ref}"
        f" ({'protected' if pipeline.protected else 'unprotected'})\n"
        f"  variables:  source {env_file}\n"
        "  then:       hatch build && hatch publish -p gitlab   (in your project)\n"
        "  a token:    hatch-sigstore sandbox token [--aud pypi]\n"
        "  stop:       hatch-sigstore sandbox down"
        + (f" --state-dir {args.state_dir}" if args.state_dir else "   (from the project)")
    )
    return 0


def run_down(args: argparse.Namespace) -> int:
    from hatch_sigstore.sandbox.rehearsal import down

    state, _ = _state_of(args)
    stopped = down(state)
    print("hatch-sigstore sandbox stopped." if stopped else f"No sandbox was running ({state}).")
    return 0


def run_status(args: argparse.Namespace) -> int:
    import sys

    from hatch_sigstore.sandbox.rehearsal import ENV_FILE, read_info

    state, root = _state_of(args)
    info = read_info(state)
    if info is None:
        message = f"No sandbox is running for {root} (state folder {state})."
        print(message, file=sys.stderr if args.env_file else sys.stdout)
        return 3  # like `systemctl status`: not running
    if args.env_file:
        print(state / ENV_FILE)
        return 0
    pipeline = info["pipeline"]
    print(
        f"A sandbox is running for {info.get('project_root') or root}.\n"
        f"  state:      {state}\n"
        f"  variables:  source {state / ENV_FILE}\n"
        f"  pipeline:   {pipeline['ref_type']} {pipeline['ref']}\n"
        f"  project:    {info['project_path']} (id {info['project_id']})\n"
        f"  registry:   {info['api_url']}\n"
        f"  Sigstore:   {info['sigstore_url']}"
    )
    return 0


def run_token(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hatch_sigstore.errors import ConfigError
    from hatch_sigstore.sandbox.rehearsal import mint_token, write_private

    state, _ = _state_of(args)
    token = mint_token(
        state, audience=args.aud, pipeline=_pipeline_of(args), expires_in=args.expires_in
    )
    if args.output:
        try:
            write_private(Path(args.output), token + "\n")
        except OSError as exc:
            raise ConfigError(
                f"Cannot write the token to -o {args.output}: {exc.strerror or exc}.",
                remediation="Pass -o the path of a file in an existing folder you can write "
                "to (it is created with mode 0600), or leave -o out to print the token.",
            ) from None
    else:
        print(token)
    return 0


def run_services(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from hatch_sigstore.sandbox.rehearsal import Pipeline
    from hatch_sigstore.sandbox.rehearsal import run_services as services

    return services(
        Path(args.state_dir),
        project_path=args.project,
        pipeline=Pipeline(**json.loads(args.pipeline)),
        project_root=Path(args.project_root) if args.project_root else None,
        object_storage=args.object_storage,
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
