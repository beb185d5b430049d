"""planner.text: escaped text renders back to the same text and carries no active markup.

Markdown is rendered by markdown-it-py in its GFM-like mode with linkify (bare URLs, www. and e-mail addresses
become links there, as in Streamlit's remark-gfm), a CommonMark parser independent of our escaper; plotly's
pseudo-HTML is checked against the tags plotly renders. The browser test (tests/test_page_browser.py) checks
the same on the real page in Chromium.
"""

from __future__ import annotations

import html
import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from mdtext import plain

from planner.text import WORD_JOINER, md, md_code, plotly_text, quote_literal, visible

RENDERER = MarkdownIt("gfm-like")
HOSTILE = [
    "[x](http://127.0.0.1:1/a) ![i](http://127.0.0.1:1/i.png) <img src=http://127.0.0.1:1/x> **b** $x$",
    "www.example.com a@b.co http://127.0.0.1:1/ <http://127.0.0.1:1/auto> mailto:x@y.z",
    ":red[colour] :material/warning: :smile: <script>alert(1)</script> &lt;b&gt; &amp; &#60;",
    "# heading\n- list\n> quote\n    code\n1. item\n| a | b |\n|---|---|\n```\nfence\n```",
    "\x1b[31mred\x07\u202eevil\u200b\r\n\t", "`code` ``two`` ***x*** _y_ ~~z~~ \\*escaped\\*", "%{y} %{fullData.name}",
]
MARKUP_TAGS = re.compile(r"<(?!/?p>)[a-zA-Z/][^>]*>")
"""Any HTML tag in the rendered output other than the paragraph around the text."""
# Every character class a name can hold: ASCII punctuation in bulk, spaces, letters, any Unicode.
TEXT = st.text(st.one_of(st.sampled_from(list("[]()!<>*_`$:@.#-+=|~\\/&;{}%'\" \n\twwwhtp")),
                         st.characters(blacklist_categories=("Cs",))), max_size=60)


def rendered_text(markdown: str) -> tuple[str, str]:
    """(rendered HTML, the text a reader sees in it)."""
    out = RENDERER.render(markdown)
    inner = re.sub(r"</?p>\n?", " ", out)
    return out, html.unescape(inner)


def squash(text: str) -> str:
    return " ".join(text.replace(WORD_JOINER, "").split())


def test_hostile_names_render_as_themselves():
    for name in HOSTILE:
        out, seen = rendered_text(md(name))
        assert not MARKUP_TAGS.search(out), (name, out)
        assert squash(seen) == squash(visible(name)), name


@settings(max_examples=400, deadline=None)
@given(TEXT)
def test_md_renders_back_to_the_same_text_with_no_markup(text):
    out, seen = rendered_text(md(text))
    assert not MARKUP_TAGS.search(out), out
    assert squash(seen) == squash(visible(text))
    assert plain(md(text)) == visible(text)


@settings(max_examples=200, deadline=None)
@given(TEXT)
def test_md_inside_our_own_markdown_stays_inside(text):
    """Escaped text between our own emphasis neither closes it nor opens anything."""
    out = RENDERER.render(f"**Evidence:** {md(text)} *end*")
    assert out.count("<strong>") == 1 and out.count("<em>") == 1
    assert not re.search(r"<(?!/?(p|strong|em)>)[a-zA-Z/][^>]*>", out), out


@settings(max_examples=200, deadline=None)
@given(TEXT)
def test_md_code_is_one_code_span(text):
    out = RENDERER.render(md_code(text))
    assert out.count("<code>") == 1 and not re.search(r"<(?!/?(p|code)>)[a-zA-Z/][^>]*>", out), out
    code = html.unescape(re.search(r"<code>(.*)</code>", out, re.S).group(1))
    assert squash(code) == squash(visible(text))


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_visible_leaves_no_control_or_format_character(text):
    shown = visible(text)
    assert not [c for c in shown if unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}]
    assert visible(shown) == shown  # idempotent
    if text.isprintable():
        assert shown == text


def test_visible_names_each_invisible_character():
    assert visible("a\x1b[31mb\x07") == "a\\x1b[31mb\\x07"
    assert visible("x\u202ey\u200b\n") == "x\\u202ey\\u200b\\x0a"
    assert visible(None) == ""


PLOTLY_TAG = re.compile(r"<[a-zA-Z/!]")
PLOTLY_ENTITY = re.compile(r"&(?!(amp|lt|gt);)")


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_plotly_text_has_no_tag_and_decodes_back(text):
    """plotly splits tags (<a href>, <b>, <br>, <span>...) first and then decodes entities in the text between:
    with every < > & encoded there is no tag, and decoding gives the visible text back."""
    shown = plotly_text(text)
    assert not PLOTLY_TAG.search(shown) and not PLOTLY_ENTITY.search(shown)
    assert "\n" not in shown and "\r" not in shown  # plotly turns newlines into <br>
    assert shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == visible(text)


def test_quote_literal_forms():
    assert quote_literal("it's") == "'it''s'"
    assert quote_literal("a\\b") == "E'a\\\\b'"
    assert quote_literal(60) == "'60'"
