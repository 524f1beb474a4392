"""What staff do with a batch: upload, match columns, confirm, cancel; and the reports on its rows."""
from __future__ import annotations

import hashlib
import io

from sqlalchemy import select
from sqlalchemy.orm import load_only

from portal import csvfile, jobs
from portal.donors.imports import tasks
from portal.donors.imports.extras import extra_by_key, offered_extras, targets_for
from portal.donors.imports.fields import DONOR_IDENTIFIERS, guess_mapping
from portal.donors.imports.lifecycle import KINDS, STATUSES, transition
from portal.donors.imports.reading import ImportProblem, MappingProblem, batch_table, decode_upload, read_table
from portal.donors.imports.rows import erased_only_rows
from portal.donors.imports.values import guess_day_first
from portal.donors.models import ImportBatch
from portal.extensions import db
from portal.settings.services import organisation
from portal.timeutil import utcnow


def create_batch(kind: str, filename: str, data: bytes, *, actor=None) -> ImportBatch:
    """Store an upload after checking it is a readable CSV with data rows; the mapping is guessed."""
    if kind not in KINDS:
        raise ImportProblem("Choose whether the file holds donors or gifts.")
    text = decode_upload(data)
    table = read_table(text)
    rows = 0
    date_samples: list[str] = []
    guessed = guess_mapping(kind, table.headers, targets_for(kind))
    date_fields = {"birthday", "received_at", "supporter_since"} | {
        item.target.name for extra in offered_extras(kind) for item in extra.fields if item.value_type == "date"}
    date_columns = [i for i, name in enumerate(guessed) if name in date_fields]
    for _, cells in table.rows():
        rows += 1
        if rows <= 2000:
            date_samples.extend(cells[i] for i in date_columns if i < len(cells))
    if not rows:
        raise ImportProblem("The file has a header row but no data rows.")
    batch = ImportBatch(kind=kind, filename=(filename or "upload.csv")[:255], content=text, status="uploaded",
                        total_rows=rows, created_by_id=getattr(actor, "id", None),
                        content_hash=hashlib.sha256(data).hexdigest(), source_system=_last_source_system(kind),
                        mapping={"columns": guessed, "day_first": guess_day_first(date_samples, organisation().currency)})
    db.session.add(batch)
    db.session.commit()
    return batch


def recent_batches(limit: int = 20) -> list[ImportBatch]:
    return list(db.session.scalars(
        select(ImportBatch).options(load_only(ImportBatch.kind, ImportBatch.filename, ImportBatch.status,
                                              ImportBatch.total_rows, ImportBatch.imported_rows, ImportBatch.created_at))
        .order_by(ImportBatch.created_at.desc(), ImportBatch.id.desc()).limit(limit)))


def column_samples(batch: ImportBatch, limit: int = 3) -> list[tuple[str, list[str]]]:
    """Each column's header with its first few non-empty values (from the first 200 rows), to help staff
    match columns."""
    table = batch_table(batch)
    samples: list[list[str]] = [[] for _ in table.headers]
    for seen, (_, cells) in enumerate(table.rows()):
        for index, cell in enumerate(cells[:len(table.headers)]):
            if cell.strip() and len(samples[index]) < limit:
                samples[index].append(cell.strip()[:60])
        if seen >= 200 or all(len(s) >= limit for s in samples):
            break
    return list(zip(table.headers, samples))


def _last_source_system(kind: str) -> str:
    """The old system named by the latest import of this kind: a migration usually comes from one."""
    return db.session.scalar(select(ImportBatch.source_system).where(
        ImportBatch.kind == kind, ImportBatch.source_system != "").order_by(ImportBatch.id.desc()).limit(1)) or ""


def earlier_import(batch: ImportBatch) -> ImportBatch | None:
    """The latest other batch that imported exactly this file, if any."""
    if not batch.content_hash:
        return None
    return db.session.scalar(select(ImportBatch).options(load_only(
        ImportBatch.filename, ImportBatch.imported_rows, ImportBatch.finished_at, ImportBatch.kind)).where(
        ImportBatch.content_hash == batch.content_hash, ImportBatch.kind == batch.kind, ImportBatch.id != batch.id,
        ImportBatch.status == "imported").order_by(ImportBatch.id.desc()).limit(1))


def save_mapping(batch: ImportBatch, columns: list[str], *, day_first: bool, source_system: str = "") -> None:
    """Check the column mapping and start checking the rows with it. `source_system` names the old system
    when a column holds its gift ids, so a gift imported again is recognised by (system, id)."""
    remappable = ("uploaded", "validated", "failed")
    if batch.status not in remappable:
        raise ImportProblem(f"This import is {STATUSES[batch.status].lower()}; its columns can no longer be changed.")
    targets = targets_for(batch.kind)
    problems: dict[int, str] = {}
    used: dict[str, int] = {}
    headers = batch_table(batch).headers
    if len(columns) != len(headers):
        raise MappingProblem("The file's columns changed; start the import again.")
    for index, name in enumerate(columns):
        if not name:
            continue
        if name not in targets:
            problems[index] = "Choose a field from the list."
        elif name in used:
            problems[index] = f"{targets[name].label} is already taken by the column “{headers[used[name]]}”."
        else:
            used[name] = index
    if problems:
        raise MappingProblem("Each field can be filled from one column only.", problems)
    if batch.kind == "donors" and not used.keys() & {"first_name", "last_name", "full_name", "organisation_name"}:
        raise MappingProblem("Match at least one column to First name, Last name, Full name or Organisation name.")
    if batch.kind == "gifts":
        missing = [targets[n].label for n in ("amount", "received_at") if n not in used]
        if missing:
            raise MappingProblem("Match a column to " + " and ".join(missing) + ": every gift needs them.")
        if not used.keys() & set(DONOR_IDENTIFIERS):
            raise MappingProblem("Match a column to Donor email, Donor reference or Donor number, "
                                 "so each gift can be matched to its donor.")
        source_system = " ".join(source_system.split())[:80]
        if "source_gift_id" in used and not source_system:
            raise MappingProblem("Name the system the gift IDs come from, so a gift imported again is recognised.")
    job_id = jobs.enqueue_after_commit("default", tasks.run_validation, batch.id)
    if not transition(batch.id, remappable, status="validating", job_id=job_id,
                       mapping={"columns": list(columns), "day_first": day_first}, errors=None, preview=None,
                       extra_counts=None,
                       valid_rows=0, skip_invalid=False, include_on_file=False, include_duplicates=False,
                       include_erased=False, message="",
                       source_system=source_system if batch.kind == "gifts" else ""):
        raise ImportProblem("This import has just been started or cancelled elsewhere.")


def confirm(batch: ImportBatch, *, skip_invalid: bool, include_on_file: bool = False, include_duplicates: bool = False,
            include_erased: bool = False) -> None:
    """Staff have seen the check: import the valid rows (refused while rows are bad, unless told to skip them).
    Rows that match a gift already on file stay out unless `include_on_file`; donors flagged as likely
    duplicates stay out unless `include_duplicates`; a donor whose address belonged to an erased donor is a
    row with a problem unless `include_erased` (staff confirm the person asked to be added again)."""
    if batch.status != "validated":
        raise ImportProblem(f"This import is {STATUSES[batch.status].lower()}, so it can't be started now.")
    counts = problem_counts(batch)
    include_on_file = include_on_file and counts["on_file_overridable"] > 0
    include_duplicates = include_duplicates and counts["duplicates"] > 0
    include_erased = include_erased and counts["erased_rows"] > 0
    bad = counts["bad_rows"] - (counts["erased_rows"] if include_erased else 0)
    extra = (counts["duplicates"] if include_duplicates else 0) + (counts["erased_rows"] if include_erased else 0)
    if not batch.valid_rows and not include_on_file and not extra:
        if counts["on_file"]:
            raise ImportProblem("Nothing to import: every row that passed the check is already on file.")
        if counts["duplicates"]:
            raise ImportProblem("Nothing to import: every row that passed the check is a likely duplicate. "
                                "Tick the box to import them anyway.")
        raise ImportProblem("None of the rows can be imported. Fix the file and upload it again.")
    if bad and not skip_invalid:
        importable = batch.valid_rows + extra
        raise ImportProblem(f"{bad:,} row{'s have' if bad != 1 else ' has'} problems. Tick the box to skip "
                            f"{'them' if bad != 1 else 'it'} and import the {importable:,} valid "
                            f"row{'s' if importable != 1 else ''}, or fix the file and upload it again.")
    job_id = jobs.enqueue_after_commit("default", tasks.run_import, batch.id)
    if not transition(batch.id, ("validated",), status="importing", skip_invalid=bool(bad), include_on_file=include_on_file,
                      include_duplicates=include_duplicates, include_erased=include_erased, job_id=job_id, message=""):
        raise ImportProblem("This import has already been started or cancelled.")


def cancel(batch: ImportBatch) -> None:
    """Nothing is imported; the file's contents are discarded."""
    if not transition(batch.id, ("uploaded", "validating", "validated", "failed"), status="cancelled", content="",
                       preview=None, message="Cancelled: nothing was imported.", finished_at=utcnow()):
        raise ImportProblem(f"This import is {STATUSES[batch.status].lower()} and can no longer be cancelled.")


def problems_page(batch: ImportBatch, page: int, per_page: int = 100) -> tuple[list[dict], int]:
    problems = batch.errors or []
    pages = max(1, -(-len(problems) // per_page))
    page = min(max(1, page), pages)
    return problems[(page - 1) * per_page: page * per_page], pages


def problem_counts(batch: ImportBatch) -> dict:
    """Rows with problems (and how many of those only because the address belonged to an erased donor), rows
    already on file (and how many of those staff may import anyway), likely duplicate donors, and warnings on
    the rows that are (or will be) imported."""
    problems = batch.errors or []
    bad_rows = {p["row"] for p in problems if p["level"] == "error"}
    on_file = [p for p in problems if p["level"] == "on_file"]
    return {"bad_rows": len(bad_rows), "erased_rows": len(erased_only_rows(problems)), "on_file": len(on_file),
            "on_file_overridable": sum(1 for p in on_file if p.get("overridable")),
            "duplicates": sum(1 for p in problems if p["level"] == "duplicate"),
            "warnings": sum(1 for p in problems if p["level"] == "warning" and p["row"] not in bad_rows)}


def extra_summaries(batch: ImportBatch) -> list[str]:
    """What the import will record beside its rows, counted at the check: "3 Gift Aid declarations"."""
    summaries = []
    for key, count in (batch.extra_counts or {}).items():
        extra = extra_by_key(key)
        if extra is not None:
            summaries.append(extra.describe(count))
    return summaries


def problems_csv(batch: ImportBatch) -> str:
    buffer = io.StringIO()
    writer = csvfile.writer(buffer)
    writer.writerow(["row", "column", "value", "problem", "level"])
    for p in batch.errors or []:
        writer.writerow([p["row"], p["column"], p["value"], p["message"], p["level"]])
    return buffer.getvalue()


def progress(batch: ImportBatch) -> dict:
    info = jobs.job_progress(batch.job_id)
    if not info["total"]:
        info["total"] = batch.total_rows
    return info
