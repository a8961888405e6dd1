"""Identity tokens: found, decoded and explained without sigstore; the token never leaks."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from hatch_sigstore.errors import TokenError
from hatch_sigstore.sign import SignOptions, resolve_token, token_available
from hatch_sigstore.sign._tokens import check_token, decode_claims, find_token, format_time

_KEY = ec.generate_private_key(ec.SECP256R1())
NOW = 1_800_000_000.0


def mint(*, now: float = NOW, expires_in: float = 300, **overrides: Any) -> str:
    claims: dict[str, Any] = {
        "iss": "https://gitlab.example.com",
        "sub": "project_path:group/project:ref_type:branch:ref:main",
        "aud": "sigstore",
        "iat": int(now),
        "nbf": int(now),
        "exp": int(now + expires_in),
        "project_path": "group/project",
    }
    for name, value in overrides.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return jwt.encode(claims, _KEY, algorithm="ES256")


def _segment(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def test_valid_token() -> None:
    info = check_token(mint(), now=NOW + 10)
    assert info.issuer == "https://gitlab.example.com"
    assert info.subject.startswith("project_path:group/project")
    assert info.seconds_left(NOW + 10) == pytest.approx(290)


def test_audience_list_containing_sigstore_is_accepted() -> None:
    check_token(mint(aud=["other", "sigstore"]), now=NOW)


# (token, phrases the message must contain)
BAD_TOKENS: list[tuple[str, str, tuple[str, ...]]] = [
    ("not-a-jwt", "not a jwt", ("malformed", "three dot-separated parts", "has 1")),
    ("empty-parts", "..", ("malformed",)),
    ("bad-base64", "abc.d$f.ghi", ("malformed", "base64url")),
    ("payload-not-object", f"{_segment({'alg': 'none'})}.{_segment([1, 2])}.", ("JSON objects",)),
    (
        "wrong-audience",
        mint(aud="https://gitlab.com"),
        ("audience 'https://gitlab.com'", "aud: sigstore"),
    ),
    ("no-sub", mint(sub=None), ("lacks the required claim(s) sub",)),
    ("no-exp", mint(exp=None), ("exp",)),
    ("expired", mint(now=NOW - 3600, expires_in=300), ("expired at", "55 min ago", "timeout")),
    ("exp-not-number", mint(exp="tomorrow"), ("'exp' must be a number",)),
    ("not-yet-valid", mint(now=NOW + 600), ("not valid before", "clock")),
]


@pytest.mark.parametrize(
    ("token", "phrases"), [c[1:] for c in BAD_TOKENS], ids=[c[0] for c in BAD_TOKENS]
)
def test_bad_tokens_explained(token: str, phrases: tuple[str, ...]) -> None:
    with pytest.raises(TokenError) as info:
        check_token(token, source="MY_TOKEN_VAR", now=NOW)
    text = str(info.value)
    assert "MY_TOKEN_VAR" in text
    for phrase in phrases:
        assert phrase in text
    assert token not in text or len(token) < 4
    for part in token.split("."):
        if len(part) > 8:
            assert part not in text


def test_expired_message_names_the_time() -> None:
    token = mint(now=NOW - 400, expires_in=300)
    with pytest.raises(TokenError, match="expired at") as info:
        check_token(token, now=NOW)
    assert format_time(NOW - 100) in str(info.value)
    assert "100 s ago" in str(info.value)


def test_leeway_matches_sigstore() -> None:
    # sigstore (PyJWT) accepts up to 5 s past exp; so do we.
    check_token(mint(expires_in=300), now=NOW + 303)
    with pytest.raises(TokenError, match="expired"):
        check_token(mint(expires_in=300), now=NOW + 306)


@given(st.text(max_size=200))
def test_decode_never_crashes_or_echoes(raw: str) -> None:
    message = ""
    try:
        decode_claims(raw, source="V")
    except TokenError as exc:
        message = str(exc)
    if len(raw.strip()) >= 12:
        assert raw.strip() not in message


@given(
    st.dictionaries(
        st.sampled_from(["iss", "sub", "aud", "iat", "exp", "nbf"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=5), st.booleans()),
    )
)
def test_arbitrary_claims_give_token_error_or_info(claims: dict[str, object]) -> None:
    raw = f"{_segment({'alg': 'ES256'})}.{_segment(claims)}.sig"
    # Either a TokenError that names the source, or a result: never another exception.
    try:
        info = check_token(raw, source="SRC", now=NOW)
    except TokenError as exc:
        message = str(exc)
    else:
        assert info.expires_at == claims["exp"]
        return
    assert "SRC" in message


# ------------------------------------------------------------------ finding tokens


@pytest.mark.parametrize(
    ("env", "token_env", "expected"),
    [
        ({}, None, None),
        ({"SIGSTORE_ID_TOKEN": "  "}, None, None),
        ({"SIGSTORE_ID_TOKEN": "tok"}, None, ("tok", "SIGSTORE_ID_TOKEN")),
        ({"SIGSTORE_ID_TOKEN": "tok"}, "OTHER", None),
        ({"OTHER": " t2\n"}, "OTHER", ("t2", "OTHER")),
    ],
)
def test_find_token(
    env: dict[str, str], token_env: str | None, expected: tuple[str, str] | None
) -> None:
    assert find_token(env, token_env=token_env) == expected


@pytest.mark.parametrize(
    ("env", "token_env", "expected"),
    [
        ({}, None, False),
        ({"SIGSTORE_ID_TOKEN": "x"}, None, True),
        ({"GITLAB_CI": "true"}, None, False),
        ({"ACTIONS_ID_TOKEN_REQUEST_URL": "u", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"}, None, True),
        ({"ACTIONS_ID_TOKEN_REQUEST_URL": "u"}, None, False),
        (
            {"ACTIONS_ID_TOKEN_REQUEST_URL": "u", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"},
            "MINE",
            False,
        ),
        ({"MINE": "x"}, "MINE", True),
    ],
)
def test_token_available(env: dict[str, str], token_env: str | None, expected: bool) -> None:
    assert token_available(env, token_env=token_env) is expected


def test_resolve_prefers_explicit_then_env() -> None:
    now = time.time()
    explicit, from_env = mint(now=now, sub="explicit"), mint(now=now)
    env = {"SIGSTORE_ID_TOKEN": from_env}
    assert resolve_token(SignOptions(token=explicit, env=env)) == explicit
    assert resolve_token(SignOptions(env=env)) == from_env
    assert resolve_token(SignOptions(env={"CUSTOM": explicit}, token_env="CUSTOM")) == explicit


@pytest.mark.parametrize(
    ("options", "phrases"),
    [
        (
            SignOptions(env={}, ambient=False),
            ("SIGSTORE_ID_TOKEN is not set", "id_tokens:", "aud: sigstore"),
        ),
        (SignOptions(env={"SIGSTORE_ID_TOKEN": "x"}, token_env="CUSTOM"), ("CUSTOM is not set",)),
        (SignOptions(token=" ", env={}), ("No identity token",)),
    ],
)
def test_resolve_missing(options: SignOptions, phrases: tuple[str, ...]) -> None:
    with pytest.raises(TokenError) as info:
        resolve_token(options)
    for phrase in phrases:
        assert phrase in str(info.value)


def test_resolve_expired_from_env_names_variable() -> None:
    token = mint(now=time.time() - 1000, expires_in=300)
    with pytest.raises(TokenError, match=r"SIGSTORE_ID_TOKEN.*expired at") as info:
        resolve_token(SignOptions(env={"SIGSTORE_ID_TOKEN": token}))
    assert token not in str(info.value)


def test_options_repr_hides_token() -> None:
    token = mint()
    options = SignOptions(token=token, env={"SIGSTORE_ID_TOKEN": token})
    assert token not in repr(options)


def test_importing_signing_does_not_import_sigstore() -> None:
    code = (
        "import sys, hatch_sigstore.sign as s; "
        "s.token_available({'SIGSTORE_ID_TOKEN': 'x'}); s.SignOptions(); "
        "heavy = ('sigstore', 'pypi_attestations', 'requests', 'jwt'); "
        "bad = [m for m in heavy if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
