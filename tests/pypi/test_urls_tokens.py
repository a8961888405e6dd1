"""Index URLs, the ID token's claims, the upload token, the upload form: no network."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hatch_sigstore.errors import ConfigError, PublishError, TokenError
from hatch_sigstore.pypi import IDToken, IndexURLs, UploadToken, form_fields
from publish_helpers import metadata_text


@pytest.mark.parametrize(
    ("value", "upload", "base", "known"),
    [
        ("pypi", "https://upload.pypi.org/legacy/", "https://pypi.org/", "pypi"),
        ("PyPI", "https://upload.pypi.org/legacy/", "https://pypi.org/", "pypi"),
        ("main", "https://upload.pypi.org/legacy/", "https://pypi.org/", "pypi"),
        ("testpypi", "https://test.pypi.org/legacy/", "https://test.pypi.org/", "testpypi"),
        ("test", "https://test.pypi.org/legacy/", "https://test.pypi.org/", "testpypi"),
        (
            "https://upload.pypi.org/legacy/",
            "https://upload.pypi.org/legacy/",
            "https://pypi.org/",
            "pypi",
        ),
        (
            "https://test.pypi.org/legacy",
            "https://test.pypi.org/legacy/",
            "https://test.pypi.org/",
            "testpypi",
        ),
        (
            "https://pypi.example.com/prefix/legacy/",
            "https://pypi.example.com/prefix/legacy/",
            "https://pypi.example.com/prefix/",
            None,
        ),
        (
            "http://127.0.0.1:8080/legacy/",
            "http://127.0.0.1:8080/legacy/",
            "http://127.0.0.1:8080/",
            None,
        ),
        ("http://localhost/legacy/", "http://localhost/legacy/", "http://localhost/", None),
        ("http://[::1]:9/legacy/", "http://[::1]:9/legacy/", "http://[::1]:9/", None),
    ],
)
def test_index_urls(value: str, upload: str, base: str, known: str | None) -> None:
    urls = IndexURLs.resolve(value, "-o url=…")
    assert (urls.upload, urls.base, urls.known) == (upload, base, known)
    assert urls.json_url("My_Pkg", "1.0") == f"{base}pypi/my-pkg/1.0/json"


def test_oidc_routes_are_at_the_upload_origin() -> None:
    urls = IndexURLs.resolve("https://upload.pypi.org/legacy/", "url")
    assert urls.audience_url == "https://upload.pypi.org/_/oidc/audience"
    assert urls.mint_token_url == "https://upload.pypi.org/_/oidc/mint-token"
    assert urls.simple_url("Foo.Bar") == "https://pypi.org/simple/foo-bar/"
    prefixed = IndexURLs.resolve("https://idx.example/p/legacy/", "url")
    assert prefixed.mint_token_url == "https://idx.example/_/oidc/mint-token"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ftp://x/legacy/", "neither pypi, testpypi nor an http"),
        ("warehouse", "neither pypi, testpypi nor an http"),
        ("https://user:pw@x.example/legacy/", "carries credentials"),
        ("https://x.example/legacy/?a=b", "query or fragment"),
        ("http://x.example/legacy/", "plain-http URL"),
        ("https://x.example/simple/", "does not end in /legacy/"),
    ],
)
def test_bad_index_urls(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        IndexURLs.resolve(value, "-o url=…")
    assert "pw" not in str(caught.value)
    assert "-o url=…" in str(caught.value)


@pytest.mark.parametrize(
    ("value", "base", "known"),
    [
        ("https://pypi.org/simple/", "https://pypi.org/", "pypi"),
        ("https://pypi.org/simple", "https://pypi.org/", "pypi"),
        ("https://test.pypi.org/simple/", "https://test.pypi.org/", "testpypi"),
        ("http://127.0.0.1:1/x/simple/", "http://127.0.0.1:1/x/", None),
    ],
)
def test_simple_urls(value: str, base: str, known: str | None) -> None:
    urls = IndexURLs.from_simple_url(value, "--index-url")
    assert (urls.base, urls.known, urls.simple_root) == (base, known, f"{base}simple/")


@pytest.mark.parametrize("value", ["https://pypi.org/", "file:///simple/", "https://u:p@h/simple/"])
def test_bad_simple_urls(value: str) -> None:
    with pytest.raises(ConfigError, match="--index-url"):
        IndexURLs.from_simple_url(value, "--index-url")


@given(st.text(max_size=80))
def test_index_urls_never_crash(value: str) -> None:
    try:
        urls = IndexURLs.resolve(value, "url")
    except ConfigError:
        return
    assert urls.upload.endswith("/legacy/")


def jwt(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'kid': 'k'})}.{part(claims)}.c2ln"


CLAIMS = {
    "iss": "https://gitlab.com",
    "aud": "pypi",
    "exp": int(time.time()) + 600,
    "project_path": "group/sub/project",
    "ci_config_ref_uri": "gitlab.com/group/sub/project//ci/release.yml@refs/tags/v1",
    "ref_path": "refs/tags/v1",
    "environment": "pypi",
}


def test_id_token_claims() -> None:
    token = IDToken.parse(jwt(CLAIMS), "PYPI_ID_TOKEN")
    assert token.project_path == "group/sub/project"
    assert token.workflow_filepath == "ci/release.yml"  # warehouse's _WORKFLOW_FILEPATH_RE
    assert token.ref_path == "refs/tags/v1"
    assert token.environment == "pypi"
    assert token.audiences == ("pypi",)
    assert token.value not in repr(token)
    token.check("pypi")
    assert "environment pypi" in token.describe()


@pytest.mark.parametrize(
    ("claims", "audience", "message"),
    [
        ({"aud": "sigstore"}, "pypi", "is for the audience sigstore, but the index expects 'pypi'"),
        ({"aud": ["pypi"]}, "testpypi", "aud: testpypi"),
        ({"exp": int(time.time()) - 100}, "pypi", "expired"),
    ],
)
def test_id_token_refused_before_the_exchange(
    claims: dict[str, object], audience: str, message: str
) -> None:
    token = IDToken.parse(jwt({**CLAIMS, **claims}), "PYPI_ID_TOKEN")
    with pytest.raises(TokenError, match=message):
        token.check(audience)


def test_id_token_within_the_leeway_passes() -> None:
    token = IDToken.parse(jwt({**CLAIMS, "exp": int(time.time()) - 10}), "PYPI_ID_TOKEN")
    token.check("pypi")


@pytest.mark.parametrize(
    "value", ["not a token", "a.b", "x.!!!.y", "a.eyJ4Ijo.c", f"{jwt(CLAIMS)}\n{jwt(CLAIMS)}"]
)
def test_not_a_jwt(value: str) -> None:
    with pytest.raises(TokenError, match="does not hold a JWT") as caught:
        IDToken.parse(value, "PYPI_ID_TOKEN")
    assert value not in str(caught.value)


@pytest.mark.parametrize("ci_config", ["gitlab.com/g/p//.gitlab-ci@x", "gitlab.com/g/p//ci/.yml@r"])
def test_workflow_filepath_as_warehouse_extracts_it(ci_config: str) -> None:
    token = IDToken.parse(jwt({**CLAIMS, "ci_config_ref_uri": ci_config}), "X")
    assert token.workflow_filepath is None


def test_upload_token() -> None:
    token = UploadToken("pypi-AgEsecretvalue", "api-token", "PYPI_API_TOKEN")
    assert token.value not in repr(token)
    user, _, secret = base64.b64decode(token.authorization.split()[1]).decode().partition(":")
    assert (user, secret) == ("__token__", token.value)
    assert token.secrets[0] == token.value
    with pytest.raises(ConfigError, match="whitespace") as caught:
        UploadToken("pypi-AgE secret\n", "api-token", "PYPI_API_TOKEN")
    assert "secret" not in str(caught.value).replace("secret values", "")


def test_token_variable_names_are_checked() -> None:
    with pytest.raises(ConfigError, match="not an environment variable name") as caught:
        UploadToken.from_env("pypi-AgEsecret", {})
    assert "pypi-AgEsecret" not in str(caught.value)
    assert UploadToken.from_env("PYPI_API_TOKEN", {}) is None
    assert IDToken.from_env("PYPI_ID_TOKEN", {"PYPI_ID_TOKEN": ""}) is None


def test_form_fields_as_twine_sends_them() -> None:
    text = (
        "Metadata-Version: 2.4\nName: My_Pkg\nVersion: 1.0\nSummary: s\n"
        "Keywords: a,b\nClassifier: Programming Language :: Python :: 3\n"
        "Classifier: Framework :: Hatch\nProject-URL: Homepage, https://x.example\n"
        "Requires-Dist: packaging>=24\nDescription-Content-Type: text/markdown\n\n# long\n"
    )
    fields = form_fields(text.encode(), "my_pkg-1.0-py3-none-any.whl")
    assert ("name", "My-Pkg") in fields  # twine's safe_name
    assert ("keywords", "a, b") in fields
    assert [v for k, v in fields if k == "classifiers"] == [
        "Programming Language :: Python :: 3",
        "Framework :: Hatch",
    ]
    assert ("project_urls", "Homepage, https://x.example") in fields
    assert ("description", "# long\n") in fields
    assert ("pyversion", "py3") in fields
    assert ("filetype", "bdist_wheel") in fields
    sdist = form_fields(metadata_text("pkg", "1.0").encode(), "pkg-1.0.tar.gz")
    assert ("pyversion", "source") in sdist
    assert ("filetype", "sdist") in sdist


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Metadata-Version: 2.1\nName: p\nVersion: 1\nBogus-Field: x\n\n", "unknown or malformed"),
        ("Metadata-Version: 2.1\nName: p\nVersion: not-a-version\n\n", "invalid"),
    ],
)
def test_form_fields_refuse_what_twine_refuses(text: str, message: str) -> None:
    with pytest.raises(PublishError, match=message):
        form_fields(text.encode(), "p-1.tar.gz")


def test_form_fields_of_a_real_dist(tmp_path: Path) -> None:
    from hatch_sigstore.verify import read_release
    from publish_helpers import make_wheel

    wheel = make_wheel(tmp_path, "demo", "2.0")
    fields = form_fields(read_release(wheel).metadata.as_bytes(), wheel.name)
    assert ("version", "2.0") in fields
    assert ("requires_python", ">=3.8") in fields


def test_pypi_tokens_are_redacted_even_when_not_named() -> None:
    from hatch_sigstore.errors import redact

    token = "pypi-AgEIcHlwaS5vcmcCJGQ0ZjE5ZTg5LTAwYWMtNDAwMS1iMGE1"
    assert redact(f"server said: {token}!") == "server said: ***!"
    assert redact("pypi-attestations and pypi-AgE-short stay") == (
        "pypi-attestations and pypi-AgE-short stay"
    )
