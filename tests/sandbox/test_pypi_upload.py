"""The PyPI stand-in's legacy upload: real twine with PEP 740 attestations, idempotency, and
warehouse's refusals with their status codes and reason phrases
(``warehouse/forklift/legacy.py``, ``warehouse/attestations/services.py``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from hatch_sigstore.sandbox import LocalSigstore, PyPIIndex
from pypi_helpers import (
    REPO,
    attest,
    dists,
    form,
    publish_token,
    twine,
    unique,
    upload,
)


def _published(index: PyPIIndex, prefix: str = "up", **publisher: str) -> str:
    name = unique(prefix)
    index.create_project(name)
    index.add_gitlab_publisher(name, publisher.pop("repository", REPO), **publisher)
    return name


def _reason(response: httpx.Response) -> str:
    return response.reason_phrase


def test_twine_uploads_with_attestations(
    pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore, tmp_path: Path
) -> None:
    name = _published(pypi_index)
    wheel, sdist = dists(tmp_path, name)
    atts = attest(pypi_sigstore, [wheel, sdist])
    token = publish_token(pypi_index, pypi_sigstore)
    result = twine(pypi_index, token, wheel, sdist, *atts, attestations=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert token not in result.stdout + result.stderr
    stored = {f.filename: f for f in pypi_index.files(name)}
    assert set(stored) == {wheel.name, sdist.name}
    for path in (wheel, sdist):
        assert stored[path.name].sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert stored[path.name].has_provenance
        assert pypi_index.file_path(path.name).read_bytes() == path.read_bytes()
        provenance = pypi_index.provenance(path.name)
        assert provenance is not None
        [bundle] = provenance["attestation_bundles"]
        assert bundle["publisher"] == {
            "kind": "GitLab",
            "repository": REPO,
            "workflow_filepath": ".gitlab-ci.yml",
            "environment": None,
        }
        sent = json.loads(Path(f"{path}.publish.attestation").read_text())
        assert bundle["attestations"] == [sent]
    # a re-run uploads the identical files again: 200, nothing changes (idempotent)
    again = twine(pypi_index, token, wheel, sdist, *atts, attestations=True)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(pypi_index.files(name)) == 2


def test_twine_prints_warehouses_reason_for_a_reused_file_name(
    pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore, tmp_path: Path
) -> None:
    name = _published(pypi_index)
    token = publish_token(pypi_index, pypi_sigstore)
    wheel, _ = dists(tmp_path / "a", name)
    assert twine(pypi_index, token, wheel).returncode == 0
    changed, _ = dists(tmp_path / "b", name, payload=b"# other bytes\n")
    result = twine(pypi_index, token, changed)
    assert result.returncode == 1
    b2 = hashlib.blake2b(changed.read_bytes(), digest_size=32).hexdigest()
    expected = (
        f"400 File already exists ('{changed.name}', with blake2_256 hash '{b2}'). "
        f"See {pypi_index.help_url}#file-name-reuse for more information."
    )
    assert expected in " ".join((result.stdout + result.stderr).split())


def test_file_name_reuse_and_deleted_names(
    pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore, tmp_path: Path
) -> None:
    name = _published(pypi_index)
    token = publish_token(pypi_index, pypi_sigstore)
    wheel, sdist = dists(tmp_path / "a", name)
    assert upload(pypi_index, token, *form(name, "1.0.0", wheel)).status_code == 200
    # identical again: a 200 no-op
    same = upload(pypi_index, token, *form(name, "1.0.0", wheel))
    assert (same.status_code, _reason(same)) == (200, "OK")
    # the same bytes under another name are a reuse too (matched by blake2)
    renamed = tmp_path / f"{name.replace('-', '_')}-1.0.0-py3-none-manylinux1_x86_64.whl"
    renamed.write_bytes(wheel.read_bytes())
    refused = upload(pypi_index, token, *form(name, "1.0.0", renamed))
    assert refused.status_code == 400
    assert _reason(refused).startswith(f"File already exists ('{renamed.name}', with blake2_256")
    # a deleted file's name can never be used again
    pypi_index.delete_file(wheel.name)
    changed, _ = dists(tmp_path / "b", name, payload=b"# new\n")
    gone = upload(pypi_index, token, *form(name, "1.0.0", changed))
    assert (gone.status_code, _reason(gone)) == (
        400,
        "This filename was previously used by a file that has since been deleted. Use a "
        f"different version. See {pypi_index.help_url}#file-name-reuse for more information.",
    )
    assert upload(pypi_index, token, *form(name, "1.0.0", sdist)).status_code == 200


def test_error_body_is_pyramids_page(pypi_index: PyPIIndex, tmp_path: Path) -> None:
    wheel, _ = dists(tmp_path, "anything")
    response = httpx.post(
        pypi_index.upload_url,
        data=form("anything", "1.0.0", wheel)[0],
        files=form("anything", "1.0.0", wheel)[1],
        headers={"Accept": "text/plain"},
    )
    message = (
        "Invalid or non-existent authentication information. "
        f"See {pypi_index.help_url}#invalid-auth for more information."
    )
    assert (response.status_code, _reason(response)) == (403, message)
    assert response.text.startswith(f"403 {message}\n\nAccess was denied to this resource.")


def _attestation_json(pypi_sigstore: LocalSigstore, path: Path, **kwargs: str) -> str:
    [written] = attest(pypi_sigstore, [path], **kwargs)  # type: ignore[arg-type]
    return "[" + written.read_text() + "]"


ATTESTATION_FAILURE = "Invalid attestations supplied during upload: "
VERIFY_FAILURE = (
    ATTESTATION_FAILURE
    + "Could not verify the uploaded artifact using the included attestation: Verification failed: "
)


@pytest.mark.parametrize(
    "case",
    [
        "api-token",
        "other-file",
        "other-bytes",
        "other-project",
        "other-ci-file",
        "empty",
        "malformed",
        "too-many",
        "twice-the-same-type",
    ],
)
def test_attestation_refusals(
    pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore, tmp_path: Path, case: str
) -> None:
    name = _published(pypi_index)
    wheel, sdist = dists(tmp_path, name)
    token = publish_token(pypi_index, pypi_sigstore)
    good = _attestation_json(pypi_sigstore, wheel)
    expected: str
    if case == "api-token":
        token = pypi_index.api_token(project=name)
        attestations = good
        expected = ATTESTATION_FAILURE + (
            "Attestations are only supported when using Trusted Publishing"
        )
    elif case == "other-file":
        attestations = _attestation_json(pypi_sigstore, sdist)
        expected = (
            VERIFY_FAILURE
            + f"subject does not match distribution name: {sdist.name} != {wheel.name}"
        )
    elif case == "other-bytes":
        other = tmp_path / "other" / wheel.name
        dists(other.parent, name, payload=b"# not the uploaded bytes\n")
        attestations = _attestation_json(pypi_sigstore, other)
        expected = VERIFY_FAILURE + "subject does not match distribution digest"
    elif case == "other-project":
        attestations = _attestation_json(pypi_sigstore, wheel, project_path="group/intruder")
        expected = VERIFY_FAILURE + (
            "Certificate's OIDCSourceRepositoryURI does not match "
            "(got https://gitlab.com/group/intruder, expected https://gitlab.com/group/project)"
        )
    elif case == "other-ci-file":
        attestations = _attestation_json(pypi_sigstore, wheel, config_path="evil.yml")
        expected = VERIFY_FAILURE + "Certificate's Build Config URI"
    elif case == "empty":
        attestations = "[]"
        expected = ATTESTATION_FAILURE + (
            "Malformed attestations: an empty attestation set is not permitted"
        )
    elif case == "malformed":
        attestations = '[{"version": 2}]'
        expected = ATTESTATION_FAILURE + "Malformed attestations: "
    elif case == "too-many":
        attestations = "[" + ",".join([good[1:-1]] * 3) + "]"
        expected = ATTESTATION_FAILURE + "A maximum of 2 attestations per file are supported"
    else:
        attestations = "[" + ",".join([good[1:-1]] * 2) + "]"
        expected = ATTESTATION_FAILURE + (
            "Multiple attestations for the same file with the same predicate type "
            "(https://docs.pypi.org/attestations/publish/v1) are not supported"
        )
    fields, files = form(name, "1.0.0", wheel, attestations=attestations)
    response = upload(pypi_index, token, fields, files)
    assert response.status_code == 400
    assert _reason(response).startswith(expected), _reason(response)
    assert pypi_index.files(name) == []
    # without attestations the same token uploads the file
    plain = upload(pypi_index, token, *form(name, "1.0.0", wheel))
    assert plain.status_code == 200, _reason(plain)
    assert not pypi_index.files(name)[0].has_provenance


def test_a_self_managed_gitlab_cannot_attest(local_sigstore: LocalSigstore, tmp_path: Path) -> None:
    # Trusted publishing from a custom GitLab issuer works, but warehouse verifies attestations
    # with pypi-attestations' GitLab policy, which demands the issuer https://gitlab.com.
    from pypi_helpers import exchange, id_token

    with PyPIIndex() as index:
        index.trust_sigstore(local_sigstore)
        name = _published(index, issuer_url=local_sigstore.gitlab_url)
        wheel, sdist = dists(tmp_path, name)
        response = exchange(index, id_token(local_sigstore))
        assert response.status_code == 200, response.text
        token = response.json()["token"]
        fields, files = form(
            name, "1.0.0", wheel, attestations=_attestation_json(local_sigstore, wheel)
        )
        refused = upload(index, token, fields, files)
        assert refused.status_code == 400
        assert _reason(refused).startswith(VERIFY_FAILURE)
        assert "https://gitlab.com" in _reason(refused)
        assert upload(index, token, *form(name, "1.0.0", sdist)).status_code == 200


INVALID_AUTH = (
    "Invalid or non-existent authentication information. "
    "See {help}#invalid-auth for more information."
)
AUTH_CASES = [
    (None, INVALID_AUTH),
    ("pypi-unknown", INVALID_AUTH),
    ("not-a-pypi-token", INVALID_AUTH),
    ("expired", "Invalid API Token: token is expired"),
    ("other-project", "Invalid API Token: OIDC scoped token is not valid for project '{name}'"),
    (
        "api-other-project",
        "Invalid API Token: project-scoped token is not valid for project: '{name}'",
    ),
    (
        "api-not-a-member",
        "The user 'stranger' isn't allowed to upload to project '{name}'. "
        "See {help}#project-name for more information.",
    ),
    (
        "password",
        "Username/Password authentication is no longer supported. Migrate to API Tokens or "
        "Trusted Publishers instead. See {help}#apitoken and {help}#trusted-publishers",
    ),
]


@pytest.mark.parametrize(("auth", "message"), AUTH_CASES)
def test_auth_refusals(
    pypi_index: PyPIIndex,
    pypi_sigstore: LocalSigstore,
    tmp_path: Path,
    auth: str | None,
    message: str,
) -> None:
    name = _published(pypi_index)
    wheel, _ = dists(tmp_path, name)
    fields, files = form(name, "1.0.0", wheel)
    basic: tuple[str, str] | None = None
    if auth == "expired":
        token = publish_token(pypi_index, pypi_sigstore)
        pypi_index.expire_token(token)
        basic = ("__token__", token)
    elif auth == "other-project":
        other = _published(pypi_index, repository="group/other")
        basic = ("__token__", publish_token(pypi_index, pypi_sigstore))
        fields, files = form(other, "1.0.0", dists(tmp_path / "o", other)[0])
        name = other
    elif auth == "api-other-project":
        pypi_index.create_project(scope := unique("scope"))
        basic = ("__token__", pypi_index.api_token(project=scope))
    elif auth == "api-not-a-member":
        basic = ("__token__", pypi_index.api_token(user="stranger"))
    elif auth == "password":
        basic = ("owner", "hunter2")
    elif auth is not None:
        basic = ("__token__", auth)
    response = httpx.post(pypi_index.upload_url, data=fields, files=files, auth=basic)
    assert (response.status_code, _reason(response)) == (
        403,
        message.format(help=pypi_index.help_url, name=name),
    )
    assert pypi_index.files(name) == []


def test_trusted_publishing_cannot_create_projects(
    pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore, tmp_path: Path
) -> None:
    _published(pypi_index)
    token = publish_token(pypi_index, pypi_sigstore)
    missing = unique("missing")
    response = upload(pypi_index, token, *form(missing, "1.0.0", dists(tmp_path, missing)[0]))
    assert response.status_code == 400
    assert _reason(response).startswith("Non-user identities cannot create new projects.")
    # a user's token can
    user_token = pypi_index.api_token(user="creator")
    assert (
        upload(
            pypi_index, user_token, *form(missing, "1.0.0", dists(tmp_path, missing)[0])
        ).status_code
        == 200
    )


CORE = "See https://packaging.python.org/specifications/core-metadata for more information."


LOCAL_VERSIONS = (
    "https://packaging.python.org/en/latest/specifications/version-specifiers/"
    "#local-version-identifiers"
)
FORM_CASES: list[tuple[dict[str, str | None], str]] = [
    ({"name": None}, f"'' is an invalid value for Name. Error: This field is required. {CORE}"),
    (
        {"name": "-bad-"},
        "'-bad-' is an invalid value for Name. Error: Start and end with a letter or numeral "
        f"containing only ASCII numeric and '.', '_' and '-'. {CORE}",
    ),
    ({"filetype": "bdist_egg"}, "Invalid value for filetype. Error: Use a known file type."),
    (
        {"sha256_digest": "xyz"},
        "Invalid value for sha256_digest. Error: Use a valid, hex-encoded, SHA256 message digest.",
    ),
    (
        {"sha256_digest": None, "blake2_256_digest": None},
        "Error: Include at least one message digest.",
    ),
    (
        {"pyversion": ""},
        "Invalid value for pyversion. "
        "Error: Python version is required for binary distribution uploads.",
    ),
    ({"protocol_version": "2"}, "Unknown protocol version."),
    ({"metadata_version": "9.9"}, f"'9.9' is not a valid metadata version. {CORE}"),
    (
        {"version": "1.0.0+local"},
        "The use of local versions in '1.0.0+local' is not allowed. "
        f"See {LOCAL_VERSIONS} for more information.",
    ),
    ({"version": "1.0.1"}, "Version in filename should be '1.0.1' not '1.0.0'."),
    (
        {"classifiers": "Not :: A :: Classifier"},
        f"'Not :: A :: Classifier' is not a valid classifier. {CORE}",
    ),
    (
        {"sha256_digest": "0" * 64},
        "The digest supplied does not match a digest calculated from the uploaded file.",
    ),
    (
        {"filetype": "sdist", "pyversion": "source"},
        "Invalid file extension: Extension .whl is invalid for filetype sdist. "
        "See https://www.python.org/dev/peps/pep-0527 for more information.",
    ),
]


@pytest.mark.parametrize(("change", "message"), FORM_CASES)
def test_form_and_metadata_refusals(
    pypi_index: PyPIIndex, tmp_path: Path, change: dict[str, str | None], message: str
) -> None:
    name = unique("form")
    pypi_index.create_project(name)
    token = pypi_index.api_token(project=name)
    wheel, _ = dists(tmp_path, name)
    fields, files = form(name, "1.0.0", wheel, **change)
    response = upload(pypi_index, token, fields, files)
    assert (response.status_code, _reason(response)) == (400, message)


def test_distribution_refusals(pypi_index: PyPIIndex, tmp_path: Path) -> None:
    name = unique("dist")
    pypi_index.create_project(name)
    token = pypi_index.api_token(project=name)
    wheel, sdist = dists(tmp_path, name)
    norm = name.replace("-", "_")

    def refused(path: Path, version: str = "1.0.0", **extra: str) -> str:
        response = upload(pypi_index, token, *form(name, version, path, **extra))
        assert response.status_code == 400, response.status_code
        return _reason(response)

    garbage = tmp_path / f"{norm}-2.0.tar.gz"
    garbage.write_bytes(b"not a tarball")
    assert refused(garbage, "2.0") == "Invalid distribution file. File is not a tarfile"
    unnormalized = tmp_path / f"{name.upper()}-1.0.0.tar.gz"
    unnormalized.write_bytes(sdist.read_bytes())
    assert (
        refused(unnormalized)
        == f"Filename '{unnormalized.name}' is invalid, should be '{sdist.name}'."
    )
    platform = tmp_path / f"{norm}-1.0.0-py3-none-solaris_sparc.whl"
    platform.write_bytes(wheel.read_bytes())
    assert refused(platform) == (
        f"Binary wheel '{platform.name}' has an unsupported platform tag 'solaris_sparc'."
    )
    other = unique("other")
    foreign, _ = dists(tmp_path / "f", other)
    # the wheel's name must be the metadata's (the form's) name
    assert refused(foreign) == f"Start filename for '{name}' with '{norm}'."
    assert upload(pypi_index, token, *form(name, "1.0.0", sdist)).status_code == 200
    # a second sdist (another file name: a .zip) for the release
    second = tmp_path / f"{norm}-1.0.0.zip"
    second.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    assert refused(second) == "Only one sdist may be uploaded per release."
    response = httpx.post(
        pypi_index.upload_url,
        data=form(name, "1.0.0", wheel)[0],
        auth=("__token__", token),
    )
    assert (response.status_code, _reason(response)) == (
        400,
        "Upload payload does not have a file.",
    )


def test_old_releases_take_no_new_files(pypi_index: PyPIIndex, tmp_path: Path) -> None:
    name = unique("old")
    pypi_index.create_project(name)
    token = pypi_index.api_token(project=name)
    wheel, sdist = dists(tmp_path, name)
    assert upload(pypi_index, token, *form(name, "1.0.0", sdist)).status_code == 200
    pypi_index.age_release(name, "1.0.0", days=15)
    response = upload(pypi_index, token, *form(name, "1.0.0", wheel))
    assert (response.status_code, _reason(response)) == (
        400,
        "Uploading new files to releases older than 14 days is not allowed.",
    )


def test_legacy_routes(pypi_index: PyPIIndex) -> None:
    no_slash = httpx.post(pypi_index.upload_url.rstrip("/"), data={":action": "file_upload"})
    assert no_slash.status_code == 308
    assert no_slash.headers["location"] == "/legacy/"
    submit = httpx.post(pypi_index.upload_url, data={":action": "submit"})
    assert (submit.status_code, _reason(submit)) == (
        410,
        "Project pre-registration is no longer required or supported, upload your files instead.",
    )


def test_uploads_can_be_switched_off(pypi_sigstore: LocalSigstore, tmp_path: Path) -> None:
    with PyPIIndex() as index:
        index.trust_sigstore(pypi_sigstore)
        name = _published(index)
        token = index.api_token(project=name)
        wheel, _ = dists(tmp_path, name)
        index.uploads.read_only = True
        response = upload(index, token, *form(name, "1.0.0", wheel))
        assert (response.status_code, _reason(response)) == (
            403,
            "Read-only mode: Uploads are temporarily disabled.",
        )
