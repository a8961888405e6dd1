"""The PyPI stand-in's trusted publishing: audience, the mint-token exchange and each of
warehouse's errors (``warehouse/oidc/views.py``, ``services.py``, ``models/gitlab.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest

from hatch_sigstore.sandbox import LocalSigstore, PyPIIndex
from hatch_sigstore.sandbox._oidc import TokenIssuer
from pypi_helpers import REPO, errors_of, exchange, id_token, unique

NOT_FOUND = (
    "valid token, but no corresponding publisher (Publisher with matching claims was not found)"
)


@pytest.fixture
def fresh_index(pypi_sigstore: LocalSigstore) -> Iterator[PyPIIndex]:
    """An index of its own, for tests that flip settings."""
    with PyPIIndex() as index:
        index.trust_sigstore(pypi_sigstore)
        yield index


def _project(index: PyPIIndex, **publisher: Any) -> str:
    name = unique("oidc")
    index.create_project(name)
    index.add_gitlab_publisher(name, publisher.pop("repository", REPO), **publisher)
    return name


def test_audience(pypi_index: PyPIIndex) -> None:
    response = httpx.get(f"{pypi_index.url}/_/oidc/audience")
    assert response.status_code == 200
    assert response.json() == {"audience": "pypi"}


def test_exchange_mints_a_900_second_project_token(
    pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore
) -> None:
    _project(pypi_index)
    before = int(time.time())
    response = exchange(pypi_index, id_token(pypi_sigstore))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"success", "token", "expires"}
    assert body["success"] is True
    assert body["token"].startswith("pypi-")
    assert before + 900 <= body["expires"] <= int(time.time()) + 900
    # the same route on the index host (pypi.org) and the legacy GitHub route work too
    for path in ("/_/oidc/mint-token", "/_/oidc/github/mint-token"):
        again = httpx.post(f"{pypi_index.url}{path}", json={"token": id_token(pypi_sigstore)})
        assert again.status_code == 200, again.text


def _signed_elsewhere(sigstore: LocalSigstore) -> str:
    # same issuer URL, a key the issuer's JWKS does not list
    stranger = TokenIssuer("https://gitlab.com")
    return stranger.mint(stranger.claims(audience="pypi", project_path=REPO))


def _with_claims(**claims: Any) -> Callable[[LocalSigstore], str]:
    return lambda sigstore: id_token(sigstore, **claims)


# (id, token maker, expected (code, description)); the project's publisher is REPO's
# .gitlab-ci.yml with no environment unless the case says otherwise
CASES: list[tuple[str, Callable[[LocalSigstore], Any], tuple[str, str]]] = [
    ("not-a-jwt", lambda s: "not.a.jwt", ("invalid-payload", "malformed JWT")),
    (
        "no-iss",
        lambda s: jwt.encode({"aud": "pypi"}, "k" * 32, algorithm="HS256"),
        ("invalid-payload", "malformed JWT"),
    ),
    (
        "unknown-issuer",
        lambda s: jwt.encode({"iss": "https://gitlab.evil"}, "k" * 32, algorithm="HS256"),
        ("invalid-payload", "unknown trusted publishing issuer"),
    ),
    (
        "es256-not-accepted",
        lambda s: s._oidc.mint(s.token_claims(audience="pypi"), algorithm="ES256"),
        ("invalid-token", "malformed or invalid token"),
    ),
    (
        "sigstore-audience",
        _with_claims(audience="sigstore"),
        ("invalid-token", "malformed or invalid token"),
    ),
    ("expired", _with_claims(expires_in=-60), ("invalid-token", "malformed or invalid token")),
    (
        "not-yet-valid",
        _with_claims(nbf=int(time.time()) + 3600),
        ("invalid-token", "malformed or invalid token"),
    ),
    ("unknown-key", _signed_elsewhere, ("invalid-token", "malformed or invalid token")),
    # a path no test registers a publisher for (the session-wide stand-in is shared)
    (
        "wrong-project",
        _with_claims(project_path="nobody/never-a-publisher"),
        ("invalid-publisher", NOT_FOUND),
    ),
    ("wrong-ci-file", _with_claims(config_path="ci/release.yml"), ("invalid-publisher", NOT_FOUND)),
    (
        "missing-ref-path",
        _with_claims(ref_path=None),
        (
            "invalid-publisher",
            "valid token, but no corresponding publisher (Missing claim 'ref_path')",
        ),
    ),
    (
        "no-ci-file-in-claim",
        _with_claims(ci_config_ref_uri="gitlab.com/group/project//@refs/heads/main"),
        (
            "invalid-publisher",
            "valid token, but no corresponding publisher "
            "(Could not extract workflow filename from OIDC claims)",
        ),
    ),
    (
        "other-sub",
        _with_claims(sub="project_path:group/other:ref_type:branch:ref:main"),
        (
            "invalid-publisher",
            "valid token, but no corresponding publisher (Check failed for required claim 'sub')",
        ),
    ),
]


@pytest.mark.parametrize(("make", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_exchange_refusals(
    pypi_index: PyPIIndex,
    pypi_sigstore: LocalSigstore,
    make: Callable[[LocalSigstore], str],
    expected: tuple[str, str],
) -> None:
    _project(pypi_index)
    assert errors_of(exchange(pypi_index, make(pypi_sigstore))) == [expected]


@pytest.mark.parametrize(
    "body",
    [b"not json", b"{}", b'{"token": 5}', b'["token"]'],
    ids=["not-json", "no-token", "not-a-string", "not-an-object"],
)
def test_exchange_refuses_bad_payloads_with_pydantics_text(
    pypi_index: PyPIIndex, body: bytes
) -> None:
    response = httpx.post(f"{pypi_index.url}/_/oidc/mint-token", content=body)
    [(code, description)] = errors_of(response)
    assert code == "invalid-payload"
    assert description.startswith("1 validation error for TokenPayload")


def test_expired_within_the_30_second_leeway_is_accepted(
    pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore
) -> None:
    _project(pypi_index)
    assert exchange(pypi_index, id_token(pypi_sigstore, expires_in=-10)).status_code == 200


def test_an_id_token_is_exchanged_once(pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore) -> None:
    _project(pypi_index)
    token = id_token(pypi_sigstore)
    assert exchange(pypi_index, token).status_code == 200
    assert errors_of(exchange(pypi_index, token)) == [
        ("invalid-reuse-token", "invalid token: already used")
    ]


@pytest.mark.parametrize(
    ("publisher_env", "token_env", "ok"),
    [
        ("release", "release", True),
        ("release", "staging", False),
        ("release", None, False),
        ("", "anything", True),  # a publisher without environment takes any
    ],
)
def test_environment(
    pypi_index: PyPIIndex,
    pypi_sigstore: LocalSigstore,
    publisher_env: str,
    token_env: str | None,
    ok: bool,
) -> None:
    repo = f"env/{unique('r')}"
    _project(pypi_index, repository=repo, environment=publisher_env)
    response = exchange(pypi_index, id_token(pypi_sigstore, repo, environment=token_env))
    if ok:
        assert response.status_code == 200, response.text
    else:
        assert errors_of(response) == [("invalid-publisher", NOT_FOUND)]


def test_project_path_is_case_insensitive_but_the_ci_file_uri_is_not(
    pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore
) -> None:
    # warehouse finds the publisher case-insensitively, then compares ci_config_ref_uri with
    # the path as registered: a publisher registered in another case never matches
    repo = f"Case/{unique('Proj')}"
    _project(pypi_index, repository=repo)
    token = id_token(pypi_sigstore, repo.lower())
    [(code, description)] = errors_of(exchange(pypi_index, token))
    assert code == "invalid-publisher"
    assert "The ci_config_ref_uri claim does not match, expecting one of" in description
    assert f"gitlab.com/{repo}//.gitlab-ci.yml@refs/heads/main" in description
    assert exchange(pypi_index, id_token(pypi_sigstore, repo)).status_code == 200


def test_a_custom_ci_file_and_a_tag(pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore) -> None:
    repo = f"g/{unique('r')}"
    _project(pypi_index, repository=repo, workflow_filepath="ci/publish.yaml")
    token = id_token(pypi_sigstore, repo, config_path="ci/publish.yaml", ref="v1.0", ref_type="tag")
    assert exchange(pypi_index, token).status_code == 200


def test_disabled(fresh_index: PyPIIndex, pypi_sigstore: LocalSigstore) -> None:
    _project(fresh_index)
    fresh_index.oidc.gitlab_enabled = False
    assert errors_of(exchange(fresh_index, id_token(pypi_sigstore))) == [
        ("not-enabled", "gitlab trusted publishing functionality not enabled")
    ]
    fresh_index.oidc.enabled = False
    response = httpx.get(f"{fresh_index.url}/_/oidc/audience")
    assert response.status_code == 403
    assert response.json() == {"message": "Trusted publishing functionality not enabled"}


def test_custom_issuer_needs_registering(local_sigstore: LocalSigstore) -> None:
    # a self-managed GitLab (gitlab.example.com): unknown until an organization registers it,
    # and its publishers name it
    with PyPIIndex() as index:
        index.resolve_issuer(local_sigstore.gitlab_url, local_sigstore.url)
        name = _project(index, issuer_url=local_sigstore.gitlab_url)
        token = id_token(local_sigstore)
        assert errors_of(exchange(index, token)) == [
            ("invalid-payload", "unknown trusted publishing issuer")
        ]
        index.add_custom_gitlab_issuer(local_sigstore.gitlab_url)
        assert exchange(index, token).status_code == 200
        # the same repository on gitlab.com is another publisher
        other = unique("oidc")
        index.create_project(other)
        index.add_gitlab_publisher(other, "elsewhere/project")
        assert errors_of(exchange(index, id_token(local_sigstore, "elsewhere/project"))) == [
            ("invalid-publisher", NOT_FOUND)
        ]
        assert index.project(name) is not None


def test_pending_publisher_creates_the_project_once(
    pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore
) -> None:
    repo = f"pending/{unique('r')}"
    name = unique("new")
    pypi_index.add_pending_gitlab_publisher(name, repo)
    assert pypi_index.project(name) is None
    assert exchange(pypi_index, id_token(pypi_sigstore, repo)).status_code == 200
    project = pypi_index.project(name)
    assert project is not None
    assert [p.project_path for p in project.publishers] == [repo]
    # from now on it is an ordinary publisher
    assert exchange(pypi_index, id_token(pypi_sigstore, repo)).status_code == 200


def test_pending_publisher_for_an_existing_project(
    pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore
) -> None:
    repo = f"pending/{unique('r')}"
    name = unique("taken")
    pypi_index.create_project(name)
    pypi_index.add_pending_gitlab_publisher(name, repo)
    assert errors_of(exchange(pypi_index, id_token(pypi_sigstore, repo))) == [
        ("invalid-pending-publisher", "valid token, but project already exists")
    ]


def test_jwks_is_fetched_once_and_cached(
    fresh_index: PyPIIndex, pypi_sigstore: LocalSigstore
) -> None:
    _project(fresh_index)
    for _ in range(3):
        assert exchange(fresh_index, id_token(pypi_sigstore)).status_code == 200
    assert fresh_index.jwks_fetches == 1
    # an unknown key id refreshes at most once a minute (warehouse's cooldown)
    for _ in range(2):
        errors_of(exchange(fresh_index, _signed_elsewhere(pypi_sigstore)))
    assert fresh_index.jwks_fetches == 1


def test_the_jwks_never_comes_from_the_network(pypi_sigstore: LocalSigstore) -> None:
    # without a loopback location for gitlab.com the keys cannot be fetched: invalid-token
    with PyPIIndex() as index:
        _project(index)
        assert errors_of(exchange(index, id_token(pypi_sigstore))) == [
            ("invalid-token", "malformed or invalid token")
        ]
