"""The metadata fields of an upload form, as twine sends them and warehouse reads them back.

Warehouse takes a release's metadata from the form (``warehouse/forklift/metadata.py``
``parse_form_metadata``), so every core-metadata field goes along, complete: twine's
``_RAW_TO_PACKAGE_METADATA`` (``twine/package.py``) names the form field of each
``packaging.metadata.RawMetadata`` key, and ``_convert_metadata_to_list_of_tuples``
(``twine/repository.py``) spells lists, keywords and project URLs. The name goes as twine's
``safe_name``; ``pyversion`` and ``filetype`` come from the file name.
"""

from __future__ import annotations

import re

from packaging.metadata import Metadata, parse_email
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import Version

from hatch_sigstore.errors import PublishError

__all__ = ["form_fields"]

# RawMetadata key -> form field (twine/package.py _RAW_TO_PACKAGE_METADATA)
_FIELDS = {
    "metadata_version": "metadata_version",
    "name": "name",
    "version": "version",
    "platforms": "platform",
    "summary": "summary",
    "description": "description",
    "keywords": "keywords",
    "home_page": "home_page",
    "author": "author",
    "author_email": "author_email",
    "license": "license",
    "supported_platforms": "supported_platform",
    "download_url": "download_url",
    "classifiers": "classifiers",
    "requires": "requires",
    "provides": "provides",
    "obsoletes": "obsoletes",
    "maintainer": "maintainer",
    "maintainer_email": "maintainer_email",
    "requires_dist": "requires_dist",
    "provides_dist": "provides_dist",
    "obsoletes_dist": "obsoletes_dist",
    "requires_python": "requires_python",
    "requires_external": "requires_external",
    "project_urls": "project_urls",
    "description_content_type": "description_content_type",
    "provides_extra": "provides_extra",
    "dynamic": "dynamic",
    "license_expression": "license_expression",
    "license_files": "license_file",
}


def _python_version(filename: str) -> str:
    """``pyversion``: the wheel's python tag(s) as in its name (twine's ``py_version``)."""
    if not filename.endswith(".whl"):
        return "source"
    try:
        parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return "any"
    parts = filename[: -len(".whl")].split("-")
    return parts[-3]


def form_fields(metadata: bytes, filename: str) -> list[tuple[str, str]]:
    """The form fields of a dist whose METADATA/PKG-INFO is ``metadata``.

    Raises :class:`PublishError` for metadata twine would refuse to upload.
    """
    raw, unparsed = parse_email(metadata)
    if Version(str(raw.get("metadata_version", "0"))) < Version("2.4"):
        # setuptools writes License-File under older metadata versions; twine drops them
        raw.pop("license_files", None)
        unparsed.pop("license-file", None)
    if unparsed:
        keys = ", ".join(sorted(unparsed))
        raise PublishError(
            f"{filename}: its metadata has fields that are unknown or malformed ({keys}).",
            remediation="Rebuild the dist with a current build backend (hatchling).",
        )
    try:
        Metadata.from_raw(raw)
    except Exception as exc:  # packaging raises an ExceptionGroup of InvalidMetadata
        problems = getattr(exc, "exceptions", None) or [exc]
        detail = "; ".join(sorted(str(e) for e in problems))
        raise PublishError(
            f"{filename}: its metadata is invalid ({detail}).",
            remediation="Fix pyproject.toml and rebuild.",
        ) from None
    fields: list[tuple[str, str]] = []
    for key, raw_value in raw.items():
        field = _FIELDS.get(key)
        if field is None:
            continue
        value: object = raw_value
        if key == "name":
            value = re.sub(r"[^A-Za-z0-9.]+", "-", str(raw_value))  # twine's _safe_name
        if isinstance(value, dict):  # project_urls
            fields.extend((field, f"{label}, {url}") for label, url in value.items())
        elif key == "keywords" and isinstance(value, list):
            fields.append((field, ", ".join(value)))
        elif isinstance(value, list):
            fields.extend((field, str(item)) for item in value)
        else:
            fields.append((field, str(value)))
    fields.append(("pyversion", _python_version(filename)))
    fields.append(("filetype", "bdist_wheel" if filename.endswith(".whl") else "sdist"))
    return fields
