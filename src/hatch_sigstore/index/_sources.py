"""The index's one door to the rest of hatch-sigstore.

Every use of the verification layer, the GitLab registry client, the CLI's policy flags, trust,
the download helpers and the error types goes through this module, so that a reorganisation of
those modules changes the imports here and nothing else in ``hatch_sigstore.index``. Heavy
imports (sigstore, httpx) happen inside the functions, when the index first needs them.

What the index needed and the layers below do not offer is written here, marked as such:
the group scope of :class:`GitLabClient` (GitLab's ``/groups/:id/-/packages/pypi`` routes).
Binding each dist to its release happens inside the verify layer's ``verify_file``.
"""

from __future__ import annotations

import argparse
import hashlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from hatch_sigstore._files import (
    ATTESTATION_SUFFIX,
    BUNDLE_SUFFIX,
    CERTIFICATE_SUFFIX,
    SIGNATURE_SUFFIX,
)
from hatch_sigstore.errors import (
    ConfigError,
    HatchSigstoreError,
    RegistryError,
    TrustConfigError,
    redact,
)
from hatch_sigstore.trust import TrustChoice
from hatch_sigstore.verify import Policy

if TYPE_CHECKING:
    from hatch_sigstore.gitlab import RegistryClient

__all__ = [
    "ConfigError",
    "GitLabClient",
    "GitLabLink",
    "HatchSigstoreError",
    "Policy",
    "PolicyKey",
    "RegistryError",
    "TrustChoice",
    "TrustConfigError",
    "Verdict",
    "build_policy",
    "generic_coordinates",
    "policy_fingerprint",
    "policy_keys",
    "redact",
    "resolve_trust",
    "trust_fingerprint",
    "verify_attestations",
    "verify_with_sidecars",
]

SIDECAR_MAX_BYTES = 4 * 1024 * 1024  # bundles and attestations are a few kB
# Signature files in the generic registry, in order of preference (as ``download`` looks them
# up); the first complete group is used.
_SIDECAR_GROUPS: tuple[tuple[str, ...], ...] = (
    (BUNDLE_SUFFIX,),
    (ATTESTATION_SUFFIX,),
    (SIGNATURE_SUFFIX, CERTIFICATE_SUFFIX),
)


# --------------------------------------------------------------------------------------------
# Policy and trust: the CLI's flags, read as TOML keys


@dataclass(frozen=True)
class PolicyKey:
    """A signer flag of ``verify``/``download`` as a TOML key: ``--ref-glob`` → ``ref-glob``."""

    key: str
    dest: str
    boolean: bool
    help: str


def _signer_parser() -> argparse.ArgumentParser:
    from hatch_sigstore.cli._policy_args import add_signer_arguments

    parser = argparse.ArgumentParser(add_help=False)
    add_signer_arguments(parser)
    return parser


def policy_keys() -> tuple[PolicyKey, ...]:
    """The signer flags, read off the parser that defines them for the CLI."""
    keys = []
    for action in _signer_parser()._actions:
        for option in action.option_strings:
            if option.startswith("--"):
                keys.append(
                    PolicyKey(option[2:], action.dest, action.nargs == 0, action.help or "")
                )
    return tuple(keys)


def build_policy(values: Mapping[str, str | bool], env: Mapping[str, str]) -> Policy:
    """The policy the CLI builds for the same flags; ``values`` maps TOML keys to values.

    Raises :class:`ConfigError` with the CLI's words (``--ref-glob``); the config loader
    rewrites them into TOML keys.
    """
    from hatch_sigstore.cli._policy_args import policy_from_args

    parser = _signer_parser()
    namespace = parser.parse_args([])
    dests = {key.key: key.dest for key in policy_keys()}
    for key, value in values.items():
        setattr(namespace, dests[key], value)
    return policy_from_args(namespace, env)


def policy_fingerprint(policy: Policy) -> str:
    """Stable text that changes whenever the policy would accept other signers."""
    return hashlib.sha256(repr(policy).encode()).hexdigest()


def describe_policy(policy: Policy) -> str:
    return policy.describe()


def resolve_trust(
    *, staging: bool, trust_config: str | None, env: Mapping[str, str], source: str
) -> TrustChoice:
    from hatch_sigstore.trust import TrustChoice

    return TrustChoice.resolve(staging=staging, trust_config=trust_config, env=env, source=source)


def trust_fingerprint(trust: TrustChoice) -> str:
    """The instance, and for a trust config file its content: a changed root re-verifies."""
    text: str = trust.kind
    if trust.path is not None:
        try:
            text += ":" + hashlib.sha256(trust.path.read_bytes()).hexdigest()
        except OSError:
            text += ":unreadable"
    return text


def check_trust(trust: TrustChoice) -> None:
    """Load the trust root once at start-up, so a broken trust config fails then, not per file."""
    trust.verifier(offline=True)


# --------------------------------------------------------------------------------------------
# Verification


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str | None
    identity: str | None = None
    issuer: str | None = None
    sidecar: str | None = None


def verify_with_sidecars(path: Path, policy: Policy, trust: TrustChoice) -> Verdict:
    """Verify ``path`` from the signature files beside it (bundle, attestation or cosign pair).

    ``offline=False`` only lets a ``.sig``/``.crt`` pair look its log entry up, as ``download``
    does; bundles and attestations are checked offline against the trusted root.
    """
    from hatch_sigstore.verify import verify_file

    result = verify_file(path, policy, trust, offline=False)
    return Verdict(result.ok, result.reason, result.identity, result.issuer, result.sidecar)


def verify_attestations(
    path: Path, attestations: Sequence[bytes], policy: Policy, trust: TrustChoice
) -> Verdict:
    """PEP 740: ``path`` verifies when one of its attestations does (publish predicate, this
    file's name and sha256 as the subject, a signer the policy accepts)."""
    from hatch_sigstore.verify import verify_file

    sidecar = path.with_name(path.name + ATTESTATION_SUFFIX)
    reasons: list[str] = []
    try:
        for raw in attestations:
            sidecar.write_bytes(raw)
            result = verify_file(path, policy, trust, sidecar="attestation")
            if result.ok:
                return Verdict(True, None, result.identity, result.issuer, "provenance")
            reasons.append(result.reason or "did not verify")
    finally:
        sidecar.unlink(missing_ok=True)
    if not reasons:
        return Verdict(False, "the provenance holds no attestation")
    return Verdict(False, "no attestation in the provenance verified: " + "; ".join(reasons))


# --------------------------------------------------------------------------------------------
# --------------------------------------------------------------------------------------------
# GitLab


def generic_coordinates(name: str, version: str) -> tuple[str, str]:
    """Where the publisher puts a release's signature files in the generic registry."""
    from hatch_sigstore._names import generic_coordinates as coordinates

    return coordinates(name, version)


@dataclass(frozen=True)
class GitLabLink:
    filename: str
    url: str
    sha256: str | None
    requires_python: str | None


class GitLabClient:
    """A GitLab project's or group's PyPI registry, and the generic registries of the projects
    that hold signature files. Tokens stay in headers to that GitLab; downloads redirected to
    object storage are followed without them (every byte is checked against its sha256 here,
    so the storage host is not trusted with anything)."""

    def __init__(
        self,
        api_url: str,
        *,
        project: str | None,
        group: str | None,
        token_env: str | None,
        env: Mapping[str, str],
        timeout: float,
    ) -> None:
        from hatch_sigstore.gitlab import Credentials

        self.credentials = Credentials.from_env(None, token_env, env=env)
        self._timeout = timeout
        self.api_url = api_url
        scope = project if project is not None else group
        assert scope is not None
        self._listing = self._client(scope)
        if group is not None:
            # Not in hatch_sigstore.gitlab: GitLab's group routes (lib/api/pypi_packages.rb,
            # GET /groups/:id/-/packages/pypi/simple/*package_name) differ from the project's
            # only in this prefix; file links then point at /groups/:id/-/packages/pypi/files.
            self._listing.project_api_url = (
                f"{self._listing.api_url}/groups/{quote(group, safe='')}/-"
            )
        self._generic: dict[str, RegistryClient] = {}
        self._lock = threading.Lock()

    def _client(self, project: str) -> RegistryClient:
        from hatch_sigstore.gitlab import RegistryClient

        return RegistryClient(
            self.api_url, project, self.credentials, timeout=self._timeout, retries=2
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        return self.credentials.secrets

    def close(self) -> None:
        self._listing.close()
        for client in self._generic.values():
            client.close()

    def list_files(self, name: str) -> list[GitLabLink]:
        """The links GitLab's simple page for ``name`` has (empty: no such package)."""
        return [
            GitLabLink(f.filename, f.url, f.sha256, f.requires_python)
            for f in self._listing.pypi_simple_files(name)
        ]

    def download(self, url: str, dest: Path, *, max_bytes: int, deadline: float) -> str:
        """Stream ``url`` (a link from :meth:`list_files`) to ``dest``; its sha256."""
        got = self._listing.download(
            url, dest, max_bytes=max_bytes, route="pypi", deadline=deadline
        )
        return got.sha256

    def fetch_signatures(
        self, project: str, package: str, version: str, filename: str, staging: Path
    ) -> list[Path]:
        """The first complete group of signature files of ``filename`` in ``project``'s generic
        registry, written beside it in ``staging``; empty when there are none."""
        with self._lock:  # one client per project, however many workers ask at once
            client = self._generic.get(project)
            if client is None:
                client = self._generic[project] = self._client(project)
        for group in _SIDECAR_GROUPS:
            got: list[Path] = []
            for suffix in group:
                name = filename + suffix
                try:
                    got.append(
                        client.download(
                            client.generic_url(package, version, name),
                            staging / name,
                            max_bytes=SIDECAR_MAX_BYTES,
                            route="generic",
                        ).path
                    )
                except RegistryError as exc:
                    if exc.status == 404:
                        break
                    raise
            else:
                return got
            for path in got:
                path.unlink(missing_ok=True)
        return []
