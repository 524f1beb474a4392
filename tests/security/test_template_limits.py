"""Email templates are bounded: output size, loop iterations, string and number size and render time, each
refused with a clear message in the editor, and the same limits hold when a send renders each message."""
import pytest
from sqlalchemy import select

from portal.engagement.delivery import bulk_sends as bulk

from portal.engagement.segments import services as segments

from portal.engagement.templates import rendering as templating
from portal.engagement.models import EmailMessage, EmailTemplate
from portal.extensions import db
from tests.conftest import make_donor

NESTED_LOOPS = "{% for a in 'x'*6000 %}{% for b in 'x'*6000 %}{% endfor %}{% endfor %}"


def problems(text, html="", subject="Hello"):
    return templating.check(subject, html, text)


@pytest.mark.usefixtures("ctx")
@pytest.mark.parametrize("text, message", [
    (NESTED_LOOPS, "Line 1: loops and calls here would run more than 10,000 times"),
    ("Hi\n{{ ('x'*10**7) }}", "Line 2: this builds a text or list longer than 100,000 characters or items."),
    ("{{ 10**10**10 }}", "Line 1: this works out a number larger than 1,000,000,000,000,000."),
    ("{{ 99999999999999999999999 }}", "Line 1: numbers larger than 1,000,000,000,000,000 aren't allowed."),
    ("{% for a in 'x'*5000 %}{{ 'y'*100 }}{% endfor %}", "Line 1: this produces more than 200,000 characters"),
    ("{{ first_name.center(10**7) }}", "Line 1: a width or count larger than 100,000 isn't allowed here."),
    ("{{ first_name|indent(10**7) }}", "Line 1: a width or count larger than 100,000 isn't allowed here."),
    ("{{ '%999999999s' % first_name }}", "Line 1: % formatting isn't available in email templates"),
    ("{% for x in 'abcdefgh' recursive %}{% if loop.depth < 9 %}{{ loop('abcdefgh') }}{% endif %}{% endfor %}",
     "loops and calls here would run more than 10,000 times"),
])
def test_unbounded_work_is_refused_with_a_clear_message(text, message):
    # A generous clock, so that on a loaded machine each case still meets its own limit before the time budget.
    with templating.budget(templating.Limits(seconds=60)):
        errors = problems(text)
    assert message in errors["text_body"]


@pytest.mark.usefixtures("ctx")
def test_a_template_over_the_time_budget_is_refused():
    with templating.budget(templating.Limits(seconds=0)):
        errors = problems("{% for letter in first_name %}{{ letter }}{% endfor %}")
    assert errors["text_body"] == "Line 1: this takes longer than 0 seconds to render; make the loops smaller."


@pytest.mark.usefixtures("ctx")
def test_ordinary_templates_with_loops_filters_and_arithmetic_still_render():
    text = "{% for word in interests.split(' and ') %}{{ loop.index }}. {{ word|title }}\n{% endfor %}{{ (gift_count|int) * 2 }}"
    assert problems(text) == {}
    rendered = templating.render(templating.Content("Hi {{ first_name|upper }}", "<p>{{ full_name }}</p>", text, "transactional"),
                                 templating.example_context())
    assert rendered.subject == "Hi AMELIA"
    assert rendered.text_body.startswith("1. Lifeboats\n2. Education\n8\n")


def test_the_editor_shows_the_limit_next_to_the_field_and_refuses_to_save(app, staff_client):
    client = staff_client("fundraiser")
    preview = client.post("/staff/templates/preview", data={"subject": "Hello", "html_body": "", "text_body": NESTED_LOOPS,
                                                            "category": "transactional"})
    assert preview.status_code == 200
    assert "Plain-text body, Line 1: loops and calls here would run more than 10,000 times" in preview.get_data(as_text=True)
    saved = client.post("/staff/templates/new", data={"name": "Heavy", "category": "transactional", "subject": "Hello",
                                                      "html_body": "", "text_body": NESTED_LOOPS})
    assert saved.status_code == 400 and "more than 10,000 times" in saved.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(EmailTemplate.id)) is None


@pytest.mark.smtp
@pytest.mark.usefixtures("ctx")
def test_a_send_holds_each_message_to_the_same_limits(smtp_server):
    """A template that passes with the example values but overflows with a real donor's is stopped per
    message at send time: that message is not delivered and says why; the others go."""
    cubed = "{% for a in first_name %}{% for b in first_name %}{% for c in first_name %}.{% endfor %}{% endfor %}{% endfor %}"
    make_donor(first_name="Ada", email="ada@example.org", city="Whitby")
    make_donor(first_name="Bartholomew-Maximilian-Alexander", email="bart@example.org", city="Whitby")
    template = EmailTemplate(name="Cubed", category="transactional", subject="Hello {{ first_name }}", html_body="",
                             text_body=cubed)
    db.session.add(template)
    db.session.commit()
    assert problems(cubed) == {}
    segment = segments.save_segment(None, name="Whitby", description="",
                                    rules={"match": "all", "conditions": [{"field": "city", "op": "eq", "value": "Whitby"}]})
    bulk.start_bulk_send(template, segment)
    db.session.expire_all()
    outcomes = {m.to_email: (m.status, m.last_error or "") for m in db.session.scalars(select(EmailMessage))}
    assert outcomes["ada@example.org"][0] == "sent"
    assert outcomes["bart@example.org"][0] != "sent"
    assert "Could not be personalised: loops and calls here would run more than 10,000 times" in outcomes["bart@example.org"][1]
    assert [m["To"] for m in smtp_server.messages] == ["ada@example.org"]


@pytest.mark.usefixtures("ctx")
def test_a_stored_template_over_the_limits_cannot_be_sent():
    make_donor(first_name="Ada", email="ada@example.org", city="Whitby")
    template = EmailTemplate(name="Heavy", category="transactional", subject="Hello", html_body="", text_body=NESTED_LOOPS)
    db.session.add(template)
    db.session.commit()
    segment = segments.save_segment(None, name="Whitby", description="",
                                    rules={"match": "all", "conditions": [{"field": "city", "op": "eq", "value": "Whitby"}]})
    with pytest.raises(bulk.BulkSendError, match="The template has errors"):
        bulk.start_bulk_send(template, segment)
