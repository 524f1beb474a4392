"""Staff-written templates: a sandbox with tokens, polite fallbacks, and errors with their line."""
from datetime import date, datetime

import pytest
from sqlalchemy import event

from portal.engagement import defaults
from portal.engagement.templates import rendering as templating
from portal.engagement.models import EmailTemplate
from portal.extensions import db
from portal.giving.services import PlanInput, start_plan
from portal.tokens import read_token
from tests.conftest import make_donor, make_gift

pytestmark = pytest.mark.usefixtures("ctx")


def content(subject="Hi {{ first_name }}", html="<p>Dear {{ first_name }}</p>", text="Dear {{ first_name }},", category="marketing"):
    return templating.Content(subject, html, text, category)


def test_tokens_are_filled_from_the_donor_and_their_giving():
    donor = make_donor(first_name="Amelia", last_name="Clarke", email="amelia@example.org", interests=["lifeboats", "education"])
    make_gift(donor.id, 2500, datetime(2025, 3, 1), fund="Flood relief")
    make_gift(donor.id, 7500, datetime(2026, 1, 10), fund="Lifeboat crews")
    start_plan(donor.id, PlanInput(kind="sponsorship", amount_minor=1500, currency="GBP", interval="monthly",
                                   started_at=date(2025, 6, 1), description="Sponsoring the Whitby crew", renews_on=date(2027, 3, 14)))
    context = templating.contexts_for([donor.id])[donor.id]
    assert {k: context[k] for k in ("first_name", "full_name", "last_gift_amount", "last_gift_fund", "last_gift_date",
                                    "lifetime_total", "gift_count", "renewal_date", "sponsorship", "interests",
                                    "points_balance", "organisation_name")} == {
        # 150 points: one a pound for £100 given, plus the first-gift bonus of 50.
        "first_name": "Amelia", "full_name": "Amelia Clarke", "last_gift_amount": "£75.00", "last_gift_fund": "Lifeboat crews",
        "last_gift_date": "10 January 2026", "lifetime_total": "£100.00", "gift_count": "2", "renewal_date": "14 March 2027",
        "sponsorship": "Sponsoring the Whitby crew", "interests": "education and lifeboats", "points_balance": "150",
        "organisation_name": "Harbour Trust"}
    assert context["portal_url"].endswith("/me/")
    assert read_token("unsubscribe", context["unsubscribe_url"].rsplit("/", 1)[1]) == {"d": donor.id, "t": None}


def test_missing_values_fall_back_politely():
    donor = make_donor(first_name="", last_name="Smith")
    rendered = templating.render_for_donor(
        content(text="Dear {{ first_name }}, thank you for supporting {{ last_gift_fund }}.{% if last_gift_amount %} x{% endif %}"),
        donor.id)
    assert rendered.text_body.startswith("Dear friend, thank you for supporting our work.\n")


def test_an_organisation_is_addressed_by_its_name():
    charity = make_donor(kind="organisation", first_name="", last_name="", organisation_name="Whitby Rotary Club",
                         email="rotary@example.org")
    context = templating.contexts_for([charity.id])[charity.id]
    assert (context["first_name"], context["full_name"], context["last_name"]) == ("Whitby Rotary Club", "Whitby Rotary Club", "")
    rendered = templating.render_for_donor(content(subject="Thank you, {{ first_name }}"), charity.id)
    assert rendered.subject == "Thank you, Whitby Rotary Club"


def test_a_donor_without_gifts_reads_naturally():
    donor = make_donor(first_name="Eve", email="eve@example.org")
    rendered = templating.render_for_donor(content(
        text="{{ gift_count }} gifts, {{ lifetime_total }} in all, for {{ last_gift_fund }}; points: {{ points_balance }}."
             "{% if last_gift_date %} Last on {{ last_gift_date }}.{% endif %}"), donor.id)
    assert rendered.text_body.startswith("0 gifts, £0.00 in all, for our work; points: 0.\n")


def test_marketing_mail_gets_the_unsubscribe_footer_and_transactional_does_not():
    donor = make_donor(first_name="Ada", email="ada@example.org")
    marketing = templating.render_for_donor(content(), donor.id)
    transactional = templating.render_for_donor(content(category="transactional"), donor.id)
    assert "Unsubscribe: http" in marketing.text_body and ">Unsubscribe</a>" in marketing.html_body
    assert "Unsubscribe" not in transactional.text_body and "Unsubscribe" not in transactional.html_body
    assert marketing.subject == "Hi Ada"


def test_html_values_are_escaped_but_text_is_not():
    donor = make_donor(first_name="<b>Bo</b> & Co", email="bo@example.org")
    rendered = templating.render_for_donor(content(), donor.id)
    assert "Dear &lt;b&gt;Bo&lt;/b&gt; &amp; Co" in rendered.html_body
    assert rendered.text_body.startswith("Dear <b>Bo</b> & Co,")


ERRORS = [
    ("subject", "Hello {{ first_name", "Line 1: unexpected end of template"),
    ("html_body", "<p>Hi</p>\n<p>{% if first_name %}x</p>", "Line 2: Unexpected end of template"),
    ("text_body", "Line one\nline two\nDear {{ frist_name }}", "Line 3: there is no token called “frist_name”"),
    ("text_body", "ok\n{{ first_name.__class__.__mro__ }}", "Line 2:"),
    ("text_body", "{{ range(10)|list }}", "no token called “range”"),
    ("text_body", "a\nb\n{{ first_name + 1 }}", "Line 3: this cannot be worked out"),
]


def test_errors_name_the_field_and_line():
    reported = []
    for field, source, _ in ERRORS:
        fields = {"subject": "Subject", "html_body": "", "text_body": "Body", field: source}
        reported.append(templating.check(fields["subject"], fields["html_body"], fields["text_body"]).get(field, "no error"))
    assert [message in text for text, (_, _, message) in zip(reported, ERRORS)] == [True] * len(ERRORS), reported


def test_the_sandbox_cannot_reach_python_internals():
    errors = templating.check("x", "", "{{ first_name.__class__.__base__.__subclasses__() }}")
    assert "text_body" in errors


def test_a_subject_and_a_text_body_are_required():
    assert set(templating.check(" ", "", "")) == {"subject", "text_body"}


def test_a_registered_token_provider_fills_values_in_batches(monkeypatch):
    first, second = make_donor(first_name="A"), make_donor(first_name="B")
    calls = []

    def loyalty(donor_ids):
        calls.append(list(donor_ids))
        return {first.id: {"points_balance": 1250, "tier": "Silver"}}

    monkeypatch.setitem(templating._PROVIDERS, "loyalty", loyalty)
    contexts = templating.contexts_for([first.id, second.id])
    assert calls == [sorted([first.id, second.id])]
    assert (contexts[first.id]["points_balance"], contexts[first.id]["tier"]) == ("1250", "Silver")
    assert (contexts[second.id]["points_balance"], contexts[second.id]["tier"]) == ("0", "")


def _statements_for(ids) -> int:
    statements = []
    engine = db.session.get_bind()
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        templating.contexts_for(ids)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return len(statements)


def test_token_values_for_many_donors_take_the_same_few_queries_as_for_two():
    ids = [make_donor(first_name=f"D{i}", email=f"d{i}@example.org").id for i in range(30)]
    for donor_id in ids[:10]:
        make_gift(donor_id, 1000, datetime(2026, 1, 5))
    assert templating.contexts_for(ids)[ids[0]]["last_gift_amount"] == "£10.00"
    assert _statements_for(ids) == _statements_for(ids[:2]) <= 9


def test_shipped_templates_are_valid_and_read_well_for_a_real_donor():
    counts = defaults.seed()
    assert counts == {"templates": 10, "segments": 8, "workflows": 8}
    assert defaults.seed() == {"templates": 0, "segments": 0, "workflows": 0}
    donor = make_donor(first_name="Amelia", email="amelia@example.org")
    make_gift(donor.id, 7500, datetime(2026, 1, 10), fund="Lifeboat crews")
    thank_you = db.session.query(EmailTemplate).filter_by(key="thank_you").one()
    rendered = templating.render_for_donor(templating.Content.of(thank_you), donor.id)
    assert rendered.subject == "Thank you for your gift, Amelia"
    assert "Thank you for your gift of £75.00 to Lifeboat crews." in rendered.text_body
    assert "across" not in rendered.text_body  # the "altogether" line is only for repeat donors
    for template in db.session.query(EmailTemplate):
        output = templating.render_for_donor(templating.Content.of(template), donor.id)
        assert "{{" not in output.text_body and "{%" not in (output.html_body or "")
