"""Who must have signed: policy objects that own their checks on the signing certificate.

As in sigstore-python's ``sigstore/verify/policy.py``, a policy is what a certificate must say;
here each policy also describes itself for messages and knows which checks make it up:

* :class:`GitLabPolicy`: a GitLab CI pipeline of one project on one instance (an
  :class:`~hatch_sigstore.identity.ExpectedIdentity`), optionally pinned to a runner
  environment and a commit;
* :class:`CosignPolicy`: cosign's ``--certificate-identity[-regexp]`` and
  ``--certificate-oidc-issuer[-regexp]``, for any signer.

Either may also require each dist's version to be the certificate's tag (``version_from_tag``:
``refs/tags/v1.2.3`` ⇒ 1.2.3), which :func:`~hatch_sigstore.verify.verify_files` checks once
the signature verified. Every policy also requires exactly one SAN, as Fulcio issues, and
matches regular expressions as cosign does (Go's RE2: ``$`` only at the very end).

Build them with :meth:`Policy.gitlab` and :meth:`Policy.cosign`, which check their arguments
(errors name the ``hatch-sigstore verify`` flags, or the words ``named`` gives each key: the
index's TOML keys; the build hook and the publisher have already checked the identity in their
own words through :func:`hatch_sigstore.identity.expect`). The keys themselves, and one builder
from their values, are in :mod:`~hatch_sigstore.verify.policy_keys`.
Building a policy imports neither sigstore nor cryptography: the checks load when a certificate
is checked (:meth:`Policy.sigstore_policy`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

from hatch_sigstore.identity import ExpectedIdentity, Given, GivenError, Source, expect

if TYPE_CHECKING:
    from sigstore.verify.policy import VerificationPolicy

    from hatch_sigstore.verify._certificate import Check

__all__ = ["CosignPolicy", "GitLabPolicy", "Naming", "Policy", "check_regexp"]

# How a caller names a policy key in messages: ``ref-glob`` → ``--ref-glob`` (a flag, the
# default), or ``ref-glob`` (a TOML key of the index's [package] tables).
Naming = Callable[[str], Source]

_HEX_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


class Policy:
    """What the signing certificate must say. Abstract: see :class:`GitLabPolicy` and
    :class:`CosignPolicy`, built by :meth:`gitlab` and :meth:`cosign`."""

    kind: ClassVar[Literal["gitlab", "cosign"]]
    version_from_tag: bool

    def checks(self) -> Sequence[Check]:
        """The checks a certificate must pass, every one of them (imports cryptography)."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def _describe_release(self) -> str:
        return ", version = its tag's" if self.version_from_tag else ""

    def sigstore_policy(self) -> VerificationPolicy:
        """This policy as a sigstore ``VerificationPolicy`` (imports sigstore), with the one-SAN
        rule first."""
        from hatch_sigstore.verify._certificate import OneSAN, all_of

        return all_of([OneSAN(), *self.checks()])

    @staticmethod
    def gitlab(
        identity: ExpectedIdentity,
        *,
        ref_glob: str | None = None,
        runner_environment: str | None = None,
        sha: str | None = None,
        version_from_tag: bool = False,
        named: Naming = Source.flag,
    ) -> GitLabPolicy:
        """A GitLab CI pipeline of ``identity.project_path`` on ``identity.server``.

        Checked from the certificate: issuer (.8, else .1) is the server, source repository
        (.12) is ``SERVER/PROJECT``, the SAN is ``https://HOST/PROJECT//CONFIG@REF`` for the
        certificate's own ref (.14). ``identity.ref`` pins the ref exactly, ``ref_glob`` (or
        ``identity.ref_glob``) by pattern, neither allows any ref; ``identity.project_id`` pins
        .15, ``runner_environment`` .11 and ``sha`` .13. ``version_from_tag``: each dist's
        version must be its certificate's tag. ``named``: how messages name each key.
        """
        checked = expect(
            server=Given(identity.server, named("server")),
            project_path=Given(identity.project_path, named("gitlab")),
            ref=_given(identity.ref, named("ref")),
            ref_glob=_given(ref_glob or identity.ref_glob, named("ref-glob")),
            config_path=Given(identity.config_path, named("config-path")),
            project_id=_given(identity.project_id, named("project-id")),
        )
        if sha is not None and not _HEX_SHA.fullmatch(sha):
            raise GivenError(
                f"{named('sha')} {sha!r} is not a full commit SHA (40 or 64 lower-case hex "
                "digits).",
                remediation="Give the value of CI_COMMIT_SHA.",
                sources=(named("sha"),),
            )
        return GitLabPolicy(
            checked,
            runner_environment=runner_environment,
            sha=sha,
            version_from_tag=version_from_tag,
        )

    @staticmethod
    def cosign(
        *,
        cert_identity: str | None = None,
        cert_identity_regexp: str | None = None,
        cert_oidc_issuer: str | None = None,
        cert_oidc_issuer_regexp: str | None = None,
        version_from_tag: bool = False,
        named: Naming = Source.flag,
    ) -> CosignPolicy:
        """cosign's ``--certificate-identity[-regexp]`` and ``--certificate-oidc-issuer[-regexp]``.

        As in cosign, exact values must equal the SAN / the issuer, and regexps are *searched*
        with Go's RE2 semantics (``regexp.MatchString``, unanchored; ``$`` matches only at the
        very end): anchor them with ``^...$``. One identity and one issuer constraint are
        required, as cosign requires them for keyless verification. ``named``: how messages
        name each key.
        """
        identity, identity_re = named("cert-identity"), named("cert-identity-regexp")
        issuer, issuer_re = named("cert-oidc-issuer"), named("cert-oidc-issuer-regexp")
        if cert_identity is None and cert_identity_regexp is None:
            raise GivenError(
                "No signer identity was given, and hatch-sigstore will not guess one.",
                remediation=f"{_sentence(named('gitlab').fix('GROUP/PROJECT'))} (GitLab CI), "
                f"{identity} or {identity_re} (any signer), or {named('from-ci')} inside a "
                "GitLab pipeline.",
            )
        if cert_identity is not None and cert_identity_regexp is not None:
            raise GivenError(
                f"Both {identity} and {identity_re} were given.",
                remediation="Give one of them.",
                sources=(identity, identity_re),
            )
        given = identity if cert_identity is not None else identity_re
        if cert_oidc_issuer is None and cert_oidc_issuer_regexp is None:
            raise GivenError(
                f"No OIDC issuer was given for {identity}(-regexp).",
                remediation=f"{_sentence(issuer.fix('https://gitlab.com'))} (or the GitLab "
                f"instance URL), or give {issuer_re}, as cosign requires.",
                sources=(given,),
            )
        if cert_oidc_issuer is not None and cert_oidc_issuer_regexp is not None:
            raise GivenError(
                f"Both {issuer} and {issuer_re} were given.",
                remediation="Give one of them.",
                sources=(issuer, issuer_re),
            )
        if cert_identity_regexp is not None:
            check_regexp(cert_identity_regexp, identity_re)
        if cert_oidc_issuer_regexp is not None:
            check_regexp(cert_oidc_issuer_regexp, issuer_re)
        return CosignPolicy(
            cert_identity=cert_identity,
            cert_identity_regexp=cert_identity_regexp,
            cert_oidc_issuer=cert_oidc_issuer,
            cert_oidc_issuer_regexp=cert_oidc_issuer_regexp,
            version_from_tag=version_from_tag,
        )


def _given(value: str | None, source: Source) -> Given | None:
    return None if value is None else Given(value, source)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def check_regexp(pattern: str, where: str | Source) -> None:
    """A :class:`ConfigError` naming ``where`` (a flag, an option) when ``pattern`` is not a
    regular expression cosign (Go's RE2 syntax) would accept."""
    from hatch_sigstore.verify._regexp import RegexpError, compile_re2

    try:
        compile_re2(pattern)
    except RegexpError as exc:
        raise GivenError(
            f"{where} {pattern!r} is not a valid regular expression ({exc}).",
            sources=(where,) if isinstance(where, Source) else (),
            remediation="Fix the pattern; like cosign's, it is RE2 syntax (no lookarounds or "
            "backreferences), searched anywhere in the value: anchor it with ^ and $ to match "
            "the whole value.",
        ) from None


@dataclass(frozen=True)
class GitLabPolicy(Policy):
    """A pipeline of ``identity``; build it with :meth:`Policy.gitlab`."""

    kind: ClassVar[Literal["gitlab"]] = "gitlab"

    identity: ExpectedIdentity
    runner_environment: str | None = None
    sha: str | None = None
    version_from_tag: bool = False

    @property
    def ref_glob(self) -> str | None:
        return self.identity.ref_glob

    def checks(self) -> Sequence[Check]:
        from hatch_sigstore.verify import _certificate as c

        ident = self.identity
        checks: list[Check] = [
            c.IssuerIs(ident.issuer),
            c.ExtensionIs(c.OID_SOURCE_REPOSITORY_URI, "source repository", ident.repository_uri),
        ]
        if ident.ref is not None:
            checks.append(c.ExtensionIs(c.OID_SOURCE_REPOSITORY_REF, "ref", ident.ref))
        if ident.ref_glob is not None:
            checks.append(c.RefGlob(ident.ref_glob))
        checks.append(c.GitLabSAN(ident.host, ident.project_path, ident.config_path))
        if ident.project_id is not None:
            checks.append(
                c.ExtensionIs(c.OID_SOURCE_REPOSITORY_IDENTIFIER, "project id", ident.project_id)
            )
        if self.runner_environment is not None:
            checks.append(
                c.ExtensionIs(
                    c.OID_RUNNER_ENVIRONMENT, "runner environment", self.runner_environment
                )
            )
        if self.sha is not None:
            checks.append(c.ExtensionIs(c.OID_SOURCE_REPOSITORY_DIGEST, "commit sha", self.sha))
        return checks

    def describe(self) -> str:
        ident = self.identity
        if ident.ref is not None:
            ref = f"ref {ident.ref}"
        elif ident.ref_glob is not None:
            ref = f"refs matching {ident.ref_glob}"
        else:
            ref = "any ref"
        parts = [f"GitLab CI of {ident.repository_uri} ({ident.config_path}, {ref})"]
        if ident.project_id is not None:
            parts.append(f"project id {ident.project_id}")
        if self.runner_environment is not None:
            parts.append(f"runner {self.runner_environment}")
        if self.sha is not None:
            parts.append(f"commit {self.sha}")
        return ", ".join(parts) + self._describe_release()


@dataclass(frozen=True)
class CosignPolicy(Policy):
    """cosign's identity and issuer constraints; build it with :meth:`Policy.cosign`."""

    kind: ClassVar[Literal["cosign"]] = "cosign"

    cert_identity: str | None = None
    cert_identity_regexp: str | None = None
    cert_oidc_issuer: str | None = None
    cert_oidc_issuer_regexp: str | None = None
    version_from_tag: bool = False

    def checks(self) -> Sequence[Check]:
        from hatch_sigstore.verify import _certificate as c

        checks: list[Check] = []
        if self.cert_identity is not None:
            checks.append(c.IdentityIs(self.cert_identity))
        if self.cert_identity_regexp is not None:
            checks.append(c.IdentityMatches(self.cert_identity_regexp))
        if self.cert_oidc_issuer is not None:
            checks.append(c.IssuerIs(self.cert_oidc_issuer))
        if self.cert_oidc_issuer_regexp is not None:
            checks.append(c.IssuerMatches(self.cert_oidc_issuer_regexp))
        return checks

    def describe(self) -> str:
        who = (
            f"identity {self.cert_identity}"
            if self.cert_identity is not None
            else f"identity matching {self.cert_identity_regexp}"
        )
        issuer = (
            f"issuer {self.cert_oidc_issuer}"
            if self.cert_oidc_issuer is not None
            else f"issuer matching {self.cert_oidc_issuer_regexp}"
        )
        return f"{who}, {issuer}{self._describe_release()}"
