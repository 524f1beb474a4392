"""Every redirect and back link built from request input stays on this site (one rule: portal.urls)."""
import pytest

from portal.extensions import db
from portal.kb.models import Article
from portal.urls import safe_local_path
from tests.conftest import PASSWORD, make_user

OFF_SITE = ["//evil.example", "/\t/evil.example", "/\n/evil.example", "/\\evil.example", "\\\\evil.example",
            "https://evil.example/", "javascript:alert(1)", " /staff/", "/staff/\r\nSet-Cookie: x=1", "/%0d",
            "evil.example", "", None, "/" + "a" * 3000]


@pytest.mark.parametrize("target", OFF_SITE)
def test_anything_but_a_plain_local_path_gives_the_default(target):
    expected = "/%0d" if target == "/%0d" else "/home"  # an escaped %0d stays escaped: a harmless local path
    assert safe_local_path(target, "/home") == expected


@pytest.mark.parametrize("target", ["/staff/", "/staff/donors?page=2&q=a%20b", "/me/help/x#top"])
def test_local_paths_are_kept(target):
    assert safe_local_path(target, "/home") == target


def test_sign_in_with_a_tab_in_next_stays_on_site(app, client):
    with app.app_context():
        make_user("admin", "boss@example.org")
    response = client.post("/login?next=%2F%09%2Fevil.example", data={"email": "boss@example.org", "password": PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == "/staff/"


def test_sign_in_follows_a_local_next(app, client):
    with app.app_context():
        make_user("admin", "boss@example.org")
    response = client.post("/login?next=%2Fstaff%2Fdonors%2F", data={"email": "boss@example.org", "password": PASSWORD})
    assert response.headers["Location"] == "/staff/donors/"


def test_help_article_back_link_is_never_off_site(app, client):
    with app.app_context():
        db.session.add(Article(slug="receipts", title="Receipts", body_html="<p>Receipts</p>", audience="both",
                               published=True))
        db.session.commit()
    for bad in ("%2F%09%2Fevil.example", "%2F%0D%0A%2Fevil.example", "%2F%2Fevil.example"):
        page = client.get(f"/help/receipts?next={bad}").get_data(as_text=True)
        assert "Back to your message" not in page and "evil.example" not in page
    page = client.get("/help/receipts?next=%2Fme%2Ftickets%2Fnew").get_data(as_text=True)
    assert '<a href="/me/tickets/new">← Back to your message</a>' in page


def test_error_page_back_link_only_for_our_own_pages(client):
    ours = client.get("/no-such-page", headers={"Referer": "http://localhost/help"}).get_data(as_text=True)
    assert '<a class="btn btn-secondary" href="/help">Go back</a>' in ours
    theirs = client.get("/no-such-page", headers={"Referer": "http://evil.example/"}).get_data(as_text=True)
    assert "Go back" not in theirs
