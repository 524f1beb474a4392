"""Article text: front matter, Markdown to sanitised HTML, and the plain text the index stores.

Front matter is a small, strict subset of YAML between two `---` lines: one `key: value` per line,
lists written `[a, b]` or `a, b`. It is parsed here rather than with a YAML library because the
fields are few and flat, and a broken file must produce a clear message, not arbitrary objects.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from functools import partial

import bleach
import markdown as markdown_lib
from bleach.linkifier import LinkifyFilter

ALLOWED_TAGS = {"p", "h2", "h3", "h4", "ul", "ol", "li", "strong", "em", "b", "i", "a", "code", "pre", "blockquote",
                "table", "thead", "tbody", "tr", "th", "td", "hr", "br", "dl", "dt", "dd"}
ALLOWED_ATTRIBUTES = {"a": ["href", "title"], "th": ["align"], "td": ["align"]}
ALLOWED_PROTOCOLS = {"http", "https", "mailto", "tel"}
_BLOCK_END = re.compile(r"</(p|h[1-6]|li|pre|blockquote|tr|dt|dd|table)>|<br\s*/?>|<hr\s*/?>", re.IGNORECASE)
# A tag in sanitised HTML: every literal "<" in text is escaped, so each "<" opens a tag, which ends at the
# first ">" outside a quoted attribute value (values may hold ">" or the other quote).
_TAG = re.compile(r"""<[^>"']*(?:(?:"[^"]*"|'[^']*')[^>"']*)*>""")
_SLUG_CHARS = re.compile(r"[^a-z0-9]+")
LIST_FIELDS = ("tags", "related")


class ContentError(ValueError):
    pass


@dataclass
class ArticleSource:
    slug: str
    title: str
    body_md: str
    tags: list[str] = field(default_factory=list)
    audience: str = "both"
    related: list[str] = field(default_factory=list)
    summary: str = ""
    published: bool = True


def slugify(text: str) -> str:
    return _SLUG_CHARS.sub("-", text.lower()).strip("-")[:120]


def clean_tags(values: list[str] | str) -> list[str]:
    """Lower-case, trimmed, de-duplicated tags in their given order (the first is the topic)."""
    if isinstance(values, str):
        values = values.split(",")
    seen: list[str] = []
    for value in values:
        tag = slugify(value)[:40]
        if tag and tag not in seen:
            seen.append(tag)
    return seen[:12]


def _parse_value(raw: str) -> str | list[str]:
    raw = raw.strip()
    if raw.startswith("[") and raw.endswith("]"):
        return [part.strip().strip("'\"") for part in raw[1:-1].split(",") if part.strip()]
    return raw.strip("'\"")


def parse_front_matter(text: str) -> tuple[dict, str]:
    """Split `---` front matter from the Markdown body."""
    text = text.replace("\r\n", "\n").lstrip("\ufeff")
    if not text.startswith("---\n"):
        raise ContentError("The file must start with front matter between two '---' lines.")
    end = text.find("\n---", 4)
    if end < 0:
        raise ContentError("The front matter has no closing '---' line.")
    meta: dict = {}
    for number, line in enumerate(text[4:end].split("\n"), start=2):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            raise ContentError(f"Line {number} of the front matter is not 'key: value'.")
        meta[key.strip().lower()] = _parse_value(value)
    body = text[end + 4:].lstrip("-").lstrip("\n")
    return meta, body


def parse_article_file(slug: str, text: str) -> ArticleSource:
    meta, body = parse_front_matter(text)
    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ContentError("The front matter needs a title.")
    audience = meta.get("audience", "both")
    if audience not in ("donor", "staff", "both"):
        raise ContentError("audience must be donor, staff or both.")
    values = {name: meta.get(name, []) for name in LIST_FIELDS}
    for name, value in values.items():
        if isinstance(value, str):
            values[name] = [part.strip() for part in value.split(",") if part.strip()]
    published = str(meta.get("published", "true")).lower() not in ("false", "no", "0")
    return ArticleSource(slug=slug, title=title.strip()[:200], body_md=body, tags=clean_tags(values["tags"]),
                         audience=audience, related=[slugify(s) for s in values["related"]],
                         summary=str(meta.get("summary", "")).strip()[:300], published=published)


def render_markdown(body_md: str) -> str:
    """Markdown to HTML that is safe to show: anything outside the allow-list is escaped, not trusted."""
    rendered = markdown_lib.markdown(body_md or "", extensions=["tables", "fenced_code", "sane_lists"],
                                     output_format="html")
    # Cleaning and linking in one pass: bleach.linkify run after clean escapes the text of skipped tags again,
    # so "a < b" in code showed as "a &lt; b". A Cleaner is not thread-safe, hence one per call.
    linkify = partial(LinkifyFilter, callbacks=[_external_link_rel], skip_tags={"pre", "code"})
    cleaner = bleach.Cleaner(tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, protocols=ALLOWED_PROTOCOLS, strip=True,
                             strip_comments=True, filters=[linkify])
    return cleaner.clean(rendered)


def _external_link_rel(attrs: dict, new: bool = False) -> dict:
    href = attrs.get((None, "href"), "")
    if href.startswith(("http://", "https://")):
        attrs[(None, "rel")] = "noopener noreferrer"
    return attrs


def plain_text(body_html: str) -> str:
    """Readable text of the rendered article (blocks on their own lines): what the index stores and highlights."""
    # The HTML comes from render_markdown, already parsed and serialised by bleach, so its tags can be cut out by
    # pattern instead of parsing it again (a parse took a tenth of a full index rebuild).
    with_breaks = _BLOCK_END.sub(lambda m: m.group(0) + "\n", body_html)
    text = html.unescape(_TAG.sub("", with_breaks))
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def summarise(body_html: str, limit: int = 220) -> str:
    """The first paragraph, cut at a word boundary: the line shown under a title in lists."""
    text = plain_text(body_html).split("\n", 1)[0] if body_html else ""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"
