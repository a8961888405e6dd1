"""The public Python API: chosen in ``hatch_sigstore/__init__.py``, loaded lazily."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import hatch_sigstore

HOMES = {
    "errors": ["ConfigError", "HatchSigstoreError", "SigningError", "VerificationError"],
    "identity": ["ExpectedIdentity"],
    "trust": ["TrustChoice"],
    "sign": ["SignOptions", "SigningSession", "SignedFile", "sign_files"],
    "verify": ["Policy", "GitLabPolicy", "CosignPolicy", "FileResult", "verify_files"],
    "download": ["DownloadReport"],
}


@pytest.mark.parametrize(
    ("home", "name"), [(home, name) for home, names in HOMES.items() for name in names]
)
def test_each_name_is_its_home_modules_object(home: str, name: str) -> None:
    assert name in hatch_sigstore.__all__
    assert name in dir(hatch_sigstore)
    module = importlib.import_module(f"hatch_sigstore.{home}")
    assert getattr(hatch_sigstore, name) is getattr(module, name)


def test_every_public_name_resolves() -> None:
    assert sorted(hatch_sigstore.__all__) == sorted(["__version__", *hatch_sigstore._API])
    for name in hatch_sigstore.__all__:
        assert getattr(hatch_sigstore, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        hatch_sigstore.nothing  # noqa: B018


def test_importing_the_package_imports_nothing_heavy() -> None:
    code = (
        "import sys, hatch_sigstore\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('hatch_sigstore.'))\n"
        "heavy = [m for m in ('sigstore', 'httpx', 'cryptography', 'hatchling') "
        "if m in sys.modules]\n"
        "assert loaded == ['hatch_sigstore.__about__'], loaded\n"
        "assert not heavy, heavy\n"
        "hatch_sigstore.Policy\n"
        "assert 'sigstore' not in sys.modules  # a policy is data until something is verified\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
