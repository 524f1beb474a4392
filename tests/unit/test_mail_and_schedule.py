"""Message assembly, the periodic job list, RQ's cron and the in-process scheduler."""
from datetime import datetime
from email import message_from_bytes, policy

import fakeredis

from portal import schedule, sweep
from portal.mail import build_message


def test_built_messages_use_crlf_short_lines_and_decode_back():
    data = build_message(sender="Friends of the Harbour Trust <hello@harbourtrust.example>", to="zoë@example.org",
                         subject="Thank you\r\nBcc: everyone@example.org", message_id="<1@harbourtrust.example>",
                         text_body="Dear Zoë,\n" + "x" * 300 + "\nbye", html_body="<p>Dear Zoë</p>\r\n" + "<b>y</b>" * 100,
                         headers={"List-Unsubscribe": "<https://portal.example/unsubscribe/abc>"})
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    parsed = message_from_bytes(data, policy=policy.default)
    assert parsed["Subject"] == "Thank you Bcc: everyone@example.org"  # folded into one line: no header injection
    assert parsed["Bcc"] is None
    assert parsed.get_body(("plain",)).get_content() == "Dear Zoë,\r\n" + "x" * 300 + "\r\nbye"
    assert parsed.get_body(("html",)).get_content().startswith("<p>Dear Zoë</p>")
    assert parsed["List-Unsubscribe"] == "<https://portal.example/unsubscribe/abc>"


def test_a_text_only_message_is_one_plain_part_with_encoded_names():
    data = build_message(sender="Zoë’s Harbour Trust <hello@harbourtrust.example>", to="ada@example.org",
                         subject="Merci — £25 reçu", message_id="<2@harbourtrust.example>", text_body="Line one\nLine two",
                         headers={"List-Unsubscribe": "<https://portal.example/unsubscribe/abc>",
                                  "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
    assert data.isascii() and b"multipart" not in data
    parsed = message_from_bytes(data, policy=policy.default)
    assert (str(parsed["From"]), parsed["Subject"]) == ("Zoë’s Harbour Trust <hello@harbourtrust.example>", "Merci — £25 reçu")
    assert parsed.get_content_type() == "text/plain" and parsed.get_content() == "Line one\r\nLine two\r\n"
    assert (parsed["Message-ID"], parsed["List-Unsubscribe-Post"]) == ("<2@harbourtrust.example>", "List-Unsubscribe=One-Click")


def test_every_periodic_job_is_registered_with_a_cron(app):
    names = {p.name for p in schedule.registered()}
    assert {"sweep", "engagement.due-steps", "engagement.scheduled-triggers"} <= names


def test_rq_cron_gets_every_registered_job(app):
    scheduler = schedule.cron_scheduler(fakeredis.FakeRedis())
    jobs = {job.name: (job.cron, job.queue_name, job.func) for job in scheduler.get_jobs()}
    assert jobs == {p.name: (p.cron, p.queue, p.func) for p in schedule.registered()}


def test_due_between_follows_the_cron_expression():
    every_five = schedule.Periodic("x", print, "*/5 * * * *")
    assert schedule.due_between(every_five, datetime(2026, 1, 1, 10, 1), datetime(2026, 1, 1, 10, 5))
    assert not schedule.due_between(every_five, datetime(2026, 1, 1, 10, 5), datetime(2026, 1, 1, 10, 9, 59))


def test_the_in_process_scheduler_enqueues_what_is_due(app, monkeypatch):
    from portal import jobs

    fired = []
    monkeypatch.setattr(jobs, "enqueue_now", lambda queue, func, *args: fired.append((queue, func.__name__)))
    monkeypatch.setattr(schedule, "_PERIODIC", {})
    schedule.register("often", sweep.sweep_due_work, "*/5 * * * *")
    schedule.register("daily", sweep.sweep_due_work, "0 7 * * *", queue="reports")
    ticker = schedule.InProcessScheduler(app)
    assert ticker.tick(datetime(2026, 1, 1, 10, 4), datetime(2026, 1, 1, 10, 5)) == ["often"]
    assert ticker.tick(datetime(2026, 1, 1, 6, 59), datetime(2026, 1, 1, 7, 0)) == ["daily", "often"]
    assert fired == [("default", "sweep_due_work"), ("reports", "sweep_due_work"), ("default", "sweep_due_work")]


def test_periodic_jobs_are_flask_commands(app):
    runner = app.test_cli_runner()
    assert "engagement.due-steps" in runner.invoke(args=["jobs", "periodic"]).output
    assert "engagement.due-steps: 0" in runner.invoke(args=["jobs", "run", "engagement.due-steps"]).output
    assert "No periodic job called" in runner.invoke(args=["jobs", "run", "nope"]).output
