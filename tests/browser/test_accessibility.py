"""axe-core in Chromium over every page of the app, as staff, as a donor and signed out, at desktop and
phone widths, plus the htmx states a person reaches (open forms, search results, older timeline entries).
Any critical or serious violation fails the test.

axe-core is vendored in tests/browser/vendor (npm package axe-core, MPL-2.0) and never served to users: the
script is injected with page.evaluate, which the Content-Security-Policy does not block. The page list is
built from app.url_map, so a new page is checked (or the test names it as unlisted) without editing this file.

One seeded database and one browser serve every page: the demo data comes from the same commands as
`make run`, plus the few records the demo has none of (a support ticket, an import, a survey response)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from portal.demo import DEMO_PASSWORD
from portal.extensions import db
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.browser

AXE_SOURCE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
SIZES = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
FAILING_IMPACTS = ("critical", "serious")
ADMIN = "axe.admin@harbour.example.org"
DONOR = "amelia.clarke@example.org"

# GET routes that are not pages: files, redirects and htmx fragments (their states are visited in STATES below).
NOT_PAGES = {
    "static": "static files",
    "auth.index": "redirects to the right home",
    "tracking.clicked": "redirect",
    "tracking.opened": "image",
    "me.giving_statement_pdf": "a PDF file (tests/integration/test_statement_pdf.py)",
    "donors.check_email": "fragment of the donor form",
    "segments.count": "fragment of the segment page",
    "kb.me_help_suggest": "fragment of the help search",
    "kb_staff.suggest": "fragment of the staff search",
    "workflows.step_options": "fragment of the step form",
    "email_templates.donor_choices": "fragment of the template preview",
    "imports.progress": "fragment of the import page",
    "giftaid.schedule": "an .ods file (tests/integration/test_taxrelief_schedule.py)",
    "health.healthz": "plain text for load balancers",
    "health.readyz": "JSON for load balancers",
    "donors.check_duplicates": "fragment of the donor form",
}
# Pages that need a query string to show anything.
QUERIES = {"insights.funnel_dropped": "?step=second_gift", "bulk.confirm": "?action=tag&all_matching=1"}


# Layout problems a person sees: the page scrolling sideways, the staff sidebar's background ending before
# the page does, the donor menu wrapping onto a second line on a desktop screen.
OVERFLOW = """() => {
    const problems = [];
    const page = document.documentElement;
    if (page.scrollWidth > window.innerWidth) {
        const wide = [...document.querySelectorAll('main *')].filter(el => el.getBoundingClientRect().right > window.innerWidth + 1
                       && !el.closest('.table-wrap, .chart-scroll'));
        problems.push(`page is ${page.scrollWidth}px wide in ${window.innerWidth}px: ` +
                      wide.slice(0, 3).map(el => el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).split(' ')[0] : '')).join(', '));
    }
    const sidebar = document.querySelector('.sidebar');
    if (sidebar && window.innerWidth > 900 && sidebar.getBoundingClientRect().height + 1 < window.innerHeight) {
        problems.push(`sidebar background is ${sidebar.getBoundingClientRect().height}px tall in a ${window.innerHeight}px window`);
    }
    const menu = document.querySelector('.donor-top nav');
    if (menu && window.innerWidth >= 1024) {
        const tops = new Set([...menu.querySelectorAll('a')].map(a => Math.round(a.getBoundingClientRect().top)));
        if (tops.size > 1) problems.push(`donor menu wraps onto ${tops.size} lines`);
    }
    return problems.join('; ');
}"""


@dataclass
class Visit:
    who: str  # "staff", "donor" or "public"
    url: str


def axe_violations(page: Page) -> list[dict]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SOURCE)
    return page.evaluate(
        """async (impacts) => {
            const result = await axe.run(document, {resultTypes: ['violations']});
            return result.violations.filter(v => impacts.includes(v.impact)).map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' | ' + (n.failureSummary || '').split('\\n')[1])
            }));
        }""", list(FAILING_IMPACTS))


def check(page: Page, label: str, found: list[str]) -> None:
    """Run axe at both widths on what the page shows now, recording violations under label."""
    for size_name, size in SIZES.items():
        page.set_viewport_size(size)
        # Resize handlers run before the next animation frames are painted.
        page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
        for violation in axe_violations(page):
            found.append(f"{label} [{size_name}] {violation['impact']} {violation['id']}: {violation['help']}; "
                         + "; ".join(violation["nodes"]))
        overflow = page.evaluate(OVERFLOW)
        if overflow:
            found.append(f"{label} [{size_name}] layout: {overflow}")
    page.set_viewport_size(SIZES["desktop"])


def seed_demo(app) -> dict[str, object]:
    """The `make run` demo (smaller), and ids of one record of each kind for the routes' parameters."""
    from portal.auth.models import User
    from portal.donors.models import Donor, ImportBatch
    from portal.engagement.models import BulkSend, EmailMessage, EmailTemplate, Segment, WorkflowStep
    from portal.feedback.models import SurveyInvitation, SurveyQuestion, SurveyResponse
    from portal.giving.models import Gift, RecurringPlan
    from portal.kb.models import Article
    from portal.loyalty.models import Reward, Tier
    from portal.support.models import Task, Ticket

    runner = app.test_cli_runner()
    with app.app_context():
        for command in (["demo-data", "--donors", "120"], ["loyalty", "launch"], ["kb", "sync"],
                        ["engagement", "seed", "--demo"], ["gift-aid", "demo"]):
            result = runner.invoke(args=command)
            assert result.exit_code == 0, (command, result.output, result.exception)
        make_user("admin", ADMIN, name="Axe Admin")
        seed_extras()
        amelia = db.session.scalar(select(Donor).where(Donor.email == DONOR))

        def first(column, *where):
            return db.session.scalar(select(column).where(*where).order_by(column).limit(1))

        gift = db.session.scalar(select(Gift).where(Gift.donor_id == amelia.id).order_by(Gift.received_at.desc()).limit(1))
        survey_id = first(SurveyQuestion.survey_id)
        workflow_id = first(WorkflowStep.workflow_id)
        ids = {
            "donor_id": amelia.id, "gift_id": gift.id, "year": gift.received_at.year,
            "plan_id": first(RecurringPlan.id, RecurringPlan.donor_id == amelia.id),
            "user_id": first(User.id, User.role != "donor"), "batch_id": first(ImportBatch.id),
            "reward_id": first(Reward.id), "tier_id": first(Tier.id), "article_id": first(Article.id),
            "slug": db.session.scalar(select(Article.slug).where(Article.audience != "staff").order_by(Article.id).limit(1)),
            "message_id": first(EmailMessage.id), "send_id": first(BulkSend.id), "segment_id": first(Segment.id),
            "template_id": first(EmailTemplate.id), "workflow_id": workflow_id,
            "step_id": first(WorkflowStep.id, WorkflowStep.workflow_id == workflow_id),
            "survey_id": survey_id, "question_id": first(SurveyQuestion.id, SurveyQuestion.survey_id == survey_id),
            "response_id": first(SurveyResponse.id), "task_id": first(Task.id),
            "ticket_id": first(Ticket.id, Ticket.donor_id == amelia.id),
            "invitation_id": first(SurveyInvitation.id, SurveyInvitation.donor_id == amelia.id,
                                   SurveyInvitation.answered_at.is_(None)),
            "kind": "lybunt", "name": "retention", "job_id": "no-such-job",
            "survivor_id": amelia.id, "other_id": first(Donor.id, Donor.id != amelia.id),
            "claim_id": first_claim_id(),
        }
    missing = [name for name, value in ids.items() if value is None]
    assert not missing, f"the demo has no record for {missing}"
    return ids


def first_claim_id() -> int | None:
    """A draft Gift Aid claim over the demo's last year (`flask gift-aid demo` gave donors declarations)."""
    from portal.taxrelief import claims
    from portal.taxrelief.services import local_today

    today = local_today()
    built = claims.build_claims(today.replace(year=today.year - 1), today)
    return built[0].id if built else None


def seed_extras() -> None:
    """Records the demo set-up does not make: a ticket, an answered and an open survey, an import."""
    from portal.donors import imports
    from portal.donors.models import Donor
    from portal.engagement.delivery import bulk_sends as bulk
    from portal.engagement.models import EmailTemplate, Segment
    from portal.feedback import services as feedback
    from portal.support import services as support

    amelia = db.session.scalar(select(Donor).where(Donor.email == DONOR))
    support.open_ticket(amelia.id, "Receipt for March", "Could you send my March receipt again?")
    survey = feedback.create_survey("nps", feedback.SurveyValues(name="Supporter NPS", title="How likely are you to recommend us?",
                                                                 active=True))
    # The per-donor survey cap allows one invitation at a time, so another donor answers.
    someone_else = db.session.scalar(select(Donor.id).where(Donor.id != amelia.id, Donor.email.is_not(None),
                                                            Donor.unsubscribed_at.is_(None)).limit(1))
    answered = feedback.invite(survey.id, someone_else, source_key="axe")
    feedback.invite(survey.id, amelia.id, source_key="axe")
    db.session.commit()
    score_question = survey.questions[0]
    feedback.submit_response(answered, {feedback.field_name(score_question): "9"})
    template = db.session.scalar(select(EmailTemplate).where(EmailTemplate.category == "marketing").limit(1))
    bulk.start_bulk_send(template, db.session.scalar(select(Segment).limit(1)), name="Spring newsletter")
    imports.create_batch("donors", "donors.csv", b"first_name,last_name,email\nAda,Lovelace,ada@example.org\n")
    db.session.commit()


def page_urls(app, ids: dict) -> list[Visit]:
    from portal import tokens

    visits, unlisted, seen = [], [], set()
    with app.test_request_context():
        unsubscribe = tokens.make_token("unsubscribe", {"d": ids["donor_id"], "t": None})
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            if "GET" not in rule.methods or rule.endpoint in NOT_PAGES or rule.rule.endswith(".csv") or rule.endpoint in seen:
                continue
            seen.add(rule.endpoint)  # /me and /me/ are one page
            values = {}
            for argument in rule.arguments:
                if argument == "token":
                    values["token"] = unsubscribe if rule.endpoint == "unsubscribe.unsubscribe" else "not-a-valid-link"
                elif argument in ids:
                    values[argument] = ids[argument]
            if set(rule.arguments) - set(values):
                unlisted.append(rule.rule)
                continue
            url = app.url_map.bind("localhost").build(rule.endpoint, values) + QUERIES.get(rule.endpoint, "")
            if rule.endpoint == "survey.answer":
                from portal.feedback import services as feedback
                from portal.feedback.models import SurveyInvitation

                with app.app_context():
                    url = "/survey/" + feedback.survey_token(db.session.get(SurveyInvitation, ids["invitation_id"]))
            who = "staff" if url.startswith("/staff") else "donor" if url.startswith("/me") else "public"
            visits.append(Visit(who, url))
    assert not unlisted, f"routes with parameters the test cannot fill: {unlisted}"
    return visits


def signed_in_page(browser: Browser, live_server: str, email: str | None, password: str = PASSWORD) -> Page:
    page = browser.new_context(viewport=SIZES["desktop"]).new_page()
    if email:
        page.goto(f"{live_server}/login")
        page.fill("#email", email)
        page.fill("#password", password)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/(staff|me)"))
    return page


def test_every_page_has_no_serious_accessibility_violations(app, live_server, browser: Browser):
    ids = seed_demo(app)
    visits = page_urls(app, ids)
    pages = {"public": signed_in_page(browser, live_server, None),
             "staff": signed_in_page(browser, live_server, ADMIN),
             "donor": signed_in_page(browser, live_server, DONOR, DEMO_PASSWORD)}
    found: list[str] = []
    for visit in visits:
        page = pages[visit.who]
        response = page.goto(live_server + visit.url)
        if visit.who != "public" and (response.status >= 400 or "/login" in page.url):
            found.append(f"{visit.url} answered {response.status} at {page.url}")
        check(page, f"{visit.who} {visit.url}", found)
    run_states(pages, live_server, ids, found)
    for page in pages.values():
        page.context.close()
    assert not found, f"{len(found)} critical/serious axe violations:\n" + "\n".join(found)
    assert len(visits) > 80


def run_states(pages: dict[str, Page], live_server: str, ids: dict, found: list[str]) -> None:
    """htmx states: search results, an opened form, older timeline entries, a redeem confirmation."""
    staff, donor = pages["staff"], pages["donor"]
    staff.goto(f"{live_server}/staff/donors/")
    staff.locator("#q").press_sequentially("cla")
    staff.wait_for_url(re.compile(r"q=cla"))
    check(staff, "staff donor search results", found)

    staff.goto(f"{live_server}/staff/donors/{ids['donor_id']}")
    for summary in staff.locator("details > summary").all():
        summary.click()
    check(staff, "staff donor page with its forms open", found)

    donor.goto(f"{live_server}/me/help")
    donor.locator("input[type=search]").first.fill("receipt")
    donor.locator("input[type=search]").first.press("Enter")
    expect(donor.locator("#announcer")).to_have_text(re.compile(r"^\d+ articles? found$"))
    check(donor, "donor help search results", found)
