"""A donor's access request: everything we hold about them as a ZIP of CSV files with a readable summary.

Built by a job (it reads every domain), kept for seven days and downloaded from a signed link that only
staff or the donor themselves can open."""
from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, timedelta

from flask import render_template
from sqlalchemy import delete, select

from portal import csvfile, jobs
from portal import record_keepers as records
from portal.audit import services as audit
from portal.donors.models import Donor
from portal.donors.preferences import TopicOptOut
from portal.donors.services import DonorError, PROFILE_FIELDS, get_donor
from portal.extensions import db
from portal.journey.models import Touchpoint
from portal.privacy.models import DataExport
from portal.settings.services import organisation
from portal.timeutil import utcnow
from portal.tokens import TokenError, make_token, read_token

KEEP_FOR = timedelta(days=7)


def request_export(donor_id: int, *, requested_by, by_donor: bool = False) -> DataExport:
    """Start building a donor's export; the job runs once this commits. Commits."""
    donor = get_donor(donor_id)
    if donor is None or donor.erased_at is not None:
        raise DonorError("There is no personal data to export for this donor.")
    export = DataExport(donor_id=donor_id, requested_by_id=getattr(requested_by, "id", None))
    db.session.add(export)
    db.session.flush()
    export.job_id = jobs.enqueue_after_commit("default", build_export, export.id)
    # A donor's own request is labelled as such, not with their address: the trail must not keep it after an erasure.
    audit.record("donor.export", actor=requested_by, actor_label="the donor, from their portal" if by_donor else "", donor_id=donor_id,
                 summary="Access request: data export " + ("requested by the donor" if by_donor else "started by staff"),
                 detail={"export_id": export.id, "by_donor": by_donor})
    db.session.commit()
    return export


def _profile_rows(donor: Donor) -> dict[str, list[dict]]:
    consent = [{"marketing_email": donor.marketing_opt_in, "topic": "all marketing email", "since": donor.marketing_consent_at,
                "how": donor.marketing_consent_source, "unsubscribed_at": donor.unsubscribed_at}]
    topics = db.session.scalars(select(TopicOptOut).where(TopicOptOut.donor_id == donor.id).order_by(TopicOptOut.topic))
    return {
        "profile": [{**{name: getattr(donor, name) for name in PROFILE_FIELDS}, "created_at": donor.created_at,
                     "tags": ", ".join(t.name for t in donor.tags), "interests": ", ".join(t.name for t in donor.interests)}],
        "consent": consent + [{"marketing_email": False, "topic": row.topic, "since": row.created_at, "how": row.source,
                               "unsubscribed_at": row.created_at}
                              for row in topics],
    }


def collect(donor_id: int) -> dict[str, list[dict]]:
    """Every file of the export: the donor's own record, then each domain's rows, by file name."""
    donor = get_donor(donor_id)
    sections = _profile_rows(donor)
    for keeper in records.keepers():
        if keeper.export:
            sections.update(keeper.export(donor_id))
    return sections


def build_zip(donor_id: int) -> bytes:
    donor = get_donor(donor_id)
    sections = collect(donor_id)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, rows in sections.items():
            archive.writestr(f"{name}.csv", write_csv(rows))
        consent_history = db.session.scalars(select(Touchpoint).where(Touchpoint.donor_id == donor_id,
                                                                      Touchpoint.kind == "consent_changed")
                                             .order_by(Touchpoint.occurred_at)).all()
        archive.writestr("summary.html", render_template("privacy/export_summary.html", donor=donor, sections=sections,
                                                         consent_history=consent_history, organisation=organisation(),
                                                         generated_at=utcnow()))
    return buffer.getvalue()


@jobs.job
def build_export(export_id: int) -> None:
    export = db.session.get(DataExport, export_id)
    if export is None or export.status == "ready":
        return
    jobs.report_progress(0, 1, "Collecting the donor's data")
    content = build_zip(export.donor_id)
    now = utcnow()
    export.content, export.size_bytes = content, len(content)
    export.status, export.finished_at, export.expires_at = "ready", now, now + KEEP_FOR
    db.session.commit()
    jobs.report_progress(1, 1, "Ready to download")


def discard_for_merge(from_id: int, to_id: int) -> None:
    """A merged-away donor's exports describe a record that no longer exists; the survivor can ask anew."""
    db.session.execute(delete(DataExport).where(DataExport.donor_id == from_id))


def exports_for(donor_id: int) -> list[DataExport]:
    return list(db.session.scalars(select(DataExport).where(DataExport.donor_id == donor_id)
                                   .order_by(DataExport.created_at.desc(), DataExport.id.desc()).limit(5)))


def download_token(export: DataExport) -> str:
    return make_token("data_export", {"x": export.id, "d": export.donor_id})


def export_for_download(token: str, user) -> DataExport:
    """The export a link names, if it is ready, not past its seven days, and the user may have it."""
    payload = read_token("data_export", token)
    export = db.session.get(DataExport, payload.get("x"))
    if export is None or export.donor_id != payload.get("d") or export.status != "ready":
        raise TokenError("This download is no longer available.")
    if export.expires_at is None or export.expires_at < utcnow():
        raise TokenError("This download has expired. Ask for a new one.", expired=True)
    allowed = getattr(user, "is_staff", False) or (getattr(user, "role", "") == "donor" and user.donor_id == export.donor_id)
    if not allowed:
        raise PermissionError("Only our staff or the donor can download this file.")
    return export


@jobs.job
def delete_expired() -> int:
    """Drop exports past their seven days (periodic); the files are personal data kept no longer than needed."""
    expired = db.session.scalars(select(DataExport).where(DataExport.expires_at < utcnow())).all()
    for export in expired:
        db.session.delete(export)
    db.session.commit()
    return len(expired)


def _cell(value) -> object:
    """A value as a data-rights file shows it: dates as ISO dates, booleans as yes/no."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return value


def write_csv(rows: list[dict], columns: list[str] | None = None) -> str:
    """Rows of dicts as CSV text with a header, through the app's spreadsheet-safe writer."""
    columns = columns or list(dict.fromkeys(name for row in rows for name in row))
    buffer = io.StringIO()
    writer = csvfile.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(name)) for name in columns])
    return buffer.getvalue()
