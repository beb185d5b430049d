"""Reading a file named on the command line without trusting it: its kind, size and (for TOML) nesting are
checked before anything parses it, so a FIFO never hangs, ``/dev/zero`` never fills memory and 5,000 nested
arrays never reach the parser's recursion. Each refusal is an ``InputError``: one line, exit 2."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from planner.model import InputError

MAX_CONFIG_BYTES = 1_000_000
"""A plan is a few hundred bytes; a megabyte is a wrong file."""
MAX_TOML_DEPTH = 32
"""Arrays and inline tables nested deeper than this are refused (a plan needs 3)."""
MAX_LINT_BYTES = 2_000_000
"""Python files above this are refused by lint (hand-written modules are far smaller; generated code is not
worth linting: exclude it)."""

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def regular_file_size(path: str | Path, field: str) -> int:
    """The size of ``path`` if it is a regular file (symlinks followed); ``InputError(field)`` otherwise."""
    try:
        info = os.stat(path)
    except OSError as err:
        raise InputError(field, f"cannot read {path}: {err.strerror or err}") from None
    for test, kind in _KINDS:
        if test(info.st_mode):
            raise InputError(field, f"{path} is {kind}, not a regular file")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(field, f"{path} is not a regular file")
    return info.st_size


def read_text_file(path: str | Path, field: str, max_bytes: int) -> str:
    """The UTF-8 text of a regular file of at most ``max_bytes`` bytes; ``InputError(field)`` otherwise."""
    size = regular_file_size(path, field)
    if size > max_bytes:
        raise InputError(field, f"{path} is {size:,} bytes, above the limit of {max_bytes:,}")
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)  # the file may have grown since stat
    except OSError as err:
        raise InputError(field, f"cannot read {path}: {err.strerror or err}") from None
    if len(data) > max_bytes:
        raise InputError(field, f"{path} is above the limit of {max_bytes:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(field, f"{path} is not UTF-8 text (byte {err.start})") from None


def toml_depth(text: str) -> int:
    """The deepest nesting of arrays and inline tables in a TOML text, strings and comments skipped.

    >>> toml_depth('a = [[1], {b = [2]}]')
    3
    >>> toml_depth('[[engines]]\\nname = "[[["  # [[[')
    0
    """
    depth = deepest = 0
    i, n = 0, len(text)
    at_line_start = True
    while i < n:
        char = text[i]
        if char == "\n":
            at_line_start = True
            i += 1
            continue
        if char in " \t\r":
            i += 1
            continue
        if at_line_start and char == "[" and depth == 0:  # a [table] or [[array]] header: not nesting
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        at_line_start = False
        if char == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif char in "\"'":
            i = _skip_string(text, i)
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
            i += 1
        elif char in "]}":
            depth = max(depth - 1, 0)
            i += 1
        else:
            i += 1
    return deepest


def _skip_string(text: str, i: int) -> int:
    """The index after the TOML string that starts at ``i`` (basic, literal, or multi-line of either)."""
    quote = text[i]
    if text.startswith(quote * 3, i):
        end = text.find(quote * 3, i + 3)
        return len(text) if end < 0 else end + 3
    j = i + 1
    while j < len(text) and text[j] != "\n":
        if quote == '"' and text[j] == "\\":
            j += 2
            continue
        if text[j] == quote:
            return j + 1
        j += 1
    return j


def check_toml_depth(text: str, field: str) -> None:
    depth = toml_depth(text)
    if depth > MAX_TOML_DEPTH:
        raise InputError(field, f"arrays or inline tables nested {depth} deep (at most {MAX_TOML_DEPTH})")
