"""Text fit to print: redaction of known secrets in every spelling and cut, escape sequences and
control characters removed, and the order of the two (redact whole, then shorten)."""

from __future__ import annotations

import base64
from urllib.parse import quote as url_quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hatch_sigstore._text import printable, shorten
from hatch_sigstore.errors import first_line, quote, redact

TOKEN = "glcbt-64_JoBtOkEnJoBtOkEnJoBtOkEn012"
TOKENS = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=12, max_size=80
)
FILLER = st.text(alphabet="xyz .,:;", max_size=400)
CONTROLS = set(range(0x20)) | {0x7F} | set(range(0x80, 0xA0)) | {0x2028, 0x2029}
CONTROLS |= set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A)) | {0x200E, 0x200F}


def windows(secret: str, size: int = 8) -> list[str]:
    return [secret[i : i + size] for i in range(len(secret) - size + 1)]


@given(secret=TOKENS, before=FILLER, after=FILLER, limit=st.integers(10, 500))
def test_no_eight_characters_of_a_secret_survive_a_cut(
    secret: str, before: str, after: str, limit: int
) -> None:
    shown = quote(before + secret + after, [secret], limit=limit)
    assert len(shown) <= limit
    for window in windows(secret):
        assert window not in shown


@given(secret=TOKENS, keep=st.integers(8, 80), before=FILLER)
def test_a_secret_cut_short_before_we_saw_it_is_still_caught(
    secret: str, keep: int, before: str
) -> None:
    """A server (or a length limit that ran first) cut the echo: any 8+ character head of a
    known secret is hidden, with whatever follows it that still matches."""
    shown = redact(before + secret[:keep], [secret])
    assert secret[: min(keep, 8)] not in shown


@pytest.mark.parametrize(
    "spelling",
    [
        TOKEN,
        url_quote("tok/en+with=odd&chars", safe=""),
        base64.b64encode(f"gitlab-ci-token:{TOKEN}".encode()).decode(),
        base64.b64encode(TOKEN.encode()).decode(),
    ],
)
def test_every_spelling_of_a_known_secret_is_hidden(spelling: str) -> None:
    secrets = [
        TOKEN,
        "tok/en+with=odd&chars",
        base64.b64encode(f"gitlab-ci-token:{TOKEN}".encode()).decode(),
    ]
    shown = redact(f"the server said: {spelling} (end)", secrets)
    assert spelling not in shown
    assert shown.startswith("the server said: ***")


def test_the_issue_numbers_34_of_36_and_68_of_72() -> None:
    """The report: redaction after truncation printed 34 of a job token's 36 characters, and
    68 of the 72 base64 characters of a Basic header."""
    assert len(TOKEN) == 36
    basic = base64.b64encode(f"gitlab-ci-token:{TOKEN}".encode()).decode()
    assert len(basic) == 72
    for secret, cut in ((TOKEN, 34), (basic, 68)):
        message = "z" * 266 + secret
        shown = quote(message, [TOKEN, basic], limit=266 + cut + 1)
        assert secret[:cut] not in shown
        assert not any(w in shown for w in windows(secret))


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("https://gitlab.example.com/api/v4?private_token=abc123secret", "abc123secret"),
        ("GET /x?job_token=abc123secret&page=2", "abc123secret"),
        ("see ?access_token=abc123secret", "abc123secret"),
        ("https://s3/b/k?X-Amz-Credential=AKIA/x&X-Amz-Signature=abc123secret", "abc123secret"),
        ("https://s3/b/k?X-Amz-Credential=AKIAabc123secret&X-Amz-Date=1", "AKIAabc123secret"),
        ("https://storage.googleapis.com/b/k?X-Goog-Signature=abc123secret", "abc123secret"),
        ("https://acct.blob.core.windows.net/c/k?sv=1&sig=abc123secret", "abc123secret"),
        ("https://oauth2:abc123secret@gitlab.example.com/x", "abc123secret"),
        ("token glpat-abc123secret0000 here", "glpat-abc123secret0000"),
    ],
)
def test_urls_and_token_shapes_are_redacted_without_being_told(text: str, hidden: str) -> None:
    shown = redact(text)
    assert hidden not in shown
    assert "***" in shown


@given(st.text(max_size=300))
def test_printable_leaves_no_control_character(text: str) -> None:
    shown = printable(text)
    assert not any(ord(c) in CONTROLS for c in shown)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\x1b[31mred\x1b[0m b", "ared b"),
        ("\x1b]0;window title\x07after", "after"),
        ("\x1b]8;;https://evil\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("\x9b2Jcleared", "cleared"),
        ("\x1bPdevice control\x1b\\x", "x"),
        ("unterminated \x1b]0;title", "unterminated "),
        ("row\nfake row\r\tend", "row fake row  end"),
        ("right\u202eto left", "right to left"),
        ("nul\x00del\x7f", "nul del "),
    ],
)
def test_escape_sequences_are_removed(text: str, expected: str) -> None:
    assert printable(text) == expected


def test_newlines_of_our_own_messages_can_stay() -> None:
    assert printable("2 errors:\n- a\x1b[2J\n- b", keep_newlines=True) == "2 errors:\n- a\n- b"


def test_shorten_and_first_line() -> None:
    assert shorten("a   b", 10) == "a b"
    assert shorten("abcdefghijk", 5) == "abcd…"
    assert first_line(f"boom {TOKEN}\nmore", limit=12) == "boom ***"
    assert first_line(RuntimeError(f"\x1b[1mbold {TOKEN[:30]}")) == "bold ***"


SPLIT_TOKEN = "glpat-" + "x7Kq2MzP9aLw3VnB8cRt"


@pytest.mark.parametrize(
    "echo",
    [
        # escape sequences inside the echo vanish on the screen: the token would be whole again
        "glpat-x\x1b[0m7Kq2MzP9aLw3VnB8cRt",
        "glpat-x7K\x1b]0;title\x07q2MzP\x1bP1$r\x1b\\9aLw3\x9b2JVnB8cRt",
        "".join(c + "\x1b[m" for c in "glpat-x7Kq2MzP9aLw3VnB8cRt"),
        # broken by a control or a space: a part of 12 characters or more after the break is
        # as secret (a shorter one common words could make up)
        "glpat-x7Kq\n2MzP9aLw3VnB8cRt",
        "glpat-x7Kq2M zP9aLw3VnB8cRt",
    ],
)
def test_an_echo_broken_up_by_the_server_is_still_hidden(echo: str) -> None:
    for text in (quote(f"token {echo}!", [SPLIT_TOKEN]), quote(echo, [SPLIT_TOKEN], limit=60)):
        shown = text.replace(" ", "")
        assert "x7Kq2MzP" not in shown, text
        assert all(SPLIT_TOKEN[i : i + 8] not in text for i in range(len(SPLIT_TOKEN) - 7)), text
