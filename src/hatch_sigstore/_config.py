"""Typed readers for hook option tables that collect every error, each with its TOML path.

Like hatch-fancy-pypi-readme's configuration loader, a table is read completely before anything
is refused: each reader records what is wrong with its key (the exact path, such as
``tool.hatch.build.hooks.sigstore.outputs``, and the values allowed) and returns the default,
so reading goes on; :meth:`Options.check` then raises one :class:`ConfigError` listing every
problem of the table and its sub-tables. No hatch or sigstore imports here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any, TypeVar

from hatch_sigstore.errors import ConfigError

__all__ = ["Options", "describe_value", "did_you_mean"]

_T = TypeVar("_T")


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """`` (did you mean `url`?)`` for a misspelt key close to a known one, else ``""``."""
    import difflib  # only on an error

    close = difflib.get_close_matches(key.lower(), sorted(known), n=1, cutoff=0.75)
    return f" (did you mean `{close[0]}`?)" if close else ""


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
    """One TOML table of options, read key by key; errors are collected, not raised.

    Sub-tables (:meth:`sub`) share the list of errors, so :meth:`check` on the outer table
    reports the whole tree at once.
    """

    def __init__(
        self,
        table: Any,
        path: str,
        *,
        known: Collection[str] | None = None,
        errors: list[ConfigError] | None = None,
    ) -> None:
        self.path = path
        self.errors: list[ConfigError] = [] if errors is None else errors
        if table is None:
            table = {}
        if not isinstance(table, Mapping):
            self.report(f"`{path}` must be a table; got {describe_value(table)}.")
            table = {}
        self.table: Mapping[str, Any] = table
        if known is not None:
            for key in sorted(set(table) - set(known)):
                self.report(
                    f"Unknown option `{path}.{key}`{did_you_mean(str(key), known)}; the "
                    "options there are "
                    f"{_quote_all(sorted(known))}.",
                    remediation="Check the spelling against the configuration reference in the "
                    "README.",
                )

    def key(self, name: str) -> str:
        return f"{self.path}.{name}"

    def report(self, message: str, *, remediation: str | None = None) -> None:
        """Record a problem with this table (the message names the key)."""
        self.errors.append(ConfigError(message, remediation=remediation))

    def extend(self, errors: Iterable[ConfigError]) -> None:
        """Record problems found elsewhere (say, by the identity model) with this table's."""
        self.errors.extend(errors)

    def check(self) -> None:
        """Raise one :class:`ConfigError` listing every problem recorded so far, if any."""
        if self.errors:
            raise ConfigError.collect(self.errors)

    def _bad(self, name: str, expected: str, value: Any, default: _T) -> _T:
        self.report(f"`{self.key(name)}` must be {expected}; got {describe_value(value)}.")
        return default

    def has(self, name: str) -> bool:
        return name in self.table

    def boolean(self, name: str, default: bool) -> bool:
        value = self.table.get(name, default)
        if not isinstance(value, bool):
            return self._bad(name, "true or false", value, default)
        return value

    def string(self, name: str, default: str) -> str:
        value = self.table.get(name, default)
        if not isinstance(value, str):
            return self._bad(name, "a string", value, default)
        return value

    def optional_string(self, name: str) -> str | None:
        if name not in self.table:
            return None
        value = self.table[name]
        if not isinstance(value, str) or not value.strip():
            return self._bad(name, "a non-empty string", value, None)
        return value.strip()

    def choice(self, name: str, choices: Collection[_T], default: _T) -> _T:
        value = self.table.get(name, default)
        if isinstance(value, bool) or value not in choices:
            return self._bad(name, f"one of {_quote_all(choices)}", value, default)
        return value  # type: ignore[no-any-return]

    def number(self, name: str, default: float, *, above: float = 0.0) -> float:
        """A number (not a boolean) above ``above``."""
        value = self.table.get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= above:
            expected = f"a number of seconds above {above:g}"
            return self._bad(name, expected, value, default)
        return float(value)

    def string_list(
        self, name: str, default: Iterable[str], *, choices: Collection[str] | None = None
    ) -> tuple[str, ...]:
        fallback = tuple(default)
        value = self.table.get(name, list(fallback))
        allowed = f" of {_quote_all(choices)}" if choices is not None else ""
        expected = f"an array of strings{allowed}"
        if not isinstance(value, list):
            return self._bad(name, expected, value, fallback)
        bad = [
            item
            for item in value
            if not isinstance(item, str) or (choices is not None and item not in choices)
        ]
        if bad:
            self.report(
                f"`{self.key(name)}` must be {expected}; {describe_value(bad[0])} is not one "
                "of them.",
            )
            return fallback
        return tuple(dict.fromkeys(value))

    def string_table(self, name: str) -> dict[str, str]:
        value = self.table.get(name, {})
        if not isinstance(value, Mapping):
            return self._bad(name, "a table of strings (label = URL)", value, {})
        good: dict[str, str] = {}
        for label, item in value.items():
            if isinstance(item, str):
                good[label] = item
            else:
                self.report(
                    f'`{self.key(name)}."{label}"` must be a string; got {describe_value(item)}.'
                )
        return good

    def sub(self, name: str, *, known: Collection[str] | None = None) -> Options:
        """The sub-table ``name``, recording its errors with this table's."""
        return Options(self.table.get(name, {}), self.key(name), known=known, errors=self.errors)
