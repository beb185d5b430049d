"""Showing text from a server or a client as text: the one place that escapes it.

Any client picks its own ``application_name``; role and database names, client addresses, query text, error
messages and setting values all come from the monitored server. None of them may become markup where they are
shown. Each output has its function:

- ``md``: Streamlit Markdown (``st.markdown``, ``st.warning``/``st.error``/``st.info``, captions, expander,
  metric and button labels): no link, image, emphasis, HTML, LaTeX, emoji or directive survives.
- ``plotly_text``: plotly legend names, annotations and hover labels (plotly renders ``<a href>``, ``<b>``,
  ``<br>`` and entities there). Never put such text inside a ``hovertemplate``: use ``%{fullData.name}`` or
  ``%{customdata}``, whose values plotly does not parse for ``%{...}`` again.
- ``visible``: control and format characters (ESC, BEL, newline, bidi overrides, zero-width ones) shown as
  ``\\x1b`` / ``\\u202e`` escapes, for any single-line display (both functions above start with it).
- ``quote_ident`` / ``quote_literal``: identifiers and literals in generated SQL snippets.

Pure functions, no dependencies: the planner's snippets and the dashboard both use them.
"""

from __future__ import annotations

import re
import string
import unicodedata

WORD_JOINER = "\u2060"
"""Zero-width, no line break: put inside ``http:``, ``www.``, ``x@y`` and ``:name:`` so that GFM's literal
autolinks and emoji shortcodes, which are found in the text *after* Markdown escapes are resolved, never match."""

_INVISIBLE = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}
_MD_PUNCT = frozenset(string.punctuation)
_AUTOLINK_WWW = re.compile(r"(?i)(www)(?=\\\.)")


def visible(text: object) -> str:
    """``text`` with every control, format or unassigned character written as a Python-style escape.

    ``"a\\x1b[31mb\\n"`` becomes ``a\\x1b[31mb\\n`` (the backslash sequences as visible characters). A space stays
    a space; every other character stays as it is.
    """
    value = "" if text is None else str(text)
    if value.isprintable():
        return value
    return "".join(_escape_char(ch) if unicodedata.category(ch) in _INVISIBLE else ch for ch in value)


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def md(text: object) -> str:
    """Markdown source that Streamlit renders as exactly ``visible(text)`` (plus invisible word joiners).

    Every ASCII punctuation character is backslash-escaped (CommonMark allows it for all of them), which stops
    emphasis, links, images, HTML, entities, code, headings, lists, tables, ``$`` maths and ``:color[...]``
    directives. GFM's literal autolinks (``http://``, ``www.``, e-mail addresses) and emoji shortcodes are
    matched in the already-unescaped text, so a word joiner also goes before every ``:`` and ``@`` and after
    ``www``.
    """
    out = []
    for ch in visible(text):
        if ch in ":@":
            out.append(WORD_JOINER)
        out.append("\\" + ch if ch in _MD_PUNCT else ch)
    escaped = _AUTOLINK_WWW.sub(r"\1" + WORD_JOINER, "".join(out))
    # four leading spaces (or a tab) would make an indented code block: a word joiner first keeps it text
    return WORD_JOINER + escaped if escaped[:1] in (" ", "\t") else escaped


def md_code(text: object) -> str:
    """``text`` as one inline code span (monospace, nothing inside is Markdown), whatever backticks it holds."""
    value = visible(text)
    runs = [len(m) for m in re.findall(r"`+", value)]
    fence = "`" * (max(runs, default=0) + 1)
    return f"{fence} {value} {fence}"


def plotly_text(text: object) -> str:
    """Text for a plotly legend name, annotation or hover label: its pseudo-HTML tags and entities escaped."""
    return visible(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_PLAIN_IDENT = re.compile(r"[a-z_][a-z0-9_]*")
_KEYWORD_TEXT = """
all analyse analyze and any array as asc asymmetric authorization between bigint binary bit boolean both case cast
char character check coalesce collate collation column concurrently constraint create cross current_catalog
current_date current_role current_schema current_time current_timestamp current_user dec decimal default deferrable
desc distinct do else end except exists extract false fetch float for foreign freeze from full grant greatest group
grouping having ilike in initially inner inout int integer intersect interval into is isnull join json json_array
json_arrayagg json_exists json_object json_objectagg json_query json_scalar json_serialize json_table json_value
lateral leading least left like limit localtime localtimestamp merge_action national natural nchar none normalize
not notnull null nullif numeric offset on only or order out outer overlaps overlay placing position precision
primary real references returning right row select session_user setof similar smallint some substring symmetric
system_user table tablesample then time timestamp to trailing treat trim true union unique user using values
varchar variadic verbose when where window with xmlattributes xmlconcat xmlelement xmlexists xmlforest
xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable
"""
SQL_KEYWORDS = frozenset(_KEYWORD_TEXT.split())
"""PostgreSQL's keywords that are not unreserved (``pg_get_keywords()`` with catcode R, C or T; PostgreSQL 15 and
16 as read from the servers, plus the JSON and SQL/JSON ones 16-17 added): ``quote_ident`` quotes them."""


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier as SQL, as the server's ``quote_ident()`` writes it: bare when it is lower case
    letters, digits and ``_`` and no keyword (``app``), otherwise double-quoted with quotes doubled
    (``"Order-Svc"``, ``"user"``, ``"a""b"``), so a role keeps its exact spelling.

    An empty name or one with NUL cannot be an identifier: ``ValueError``.
    """
    if not name or "\x00" in name:
        raise ValueError(f"not an SQL identifier: {visible(name)!r}")
    if _PLAIN_IDENT.fullmatch(name) and name not in SQL_KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: object) -> str:
    """A PostgreSQL string literal, as ``quote_literal()`` writes it: quotes doubled, and with a backslash the
    ``E'...'`` form with backslashes doubled (correct whatever ``standard_conforming_strings`` is)."""
    text = str(value)
    if "\x00" in text:
        raise ValueError("an SQL literal cannot contain NUL")
    body = text.replace("'", "''")
    if "\\" in body:
        return "E'" + body.replace("\\", "\\\\") + "'"
    return "'" + body + "'"
