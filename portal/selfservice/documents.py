"""Printable documents as PDF files: the page's own HTML and stylesheet, laid out for print by WeasyPrint."""
from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import urlparse

from flask import current_app


def _static_files_only(url: str):
    """Stylesheets and images come from the app's static folder on disk, never over the network
    (a request back to this server from inside a request could wait on itself)."""
    path = urlparse(url).path
    prefix = current_app.static_url_path.rstrip("/") + "/"
    if not path.startswith(prefix):
        raise ValueError(f"only static files are loaded into documents, not {url}")
    root = Path(current_app.static_folder).resolve()
    file = (root / path[len(prefix):]).resolve()
    if root not in file.parents:
        raise ValueError(f"{url} is outside the static folder")
    # WeasyPrint takes most of a second to import; only a PDF needs it, not every worker and command.
    from weasyprint.urls import URLFetcherResponse

    kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    return URLFetcherResponse(url, body=file.read_bytes(), headers={"Content-Type": kind})


def html_to_pdf(html: str, base_url: str) -> bytes:
    # WeasyPrint takes most of a second to import; only a PDF needs it, not every worker and command.
    from weasyprint import HTML

    return HTML(string=html, base_url=base_url, url_fetcher=_static_files_only).write_pdf()
