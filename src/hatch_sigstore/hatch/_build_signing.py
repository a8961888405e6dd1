"""The build hook's signing path: imported only by a build that signs.

Kept out of :mod:`hatch_sigstore.hatch.build_hook`, which every build with the hook imports (and,
where bytecode is not cached, compiles), so that a build with signing off pays for none of it.
Every target of one build process signs in one shared session
(:func:`hatch_sigstore.sign.shared_session`): an sdist and a wheel share one key and one
certificate. Under ``hatch build``, which builds each target in a process of its own, a
short-lived agent holds that session for all of them (:mod:`hatch_sigstore.hatch._agent`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from hatch_sigstore._files import remove_sidecars
from hatch_sigstore.ci import CIContext
from hatch_sigstore.errors import (
    HatchSigstoreError,
    SigningError,
    first_line,
)
from hatch_sigstore.hatch._agent import (
    agent_wanted,
    prewarm_wanted,
    sign_with_agent,
    start_agent,
)
from hatch_sigstore.hatch._errors import raise_clean
from hatch_sigstore.hatch._sign_verify import Notices, expected_identity, sign_and_verify

if TYPE_CHECKING:
    from hatch_sigstore.hatch._build_options import BuildOptions

__all__ = [
    "artifact_reached",
    "expect_artifact",
    "expected_identity",
    "hatch_probe",
    "preflight",
    "remove_unsigned_leftovers",
    "sign_artifact",
]

ARTIFACT_SUFFIXES = (".whl", ".tar.gz")


def preflight(options: BuildOptions) -> None:
    """Everything that can fail before an artifact exists: fail before building it."""
    from hatch_sigstore.sign import SignOptions, resolve_token

    token = resolve_token(SignOptions(outputs=options.outputs, token=None))
    options.trust()
    if options.verify:
        expected_identity(options, CIContext.from_env())
    if agent_wanted():  # it gets the certificate while this target builds
        start_agent(options, token)  # (or tells the one hatch's probe started that we build)


def hatch_probe(options: BuildOptions) -> list[str]:
    """hatch's probe for build dependencies: what hatch must still install; the agent starts.

    ``hatch build`` runs the probe before any target, in its build environment, and installs
    what it returns (``hatch/project/core.py``, ``prepare_build_environment``). Requirements this
    environment already satisfies are left out, so that hatch does not check them again in
    another process before every build. Once they are all there, the signing agent starts: it
    loads sigstore while hatch starts the first target (where sigstore is missing, it could not:
    the first target starts it then). Never fails here: the targets' preflight reports problems.
    """
    missing = [req for req in options.requirements() if not _satisfied(req)]
    if not missing and prewarm_wanted():
        from hatch_sigstore.sign import SignOptions, resolve_token

        # a token or config problem: the target's preflight explains it
        with contextlib.suppress(Exception):
            token = resolve_token(SignOptions(outputs=options.outputs, token=None))
            start_agent(options, token, prepare=False)  # the first target asks for the cert
    return missing


def _satisfied(requirement: str) -> bool:
    """Whether this environment has a distribution that meets ``requirement``."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import Requirement

    req = Requirement(requirement)
    try:
        installed = version(req.name)
    except PackageNotFoundError:
        return False
    return req.specifier.contains(installed, prereleases=True)


def _in_temporary_folder(artifact: Path, env: Mapping[str, str]) -> bool:
    """pip builds wheels in a temporary folder and keeps only the ``.whl``: signatures are lost."""
    if env.get("PIP_BUILD_TRACKER"):
        return True
    folder = artifact.parent.resolve()
    tmp = Path(tempfile.gettempdir()).resolve()
    return folder.name.startswith("pip-") and tmp in folder.parents


# -- nothing unsigned stays behind ------------------------------------------------------------

# build_data of a target that will sign -> (its output folder, its artifacts before the build)
_EXPECTED: dict[int, tuple[Path, dict[str, tuple[int, int, int]]]] = {}


def _artifacts_in(folder: Path) -> dict[str, tuple[int, int, int]]:
    found = {}
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return {}
    for entry in entries:
        if entry.name.endswith(ARTIFACT_SUFFIXES) and entry.is_file(follow_symlinks=False):
            st = entry.stat(follow_symlinks=False)
            found[entry.name] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return found


def expect_artifact(build_data: dict[str, object], directory: str) -> None:
    """A target that must be signed starts: note what its output folder holds now."""
    folder = Path(directory)
    _EXPECTED[id(build_data)] = (folder, _artifacts_in(folder))
    if len(_EXPECTED) == 1:
        import atexit

        atexit.register(remove_unsigned_leftovers)


def artifact_reached(build_data: dict[str, object]) -> None:
    """Our finalize runs for that target: from here on, sign_artifact answers for it."""
    _EXPECTED.pop(id(build_data), None)


def remove_unsigned_leftovers() -> list[Path]:
    """At exit: artifacts written by a target whose finalize never reached us are removed.

    That happens when the build fails between hatchling writing the artifact and our
    ``finalize`` (another hook's ``finalize`` listed before ours raised): the artifact would
    stay in the output folder, unsigned.
    """
    removed = []
    for folder, before in list(_EXPECTED.values()):
        for name, stamp in _artifacts_in(folder).items():
            if before.get(name) == stamp:
                continue
            path = folder / name
            with contextlib.suppress(OSError):
                path.unlink()
                remove_sidecars(path)
                removed.append(path)
                print(
                    f"hatch-sigstore: removed {path}: the build failed before it was signed, "
                    "and signing is on (nothing unsigned is left in the output folder).",
                    file=sys.stderr,
                    flush=True,
                )
    _EXPECTED.clear()
    return removed


def _remove_artifact(exc: HatchSigstoreError, artifact: Path) -> HatchSigstoreError:
    """Remove the unsigned artifact and its signature files; say so in the error."""
    remove_sidecars(artifact)
    try:
        artifact.unlink()
    except FileNotFoundError:
        pass
    except OSError as error:
        exc.message = (
            f"{exc.message.rstrip()} {artifact.name} is unsigned and could not be removed from "
            f"{artifact.parent} ({error.strerror}): delete it before publishing."
        )
    else:
        exc.message = (
            f"{exc.message.rstrip()} {artifact.name} was removed from {artifact.parent}, so "
            "that nothing unsigned is left there."
        )
    exc.args = (exc.message,)
    return exc


def refuse_sandbox_env(artifact: Path) -> None:
    """An artifact holding the sandbox's env file (it has tokens in it) is never signed."""
    from hatch_sigstore._files import SANDBOX_ENV_NAME, is_sandbox_env

    found = []
    if artifact.name.endswith(".tar.gz"):
        import tarfile

        with tarfile.open(artifact) as archive:
            for member in archive:
                if member.isfile() and member.name.rsplit("/", 1)[-1] == SANDBOX_ENV_NAME:
                    handle = archive.extractfile(member)
                    if handle is not None and is_sandbox_env(handle.readline()):
                        found.append(member.name)
    elif artifact.name.endswith(".whl"):
        import zipfile

        with zipfile.ZipFile(artifact) as archive:
            for name in archive.namelist():
                if name.rsplit("/", 1)[-1] == SANDBOX_ENV_NAME:
                    with archive.open(name) as handle:
                        if is_sandbox_env(handle.readline()):
                            found.append(name)
    if found:
        raise SigningError(
            f"{artifact.name} contains the hatch-sigstore sandbox's env file "
            f"({', '.join(found)}), which holds tokens; it is not signed.",
            remediation="Keep the sandbox's state outside the project (the default of "
            "`hatch-sigstore sandbox up`; drop --state-dir or point it outside), or exclude "
            'it: [tool.hatch.build.targets.sdist] exclude = ["sandbox.env"].',
        )


def sign_artifact(options: BuildOptions, artifact: Path, notices: Notices) -> None:
    """Sign ``artifact`` in its final folder and verify it.

    On failure neither the artifact nor any signature file of it is left in the folder.
    """
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
        refuse_sandbox_env(artifact)
        messages = None
        if agent_wanted():  # under `hatch build`: the job's one certificate, from the agent
            from hatch_sigstore.sign import SignOptions, resolve_token

            token = resolve_token(SignOptions(outputs=options.outputs, token=None))
            messages = sign_with_agent(options, artifact, token)
        if messages is None:
            sign_and_verify(options, artifact, notices)
        else:
            for message in messages:
                notices.say(message)
    except HatchSigstoreError as exc:
        raise_clean(_remove_artifact(exc, artifact))
    except Exception as exc:
        first = first_line(exc)
        error = SigningError(
            f"Signing {artifact.name} failed unexpectedly: {type(exc).__name__}"
            + (f": {first}" if first else "")
            + ".",
            remediation="Re-run the build; if it persists, report it with this message.",
        )
        raise_clean(_remove_artifact(error, artifact))
