"""The upload form of the PyPI stand-in: sanitizing, the form's validators, the metadata.

``warehouse/forklift/decorators.py`` (``sanitize``), ``warehouse/forklift/forms.py``
(``UploadForm``) and ``warehouse/forklift/metadata.py`` (``parse_form_metadata`` and
``_validate_metadata``), with the error texts ``file_upload`` builds from them
(``warehouse/forklift/legacy.py``). The metadata is parsed by ``packaging.metadata``, as
warehouse does, so its messages are packaging's own. Not modelled: e-mail address syntax
(warehouse uses email-validator) and README rendering.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hatch_sigstore.sandbox._pypi_http import HTTPError

if TYPE_CHECKING:
    from packaging.metadata import Metadata

__all__ = ["UploadForm", "parse_metadata", "sanitize", "validate_form"]

# warehouse/utils/project.py PROJECT_NAME_RE (with re.IGNORECASE in the form)
_PROJECT_NAME_RE = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_HEX64 = re.compile(r"^[A-F0-9]{64}$", re.IGNORECASE)
FILETYPE_EXTENSIONS = {"sdist": (".zip", ".tar.gz"), "bdist_wheel": (".whl",)}
_ERROR_ORDER = ("metadata-version", "name", "version")
_CORE_METADATA = "https://packaging.python.org/specifications/core-metadata"
_LOCAL_VERSIONS = (
    "https://packaging.python.org/en/latest/specifications/version-specifiers/"
    "#local-version-identifiers"
)
SUPPORTED_METADATA_VERSIONS = {"1.0", "1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "2.5"}
_FORM_OVERRIDES = {
    "platforms": "platform",
    "supported_platforms": "supported_platform",
    "license_files": "license_file",
    "import_names": "import_name",
    "import_namespaces": "import_namespace",
}
_REQUIRED = "This field is required."


def sanitize(values: dict[str, list[str]], file_fields: list[str]) -> dict[str, list[str]]:
    """``sanitize``: drop "UNKNOWN" values, escape NUL, refuse fields sent as files."""
    clean: dict[str, list[str]] = {}
    for key, items in values.items():
        kept = [v.replace("\x00", "\\x00") for v in items if v.strip() != "UNKNOWN"]
        if kept:
            clean[key] = kept
    for name in file_fields:
        if name not in ("content", "gpg_signature"):
            raise HTTPError(400, f"{name}: Should not be a tuple.")
    return clean


@dataclass
class UploadForm:
    name: str
    filetype: str
    pyversion: str
    comment: str | None
    md5_digest: str
    sha256_digest: str
    blake2_256_digest: str


def _first(values: dict[str, list[str]], key: str) -> str | None:
    items = values.get(key)
    return items[0] if items else None


def _form_error(errors: dict[str | None, str], values: dict[str, list[str]]) -> HTTPError:
    field_name = "name" if "name" in errors else sorted(errors, key=lambda k: k or "")[0]
    if field_name is None:
        return HTTPError(400, f"Error: {errors[None]}")
    if field_name == "name":  # the only field with a description ("Name")
        data = _first(values, "name") or ""
        shown = data[:30] + "..." + data[-30:] if len(data) > 60 else data
        return HTTPError(
            400,
            f"{shown!r} is an invalid value for Name. Error: {errors['name']} "
            f"See {_CORE_METADATA} for more information.",
        )
    return HTTPError(400, f"Invalid value for {field_name}. Error: {errors[field_name]}")


def validate_form(values: dict[str, list[str]]) -> UploadForm:
    """``UploadForm.validate`` and the message ``file_upload`` makes of its first error."""
    errors: dict[str | None, str] = {}
    name = _first(values, "name")
    if not name:
        errors["name"] = _REQUIRED
    elif not _PROJECT_NAME_RE.match(name):
        errors["name"] = (
            "Start and end with a letter or numeral containing only ASCII numeric and "
            "'.', '_' and '-'."
        )
    filetype = _first(values, "filetype")
    if not filetype:
        errors["filetype"] = _REQUIRED
    elif filetype not in FILETYPE_EXTENSIONS:
        errors["filetype"] = "Use a known file type."
    digests = {}
    for key, what in (("sha256_digest", "SHA256"), ("blake2_256_digest", "BLAKE2")):
        digest = (_first(values, key) or "").strip()
        digests[key] = digest
        if digest and not _HEX64.match(digest):
            errors[key] = f"Use a valid, hex-encoded, {what} message digest."
    if errors:
        raise _form_error(errors, values)
    assert name is not None
    assert filetype is not None
    pyversion = (_first(values, "pyversion") or "").strip()
    if filetype != "sdist" and not pyversion:
        errors["pyversion"] = "Python version is required for binary distribution uploads."
    elif filetype == "sdist":
        if not pyversion:
            pyversion = "source"
        elif pyversion != "source":
            errors["pyversion"] = "Use 'source' as Python version for an sdist."
    md5 = (_first(values, "md5_digest") or "").strip()
    if not errors and not (md5 or digests["sha256_digest"] or digests["blake2_256_digest"]):
        errors[None] = "Include at least one message digest."
    if errors:
        raise _form_error(errors, values)
    comment = (_first(values, "comment") or "").strip() or None
    return UploadForm(
        name,
        filetype,
        pyversion,
        comment,
        md5,
        digests["sha256_digest"],
        digests["blake2_256_digest"],
    )


def _raw_metadata(values: dict[str, list[str]]) -> dict[str, Any]:
    """``parse_form_metadata``: form fields to packaging's RawMetadata."""
    from packaging.metadata import (
        _LIST_FIELDS,
        _RAW_TO_EMAIL_MAPPING,
        _STRING_FIELDS,
        ExceptionGroup,
        InvalidMetadata,
        _parse_keywords,
        _parse_project_urls,
    )

    form_to_raw = {_FORM_OVERRIDES.get(k, k): k for k in _RAW_TO_EMAIL_MAPPING}
    raw: dict[str, Any] = {}
    unparsed: list[str] = []
    for name, value in values.items():
        raw_name = form_to_raw.get(name)
        if raw_name is None or value == [""]:
            continue
        if raw_name in _STRING_FIELDS and len(value) == 1:
            raw[raw_name] = value[0]
        elif raw_name in _LIST_FIELDS:
            raw[raw_name] = value
        elif raw_name == "keywords" and len(value) == 1:
            raw[raw_name] = _parse_keywords(value[0])
        elif raw_name == "project_urls":
            try:
                raw[raw_name] = _parse_project_urls(value)
            except KeyError:
                unparsed.append(name)
        else:
            unparsed.append(name)
    if unparsed:
        raise ExceptionGroup(
            "unparsed", [InvalidMetadata(key, f"{key!r} has invalid data") for key in unparsed]
        )
    return raw


def _pypi_rules(metadata: Metadata) -> list[Exception]:
    """``_validate_metadata``: PyPI's rules on top of packaging's."""
    from packaging.metadata import InvalidMetadata

    errors: list[Exception] = []
    if metadata.metadata_version not in SUPPORTED_METADATA_VERSIONS:
        errors.append(
            InvalidMetadata(
                "metadata-version",
                f"{metadata.metadata_version!r} is not a valid metadata version",
            )
        )
    if metadata.version.local:
        errors.append(
            InvalidMetadata(
                "version", f"The use of local versions in '{metadata.version}' is not allowed."
            )
        )
    if isinstance(metadata.summary, str) and len(metadata.summary) > 512:
        errors.append(InvalidMetadata("summary", "'summary' field must be 512 characters or less."))
    from trove_classifiers import all_classifiers, deprecated_classifiers  # hatchling's dep

    classifiers = set(metadata.classifiers or [])
    errors.extend(
        InvalidMetadata("classifier", f"{c!r} is not a valid classifier.")
        for c in sorted(classifiers - set(all_classifiers))
    )
    for classifier in sorted(classifiers & deprecated_classifiers.keys()):
        deprecated_by = deprecated_classifiers[classifier]
        errors.append(
            InvalidMetadata(
                "classifier",
                f"The classifier {classifier!r} has been deprecated"
                + (f", use one of {deprecated_by} instead." if deprecated_by else "."),
            )
        )
    for req in metadata.requires_dist or []:
        if req.url is not None:
            errors.append(InvalidMetadata("requires-dist", f"Can't have direct dependency: {req}"))
    if metadata.license and metadata.license_expression:
        errors.append(
            InvalidMetadata(
                "license",
                "License is deprecated when License-Expression is present. "
                "Only License-Expression should be present.",
            )
        )
    return errors


def parse_metadata(values: dict[str, list[str]]) -> Metadata:
    """``metadata.parse(None, form_data=…)``, or the 400 ``file_upload`` makes of its errors."""
    from packaging.metadata import ExceptionGroup, InvalidMetadata, Metadata

    try:
        metadata = Metadata.from_raw(_raw_metadata(values))  # type: ignore[arg-type]
        errors = _pypi_rules(metadata)
        if errors:
            raise ExceptionGroup("invalid metadata", errors)
    except ExceptionGroup as group:
        by_field: dict[str, list[InvalidMetadata]] = {}
        for error in group.exceptions:
            if isinstance(error, InvalidMetadata):
                by_field.setdefault(error.field, []).append(error)
        if not by_field:
            raise
        field_name = next((f for f in _ERROR_ORDER if f in by_field), None)
        field_name = field_name or sorted(by_field)[0]
        message = str(by_field[field_name][0])
        see = (
            _LOCAL_VERSIONS
            if field_name == "version"
            and any("use of local versions" in str(e) for e in by_field["version"])
            else _CORE_METADATA
        )
        ending = "" if message.endswith(".") else "."
        raise HTTPError(400, f"{message}{ending} See {see} for more information.") from None
    return metadata
