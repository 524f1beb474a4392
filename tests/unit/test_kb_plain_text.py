"""plain_text cuts tags out by pattern; it must give exactly what parsing the HTML with bleach gave."""
from __future__ import annotations

import html
from pathlib import Path

import bleach
import pytest

from portal.kb import content

KB_DIR = Path(__file__).resolve().parents[2] / "kb"

TRICKY_MARKDOWN = [
    "",
    "Fish &amp; chips &lt;b&gt; &copy; &nbsp;non&nbsp;breaking &#169; &#x263A; &notanentity; AT&T 5 < 6 > 4",
    "```\nif a < b && c > d:\n    print(\"<tag>\")\n```",
    "    indented <code> &lt;kept&gt;\n\n    second line",
    "Inline `a <b> c` and `x &amp; y`.",
    '[quote " and > inside](https://example.org/a?b=1&c=">" "a title with > and \' and \\"")',
    "<a href='https://example.org/x?q=>' title='it\"s'>single quoted</a> after",
    "* one\n    * nested **bold**\n        1. deeper\n* two\n\n1. first\n2. second",
    "| Col *a* | Col b |\n|:--|--:|\n| 1 &lt; 2 | `x>y` |\n| three | four<br>five |",
    "line one  \nline two<br/>line three<br>four\n\n---\n\nafter rule",
    "> quoted\n> more\n\n>> nested quote",
    "<pre>\n\nraw pre with blank first line</pre>\n\nword<pre>\nstuck</pre>",
    "text with\r\nwindows\rline ends\r\n\r\nnew paragraph",
    "Unicode: café, naïve, Ærøskøbing, 日本語, emoji 🎉, zero\u200bwidth",
    "<script>alert(1)</script><!-- comment --> <img src=x onerror=alert(2)> <iframe>x</iframe> tail",
    "Visit https://example.org/path?a=1&b=2 or mail help@example.org today",
    "<dl><dt>Term</dt><dd>Definition &amp; more</dd></dl>",
    "## Heading *one*\n\n### Heading `two`\n\ntext",
]


def bleach_plain_text(body_html: str) -> str:
    """The earlier implementation: strip every tag with bleach's HTML parser."""
    with_breaks = content._BLOCK_END.sub(lambda m: m.group(0) + "\n", body_html)
    text = html.unescape(bleach.clean(with_breaks, tags=set(), strip=True))
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def shipped_bodies() -> list[str]:
    paths = sorted(KB_DIR.glob("*.md"))
    assert len(paths) >= 30
    return [content.parse_article_file(path.stem, path.read_text()).body_md for path in paths]


@pytest.mark.parametrize("body_md", shipped_bodies() + TRICKY_MARKDOWN)
def test_plain_text_matches_parsing_the_html(body_md):
    body_html = content.render_markdown(body_md)
    assert content.plain_text(body_html) == bleach_plain_text(body_html)


def test_plain_text_of_tricky_html():
    body_html = content.render_markdown("\n\n".join(TRICKY_MARKDOWN[5:7] + TRICKY_MARKDOWN[9:11]))
    assert content.plain_text(body_html) == ('quote " and > inside\nsingle quoted after\nline one\nline two\nline three\n'
                                             'four\nafter rule\nquoted\nmore\nnested quote')
