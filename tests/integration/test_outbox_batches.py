"""The outbox in batches against a real SMTP server on loopback: one connection and one claim per batch,
bad addresses skipped, unsubscribe headers, leases, and sends to a whole segment."""
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import event, select, update

from portal.engagement.delivery import bulk_sends as bulk, outbox
from portal.engagement.segments import services as segments
from portal.engagement.models import BulkSend, EmailMessage, EmailTemplate
from portal.extensions import db
from portal.journey.models import Touchpoint
from portal.timeutil import utcnow
from portal.tokens import read_token
from tests.conftest import make_donor

pytestmark = [pytest.mark.usefixtures("ctx"), pytest.mark.smtp]


def test_many_messages_in_one_transaction_go_in_one_job_over_one_connection(smtp_server):
    for i in range(30):
        outbox.queue_email(f"p{i}@example.org", f"Hello {i}", "Body", idempotency_key=f"batch:{i}")
    db.session.commit()
    assert len(smtp_server.messages) == 30 and smtp_server.sessions == 1
    assert Counter(db.session.scalars(select(EmailMessage.status))) == Counter({"sent": 30})


def test_a_batch_is_claimed_with_one_update():
    ids = [outbox.queue_email(f"c{i}@example.org", "x", "x", idempotency_key=f"claim:{i}").id for i in range(5)]
    db.session.commit()
    db.session.execute(update(EmailMessage).values(status="pending"))  # due again, as if its job had been lost
    db.session.commit()
    statements = []
    engine = db.session.get_bind()
    listener = lambda *args: statements.append(args[2].lstrip().split()[0].upper())  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        claimed = outbox.claim(ids, "token-1")
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert [item.id for item in claimed] == ids
    assert statements.count("UPDATE") == 1
    assert outbox.claim(ids, "token-2") == []  # a second worker finds nothing to take


def test_bad_addresses_are_skipped_with_the_reason_and_never_sent(smtp_server):
    bad = outbox.queue_email("not an address", "Hello", "x", idempotency_key="bad:1")
    empty = outbox.queue_email("", "Hello", "x", idempotency_key="bad:2")
    good = outbox.queue_email("good@example.org", "Hello", "x", idempotency_key="bad:3")
    db.session.commit()
    db.session.expire_all()
    assert (db.session.get(EmailMessage, bad.id).status, db.session.get(EmailMessage, empty.id).status) == ("skipped", "skipped")
    assert "Invalid email address" in db.session.get(EmailMessage, bad.id).last_error
    assert smtp_server.message_ids() == [good.message_id]
    assert outbox.sweep_due_messages() == 0


def test_an_address_the_server_cannot_take_fails_alone_and_the_next_message_still_goes(smtp_server):
    accented = outbox.queue_email("zoë@example.org", "Hello", "x", idempotency_key="utf8-address:1")
    plain = outbox.queue_email("zoe@example.org", "Hello", "x", idempotency_key="utf8-address:2")
    db.session.commit()
    db.session.expire_all()
    failed = db.session.get(EmailMessage, accented.id)
    assert failed.status == "failed" and "non-ASCII" in failed.last_error
    assert smtp_server.message_ids() == [plain.message_id]


def test_marketing_mail_carries_one_click_unsubscribe_headers(smtp_server):
    donor = make_donor(first_name="Ada", email="ada@example.org", marketing_opt_in=True)
    outbox.queue_email("ada@example.org", "News", "x", donor_id=donor.id, category="marketing", idempotency_key="m:1")
    outbox.queue_email("ada@example.org", "Receipt", "x", donor_id=donor.id, idempotency_key="t:1")
    db.session.commit()
    marketing, receipt = smtp_server.messages
    assert marketing["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = marketing["List-Unsubscribe"].strip("<>")
    assert url.startswith("http") and read_token("unsubscribe", url.rsplit("/", 1)[1]) == {"d": donor.id, "t": None}
    assert receipt["List-Unsubscribe"] is None


def test_a_non_ascii_subject_and_body_arrive_intact(smtp_server):
    outbox.queue_email("zoe@example.org", "Merci, Zoë — £25 reçu", "Chère Zoë,\nmerci ☺", html_body="<p>Chère Zoë</p>",
                       idempotency_key="utf8:1")
    db.session.commit()
    from email import message_from_bytes, policy

    received = message_from_bytes(smtp_server.messages[0].as_bytes(), policy=policy.default)
    assert received["Subject"] == "Merci, Zoë — £25 reçu"
    assert received.get_body(("plain",)).get_content().startswith("Chère Zoë,\nmerci ☺")
    assert "<p>Chère Zoë</p>" in received.get_body(("html",)).get_content()


def test_a_claim_held_by_a_dead_worker_is_taken_over_after_the_lease(smtp_server):
    message = outbox.queue_email("lease@example.org", "Lease", "x", idempotency_key="lease:1")
    db.session.flush()
    db.session.execute(update(EmailMessage).where(EmailMessage.id == message.id)
                       .values(status="sending", claim_token="dead-worker", claimed_at=utcnow(), attempts=1))
    db.session.info.pop("outbox_batch", None)
    db.session.info.pop("pending_jobs", None)
    db.session.commit()
    assert outbox.sweep_due_messages() == 0 and smtp_server.messages == []
    db.session.execute(update(EmailMessage).values(claimed_at=utcnow() - outbox.CLAIM_TIMEOUT - timedelta(seconds=1)))
    db.session.commit()
    assert outbox.sweep_due_messages() == 1
    db.session.expire_all()
    stored = db.session.get(EmailMessage, message.id)
    assert (stored.status, stored.attempts, stored.claim_token) == ("sent", 2, None)
    assert smtp_server.message_ids() == [message.message_id]


def test_a_worker_that_lost_its_claim_does_not_send():
    message = outbox.queue_email("late@example.org", "Late", "x", idempotency_key="late:1")
    db.session.commit()
    db.session.execute(update(EmailMessage).values(status="pending"))
    db.session.commit()
    [item] = outbox.claim([message.id], "slow-worker")
    db.session.execute(update(EmailMessage).values(claim_token="new-owner"))
    db.session.commit()
    outcomes = outbox.Outcomes("slow-worker")
    try:
        assert outcomes.write(item, status="sent") is False
    finally:
        outcomes.rollback()
        outcomes.close()
    db.session.expire_all()
    assert db.session.get(EmailMessage, message.id).status == "sending"


def test_staff_retry_of_a_failed_message(smtp_server):
    smtp_server.reply = {"gone@example.org": "550 5.1.1 no such user"}
    message = outbox.queue_email("gone@example.org", "Again", "x", idempotency_key="again:1")
    db.session.commit()
    db.session.expire_all()
    failed = db.session.get(EmailMessage, message.id)
    assert failed.status == "failed"
    smtp_server.reply = {}
    assert outbox.retry_now(failed) is True
    db.session.expire_all()
    assert db.session.get(EmailMessage, message.id).status == "sent"
    assert outbox.retry_now(db.session.get(EmailMessage, message.id)) is False


@pytest.fixture
def audience():
    """Three opted-in donors (one with an address SMTP cannot use), one who never opted in."""
    donors = [make_donor(first_name=name, email=f"{name.lower()}@example.org", marketing_opt_in=True, city="Whitby")
              for name in ("Ada", "Ben", "Cy")]
    make_donor(first_name="Dee", email="dee@example.org", marketing_opt_in=False, city="Whitby")
    db.session.execute(update(type(donors[2])).where(type(donors[2]).id == donors[2].id).values(email="cy,@example.org"))
    template = EmailTemplate(name="Spring news", category="marketing", subject="Spring news for {{ first_name }}",
                             html_body='<p>Hi {{ first_name }}, <a href="https://harbour.example/spring">read more</a></p>',
                             text_body="Hi {{ first_name }}")
    db.session.add(template)
    db.session.commit()
    segment = segments.save_segment(None, name="Whitby", description="",
                                    rules={"match": "all", "conditions": [{"field": "city", "op": "eq", "value": "Whitby"}]})
    return template, segment, donors


def test_a_send_to_a_segment_personalises_each_message_and_reports_who_was_left_out(smtp_server, audience):
    template, segment, donors = audience
    assert bulk.audience(segment, "marketing") == {"members": 4, "no email address": 0, "no marketing consent": 1,
                                                   "weekly email limit reached": 0, "recipients": 3}
    send = bulk.start_bulk_send(template, segment)
    db.session.expire_all()
    send = db.session.get(BulkSend, send.id)
    assert (send.status, send.total, send.excluded) == ("done", 3, {"no marketing consent": 1})
    assert sorted(m["Subject"] for m in smtp_server.messages) == ["Spring news for Ada", "Spring news for Ben"]
    assert all(m["List-Unsubscribe"] for m in smtp_server.messages)
    skipped = db.session.scalar(select(EmailMessage).where(EmailMessage.status == "skipped"))
    assert skipped.to_email == "cy,@example.org" and "Invalid email address" in skipped.last_error
    assert bulk.progress(send) == {"total": 3, "sent": 2, "failed": 0, "skipped": 1, "waiting": 0, "done": 3, "percent": 100,
                                   "finished": True}
    assert db.session.scalar(select(Touchpoint.summary).where(Touchpoint.donor_id == donors[0].id, Touchpoint.kind == "email_sent")) \
        == "Spring news for Ada"
    assert bulk.prepare_bulk_send(send.id) == 0  # running it again adds and sends nothing
    assert len(smtp_server.messages) == 2


def test_tracking_rewrites_links_and_adds_the_pixel_when_switched_on(smtp_server, audience, client):
    from portal.engagement.delivery import sending_rules as engagement_settings

    engagement_settings.update(marketing_weekly_cap=3, track_opens=True, track_clicks=True)
    template, segment, donors = audience
    bulk.start_bulk_send(template, segment)
    html = next(m for m in smtp_server.messages if m["Subject"] == "Spring news for Ada").get_payload()[1].get_payload(decode=True).decode()
    assert "https://harbour.example/spring" not in html and "/t/c/" in html and "/t/o/" in html
    assert "/unsubscribe/" in html  # the unsubscribe link is never wrapped
    click = html.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    response = client.get(click[click.index("/t/c/"):])
    assert response.status_code == 302 and response.headers["Location"] == "https://harbour.example/spring"
    pixel = html.split('<img src="', 1)[1].split('"', 1)[0]
    assert client.get(pixel[pixel.index("/t/o/"):]).data.startswith(b"GIF89a")
    kinds = Counter(db.session.scalars(select(Touchpoint.kind).where(Touchpoint.donor_id == donors[0].id)))
    assert (kinds["email_opened"], kinds["email_clicked"]) == (1, 1)
    assert client.get("/t/c/forged-token").status_code == 404
