"""Sign one artifact in this process's shared session, then verify it: the core of the build hook.

Used by the build process itself, and by the signing agent that serves every target of one
``hatch build`` (:mod:`hatch_sigstore.hatch._agent`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from hatch_sigstore.ci import CIContext
from hatch_sigstore.errors import ConfigError, VerificationError
from hatch_sigstore.identity import ExpectedIdentity, Given, Source, expect

if TYPE_CHECKING:
    from hatch_sigstore.hatch._build_options import BuildOptions
    from hatch_sigstore.sign import SignOptions

__all__ = ["Notices", "expected_identity", "session_options", "sign_and_verify"]


class Notices(Protocol):
    """Where the build's messages go (the build hook: hatch's terminal)."""

    def say(self, message: str) -> None: ...

    def say_once(self, key: str, message: str) -> None: ...


def expected_identity(options: BuildOptions, ci: CIContext) -> ExpectedIdentity:
    """Who must have signed: the hook's ``identity`` table, completed from the CI job.

    Checked by the one identity model (:func:`hatch_sigstore.identity.expect`), each value named
    by its TOML key or CI variable, before anything is signed.
    """
    ident = options.identity
    table = f"{options.path}.identity"
    base = None
    if not (ident.server and ident.project_path and ident.ref):
        base = ci.expected_identity(
            ref_elsewhere=ident.ref is not None,
            ref_fix=f'set `{table}.ref` (e.g. "refs/tags/v1.0")',
        )

    def given(key: str, value: str | None, from_ci: str | None, variable: str) -> Given | None:
        if value is not None:
            return Given(value, Source.toml(f"{table}.{key}"))
        return None if from_ci is None else Given(from_ci, Source.variable(variable))

    project = given(
        "project-path", ident.project_path, base.project_path if base else None, "CI_PROJECT_PATH"
    )
    if project is None:
        raise ConfigError(
            "Cannot tell which identity the signatures must carry: this is not a GitLab CI "
            "job (CI_SERVER_URL and CI_PROJECT_PATH are unset) and "
            f"`{table}.project-path` is not configured.",
            remediation=f"Set `{table}` (project-path, ref, server), or "
            f"`{options.path}.verify = false` to skip the check after signing.",
        )
    return expect(
        server=given("server", ident.server, base.server if base else None, "CI_SERVER_URL"),
        project_path=project,
        ref=given("ref", ident.ref, base.ref if base else None, "CI_COMMIT_TAG/CI_COMMIT_BRANCH"),
        config_path=given(
            "config-path", ident.config_path, base.config_path if base else None, "CI_CONFIG_PATH"
        ),
        project_id=None
        if base is None or base.project_id is None
        else Given(base.project_id, Source.variable("CI_PROJECT_ID")),
    )


def session_options(options: BuildOptions) -> SignOptions:
    from hatch_sigstore.sign import SignOptions

    return SignOptions(
        trust=options.trust(),
        outputs=options.outputs,
        rekor_version=options.rekor_version,
        # the session finds the token itself, so its messages name the variable
        token=None,
        timeout=options.timeout,
    )


def sign_and_verify(options: BuildOptions, artifact: Path, notices: Notices) -> None:
    """Sign in this process's shared session, then verify against the expected identity."""
    from hatch_sigstore.sign import shared_session

    sign_options = session_options(options)
    identity = expected_identity(options, CIContext.from_env()) if options.verify else None
    signed = shared_session(sign_options).sign([artifact])
    written = [p.name for s in signed for p in s.written]
    if identity is None:
        notices.say(
            f"signed {artifact.name} ({', '.join(written)}); not verified "
            f"(`{options.path}.verify = false`)"
        )
        return
    from hatch_sigstore.verify import Policy, verify_files

    results = verify_files([artifact], Policy.gitlab(identity), sign_options.trust)
    failed = [r for r in results if not r.ok]
    if failed or not results:
        reasons = "; ".join(f"{r.artifact.name}: {r.reason}" for r in failed) or "no result"
        raise VerificationError(
            f"{artifact.name} was signed, but the signature does not verify as "
            f"{identity.san or identity.repository_uri} (issuer {identity.issuer}): "
            f"{reasons}. Its signature files were removed.",
            remediation=f"Check `{options.path}.identity` against the CI job's identity "
            "(CI_SERVER_URL, CI_PROJECT_PATH, CI_CONFIG_PATH, CI_COMMIT_TAG/BRANCH) and the "
            "trust config.",
        )
    notices.say(
        f"signed and verified {artifact.name} as "
        f"{identity.san or identity.repository_uri} ({', '.join(written)})"
    )
