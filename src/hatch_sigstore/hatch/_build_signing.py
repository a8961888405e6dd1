"""The build hook's signing path: imported only by a build that signs.

Kept out of :mod:`hatch_sigstore.hatch.build_hook`, which every build with the hook imports (and,
where bytecode is not cached, compiles), so that a build with signing off pays for none of it.
Every target of one build process signs in one shared session
(:func:`hatch_sigstore.sign.shared_session`): an sdist and a wheel share one key and one
certificate.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from hatch_sigstore._files import remove_sidecars
from hatch_sigstore.ci import CIContext
from hatch_sigstore.errors import (
    ConfigError,
    HatchSigstoreError,
    SigningError,
    VerificationError,
    first_line,
)
from hatch_sigstore.hatch._errors import raise_clean
from hatch_sigstore.identity import ExpectedIdentity, Given, Source, expect

if TYPE_CHECKING:
    from hatch_sigstore.hatch._build_options import BuildOptions
    from hatch_sigstore.sign import SignOptions

__all__ = ["expected_identity", "preflight", "sign_artifact"]


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
        base = ci.expected_identity()

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


def _sign_options(options: BuildOptions) -> SignOptions:
    from hatch_sigstore.sign import SignOptions

    return SignOptions(
        trust=options.trust(),
        outputs=options.outputs,
        rekor_version=options.rekor_version,
        # the session finds the token itself, so its messages name the variable
        token=None,
        timeout=options.timeout,
    )


def preflight(options: BuildOptions) -> None:
    """Everything that can fail before an artifact exists: fail before building it."""
    from hatch_sigstore.sign import SignOptions, resolve_token

    resolve_token(SignOptions(outputs=options.outputs, token=None))
    options.trust()
    if options.verify:
        expected_identity(options, CIContext.from_env())


def _in_temporary_folder(artifact: Path, env: Mapping[str, str]) -> bool:
    """pip builds wheels in a temporary folder and keeps only the ``.whl``: signatures are lost."""
    if env.get("PIP_BUILD_TRACKER"):
        return True
    folder = artifact.parent.resolve()
    tmp = Path(tempfile.gettempdir()).resolve()
    return folder.name.startswith("pip-") and tmp in folder.parents


def sign_artifact(options: BuildOptions, artifact: Path, notices: Notices) -> None:
    """Sign ``artifact`` in its final folder and verify it; on failure keep no signature file."""
    if _in_temporary_folder(artifact, os.environ):
        message = (
            f"{artifact.name} is being built in a temporary folder ({artifact.parent}) that "
            "the frontend (pip) throws away after keeping only the wheel, so a signature "
            "written beside it would be lost."
        )
        remediation = (
            "Build with `hatch build` or `python -m build` (they write to dist/), or sign "
            "afterwards: `hatch-sigstore sign dist/*`."
        )
        if options.sign == "required":
            raise_clean(SigningError(message, remediation=remediation))
        notices.say_once("temporary", f"not signing: {message} {remediation}")
        return
    try:
        _sign_and_verify(options, artifact, notices)
    except HatchSigstoreError as exc:
        remove_sidecars(artifact)
        raise_clean(exc)
    except Exception as exc:
        remove_sidecars(artifact)
        first = first_line(exc)
        raise_clean(
            SigningError(
                f"Signing {artifact.name} failed unexpectedly: {type(exc).__name__}"
                + (f": {first}" if first else "")
                + ". No signature was kept for it.",
                remediation="Re-run the build; if it persists, report it with this message.",
            )
        )


def _sign_and_verify(options: BuildOptions, artifact: Path, notices: Notices) -> None:
    from hatch_sigstore.sign import shared_session

    sign_options = _sign_options(options)
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
