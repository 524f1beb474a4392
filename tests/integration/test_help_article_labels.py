"""Help articles send donors to buttons, links and fields by name ("open **Regular giving**, choose
**Change amount**"). Every such name must be something a signed-in donor can find on the portal's pages."""
from __future__ import annotations

import html
import re
from datetime import timedelta
from pathlib import Path

from portal.giving import services as giving
from portal.loyalty import services as loyalty
from portal.kb import content
from portal.kb.services import default_content_dir
from portal.timeutil import utcnow
from portal.taxrelief import services as taxrelief
from tests.conftest import login, make_donor, make_gift, make_user

ACTION = re.compile(r"\b(?:open|choose|select|click|press|tap|under|use|then)\s+\*\*([^*]+)\*\*", re.IGNORECASE)
UI_TEXT = re.compile(r"<(a|button|label|summary|h1|h2|h3|legend|th|dt|option)\b[^>]*>(.*?)</\1>", re.DOTALL)
PAGES = ["/me", "/me/giving", "/me/giving/give", "/me/regular-giving", "/me/points", "/me/details",
         "/me/details/email-preferences", "/me/support", "/me/support/new", "/me/help", "/me/gift-aid",
         "/me/details/data"]
SIGNED_OUT_PAGES = ["/login", "/password/forgot"]


def named_labels() -> dict[str, set[str]]:
    """label -> articles naming it, for the articles donors read."""
    named: dict[str, set[str]] = {}
    for path in sorted(Path(default_content_dir()).glob("*.md")):
        article = content.parse_article_file(path.stem, path.read_text())
        if article.audience == "staff":
            continue
        for label in ACTION.findall(article.body_md):
            named.setdefault(label.strip(), set()).add(path.stem)
    return named


def portal_labels(client, paths: list[str]) -> set[str]:
    labels = set()
    for path in paths:
        page = client.get(path)
        assert page.status_code == 200, path
        for _, inner in UI_TEXT.findall(page.get_data(as_text=True)):
            text = html.unescape(re.sub(r"<[^>]+>", " ", inner))
            labels.add(" ".join(text.split()).rstrip("…→ ").strip())  # "Read more…", "Make a declaration →"
    return labels


def test_every_label_an_article_names_is_on_the_portal(app):
    with app.app_context():
        donor = make_donor(first_name="Amelia", email="amelia@example.org")
        donor_id = donor.id
        make_gift(donor.id, 2500, utcnow() - timedelta(days=20))
        plan = giving.start_plan(donor.id, giving.PlanInput(kind="recurring_gift", amount_minor=1000, currency="GBP",
                                                            interval="monthly", started_at=(utcnow() - timedelta(days=40)).date()))
        plan_id = plan.id
        paused = giving.start_plan(donor.id, giving.PlanInput(kind="sponsorship", amount_minor=1500, currency="GBP",
                                                              interval="monthly", started_at=(utcnow() - timedelta(days=40)).date()))
        giving.change_plan_status(paused, "pause")  # so the page shows Resume
        loyalty.save_reward(None, name="A thank-you call", description="A call from the crew.", kind="thank_you_call",
                            points_cost=10, stock=None, donation_minor=None, funds="", active=True)
        make_user("donor", "amelia@example.org", donor_id=donor.id)
        taxrelief.update_settings(scheme_key="uk_gift_aid")  # the Gift Aid articles are for a UK charity
    on_portal = portal_labels(app.test_client(), SIGNED_OUT_PAGES)
    client = app.test_client()
    login(client, "amelia@example.org")
    on_portal |= portal_labels(client, PAGES + [f"/me/regular-giving/{plan_id}/cancel",
                                                f"/me/giving/statement/{utcnow().year}"])
    with app.app_context():
        taxrelief.make_declaration(donor_id, scope="past_and_future", method="online")  # now the page offers to cancel it
    on_portal |= portal_labels(client, ["/me/gift-aid"])
    named = named_labels()
    assert len(named) > 10
    missing = {label: sorted(articles) for label, articles in named.items() if label not in on_portal}
    assert not missing, "\n".join(f"{label}: {articles}" for label, articles in missing.items())
