"""Reading escaped Markdown back in tests: what a viewer sees of ``planner.text.md`` output."""

from __future__ import annotations

import re

from planner.text import WORD_JOINER


def plain(markdown: str) -> str:
    """``markdown`` with backslash escapes resolved and the invisible word joiners removed."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace(WORD_JOINER, "")
