"""Read syntax newer than the running Python: rewrite it, token by token, into what Python 3.11's ``ast`` parses.

The linter runs on Python 3.11; the code it reads may be written for 3.12-3.14. When ``ast.parse`` fails, the
file's tokens (3.11's tokenizer reads these constructs as ordinary names and brackets) are rewritten so that
each line keeps its number and every name its column where possible:

- ``type Alias[T] = value`` (3.12, PEP 695)       -> ``Alias     = value``
- ``def f[T: X](...)`` / ``class C[T](...)`` (3.12) -> the type-parameter list is blanked
- ``t"..."`` template strings (3.14, PEP 750)      -> a plain string: ``text()`` cannot take a Template, and
  the interpolations are bound by the template's consumer, so none of them is string building
- ``except A, B:`` without parentheses (3.14, PEP 758) -> ``except (A, B):``

Then, if the file still does not parse, a 3.12 f-string that reuses its own quote inside the braces
(``f"{row["id"]}"``, PEP 701) gets the other quote there (``swap_nested_quotes``): same meaning, same length.
What stays unreadable (an f-string nested in an f-string with the same quotes, a backslash or a comment inside
the braces) is reported per file by ``SourceFile.parse`` with the reason.
"""

from __future__ import annotations

import io
import tokenize

_TEMPLATE_PREFIXES = frozenset({"t", "tr", "rt"})
_STATEMENT_START = frozenset({tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.NL})


def _tokens(text: str) -> list[tokenize.TokenInfo] | None:
    try:
        return [t for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type != tokenize.COMMENT]
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return None


def _closing(tokens: list[tokenize.TokenInfo], start: int) -> int | None:
    """Index of the bracket closing the one at ``start``."""
    depth = 0
    for i in range(start, len(tokens)):
        if tokens[i].string in "([{" and tokens[i].type == tokenize.OP:
            depth += 1
        elif tokens[i].string in ")]}" and tokens[i].type == tokenize.OP:
            depth -= 1
            if depth == 0:
                return i
    return None


def _at_statement_start(tokens: list[tokenize.TokenInfo], i: int) -> bool:
    return i == 0 or tokens[i - 1].type in _STATEMENT_START or tokens[i - 1].string == ";"


def _type_alias(tokens, i, edits) -> None:
    name = tokens[i + 1] if i + 1 < len(tokens) else None
    if name is None or name.type != tokenize.NAME or not _at_statement_start(tokens, i):
        return
    j = i + 2
    if j < len(tokens) and tokens[j].string == "[":
        j = (_closing(tokens, j) or len(tokens)) + 1
    if j >= len(tokens) or tokens[j].string != "=" or tokens[j].start[0] != tokens[i].start[0]:
        return
    width = tokens[j].start[1] - tokens[i].start[1]
    edits.append((tokens[i].start, tokens[j].start, name.string.ljust(width - 1) + " "))


def _type_params(tokens, i, edits) -> None:
    if i + 2 >= len(tokens) or tokens[i + 1].type != tokenize.NAME or tokens[i + 2].string != "[":
        return
    end = _closing(tokens, i + 2)
    if end is None or tokens[end].end[0] != tokens[i + 2].start[0]:
        return  # a list over several lines: left alone (reported as a parse error)
    start, stop = tokens[i + 2].start, tokens[end].end
    edits.append((start, stop, " " * (stop[1] - start[1])))


def _except_group(tokens, i, edits) -> None:
    if not _at_statement_start(tokens, i) or i + 1 >= len(tokens) or tokens[i + 1].string in ("(", ":", "*"):
        return
    depth, comma, j = 0, False, i + 1
    while j < len(tokens) and not (depth == 0 and tokens[j].string == ":"):
        if tokens[j].string in ("as",) and depth == 0:
            return
        depth += tokens[j].string in "([{" and tokens[j].type == tokenize.OP
        depth -= tokens[j].string in ")]}" and tokens[j].type == tokenize.OP
        comma = comma or (depth == 0 and tokens[j].string == ",")
        j += 1
    if comma and j < len(tokens):
        edits.append((tokens[i + 1].start, tokens[i + 1].start, "("))
        edits.append((tokens[j].start, tokens[j].start, ")"))


def downlevel(text: str) -> str | None:
    """``text`` with 3.12-3.14 constructs rewritten for Python 3.11's parser, or None when there was nothing
    to rewrite (or the tokens cannot be read)."""
    tokens = _tokens(text)
    if tokens is None:
        return None
    edits: list[tuple[tuple[int, int], tuple[int, int], str]] = []
    for i, tok in enumerate(tokens):
        if tok.type != tokenize.NAME:
            continue
        if tok.string == "type":
            _type_alias(tokens, i, edits)
        elif tok.string in ("def", "class"):
            _type_params(tokens, i, edits)
        elif tok.string == "except":
            _except_group(tokens, i, edits)
        elif (
            tok.string.lower() in _TEMPLATE_PREFIXES and i + 1 < len(tokens)
            and tokens[i + 1].type == tokenize.STRING and tokens[i + 1].start == tok.end
        ):
            kept = tok.string.replace("t", "").replace("T", "")
            edits.append((tok.start, tok.end, " " * (len(tok.string) - len(kept)) + kept))
    if not edits:
        return None
    return _apply(text, edits)


def _apply(text: str, edits) -> str:
    lines = text.splitlines(keepends=True)
    for (row, col), (end_row, end_col), new in sorted(edits, reverse=True):
        if row != end_row:
            continue
        line = lines[row - 1]
        lines[row - 1] = line[:col] + new + line[end_col:]
    return "".join(lines)


_PREFIXES = frozenset({"r", "u", "b", "br", "rb", "f", "fr", "rf", "t", "tr", "rt"})


class _QuoteSwapper:
    """Python 3.12 f-strings may reuse their own quote inside the braces (``f"{row["id"]}"``, PEP 701). Python
    3.11 cannot read that; the same expression with the other quote (``f"{row['id']}"``) means the same, has the
    same length and keeps every position. Strings inside the braces whose quote clashes are swapped when their
    text does not contain the other quote."""

    def __init__(self, text: str):
        self.text, self.out, self.changed = text, list(text), False

    def run(self) -> str | None:
        text, i, n = self.text, 0, len(self.text)
        while i < n:
            c = text[i]
            if c == "#":
                end = text.find("\n", i)
                i = n if end < 0 else end
            elif c in "'\"":
                i = self.string(i, "")
            elif c.isalpha() or c == "_":
                j = i
                while j < n and (text[j].isalnum() or text[j] == "_"):
                    j += 1
                i = self.string(j, text[i:j].lower()) if j < n and text[j] in "'\"" and text[i:j].lower() in \
                    _PREFIXES else j
            else:
                i += 1
        return "".join(self.out) if self.changed else None

    def _quote(self, i: int) -> str:
        return self.text[i:i + 3] if self.text[i:i + 3] in ('"""', "'''") else self.text[i]

    def string(self, i: int, prefix: str) -> int:
        """Index after the string literal whose quote starts at ``i``."""
        quote = self._quote(i)
        j, raw = i + len(quote), "r" in prefix
        formatted = "f" in prefix or "t" in prefix
        while j < len(self.text):
            if self.text.startswith(quote, j):
                return j + len(quote)
            if (self.text[j] == "\\" and not raw) or (formatted and self.text.startswith("{{", j)):
                j += 2  # an escape, or a literal brace
            elif formatted and self.text[j] == "{":
                j = self.expression(j + 1, quote)
            else:
                j += 1
        return j

    def expression(self, j: int, outer: str) -> int:
        """Index after the ``}`` closing a replacement field that starts at ``j``."""
        depth, text = 0, self.text
        while j < len(text):
            c = text[j]
            if c in "([{":
                depth += 1
            elif c in ")]}":
                if depth == 0:
                    return j + 1
                depth -= 1
            elif c in "'\"":
                j = self.nested(j, outer)
                continue
            elif c.isalpha() and text[j:j + 2].lower() in ("f'", 'f"', "r'", 'r"', "b'", 'b"') and not (
                    j and (text[j - 1].isalnum() or text[j - 1] == "_")):
                j += 1
                j = self.nested(j, outer, text[j - 1].lower())
                continue
            j += 1
        return j

    def nested(self, i: int, outer: str, prefix: str = "") -> int:
        quote = self._quote(i)
        end = self.string(i, prefix)
        if quote[0] == outer[0] and len(outer) == 1 and "f" not in prefix:  # a nested f-string is left as is
            other = "'" if quote[0] == '"' else '"'
            body = self.text[i + len(quote):end - len(quote)]
            if other not in body:
                for k in (*range(i, i + len(quote)), *range(end - len(quote), end)):
                    self.out[k] = other
                self.changed = True
        return end


def swap_nested_quotes(text: str) -> str | None:
    """``text`` with PEP 701 quote reuse inside f-string braces undone, or None when there was none."""
    return _QuoteSwapper(text).run()
