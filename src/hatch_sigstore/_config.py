"""Typed readers for hook option tables: every error names the exact TOML key and what it takes.

Reading is lazy and per key, so a hook validates an option when it first needs it, and the
message always says where the key lives (``tool.hatch.build.hooks.sigstore.outputs``) and which
values are allowed. No hatch or sigstore imports here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any, TypeVar

from hatch_sigstore.errors import ConfigError

__all__ = ["Options", "describe_value"]

_T = TypeVar("_T")


def describe_value(value: Any) -> str:
    """``'x' (a string)``, ``3 (an integer)``: what the user wrote, and its TOML type."""
    kind = {
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)
    shown = repr(value)
    if isinstance(value, bool):
        shown = "true" if value else "false"
    elif isinstance(value, str):
        shown = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return f"{shown} ({kind})"


def _quote_all(values: Iterable[Any]) -> str:
    rendered = []
    for v in values:
        if isinstance(v, bool):
            rendered.append("true" if v else "false")
        else:
            rendered.append(f'"{v}"' if isinstance(v, str) else str(v))
    if len(rendered) <= 2:
        return " or ".join(rendered)
    return ", ".join(rendered[:-1]) + " or " + rendered[-1]


class Options:
    """One TOML table of options, read key by key with precise errors."""

    def __init__(self, table: Any, path: str, *, known: Collection[str] | None = None) -> None:
        if table is None:
            table = {}
        if not isinstance(table, Mapping):
            raise ConfigError(f"`{path}` must be a table; got {describe_value(table)}.")
        self.table: Mapping[str, Any] = table
        self.path = path
        if known is not None:
            unknown = sorted(set(table) - set(known))
            if unknown:
                raise ConfigError(
                    f"Unknown option `{path}.{unknown[0]}`"
                    + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
                    + f"; the options there are {_quote_all(sorted(known))}.",
                    remediation="Check the spelling against the configuration reference in the "
                    "README.",
                )

    def key(self, name: str) -> str:
        return f"{self.path}.{name}"

    def _error(self, name: str, expected: str, value: Any) -> ConfigError:
        return ConfigError(
            f"`{self.key(name)}` must be {expected}; got {describe_value(value)}.",
        )

    def has(self, name: str) -> bool:
        return name in self.table

    def boolean(self, name: str, default: bool) -> bool:
        value = self.table.get(name, default)
        if not isinstance(value, bool):
            raise self._error(name, "true or false", value)
        return value

    def string(self, name: str, default: str) -> str:
        value = self.table.get(name, default)
        if not isinstance(value, str):
            raise self._error(name, "a string", value)
        return value

    def optional_string(self, name: str) -> str | None:
        if name not in self.table:
            return None
        value = self.table[name]
        if not isinstance(value, str) or not value.strip():
            raise self._error(name, "a non-empty string", value)
        return value.strip()

    def choice(self, name: str, choices: Collection[_T], default: _T) -> _T:
        value = self.table.get(name, default)
        if isinstance(value, bool) or value not in choices:
            raise self._error(name, f"one of {_quote_all(choices)}", value)
        return value  # type: ignore[no-any-return]

    def string_list(
        self, name: str, default: Iterable[str], *, choices: Collection[str] | None = None
    ) -> tuple[str, ...]:
        value = self.table.get(name, list(default))
        allowed = f" of {_quote_all(choices)}" if choices is not None else ""
        expected = f"an array of strings{allowed}"
        if not isinstance(value, list):
            raise self._error(name, expected, value)
        for item in value:
            if not isinstance(item, str) or (choices is not None and item not in choices):
                raise ConfigError(
                    f"`{self.key(name)}` must be {expected}; {describe_value(item)} is not one "
                    "of them.",
                )
        return tuple(dict.fromkeys(value))

    def string_table(self, name: str) -> dict[str, str]:
        value = self.table.get(name, {})
        if not isinstance(value, Mapping):
            raise self._error(name, "a table of strings (label = URL)", value)
        for label, item in value.items():
            if not isinstance(item, str):
                raise ConfigError(
                    f'`{self.key(name)}."{label}"` must be a string; got {describe_value(item)}.'
                )
        return dict(value)

    def sub(self, name: str, *, known: Collection[str] | None = None) -> Options:
        return Options(self.table.get(name, {}), self.key(name), known=known)
