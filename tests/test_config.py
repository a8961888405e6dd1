"""The option-table reader: every problem of a table and its sub-tables collected, then raised."""

from __future__ import annotations

import pytest

from hatch_sigstore._config import Options, did_you_mean
from hatch_sigstore.errors import ConfigError


def test_readers_record_and_fall_back_then_check_raises_once() -> None:
    table = {"flag": "yes", "name": 3, "mode": "x", "seconds": -1, "sub": {"n": 1, "extra": 2}}
    options = Options(table, "tool.x", known=("flag", "name", "mode", "seconds", "sub"))
    assert options.boolean("flag", False) is False
    assert options.string("name", "d") == "d"
    assert options.choice("mode", ("a", "b", "c"), "a") == "a"
    assert options.number("seconds", 5.0) == 5.0
    sub = options.sub("sub", known=("n",))
    assert sub.string("n", "z") == "z"
    assert len(options.errors) == 6
    with pytest.raises(ConfigError) as info:
        options.check()
    paths = ["tool.x.flag", "tool.x.name", "tool.x.mode", "tool.x.seconds", "tool.x.sub.n"]
    message = str(info.value)
    for path in [*paths, "tool.x.sub.extra"]:
        assert f"`{path}`" in message
    assert len(info.value.problems) == 6


def test_one_problem_is_reported_as_itself() -> None:
    options = Options({"flag": 1}, "tool.x", known=("flag",))
    options.boolean("flag", True)
    with pytest.raises(ConfigError) as info:
        options.check()
    assert str(info.value) == "`tool.x.flag` must be true or false; got 1 (an integer)."


def test_a_good_table_checks_clean() -> None:
    options = Options({"flag": True}, "tool.x", known=("flag",))
    assert options.boolean("flag", False) is True
    options.check()


def test_not_a_table_is_one_problem() -> None:
    options = Options("text", "tool.x", known=("flag",))
    assert options.boolean("flag", True) is True
    with pytest.raises(ConfigError, match=r"`tool.x` must be a table"):
        options.check()


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("outptus", " (did you mean `outputs`?)"),
        ("sing", " (did you mean `sign`?)"),
        ("Timeout", " (did you mean `timeout`?)"),
        ("colour", ""),  # nothing close: no guess
        ("", ""),
    ],
)
def test_a_misspelt_key_gets_the_closest_known_one(key: str, hint: str) -> None:
    assert did_you_mean(key, ("outputs", "sign", "timeout", "staging")) == hint


def test_unknown_keys_are_reported_with_a_guess() -> None:
    options = Options({"outptus": 1}, "tool.x", known=("outputs",))
    with pytest.raises(ConfigError, match=r"`tool\.x\.outptus` \(did you mean `outputs`\?\)"):
        options.check()
