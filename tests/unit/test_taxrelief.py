"""Gift Aid declarations, eligibility reasons, benefits, claims and refund adjustments, through the services."""
from datetime import date, datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import delete, select

from portal.engagement.models import EmailMessage
from portal.extensions import db
from portal.giving import services as giving
from portal.journey.models import Touchpoint
from portal.loyalty import services as loyalty
from portal.support.models import Task
from portal.support.services import source_label
from portal.taxrelief import claims, services
from portal.giving.models import Gift
from portal.taxrelief.models import Adjustment, Claim, ClaimGift, ClaimLine
from portal.timeutil import utcnow
from tests.conftest import make_donor, make_gift

pytestmark = pytest.mark.usefixtures("ctx")

HOME = {"address_line1": "12 High Street", "postcode": "sw1a 1aa", "country": "United Kingdom"}


def _switch_on():
    services.update_settings(scheme_key="uk_gift_aid", hmrc_reference="ab12345")


def _donor(**values):
    return make_donor(**{**HOME, **values})


def _declare(donor, scope="past_and_future", made_on=date(2026, 1, 1), **kwargs):
    return services.make_declaration(donor.id, scope=scope, method=kwargs.pop("method", "online"), made_on=made_on,
                                     **kwargs)


def _reason(gift):
    return services.assess_gift(gift).reason


def test_declaration_keeps_the_exact_wording_and_is_on_the_timeline():
    _switch_on()
    donor = _donor(email="ada@example.org")
    declaration = _declare(donor, scope="future")
    assert declaration.wording.startswith("I want to Gift Aid this donation and any donations I make in the future to ")
    assert "I am a UK taxpayer" in declaration.wording
    assert declaration.wording_version == services.WORDING_VERSION
    kinds = db.session.scalars(select(Touchpoint.kind).where(Touchpoint.donor_id == donor.id)).all()
    assert "gift_aid_declared" in kinds
    assert db.session.scalar(select(EmailMessage).where(EmailMessage.donor_id == donor.id)) is None  # online: no letter


def test_oral_declaration_sends_written_confirmation_with_the_30_days():
    _switch_on()
    donor = _donor(email="ada@example.org")
    declaration = _declare(donor, scope="future", method="oral", made_on=utcnow().date())
    message = db.session.scalar(select(EmailMessage).where(EmailMessage.donor_id == donor.id))
    assert message.subject == "Your Gift Aid declaration"
    assert declaration.wording in message.text_body and "within 30 days" in message.text_body
    assert declaration.confirmation_sent_at is not None


def test_oral_declaration_without_an_email_asks_staff_to_post_the_confirmation():
    _switch_on()
    donor = _donor()
    declaration = _declare(donor, scope="future", method="oral", made_on=utcnow().date())
    task = db.session.scalar(select(Task).where(Task.donor_id == donor.id))
    assert task.title == "Post the written Gift Aid confirmation to Ada Lovelace"
    assert source_label(task.source) == "Gift Aid declaration"
    assert declaration.wording in task.details
    assert declaration.confirmation_sent_at is None


def test_declaration_scope_and_dates_decide_which_gifts_are_covered():
    donor = _donor()
    old = make_gift(donor.id, 1000, datetime(2025, 6, 1, 12))
    new = make_gift(donor.id, 1000, datetime(2026, 2, 1, 12))
    _declare(donor, scope="future", made_on=date(2026, 1, 1))
    assert (_reason(old), _reason(new)) == ("no_declaration", None)
    _declare(donor, scope="past_and_future", made_on=date(2026, 1, 1))
    assert _reason(old) is None


def test_this_gift_only_covers_that_gift():
    donor = _donor()
    first = make_gift(donor.id, 1000, datetime(2026, 2, 1, 12))
    second = make_gift(donor.id, 1000, datetime(2026, 2, 2, 12))
    declaration = _declare(donor, scope="this_gift", gift_id=first.id)
    assert "my donation of £10.00" in declaration.wording
    assert (_reason(first), _reason(second)) == (None, "no_declaration")


def test_each_ineligibility_reason_in_words():
    _switch_on()
    person = _donor()
    _declare(person)
    organisation = make_donor(kind="organisation", organisation_name="Acme Ltd", **HOME)
    when = datetime(2026, 2, 1, 12)
    refunded = giving.refund_gift(make_gift(person.id, 1000, when))
    pledged = make_gift(person.id, 1000, when, status="pledged")
    euros = giving.record_gift(person.id, giving.GiftInput(amount_minor=1000, received_at=when, currency="EUR"))
    company = make_gift(person.id, 1000, when)
    services.exclude_gift(company, actor=None)
    payroll = make_gift(person.id, 1000, when, method="payroll")
    from_org = make_gift(organisation.id, 1000, when)
    undeclared = make_gift(_donor().id, 1000, when)
    eligible = make_gift(person.id, 1000, when)
    expected = {refunded: "Refunded", pledged: "Not received yet (a pledge)", euros: "Not given in pounds sterling",
                company: "Paid by a company, not from the donor's own taxed income",
                payroll: "Payroll giving, which is already free of tax",
                from_org: "Given by an organisation, not an individual taxpayer",
                undeclared: "No valid Gift Aid declaration covers the gift's date", eligible: "Eligible"}
    found = services.assess_gifts([g.id for g in expected])
    assert {gift.id: found[gift.id].reason_text for gift in expected} == {g.id: text for g, text in expected.items()}


def test_cancelled_declaration_and_claimed_gifts_have_their_reasons():
    _switch_on()
    donor = _donor()
    declaration = _declare(donor, scope="future", made_on=date(2026, 1, 1))
    before = make_gift(donor.id, 1000, datetime(2026, 1, 10, 12))
    after = make_gift(donor.id, 1000, datetime(2026, 2, 10, 12))
    services.cancel_declaration(declaration, on=date(2026, 2, 1), reason="No longer pays tax")
    assert _reason(before) is None
    assert services.assess_gift(after).reason_text == "The declaration covering it was cancelled"
    [claim] = claims.build_claims(date(2026, 1, 1), date(2026, 1, 31))
    assert services.assess_gift(before).reason_text == f"On a draft claim (claim #{claim.id})"
    claims.submit_claim(claim)
    assert services.assess_gift(before).reason_text == f"Already claimed (claim #{claim.id})"


@time_machine.travel(datetime(2026, 7, 1, 12, tzinfo=timezone.utc), tick=False)  # mid tax year
def test_a_reward_over_the_benefit_limit_makes_the_years_gifts_ineligible_and_warns_staff():
    """£100 given this tax year allows £25 of benefits; a reward worth £30 breaks it, and staff are told."""
    _switch_on()
    donor = _donor()
    _declare(donor, made_on=utcnow().date())
    gift = make_gift(donor.id, 10_000, utcnow() - timedelta(minutes=5))
    small = loyalty.save_reward(None, name="Tea towel", description="", kind="other", points_cost=10, stock=None,
                                donation_minor=None, funds="", active=True)
    big = loyalty.save_reward(None, name="Gala ticket", description="", kind="event_ticket", points_cost=20, stock=None,
                              donation_minor=None, funds="", active=True)
    services.set_reward_value(small.id, 2_500)
    services.set_reward_value(big.id, 500)
    loyalty.redeem(donor.id, small.id)
    assert _reason(gift) is None  # £25 of benefits: exactly at the limit
    assert db.session.scalar(select(Task).where(Task.donor_id == donor.id)) is None
    assert services.benefit_warning(donor.id, extra_minor=500).benefits_minor == 3_000
    loyalty.redeem(donor.id, big.id)
    assert services.assess_gift(gift).reason_text == "Benefits the donor received that tax year are over HMRC's limit"
    task = db.session.scalar(select(Task).where(Task.donor_id == donor.id))
    assert "£30.00" in task.details and "£25.00" in task.details
    assert source_label(task.source) == "Gift Aid benefits"


def test_claim_groups_per_donor_aggregates_small_one_off_gifts_and_holds_back_bad_addresses():
    _switch_on()
    regular = _donor(title="Mrs", first_name="Anne", last_name="Bowes-Lyon")
    for month in (1, 2, 3):
        make_gift(regular.id, 2000, datetime(2026, month, 5, 12))
    smalls = []
    for i in range(3):
        donor = _donor(first_name=f"S{i}", address_line1="", postcode="")  # no address needed when aggregated
        _declare(donor)
        smalls.append(make_gift(donor.id, 3000, datetime(2026, 2, 10 + i, 12)))
    no_postcode = _donor(first_name="Pat", postcode="")
    _declare(no_postcode)
    make_gift(no_postcode.id, 5000, datetime(2026, 2, 1, 12))
    _declare(regular)
    make_gift(_donor(first_name="Undeclared").id, 1000, datetime(2026, 2, 1, 12))
    make_gift(make_donor(kind="organisation", organisation_name="Acme Ltd").id, 1000, datetime(2026, 2, 1, 12))
    payroll = _donor(first_name="Payroll")
    _declare(payroll)
    make_gift(payroll.id, 1000, datetime(2026, 2, 1, 12), method="payroll")

    plan = claims.plan_claim(date(2026, 1, 1), date(2026, 3, 31))
    assert [h.problems for h in plan.held_back] == [["No postcode"]]
    assert plan.ineligible == {"No valid Gift Aid declaration covers the gift's date": 1,
                               "Given by an organisation, not an individual taxpayer": 1,
                               "Payroll giving, which is already free of tax": 1}
    [claim] = claims.build_claims(date(2026, 1, 1), date(2026, 3, 31))
    lines = claims.claim_lines(claim)
    assert [(l.title, l.first_name, l.last_name, l.house, l.postcode, l.aggregated, l.donation_date, l.amount_minor)
            for l in lines] == [
        ("Mrs", "Anne", "Bowes Lyon", "12", "SW1A 1AA", "", date(2026, 3, 5), 6000),
        ("", "", "", "", "", "One-off gifts of 30 GBP or less", date(2026, 2, 12), 9000),
    ]
    assert (claim.total_minor, claim.tax_minor, claim.gift_count) == (15000, 3750, 6)


def test_aggregated_lines_stop_at_1000_pounds():
    _switch_on()
    for i in range(35):  # 35 × £30 = £1,050: one line of 33 gifts (£990) and one of 2
        donor = _donor(first_name=f"D{i}")
        _declare(donor)
        make_gift(donor.id, 3000, datetime(2026, 2, 1, 12) + timedelta(minutes=i))
    [claim] = claims.build_claims(date(2026, 2, 1), date(2026, 2, 28))
    assert [l.amount_minor for l in claims.claim_lines(claim)] == [99_000, 6_000]


def test_more_than_1000_lines_make_several_claims():
    _switch_on()
    from portal.donors.models import Donor
    from portal.taxrelief.models import Declaration

    donors = [Donor(first_name="D", last_name=f"N{i}", **HOME) for i in range(1003)]
    db.session.add_all(donors)
    db.session.flush()
    db.session.add_all(Declaration(donor_id=d.id, scope="past_and_future", method="paper", wording_version="x",
                                   wording="x", made_on=date(2026, 1, 1)) for d in donors)
    giving.add_gifts([(d.id, giving.GiftInput(amount_minor=5000, received_at=datetime(2026, 2, 1, 12), currency="GBP"))
                      for d in donors])
    db.session.commit()
    built = claims.build_claims(date(2026, 2, 1), date(2026, 2, 28))
    assert [(c.part, c.parts, c.line_count, c.total_minor) for c in built] == [(1, 2, 1000, 5_000_000), (2, 2, 3, 15_000)]
    assert db.session.scalar(select(db.func.count()).select_from(ClaimLine)) == 1003
    with pytest.raises(services.TaxReliefError):
        claims.build_claims(date(2026, 2, 1), date(2026, 2, 28))  # nothing left to claim


def test_refunding_a_claimed_gift_records_an_adjustment_for_the_next_claim():
    _switch_on()
    donor = _donor()
    _declare(donor)
    gift = make_gift(donor.id, 4000, datetime(2026, 1, 10, 12))
    [first] = claims.build_claims(date(2026, 1, 1), date(2026, 1, 31))
    claims.submit_claim(first)
    giving.refund_gift(db.session.get(type(gift), gift.id), reason="Chargeback")
    adjustment = db.session.scalar(select(Adjustment))
    assert (adjustment.gift_id, adjustment.claim_id, adjustment.tax_minor, adjustment.settled_by_claim_id) == (
        gift.id, first.id, 1000, None)
    make_gift(donor.id, 2000, datetime(2026, 2, 10, 12))
    [second] = claims.build_claims(date(2026, 2, 1), date(2026, 2, 28))
    assert (second.tax_minor, second.adjustment_minor) == (500, 1000)
    assert db.session.get(Adjustment, adjustment.id).settled_by_claim_id == second.id
    claims.delete_draft(second)
    assert db.session.get(Adjustment, adjustment.id).settled_by_claim_id is None


def test_a_draft_with_a_since_refunded_gift_cannot_be_submitted():
    _switch_on()
    donor = _donor()
    _declare(donor)
    gift = make_gift(donor.id, 4000, datetime(2026, 1, 10, 12))
    [claim] = claims.build_claims(date(2026, 1, 1), date(2026, 1, 31))
    giving.refund_gift(gift)
    with pytest.raises(services.TaxReliefError, match="refunded since it was built"):
        claims.submit_claim(claim)
    assert db.session.get(Claim, claim.id).status == "draft"
    assert db.session.scalar(select(Adjustment)) is None  # never claimed, so nothing to pay back


def test_monthly_figures_split_claimed_from_unclaimed():
    _switch_on()
    donor = _donor()
    _declare(donor)
    make_gift(donor.id, 4000, datetime(2026, 1, 10, 12))
    make_gift(donor.id, 2000, datetime(2026, 2, 10, 12))
    claims.submit_claim(claims.build_claims(date(2026, 1, 1), date(2026, 1, 31))[0])
    figures = {m.month: (m.claimed_minor, m.unclaimed_minor) for m in claims.monthly_figures(3, today=date(2026, 2, 20))}
    assert figures == {date(2025, 12, 1): (0, 0), date(2026, 1, 1): (1000, 0), date(2026, 2, 1): (0, 500)}
    assert claims.claimed_tax_total() == 1000
    stored = claims.stored_month_figures()  # submitting queued the job, which ran once the claim committed
    assert stored and stored[-1].month == services.local_today().replace(day=1)


def test_segment_fields_select_declared_donors_and_those_with_unclaimed_gifts():
    from portal.donors.models import Donor
    from portal.engagement.segments import services as segments

    declared_unclaimed, declared_claimed, cancelled, none = (_donor(first_name=n) for n in ("A", "B", "C", "D"))
    for donor in (declared_unclaimed, declared_claimed):
        _declare(donor, made_on=utcnow().date())
        make_gift(donor.id, 1000, utcnow() - timedelta(days=3))
    services.cancel_declaration(_declare(cancelled, made_on=utcnow().date()))
    make_gift(cancelled.id, 1000, utcnow() - timedelta(days=3))
    make_gift(none.id, 1000, utcnow() - timedelta(days=3))
    [claim] = claims.build_claims(utcnow().date() - timedelta(days=5), utcnow().date())
    db.session.execute(delete(ClaimGift).where(ClaimGift.gift_id.in_(
        select(Gift.id).where(Gift.donor_id == declared_unclaimed.id))))
    db.session.commit()

    def names(field, op):
        query = segments.members_select({"match": "all", "conditions": [{"field": field, "op": op}]})
        return set(db.session.scalars(select(Donor.first_name).where(Donor.id.in_(query))))

    assert names("gift_aid_declared", "true") == {"A", "B"}
    assert names("gift_aid_declared", "false") == {"C", "D"}
    assert names("gift_aid_unclaimed", "true") == {"A"}
    assert claim.gift_count == 3  # C cancelled today: the gift before still counts


def test_sponsored_event_gifts_keep_lines_of_their_own():
    _switch_on()
    donor = _donor(first_name="Walker")
    _declare(donor)
    make_gift(donor.id, 2000, datetime(2026, 5, 1, 12), campaign="Sponsored walk 2026")
    make_gift(donor.id, 2500, datetime(2026, 5, 2, 12), campaign="Sponsored walk 2026")
    make_gift(donor.id, 4000, datetime(2026, 5, 3, 12))
    [claim] = claims.build_claims(date(2026, 5, 1), date(2026, 5, 31))
    assert [(l.sponsored, l.donation_date, l.amount_minor) for l in claims.claim_lines(claim)] == [
        (False, date(2026, 5, 3), 4000), (True, date(2026, 5, 1), 2000), (True, date(2026, 5, 2), 2500)]
