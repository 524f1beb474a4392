"""Browser test helpers: signing in through the form as a person would, and screenshots at the widths the app is
checked at, into test-results/ for people to look at."""
from pathlib import Path

from playwright.sync_api import Page

from tests.conftest import ON_POSTGRESQL, PASSWORD

SHOTS = Path(__file__).resolve().parents[2] / "test-results"
DESKTOP = {"width": 1366, "height": 860}
PHONE = {"width": 390, "height": 844}


# `make test`'s two passes show the same pages and would write the same files; the SQLite pass takes them.
TAKES_SCREENSHOTS = not ON_POSTGRESQL


def screenshots(page: Page, name: str) -> None:
    """Full-page shots at desktop and phone widths, then back to desktop."""
    if not TAKES_SCREENSHOTS:
        return
    SHOTS.mkdir(exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def sign_in(page: Page, live_server: str, email: str) -> None:
    """Sign in through the login form at desktop width and wait for the page it lands on to settle."""
    page.set_viewport_size(DESKTOP)
    page.goto(f"{live_server}/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
