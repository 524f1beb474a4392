"""Full pages for normal requests, one block of the same template for htmx requests."""
from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, redirect, render_template, request
from jinja2_fragments.flask import render_block


def is_htmx() -> bool:
    return bool(getattr(request, "htmx", False))


def render(template: str, block: str | None = None, **context: Any) -> str:
    """Render the whole page, or only `block` of it when htmx asked for a fragment."""
    if block and is_htmx() and not request.htmx.boosted and not request.htmx.history_restore_request:
        return render_block(template, block, **context)
    return render_template(template, **context)


def render_fragment(template: str, block: str, **context: Any) -> str:
    """Only `block` of the page, whoever asks: for endpoints that exist to redraw part of a page, which a
    plain request (no htmx, or a crafted one) must not turn into a whole page missing its context."""
    return render_block(template, block, **context)


def redirect_to(url: str) -> Response:
    """Redirect that works for htmx (HX-Redirect) and for plain form posts (303)."""
    if is_htmx():
        response = Response(status=204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, code=303)


def trigger(response: Response, events: dict[str, Any]) -> Response:
    response.headers["HX-Trigger"] = json.dumps(events)
    return response


def init_app(app: Flask) -> None:
    @app.after_request
    def _vary_on_htmx(response: Response) -> Response:
        response.vary.add("HX-Request")
        return response
