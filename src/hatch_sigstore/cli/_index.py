"""``hatch-sigstore index serve|check``: a verifying package index for pip and uv."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]

_DESCRIPTION = """\
Serve a PEP 503/691 simple index on this machine that lists, for each project, only the files
whose signatures verified against that project's policy in the config (GitLab: signature files
from the generic registry; PyPI-compatible indexes: PEP 740 provenance), bound to their name
and version. pip and uv then install verified files only, dependencies included:

  hatch-sigstore index serve --config index.toml > index.url &
  pip install --index-url "$(head -n1 index.url)" my-package

The first line of output is the index URL; the log (one line per verified, refused or
passed-through file) goes to stderr; http://HOST:PORT/-/status shows every verdict.
"""


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "index",
        help="serve a verifying package index for pip and uv",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve the index until stopped (prints its URL first)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _config_argument(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    serve.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="verified files and verdicts (default: the config's cache-dir, else "
        "$XDG_CACHE_HOME/hatch-sigstore/index)",
    )
    noise = serve.add_mutually_exclusive_group()
    noise.add_argument("-q", "--quiet", action="store_true", help="log refusals and errors only")
    noise.add_argument("-v", "--verbose", action="store_true", help="log every request too")
    serve.set_defaults(func=_serve)
    check = commands.add_parser(
        "check", help="validate the config and show the policy of each package rule"
    )
    _config_argument(check)
    check.set_defaults(func=_check)


def _config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="FILE", help="the index's TOML file")


def _serve(args: argparse.Namespace) -> int:
    import logging
    import signal
    import threading

    from hatch_sigstore.index import IndexServer, load_config

    config = load_config(args.config)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("hatch_sigstore.index")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(
        logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    )
    if not 0 <= args.port <= 65535:
        from hatch_sigstore.errors import ConfigError

        raise ConfigError(f"--port {args.port} is not a port.", remediation="Use 0 to 65535.")
    server = IndexServer(
        config,
        host=args.host,
        port=args.port,
        cache_dir=Path(args.cache_dir).expanduser() if args.cache_dir else None,
    )
    try:
        print(server.url, flush=True)
        logger.info(
            "serving %s (cache %s, trust %s)",
            server.url,
            server.cache.root,
            config.trust.describe(),
        )
        # SIGTERM (a CI job's end, `kill %1`) stops the server like ^C does.
        signal.signal(
            signal.SIGTERM,
            lambda _sig, _frame: threading.Thread(target=server.shutdown, daemon=True).start(),
        )
        server.serve_forever()
    finally:
        server.stop()
    return 0


def _check(args: argparse.Namespace) -> int:
    from hatch_sigstore.index import load_config

    config = load_config(args.config)
    for name, upstream in config.upstreams.items():
        where = getattr(upstream, "index_url", None) or getattr(upstream, "url", "")
        print(f"upstream {name}: {upstream.kind} {where}")
    for rule in config.rules:
        print(f"package {rule.pattern}: from {rule.upstream}, signed by {rule.describe()}")
    if config.unlisted_upstream:
        print(f"unlisted projects: passed through UNVERIFIED from {config.unlisted_upstream}")
    else:
        print("unlisted projects: refused")
    print(f"trust: {config.trust.describe()}")
    return 0
