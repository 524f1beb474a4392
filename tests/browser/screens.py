"""Screenshots of a page at the widths the app is checked at, into test-results/ for people to look at."""
from pathlib import Path

from playwright.sync_api import Page

SHOTS = Path(__file__).resolve().parents[2] / "test-results"
DESKTOP = {"width": 1366, "height": 860}
PHONE = {"width": 390, "height": 844}


def screenshots(page: Page, name: str) -> None:
    """Full-page shots at desktop and phone widths, then back to desktop."""
    SHOTS.mkdir(exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)
