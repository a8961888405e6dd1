"""The local Sigstore's OIDC issuer (``_oidc.py``): tokens shaped as GitLab mints them, overridable,
discoverable, and checked as Fulcio checks them."""

from __future__ import annotations

import base64
import time

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sigstore_helpers import (
    http,
)

from hatch_sigstore.sandbox import LocalSigstore
from hatch_sigstore.sandbox._oidc import TokenIssuer, TokenVerificationError


def test_minted_claims_are_gitlab_shaped(sandbox: LocalSigstore) -> None:
    claims = jwt.decode(
        sandbox.mint_token(project_path="g/sub/p", ref="feature/x", project_id="7"),
        options={"verify_signature": False},
    )
    assert claims["iss"] == sandbox.gitlab_url
    assert claims["aud"] == "sigstore"
    assert claims["sub"] == "project_path:g/sub/p:ref_type:branch:ref:feature/x"
    assert claims["ci_config_ref_uri"] == (
        "gitlab.example.com/g/sub/p//.gitlab-ci.yml@refs/heads/feature/x"
    )
    assert claims["ref_path"] == "refs/heads/feature/x"
    assert claims["namespace_path"] == "g/sub"
    for name in ("project_id", "namespace_id", "pipeline_id", "job_id"):
        assert isinstance(claims[name], str)
        assert claims[name].isdigit()
    assert claims["exp"] - claims["iat"] == 600
    assert claims["nbf"] == claims["iat"] - 5  # Ci::Jwt::NOT_BEFORE_TIME
    assert claims["jti"]


def test_claims_can_be_overridden_removed_and_expired(sandbox: LocalSigstore) -> None:
    claims = jwt.decode(
        sandbox.mint_token(sha=None, runner_environment="self-hosted", expires_in=-60),
        options={"verify_signature": False, "verify_exp": False},
    )
    assert "sha" not in claims
    assert claims["runner_environment"] == "self-hosted"
    assert claims["exp"] < time.time() - 59


def test_oidc_discovery_and_jwks_verify_minted_tokens(sandbox: LocalSigstore) -> None:
    discovery = http().get(f"{sandbox.url}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == sandbox.gitlab_url
    jwks = http().get(discovery["jwks_uri"]).json()
    token = sandbox.mint_token()
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]]
    claims = jwt.decode(token, key, algorithms=["ES256"], audience="sigstore")
    assert claims["iss"] == sandbox.gitlab_url


@settings(max_examples=100, deadline=None)
@given(
    text=st.text(max_size=200) | st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode())
)
def test_token_check_refuses_junk(text: str) -> None:
    with pytest.raises(TokenVerificationError):
        TokenIssuer("https://gitlab.example.com").verify(text)
