"""Terminal-safe text: what a server or a file said, made fit to print. Standard library only.

A server's error body, a certificate's identity, a file name on disk: any of them can carry
escape sequences that move the cursor, recolour or erase the screen, or a newline that starts a
fake table row. :func:`printable` removes every escape sequence (CSI, OSC, DCS and the other
ECMA-48 string and two-character forms) and turns every other C0 and C1 control, DEL, the
Unicode line and paragraph separators and the bidirectional overrides (which reorder what a
terminal shows) into a space. Nothing here redacts: :func:`hatch_sigstore.errors.quote`
makes printable, then redacts whole, then shortens.
"""

from __future__ import annotations

import re
from functools import cache

__all__ = ["printable", "shorten"]


@cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """(escape sequences, other controls, runs of spaces), compiled on first use: every build
    imports this module through the errors, few ever print a server's words."""
    # ECMA-48: CSI (ESC [ or 0x9B, parameters, intermediates, a final byte); OSC, DCS, SOS,
    # PM, APC (ESC ] P X ^ _ or their C1 forms, up to BEL or ST); any other ESC + one byte.
    # An unterminated string runs to the end: what follows an unfinished OSC is not trusted.
    escapes = re.compile(
        r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
        r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])(?:.*?(?:\x07|\x1b\\|\x9c)|.*\Z)"
        r"|\x1b[\x20-\x7e]?",
        re.DOTALL,
    )
    # Every other control: C0 (tab and newline too: one line per message), DEL, C1, the line
    # and paragraph separators, the bidi marks, embeddings, overrides and isolates.
    controls = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f]")
    return escapes, controls, re.compile(r"[ ]{2,}")


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` without escape sequences and with every other control character as a space.

    ``keep_newlines`` keeps ``\\n`` (for a multi-line message of ours whose parts were made
    printable already); everything else that could move the cursor still goes.
    """
    escapes, controls, _ = _patterns()
    text = escapes.sub("", text)
    if keep_newlines:
        return "\n".join(controls.sub(" ", line) for line in text.split("\n"))
    return controls.sub(" ", text)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in "…" when cut; runs of spaces
    (left by removed controls) become one."""
    text = _patterns()[2].sub(" ", text).strip()
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)].rstrip() + "…"
