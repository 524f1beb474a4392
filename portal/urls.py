"""The one rule for following a URL a request hands us (`next`, a back link, the page an htmx request came from)."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

# C0 controls, DEL and the backslash: browsers drop tabs and newlines from a URL and read "\" as "/", so
# "/\t/evil.example" and "/\\evil.example" both become "//evil.example", another site.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]")
MAX_LENGTH = 2000


def safe_local_path(target: str | None, default: str) -> str:
    """`target` if it is a path on this site ("/staff/donors?page=2"), else `default`. Every redirect and
    back link built from request input goes through here."""
    if not target or len(target) > MAX_LENGTH or _UNSAFE.search(target):
        return default
    if not target.startswith("/") or target.startswith("//"):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
