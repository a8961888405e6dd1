"""Rewrite ``[project]`` name / version / urls in a pyproject.toml text, keeping everything else.

The edit is textual (comments, order and formatting survive, as with the tutorial's ``sed``), and
then proven: the result is parsed and must equal the original document with exactly the intended
changes. Anything the line editor cannot handle safely is an error, never a silently wrong file.

:func:`sdist_pyproject` is the build hook's use of it; this module is imported only by an sdist
build whose metadata comes from CI.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from copy import deepcopy
from typing import TYPE_CHECKING, Any

from hatch_sigstore.errors import ConfigError

if TYPE_CHECKING:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - hatchling depends on tomli there
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = ["drop_temp_pyproject", "rewrite_pyproject", "sdist_pyproject", "toml_string"]


def _is_project_header(line: str, table: str = "project") -> bool:
    """``[project]`` (or ``[<table>]``; spaces allowed inside the brackets and around dots),
    optionally followed by a comment.

    String tests, not regular expressions: compiling them would cost each sdist build ~1 ms.
    """
    line = line.strip()
    if not line.startswith("[") or line.startswith("[["):
        return False
    inside, closed, rest = line[1:].partition("]")
    rest = rest.lstrip()
    name = ".".join(part.strip() for part in inside.split("."))
    return bool(closed) and name == table and (not rest or rest[0] == "#")


def toml_string(value: str) -> str:
    """A TOML basic string: ``"..."`` with every character TOML forbids raw escaped."""
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _key_span(lines: list[str], start: int, end: int, key: str) -> tuple[int, int] | None:
    """Lines ``[i, j)`` holding ``key = value`` inside ``[start, end)``; arrays may span lines."""
    for i in range(start, end):
        head, equals, _ = lines[i].partition("=")
        if equals and head.strip() == key:
            depth, j = 0, i
            while j < end:
                depth += lines[j].count("[") - lines[j].count("]")
                j += 1
                if depth <= 0:
                    break
            return i, j
    return None


def rewrite_pyproject(
    text: str,
    *,
    name: str | None = None,
    version: str | None = None,
    urls: Mapping[str, str] | None = None,
    where: str = "pyproject.toml",
) -> str:
    """Return ``text`` with ``project.name``/``version``/``urls`` set statically.

    ``version`` and ``urls`` are removed from ``project.dynamic`` when set. Static URLs (a
    ``[project.urls]`` table, or ``urls = {...}`` in ``[project]``) are written anew in place.
    Raises ConfigError when the result would not be exactly that change.
    """
    original = tomllib.loads(text)
    expected = deepcopy(original)
    project: dict[str, Any] = expected.setdefault("project", {})
    if name is not None:
        project["name"] = name
    dynamic = list(project.get("dynamic", []))
    if version is not None:
        project["version"] = version
        dynamic = [d for d in dynamic if d != "version"]
    if urls is not None:
        project["urls"] = dict(urls)
        dynamic = [d for d in dynamic if d != "urls"]
    if "dynamic" in project:
        project["dynamic"] = dynamic

    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines()
    headers = [i for i, line in enumerate(lines) if _is_project_header(line)]
    if len(headers) != 1:
        raise _cannot(where, "it has no single [project] table header")
    start = headers[0] + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("[")), len(lines))

    # static URLs in their own [project.urls] table: that table's body is written anew
    url_headers = [i for i, line in enumerate(lines) if _is_project_header(line, "project.urls")]
    urls_table: tuple[int, int] | None = None
    if urls is not None and url_headers:
        if len(url_headers) != 1:
            raise _cannot(where, "it has more than one [project.urls] header")
        first = url_headers[0] + 1
        last = next((i for i in range(first, len(lines)) if lines[i].startswith("[")), len(lines))
        while last > first and not lines[last - 1].strip():  # keep the blank lines after it
            last -= 1
        urls_table = (first, last)

    new_lines: list[str] = []
    if name is not None:
        new_lines.append(f"name = {toml_string(name)}")
    if version is not None:
        new_lines.append(f"version = {toml_string(version)}")
    if urls is not None and urls_table is None:
        inner = ", ".join(f"{toml_string(k)} = {toml_string(v)}" for k, v in urls.items())
        new_lines.append(f"urls = {{ {inner} }}" if inner else "urls = {}")

    drops: list[tuple[int, int]] = []
    replace_dynamic = None
    if name is not None:
        span = _key_span(lines, start, end, "name")
        if span is None:
            raise _cannot(where, "project.name is not a plain `name = ...` line")
        drops.append(span)
    if urls is not None and urls_table is None and "urls" in original.get("project", {}):
        span = _key_span(lines, start, end, "urls")  # an inline table: one line in TOML
        if span is None:
            raise _cannot(where, "project.urls is neither [project.urls] nor `urls = {...}`")
        drops.append(span)
    if (version is not None or urls is not None) and "dynamic" in original.get("project", {}):
        span = _key_span(lines, start, end, "dynamic")
        if span is None:
            raise _cannot(where, "project.dynamic is not a plain `dynamic = [...]` entry")
        drops.append(span)
        replace_dynamic = "dynamic = [" + ", ".join(toml_string(d) for d in dynamic) + "]"
    if replace_dynamic is not None:
        new_lines.append(replace_dynamic)

    dropped = {i for a, b in drops for i in range(a, b)}
    body = [line for i, line in enumerate(lines[start:end], start) if i not in dropped]
    rest = lines[end:]
    if urls_table is not None and urls is not None:
        first, last = urls_table
        table = [f"{toml_string(k)} = {toml_string(v)}" for k, v in urls.items()]
        rest = [*lines[end:first], *table, *lines[last:]]
    result = [*lines[:start], *new_lines, *body, *rest]
    out = newline.join(result) + (newline if text.endswith(("\n", "\r\n")) else "")
    try:
        parsed = tomllib.loads(out)
    except tomllib.TOMLDecodeError as exc:
        raise _cannot(where, f"the edited text is not valid TOML ({exc})") from None
    if parsed != expected:
        raise _cannot(where, "the edited text does not say what was intended")
    return out


def _cannot(where: str, why: str) -> ConfigError:
    return ConfigError(
        f"Could not rewrite {where} for the sdist: {why}.",
        remediation='Write [project] with one `name = "..."` line and a `dynamic = [...]` '
        'entry, or set `sdist-pyproject = "keep"` in the build hook (the sdist then keeps the '
        "original name, so a wheel built from it is not renamed).",
    )


# -- the build hook: ship a rewritten pyproject.toml in the sdist ----------------------------

_TEMP_DIRS: list[str] = []  # removed at exit if the build failed before finalize did it


def _remove_temp_dirs() -> None:
    while _TEMP_DIRS:
        shutil.rmtree(_TEMP_DIRS.pop(), ignore_errors=True)


atexit.register(_remove_temp_dirs)


def sdist_pyproject(hook: BuildHookInterface[Any], build_data: dict[str, Any]) -> str | None:
    """Put a pyproject.toml with the CI name, version and URLs made static into the sdist.

    So a wheel built from that sdist, with or without CI variables, carries the same metadata.
    Returns the temporary folder holding it (for :func:`drop_temp_pyproject`), or ``None`` when
    nothing came from CI and the sdist ships the project's pyproject.toml as it is.
    """
    from hatch_sigstore.ci import CIContext
    from hatch_sigstore.hatch._metadata_plan import (
        METADATA_HOOK_PATH,
        MetadataOptions,
        building_from_sdist,
        plan_metadata,
    )

    if building_from_sdist(hook.root):
        return None
    hook_config = hook.metadata.hatch.metadata.hook_config.get("sigstore")
    if hook_config is None:
        return None
    project = hook.metadata.config.get("project", {})
    changes = plan_metadata(
        project,
        MetadataOptions.from_config(hook_config),
        CIContext.from_env(),
        strict=False,
    )
    if not changes.ci_variables:
        return None
    dynamic = list(project.get("dynamic") or [])
    core = hook.metadata.core
    source = os.path.join(hook.root, "pyproject.toml")
    with open(source, encoding="utf-8") as f:
        original = f.read()
    text = rewrite_pyproject(
        original,
        name=core.raw_name if changes.name is not None else None,
        version=hook.metadata.original_version if "version" in dynamic else None,
        urls=dict(core.urls) if "urls" in dynamic or changes.urls is not None else None,
        where=f"{source} (for the sdist; `{METADATA_HOOK_PATH}`)",
    )
    folder = tempfile.mkdtemp(prefix="hatch-sigstore-sdist-")
    _TEMP_DIRS.append(folder)
    rewritten = os.path.join(folder, "pyproject.toml")
    with open(rewritten, "w", encoding="utf-8") as f:
        f.write(text)
    force_include = build_data.setdefault("force_include", {})
    for src in [s for s, target in force_include.items() if target == "pyproject.toml"]:
        del force_include[src]
    force_include[rewritten] = "pyproject.toml"
    return folder


def drop_temp_pyproject(folder: str) -> None:
    """Remove what :func:`sdist_pyproject` wrote, once the sdist holds it."""
    try:  # one file: cheaper than rmtree
        os.unlink(os.path.join(folder, "pyproject.toml"))
        os.rmdir(folder)
    except OSError:
        pass
    if folder in _TEMP_DIRS:
        _TEMP_DIRS.remove(folder)
