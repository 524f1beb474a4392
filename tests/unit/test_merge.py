import pytest
from sqlalchemy import func, select

from portal.audit.services import events_for
from portal.donors import merge
from portal.donors.models import Donor, DuplicatePair
from portal.donors.preferences import TopicOptOut
from portal.donors.services import DonorError
from portal.engagement.models import EmailMessage
from portal.extensions import db
from portal.feedback.models import SurveyInvitation
from portal.giving.models import DonorStats, Gift, RecurringPlan
from portal.journey.models import Touchpoint
from portal.loyalty.models import PointsEntry
from portal.loyalty.services import balance
from portal.auth.models import User
from tests.conftest import make_donor, make_user
from tests.donor_history import add_history, pointing_at, row_counts

pytestmark = pytest.mark.usefixtures("ctx")


def totals():
    return {
        "gifts": db.session.scalar(select(func.sum(Gift.amount_minor))),
        "plans": db.session.scalar(select(func.sum(RecurringPlan.amount_minor))),
        "points": db.session.scalar(select(func.sum(PointsEntry.points))),
        "lifetime": db.session.scalar(select(func.sum(DonorStats.lifetime_minor))),
        "gift_count": db.session.scalar(select(func.sum(DonorStats.gift_count))),
    }


@pytest.fixture
def pair():
    staff = make_user("fundraiser")
    survivor = make_donor(first_name="Amelia", last_name="Clarke", email="amelia@example.org", postcode="YO21 3PU",
                          marketing_opt_in=True, tags=["volunteer"])
    other = make_donor(first_name="Amélia", last_name="Clarke", email="amelia.clarke@work.example.org", postcode="YO21 3PU",
                       phone="07700 900123", marketing_opt_in=False, tags=["board"], interests=["lifeboats"])
    add_history(survivor, amount=2500, points=25, words="Please stop the calls", staff=staff, login_email="amelia@example.org")
    add_history(other, amount=4000, points=40, words="Moved house", staff=make_user("support"),
                login_email="amelia.clarke@work.example.org")
    db.session.add(DuplicatePair(donor_a_id=survivor.id, donor_b_id=other.id, score=70, reasons=["x"]))
    db.session.commit()
    return staff, survivor.id, other.id


def test_merge_moves_everything_keeps_every_total_and_leaves_nothing_pointing_at_the_merged_id(pair):
    staff, survivor_id, other_id = pair
    before_counts, before_totals = row_counts(), totals()

    result = merge.merge(survivor_id, other_id, take_from_other={"email"}, actor=staff)

    assert pointing_at(other_id) == {}
    assert db.session.get(Donor, other_id) is None
    after_counts = row_counts()
    # Added by the merge: its touchpoint and the consent change (the other record had not opted in), the
    # survivor's new risk score in the history, the email to the closed login, the redirect. Folded: the
    # shared topic opt-out, and the pair in the duplicate queue is done with.
    added = {"touchpoints": 2, "risk_history": 1, "email_messages": 1, "donor_redirects": 1,
             "duplicate_pairs": -1, "donor_topic_opt_outs": -1}
    assert after_counts == {name: count + added.get(name, 0) for name, count in before_counts.items()}
    assert totals() == before_totals
    survivor = result.survivor
    assert survivor.stats.lifetime_minor == 2500 * 3 + 4000 * 3 and survivor.stats.gift_count == 4
    assert balance(survivor_id) == 65
    # The chosen email and the phone only the other record had; the name stays the survivor's.
    assert (survivor.email, survivor.phone, survivor.first_name) == ("amelia.clarke@work.example.org", "07700 900123", "Amelia")
    assert [t.name for t in survivor.tags] == ["board", "volunteer"] and [t.name for t in survivor.interests] == ["lifeboats"]
    assert merge.resolve(other_id) == survivor_id and merge.resolve(survivor_id) == survivor_id
    assert db.session.scalar(select(func.count()).select_from(DuplicatePair)) == 0


def test_consent_takes_the_most_restrictive_choice_and_keeps_both_histories(pair):
    staff, survivor_id, other_id = pair
    merge.merge(survivor_id, other_id, actor=staff)
    survivor = db.session.get(Donor, survivor_id)
    assert not survivor.marketing_opt_in and survivor.unsubscribed_at is not None
    assert "merge" in survivor.marketing_consent_source
    assert set(db.session.scalars(select(TopicOptOut.topic).where(TopicOptOut.donor_id == survivor_id))) == {"events"}
    kinds = list(db.session.scalars(select(Touchpoint.kind).where(Touchpoint.donor_id == survivor_id)))
    assert kinds.count("donor_created") == 2 and kinds.count("consent_changed") == 1 and "donors_merged" in kinds


def test_the_survivor_keeps_its_login_and_the_other_address_is_told(pair):
    staff, survivor_id, other_id = pair
    merge.merge(survivor_id, other_id, actor=staff)
    logins = list(db.session.execute(select(User.email, User.donor_id).where(User.role == "donor")))
    assert logins == [("amelia@example.org", survivor_id)]
    told = db.session.scalar(select(EmailMessage).where(EmailMessage.purpose == "portal_accounts_combined"))
    assert told.to_email == "amelia.clarke@work.example.org" and "sign in with amelia@example.org" in told.text_body


def test_a_login_on_the_merged_side_only_moves_to_the_survivor():
    survivor = make_donor(first_name="Ann", last_name="Lee")
    other = make_donor(first_name="Ann", last_name="Lee", email="ann@example.org")
    make_user("donor", "ann@example.org", donor_id=other.id)
    merge.merge(survivor.id, other.id)
    assert db.session.scalar(select(User.donor_id).where(User.email == "ann@example.org")) == survivor.id
    assert db.session.get(Donor, survivor.id).email == "ann@example.org"  # empty on the survivor, so taken


def test_survey_invitations_for_the_same_reason_both_survive(pair):
    staff, survivor_id, other_id = pair
    merge.merge(survivor_id, other_id, actor=staff)
    keys = sorted(db.session.scalars(select(SurveyInvitation.source_key).where(SurveyInvitation.donor_id == survivor_id)))
    assert keys == ["periodic:2026-01", f"periodic:2026-01~merged:{other_id}"]


def test_merge_is_audited_and_on_the_timeline_without_personal_data(pair):
    staff, survivor_id, other_id = pair
    merge.merge(survivor_id, other_id, take_from_other={"phone"}, actor=staff)
    [event] = events_for(action="donor.merge")
    assert (event.actor_user_id, event.donor_id, event.detail["merged_id"]) == (staff.id, survivor_id, other_id)
    assert "Clarke" not in event.summary and "amelia" not in str(event.detail)


def test_refuses_the_same_donor_a_missing_one_and_mixed_kinds():
    donor = make_donor()
    org = make_donor(kind="organisation", organisation_name="Ada Ltd")
    with pytest.raises(DonorError):
        merge.merge(donor.id, donor.id)
    with pytest.raises(DonorError):
        merge.merge(donor.id, 999_999)
    with pytest.raises(DonorError):
        merge.merge(donor.id, org.id)
    with pytest.raises(DonorError):
        merge.merge(donor.id, org.id, take_from_other={"password"})
