"""A release as a GitLab tag pipeline makes it for PyPI: dists signed with PEP 740 attestations
by the sandbox Sigstore (whose issuer says it is https://gitlab.com), the publish job's
variables with its ``PYPI_ID_TOKEN`` (``aud: pypi``), and ``hatch publish -p pypi`` run
in-process with hatch's own CLI. The index is the PyPI stand-in; every test uses its own
project name."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hatch_sigstore.sign import SignOptions, sign_files
from hatch_sigstore.trust import TrustChoice
from publish_helpers import make_sdist, make_wheel
from pypi_helpers import unique

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import LocalSigstore, PyPIIndex

# the developer's or CI's own variables must not leak into a run
CLEARED = (
    "GITLAB_CI",
    "CI",
    "CI_SERVER_URL",
    "CI_API_V4_URL",
    "CI_PROJECT_ID",
    "CI_PROJECT_PATH",
    "CI_JOB_TOKEN",
    "CI_COMMIT_TAG",
    "CI_COMMIT_BRANCH",
    "CI_CONFIG_PATH",
    "SIGSTORE_ID_TOKEN",
    "PYPI_ID_TOKEN",
    "PYPI_API_TOKEN",
    "HATCH_SIGSTORE_TRUST_CONFIG",
    "HATCH_PUBLISHER",
    "HATCH_PUBLISHER_OPTIONS",
)


@dataclass
class PyPIRelease:
    root: Path  # pyproject.toml, dist/
    name: str  # the PyPI project (the dists' name)
    repository: str  # the GitLab project that builds and publishes it
    env: dict[str, str]  # the publish job (ID token for PyPI, no signing token)
    dists: list[Path]
    sigstore: LocalSigstore = field(repr=False)
    ref: str = "v1.0.0"

    def fresh_id_token(self, **claims: Any) -> str:
        """A new PYPI_ID_TOKEN for the same job (a retried job gets one)."""
        claims.setdefault("audience", "pypi")
        token = self.sigstore.mint_token(
            project_path=self.repository, ref=self.ref, ref_type="tag", **claims
        )
        self.env["PYPI_ID_TOKEN"] = token
        return token


def hatch_isolation(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text("")
    env = {"HATCH_CONFIG": str(home / "config.toml"), "NO_COLOR": "1"}
    env.update({f"HATCH_{kind}_DIR": str(home / kind.lower()) for kind in ("CACHE", "DATA")})
    return env


def make_pypi_release(
    tmp_path: Path,
    sigstore: LocalSigstore,
    index: PyPIIndex,
    *,
    table: str = "",
    publisher: bool = True,
    outputs: frozenset[str] = frozenset({"bundle", "attestation"}),
    signer: str | None = None,
    signer_ref: str | None = None,
    version: str = "1.0.0",
    versions: tuple[str, ...] = (),
    payload: bytes = b"",
) -> PyPIRelease:
    """Dists of a new project ``pkg-…`` (a wheel and an sdist of ``version``, or of each of
    ``versions``), signed in the pipeline of ``group/<name>`` (or of ``signer`` at
    ``signer_ref``), and that project registered as its trusted publisher."""
    name = unique("pkg")
    repository = f"group/{name}"
    root = tmp_path / "proj"
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "{version}"\n\n[tool.hatch.publish.pypi]\n{table}\n'
    )
    dists = [
        maker(root / "dist", name, each, payload=payload)
        for each in (versions or (version,))
        for maker in (make_wheel, make_sdist)
    ]
    ci = sigstore.ci_env(project_path=repository, ref="v1.0.0", ref_type="tag")
    signing_token = sigstore.mint_token(
        project_path=signer or repository, ref=signer_ref or "v1.0.0", ref_type="tag"
    )
    sign_files(
        dists,
        SignOptions(
            trust=TrustChoice.resolve(trust_config=sigstore.trust_config_path),
            token=signing_token,
            outputs=outputs,
        ),
    )
    if publisher:
        index.create_project(name)
        index.add_gitlab_publisher(name, repository)
    env = {**ci, **hatch_isolation(tmp_path / "hatch-home")}
    env.pop("SIGSTORE_ID_TOKEN")  # the publish job does not sign
    release = PyPIRelease(root, name, repository, env, dists, sigstore)
    release.fresh_id_token()
    return release


@dataclass
class Run:
    exit_code: int
    output: str


def hatch_publish(release: PyPIRelease, *args: str, env: dict[str, str] | None = None) -> Run:
    """``hatch publish -p pypi ARGS`` in the release's directory, in-process (click)."""
    from click.testing import CliRunner
    from hatch.cli import hatch

    old = Path.cwd()
    os.chdir(release.root)
    try:
        result = CliRunner().invoke(
            hatch,
            ["publish", "-p", "pypi", *args],
            env=env if env is not None else release.env,
            catch_exceptions=True,
        )
    finally:
        os.chdir(old)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(result.exit_code, " ".join(result.output.split()))
