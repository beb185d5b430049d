"""Server-originated text on a terminal: control characters made visible, never interpreted.

Any client chooses its ``application_name``, and role and database names are whatever their owner typed, so
``sample`` and ``record`` could otherwise send ESC sequences (retitle the terminal, hide lines, fake output),
BEL, carriage returns or bidirectional overrides to the operator's terminal. ``visible`` escapes them the way
Python writes them (``\\x1b``, ``\\u202e``); printable text, accents and CJK pass through unchanged.
"""

from __future__ import annotations

import re
import unicodedata

# C0 and C1 controls, DEL, and the format characters that reorder or hide text (bidi overrides, zero width).
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u2028\u2029]")


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: object) -> str:
    """``str(text)`` with every control or invisible formatting character written as an escape.

    >>> visible("app\\x1b]0;pwned\\x07")
    'app\\\\x1b]0;pwned\\\\x07'
    >>> visible("café ✓")
    'café ✓'
    """
    value = str(text)
    if _UNSAFE.search(value) is None and all(unicodedata.category(c) != "Cf" for c in value):
        return value
    value = _UNSAFE.sub(_escape, value)
    return "".join(f"\\u{ord(c):04x}" if unicodedata.category(c) == "Cf" else c for c in value)
