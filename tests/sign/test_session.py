"""Signing against the local Sigstore over real HTTP, checked with sigstore's own Verifier."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pypi_attestations import Attestation
from sigstore.hashes import Hashed
from sigstore.models import Bundle, ClientTrustConfig
from sigstore.verify import Verifier, policy
from sigstore_models.common.v1 import HashAlgorithm

from hatch_sigstore.errors import (
    ConfigError,
    HatchSigstoreError,
    SigningError,
    TokenError,
    TrustConfigError,
)
from hatch_sigstore.sign import (
    SignedFile,
    SigningSession,
    SignOptions,
    certificate_identity,
    needs_renewal,
    sign_files,
)
from hatch_sigstore.trust import TrustChoice
from publish_helpers import make_sdist, make_wheel

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import LocalSigstore

SIDECARS = (".sigstore.json", ".sig", ".crt", ".publish.attestation")


@pytest.fixture
def sandbox(local_sigstore: LocalSigstore) -> Iterator[LocalSigstore]:
    """The shared sandbox with clean counters and no leftover faults or latency."""
    local_sigstore.clear_faults()
    local_sigstore.latency = 0.0
    local_sigstore.reset_stats()
    yield local_sigstore
    local_sigstore.clear_faults()
    local_sigstore.latency = 0.0


def opts(sandbox: LocalSigstore, **kw: Any) -> SignOptions:
    kw.setdefault("token", sandbox.mint_token())
    kw.setdefault("timeout", 5.0)
    return SignOptions(
        trust=TrustChoice.resolve(trust_config=sandbox.trust_config_path, env={}),
        env={},
        ambient=False,
        **kw,
    )


def make_files(folder: Path, names: list[str], size: int = 1000) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, name in enumerate(names):
        path = folder / name
        path.write_bytes(os.urandom(size) + bytes([index]))
        paths.append(path)
    return paths


def dists(n: int) -> list[str]:
    return [f"pkg-1.0.{i}.tar.gz" if i % 2 else f"pkg-1.0.{i}-py3-none-any.whl" for i in range(n)]


def verifier(sandbox: LocalSigstore) -> Verifier:
    config = ClientTrustConfig.from_json(sandbox.trust_config_path.read_text())
    return Verifier(trusted_root=config.trusted_root)


def identity_policy(sandbox: LocalSigstore) -> policy.Identity:
    san = sandbox.expected_identity().san
    assert san is not None
    return policy.Identity(identity=san, issuer=sandbox.gitlab_url)


def sidecars(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(SIDECARS))


def verify_bundle(sandbox: LocalSigstore, artifact: Path) -> Bundle:
    bundle = Bundle.from_json(artifact.with_name(artifact.name + ".sigstore.json").read_bytes())
    digest = hashlib.sha256(artifact.read_bytes()).digest()
    verifier(sandbox).verify_artifact(
        Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest), bundle, identity_policy(sandbox)
    )
    return bundle


# ------------------------------------------------------------------ happy paths


def test_many_files_one_certificate(sandbox: LocalSigstore, tmp_path: Path) -> None:
    files = make_files(tmp_path, dists(6))
    options = opts(sandbox)
    with SigningSession(options) as session:
        results = session.sign(files)
        assert session.certificates_issued == 1
        assert session.identity == sandbox.expected_identity().san
    assert sandbox.stats == {"fulcio": 1, "rekor_create": 6, "rekor_retrieve": 0}
    assert [r.artifact for r in results] == files
    certs = set()
    for path, result in zip(files, results, strict=True):
        assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert result.written == tuple(
            Path(f"{path}{s}") for s in (".sigstore.json", ".sig", ".crt")
        )
        assert result.identity == sandbox.expected_identity().san
        bundle = verify_bundle(sandbox, path)
        # cosign-compatible detached files, byte for byte
        sig = Path(f"{path}.sig").read_bytes()
        assert sig == base64.b64encode(bundle.signature)
        assert not sig.endswith(b"\n")
        crt = Path(f"{path}.crt").read_bytes()
        assert crt == bundle.signing_certificate.public_bytes(Encoding.PEM)
        assert crt.startswith(b"-----BEGIN CERTIFICATE-----\n")
        assert x509.load_pem_x509_certificate(crt) == bundle.signing_certificate
        data = json.loads(Path(f"{path}.sigstore.json").read_text())
        assert data["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
        assert (
            data["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["kind"] == "hashedrekord"
        )
        certs.add(crt)
    assert len(certs) == 1


def test_no_cosign_writes_bundle_only(sandbox: LocalSigstore, tmp_path: Path) -> None:
    (path,) = make_files(tmp_path, ["data.bin"])
    (result,) = sign_files([path], opts(sandbox, outputs=frozenset({"bundle"})))
    assert result.written == (Path(f"{path}.sigstore.json"),)
    assert sidecars(tmp_path) == ["data.bin.sigstore.json"]
    verify_bundle(sandbox, path)


def test_attestations(sandbox: LocalSigstore, tmp_path: Path) -> None:
    files = make_files(tmp_path, dists(3))
    results = sign_files(files, opts(sandbox, outputs=frozenset({"cosign", "attestation"})))
    # one certificate; a bundle entry and an attestation entry per file
    assert sandbox.stats == {"fulcio": 1, "rekor_create": 6, "rekor_retrieve": 0}
    for path, result in zip(files, results, strict=True):
        assert Path(f"{path}.publish.attestation") in result.written
        attestation = Attestation.model_validate_json(
            Path(f"{path}.publish.attestation").read_bytes()
        )
        predicate_type, payload = verifier(sandbox).verify_dsse(
            attestation.to_bundle(), identity_policy(sandbox)
        )
        statement = json.loads(payload)
        assert predicate_type == "application/vnd.in-toto+json"
        assert statement["predicateType"] == "https://docs.pypi.org/attestations/publish/v1"
        assert statement["subject"] == [
            {"name": path.name, "digest": {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}}
        ]
        verify_bundle(sandbox, path)


def test_a_files_bundle_and_attestation_entries_are_made_at_once(
    sandbox: LocalSigstore, tmp_path: Path
) -> None:
    """One file's two log entries (its bundle's, its attestation's) are sent together: one
    round trip to the log, not two. The first entry request hangs; the second must arrive
    while it does, and both files verify once it answers."""
    (path,) = make_files(tmp_path, dists(1))
    sandbox.hang_next("rekor_create", seconds=3.0)
    outcome: list[object] = []
    thread = threading.Thread(
        target=lambda: outcome.append(
            sign_files([path], opts(sandbox, outputs=frozenset({"attestation"}), timeout=30))
        )
    )
    thread.start()
    deadline = time.monotonic() + 2.5  # well inside the hang: made one after the other, the
    while sandbox.stats["rekor_create"] < 2 and time.monotonic() < deadline:  # second waits
        time.sleep(0.01)
    assert sandbox.stats["rekor_create"] == 2, "the second log entry waited for the first"
    thread.join(30)
    assert outcome
    assert sandbox.stats == {"fulcio": 1, "rekor_create": 2, "rekor_retrieve": 0}
    verify_bundle(sandbox, path)
    attestation = Attestation.model_validate_json(Path(f"{path}.publish.attestation").read_bytes())
    verifier(sandbox).verify_dsse(attestation.to_bundle(), identity_policy(sandbox))


def test_rekor_v2_with_timestamp_authority(tmp_path: Path) -> None:
    """--rekor-version 2 against a sandbox that offers a v2 log and a TSA: the entries are
    hashedrekord 0.0.2 without integrated time, so signed time comes from the TSA only."""
    from hatch_sigstore.sandbox import LocalSigstore
    from hatch_sigstore.verify import Policy, verify_files

    # real dists: verify_files binds each to the release its name says
    files = [make_wheel(tmp_path / "dist", "pkg", "1.0.0"), make_sdist(tmp_path / "dist", "pkg")]
    with LocalSigstore(state_dir=tmp_path / "sigstore", rekor_v2=True) as sandbox:
        results = sign_files(files, opts(sandbox, rekor_version=2))
        assert sandbox.stats == {"fulcio": 1, "rekor_create": 2, "rekor_retrieve": 0, "tsa": 2}
        assert (sandbox.log_size, sandbox.log_v2_size) == (0, 2)
        for path, result in zip(files, results, strict=True):
            assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
            bundle = verify_bundle(sandbox, path)
            entry = bundle.log_entry._inner
            assert (entry.kind_version.kind, entry.kind_version.version) == (
                "hashedrekord",
                "0.0.2",
            )
            assert not entry.integrated_time
            assert entry.inclusion_promise is None
            assert bundle.verification_material.timestamp_verification_data is not None
        checked = verify_files(
            files,
            Policy.gitlab(sandbox.expected_identity()),
            TrustChoice.resolve(trust_config=sandbox.trust_config_path, env={}),
        )
        assert [(c.ok, c.reason) for c in checked] == [(True, None)] * len(files)


def test_streamed_digest_of_larger_file(sandbox: LocalSigstore, tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    with path.open("wb") as handle:  # spans several read chunks, with a ragged end
        for _ in range(5):
            handle.write(os.urandom(1024 * 1024))
        handle.write(b"tail")
    (result,) = sign_files([path], opts(sandbox))
    assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    verify_bundle(sandbox, path)


def test_resigning_replaces_sidecars(sandbox: LocalSigstore, tmp_path: Path) -> None:
    (path,) = make_files(tmp_path, ["a.bin"])
    sign_files([path], opts(sandbox))
    first = Path(f"{path}.sig").read_bytes()
    path.write_bytes(b"changed")
    sign_files([path, Path(str(path))], opts(sandbox))  # duplicates are signed once
    assert Path(f"{path}.sig").read_bytes() != first
    verify_bundle(sandbox, path)
    assert sidecars(tmp_path) == ["a.bin.crt", "a.bin.sig", "a.bin.sigstore.json"]


def test_token_from_env_and_custom_variable(sandbox: LocalSigstore, tmp_path: Path) -> None:
    (path,) = make_files(tmp_path, ["a.bin"])
    trust = TrustChoice.resolve(trust_config=sandbox.trust_config_path, env={})
    env = {"MY_TOKEN": sandbox.mint_token(ref="v1.0", ref_type="tag")}
    (result,) = sign_files(
        [path], SignOptions(trust=trust, env=env, token_env="MY_TOKEN", ambient=False)
    )
    assert result.identity.endswith("//.gitlab-ci.yml@refs/tags/v1.0")


def test_empty_input_makes_no_calls(sandbox: LocalSigstore) -> None:
    assert sign_files([], opts(sandbox, token="not even a token")) == []
    assert sandbox.stats["fulcio"] == 0


class HoldingProxy:
    """A loopback proxy in front of the local Sigstore that holds every log submission at a
    barrier of ``parties``: none reaches the log until ``parties`` of them are in flight.

    A signer that submitted one entry at a time would leave the first one waiting alone until
    the barrier's timeout broke it (the proxy then answers 503 and signing fails), so a signing
    run that succeeds through it proves the submissions were concurrent, with no clock involved.
    """

    def __init__(self, upstream: str, parties: int) -> None:
        self.upstream = urlsplit(upstream)
        self.barrier = threading.Barrier(parties, timeout=60)
        self.held = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._forward(b"")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path.endswith("/log/entries"):
                    try:
                        outer.barrier.wait()
                        outer.held += 1
                    except threading.BrokenBarrierError:
                        self.send_error(503, "log submissions did not arrive together")
                        return
                self._forward(body)

            def _forward(self, body: bytes) -> None:
                host = outer.upstream.hostname or "127.0.0.1"
                up = HTTPConnection(host, outer.upstream.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                up.request(self.command, self.path, body=body or None, headers=headers)
                answer = up.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                up.close()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HoldingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.barrier.abort()
        self.server.shutdown()
        self.server.server_close()

    def trust_config(self, original: Path, dest: Path) -> TrustChoice:
        """``original`` with its signing config sending log entries through this proxy."""
        config = json.loads(original.read_text())
        for log in config["signingConfig"]["rekorTlogUrls"]:
            log["url"] = self.url
        dest.write_text(json.dumps(config))
        return TrustChoice.resolve(trust_config=dest, env={})


def test_log_entries_are_submitted_concurrently(sandbox: LocalSigstore, tmp_path: Path) -> None:
    """All eight log submissions of one session are in flight at once (issue 12: this used to
    be a wall-clock bound under injected latency)."""
    files = make_files(tmp_path / "dist", [f"f{i}.bin" for i in range(8)])
    with HoldingProxy(sandbox.url, parties=len(files)) as proxy:
        trust = proxy.trust_config(sandbox.trust_config_path, tmp_path / "trust.json")
        results = sign_files(files, replace(opts(sandbox), trust=trust, timeout=120.0))
    assert proxy.held == len(files)
    assert [r.artifact for r in results] == files
    assert sandbox.stats["fulcio"] == 1
    for path in files:
        verify_bundle(sandbox, path)


# ------------------------------------------------------------------ renewal


@pytest.mark.parametrize(
    ("seconds_left", "margin", "expected"),
    [
        (600, 60, False),
        (61, 60, False),
        (59, 60, True),
        (0, 60, True),
        (-5, 60, True),
        (30, 10, False),
    ],
)
def test_needs_renewal(seconds_left: float, margin: float, expected: bool) -> None:
    now = 1_800_000_000.0
    not_after = datetime.fromtimestamp(now + seconds_left, timezone.utc)
    assert needs_renewal(not_after, now, margin) is expected


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def test_certificate_renewed_near_expiry(sandbox: LocalSigstore, tmp_path: Path) -> None:
    files = make_files(tmp_path, [f"f{i}.bin" for i in range(4)])
    clock = Clock()
    with SigningSession(opts(sandbox), clock=clock) as session:
        session.sign(files[:2])
        first = verify_bundle(sandbox, files[0]).signing_certificate
        # still plenty of validity: no renewal
        session.sign(files[2:3])
        assert sandbox.stats["fulcio"] == 1
        # jump the session clock to 30 s before the real certificate's expiry
        clock.offset = first.not_valid_after_utc.timestamp() - 30 - time.time()
        session.sign(files[3:])
        assert session.certificates_issued == 2
    assert sandbox.stats == {"fulcio": 2, "rekor_create": 4, "rekor_retrieve": 0}
    renewed = verify_bundle(sandbox, files[3]).signing_certificate
    assert renewed != first
    assert renewed.public_key() != first.public_key()  # a new key with the new certificate
    assert verify_bundle(sandbox, files[2]).signing_certificate == first


# ------------------------------------------------------------ prepare(): the certificate ahead


def test_prepared_certificate_serves_the_files_that_come_later(
    sandbox: LocalSigstore, tmp_path: Path
) -> None:
    """The build agent asks for the certificate while the target builds; files signed minutes
    later still use it: its own validity decides, not the grace an unseen one gets."""
    files = make_files(tmp_path, dists(2))
    clock = Clock()
    with SigningSession(opts(sandbox), clock=clock) as session:
        session.prepare()
        assert sandbox.stats["fulcio"] == 1
        assert session.identity == sandbox.expected_identity().san  # known before any file
        clock.offset = 180  # a slow wheel build later (a certificate lives 10 minutes)
        session.sign(files)
        session.prepare()  # again: nothing more
        assert session.certificates_issued == 1
    assert sandbox.stats == {"fulcio": 1, "rekor_create": 2, "rekor_retrieve": 0}
    for path in files:
        verify_bundle(sandbox, path)


def test_a_file_arriving_while_the_certificate_is_fetched_waits_for_it(
    sandbox: LocalSigstore, tmp_path: Path
) -> None:
    (path,) = make_files(tmp_path, dists(1))
    sandbox.hang_next("fulcio", seconds=1.0)
    with SigningSession(opts(sandbox, timeout=30)) as session:
        preparing = threading.Thread(target=session.prepare)
        preparing.start()
        deadline = time.monotonic() + 10
        while sandbox.stats["fulcio"] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        session.sign([path])  # while prepare()'s CA call hangs
        preparing.join(10)
    assert sandbox.stats["fulcio"] == 1  # one certificate, not two
    verify_bundle(sandbox, path)


def test_a_hung_prepare_does_not_hang_the_files(sandbox: LocalSigstore, tmp_path: Path) -> None:
    """Waiting for prepare()'s certificate is the CA call's wait: the session's timeout ends it."""
    (path,) = make_files(tmp_path, dists(1))
    sandbox.hang_next("fulcio", seconds=4.0)
    with SigningSession(opts(sandbox, timeout=0.5)) as session:
        threading.Thread(target=session.prepare, daemon=True).start()
        deadline = time.monotonic() + 10
        while sandbox.stats["fulcio"] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        with pytest.raises(SigningError, match="Sigstore CA"):
            session.sign([path])
        assert time.monotonic() - started < 3.5  # not the hang's 4 s
    assert sidecars(tmp_path) == []


@pytest.mark.parametrize("refusals", [1, 2])
def test_a_failed_prepare_is_reported_by_the_first_sign(
    sandbox: LocalSigstore, tmp_path: Path, refusals: int
) -> None:
    """prepare() raises nothing for the CA's answer; sign asks again and says what failed."""
    (path,) = make_files(tmp_path, dists(1))
    sandbox.fail_next("fulcio", status=403, times=refusals)
    with SigningSession(opts(sandbox)) as session:
        session.prepare()
        if refusals == 1:
            session.sign([path])
            verify_bundle(sandbox, path)
        else:
            with pytest.raises(SigningError, match="refused the identity token"):
                session.sign([path])
    assert sandbox.stats["fulcio"] == 2


def test_renewal_impossible_with_expired_token(sandbox: LocalSigstore, tmp_path: Path) -> None:
    files = make_files(tmp_path, ["a.bin", "b.bin"])
    clock = Clock()
    with SigningSession(opts(sandbox, token=sandbox.mint_token(expires_in=120)), clock=clock) as s:
        s.sign(files[:1])
        clock.offset = 600 - 20  # near the certificate's end, long after the token's
        with pytest.raises(TokenError, match=r"cannot be renewed.*expired at"):
            s.sign(files[1:])
    assert sidecars(tmp_path) == ["a.bin.crt", "a.bin.sig", "a.bin.sigstore.json"]


# ------------------------------------------------------------------ failures


FaultSetup = Callable[["LocalSigstore"], dict[str, Any]]


def _fault(service: str, **kw: Any) -> FaultSetup:
    def setup(sandbox: LocalSigstore) -> dict[str, Any]:
        if "seconds" in kw:
            sandbox.hang_next(service, **kw)
            return {"timeout": 0.5}
        sandbox.fail_next(service, **kw)
        return {}

    return setup


def _token(**claims: Any) -> FaultSetup:
    return lambda sandbox: {"token": sandbox.mint_token(**claims)}


# id, setup, error class, phrases (URL is checked separately for service errors)
FAILURES: list[tuple[str, FaultSetup, type[HatchSigstoreError], tuple[str, ...]]] = [
    (
        "fulcio-500",
        _fault("fulcio", status=500, times=3),
        SigningError,
        ("Sigstore CA at {url} failed (HTTP 500", "3 attempt(s)"),
    ),
    (
        "fulcio-refuses",
        _fault("fulcio", status=403, times=1),
        SigningError,
        ("Sigstore CA at {url} refused the identity token", "HTTP 403", "audience"),
    ),
    (
        "fulcio-foreign-issuer",
        _token(iss="https://gitlab.evil.example"),
        SigningError,
        ("refused the identity token", "HTTP 401", "issuer https://gitlab.evil.example"),
    ),
    (
        "fulcio-garbage",
        _fault("fulcio", status=201, body=b"<html>hello</html>"),
        SigningError,
        ("Sigstore CA at {url} answered something unusable",),
    ),
    (
        "fulcio-hangs",
        _fault("fulcio", seconds=3),
        SigningError,
        ("Sigstore CA at {url} did not answer within 0.5 s",),
    ),
    (
        "rekor-400",
        _fault("rekor", status=400, body=b'{"code":400,"message":"entry rejected"}'),
        SigningError,
        ("transparency log at {url}", "refused the entry", "HTTP 400: entry rejected"),
    ),
    (
        "rekor-500",
        _fault("rekor", status=503, times=3),
        SigningError,
        ("transparency log at {url}", "failed", "HTTP 503", "after 3 attempts"),
    ),
    (
        "rekor-garbage",
        _fault("rekor", status=201, body=b"garbage"),
        SigningError,
        ("transparency log at {url} answered something that is not a valid log entry",),
    ),
    (
        "rekor-wrong-shape",
        _fault("rekor", status=201, body=b'{"a": 1, "b": 2}'),
        SigningError,
        ("not a valid log entry",),
    ),
    (
        "rekor-hangs",
        _fault("rekor", seconds=3),
        SigningError,
        ("transparency log at {url}", "did not answer within 0.5 s"),
    ),
    ("token-expired", _token(expires_in=-120), TokenError, ("expired at", "2 min ago")),
    (
        "token-wrong-audience",
        _token(audience="gitlab"),
        TokenError,
        ("audience 'gitlab'", "aud: sigstore"),
    ),
    ("token-malformed", lambda s: {"token": "definitely-not-a-jwt"}, TokenError, ("malformed",)),
    (
        "token-missing",
        lambda s: {"token": None},
        TokenError,
        ("SIGSTORE_ID_TOKEN is not set", "id_tokens:"),
    ),
    (
        "rekor-v2-not-offered",
        lambda s: {"rekor_version": 2},
        TrustConfigError,
        ("Rekor v2", "--rekor-version 1"),
    ),
]


@pytest.mark.parametrize(
    ("setup", "error", "phrases"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES]
)
def test_failures_are_clear_and_leave_nothing(
    sandbox: LocalSigstore,
    tmp_path: Path,
    setup: FaultSetup,
    error: type[HatchSigstoreError],
    phrases: tuple[str, ...],
) -> None:
    files = make_files(tmp_path, ["one.bin"])
    options = opts(sandbox, **setup(sandbox))
    start = time.monotonic()
    with pytest.raises(error) as info:
        sign_files(files, options)
    assert time.monotonic() - start < 4
    text = str(info.value)
    for phrase in phrases:
        assert phrase.format(url=sandbox.url) in text
    assert "Nothing was signed" in text or error is not SigningError
    if options.token:
        assert options.token not in text
    assert sidecars(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.bin"]  # no temp files either


def test_transient_ca_failure_is_retried(sandbox: LocalSigstore, tmp_path: Path) -> None:
    files = make_files(tmp_path, ["a.bin"])
    sandbox.fail_next("fulcio", status=502, times=1)
    sign_files(files, opts(sandbox))
    assert sandbox.stats["fulcio"] == 2
    verify_bundle(sandbox, files[0])


def test_one_failure_among_many_keeps_artifacts_whole(
    sandbox: LocalSigstore, tmp_path: Path
) -> None:
    files = make_files(tmp_path, [f"f{i}.bin" for i in range(6)])
    sandbox.fail_next("rekor", status=400, times=1)
    with pytest.raises(SigningError, match="refused the entry") as info:
        sign_files(files, opts(sandbox, max_workers=3))
    for path in files:
        have = [s for s in (".sigstore.json", ".sig", ".crt") if Path(f"{path}{s}").exists()]
        assert have in ([], [".sigstore.json", ".sig", ".crt"])  # whole or nothing
        if have:
            assert path.name in str(info.value).split("signed: ", 1)[1]
            verify_bundle(sandbox, path)


@pytest.mark.parametrize(
    ("names", "outputs", "phrase"),
    [
        (["notes.txt"], {"attestation"}, "only for wheels and sdists"),
        (["pkg-1.0.tar.gz.sig"], set(), "is a signature file"),
    ],
)
def test_bad_names_refused_before_network(
    sandbox: LocalSigstore, tmp_path: Path, names: list[str], outputs: set[str], phrase: str
) -> None:
    files = make_files(tmp_path, names)
    with pytest.raises(SigningError, match=phrase):
        sign_files(files, opts(sandbox, outputs=frozenset(outputs)))
    assert sandbox.stats["fulcio"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == names


@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_bad_input_paths(sandbox: LocalSigstore, tmp_path: Path, kind: str) -> None:
    good = make_files(tmp_path, ["good.bin"])
    bad = tmp_path / "nope.whl"
    if kind == "folder":
        bad.mkdir()
    with pytest.raises(
        SigningError, match="no such file" if kind == "missing" else "not a regular"
    ):
        sign_files([*good, bad], opts(sandbox))
    assert sandbox.stats["fulcio"] == 0
    assert sidecars(tmp_path) == []


@pytest.fixture
def readonly_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "ro"
    make_files(folder, ["a.bin"])
    folder.chmod(0o555)
    immutable = False
    if os.access(folder, os.W_OK):  # root ignores modes: make the folder immutable instead
        chattr = shutil.which("chattr")
        if chattr is None or subprocess.run([chattr, "+i", str(folder)], check=False).returncode:
            folder.chmod(0o755)
            pytest.skip("cannot make a read-only folder here (root without chattr)")
        immutable = True
    yield folder
    if immutable:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(stat.S_IRWXU)


def test_read_only_folder(sandbox: LocalSigstore, readonly_dir: Path) -> None:
    with pytest.raises(SigningError, match="Cannot write signature files into") as info:
        sign_files([readonly_dir / "a.bin"], opts(sandbox))
    assert "writable" in str(info.value)
    assert sandbox.stats["fulcio"] == 0
    assert sorted(p.name for p in readonly_dir.iterdir()) == ["a.bin"]


def test_failed_write_removes_partial_sidecars(sandbox: LocalSigstore, tmp_path: Path) -> None:
    (path,) = make_files(tmp_path, ["a.bin"])
    blocker = Path(f"{path}.crt")  # the third sidecar cannot be placed: a folder is in the way
    blocker.mkdir()
    (blocker / "x").write_text("x")
    with pytest.raises(SigningError, match="Cannot write the signature files"):
        sign_files([path], opts(sandbox))
    assert sidecars(tmp_path) == ["a.bin.crt"]  # only the obstacle
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "a.bin.crt"]


def test_token_never_written(sandbox: LocalSigstore, tmp_path: Path) -> None:
    files = make_files(tmp_path, dists(2))
    token = sandbox.mint_token()
    sign_files(files, opts(sandbox, token=token, outputs=frozenset({"cosign", "attestation"})))
    payload = token.split(".")[1]
    for sidecar in tmp_path.iterdir():
        if sidecar.name.endswith(SIDECARS):
            content = sidecar.read_text()
            assert token not in content
            assert payload not in content


def test_certificate_identity_of_issued_cert(sandbox: LocalSigstore, tmp_path: Path) -> None:
    (path,) = make_files(tmp_path, ["a.bin"])
    (result,) = sign_files([path], opts(sandbox))
    cert = x509.load_pem_x509_certificate(Path(f"{path}.crt").read_bytes())
    assert certificate_identity(cert) == result.identity == sandbox.expected_identity().san
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert timedelta(minutes=5) < lifetime <= timedelta(minutes=11)
    assert isinstance(result, SignedFile)


def test_attestation_with_rekor_v2_is_refused_before_signing() -> None:
    with pytest.raises(ConfigError, match="Rekor v2") as info:
        SignOptions(outputs=frozenset({"attestation"}), rekor_version=2)
    assert "Rekor version 1" in str(info.value)
