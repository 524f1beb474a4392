"""The two jobs: checking every row, and importing the valid ones in one transaction; and the sweep that
restarts either when its job was lost."""
from __future__ import annotations

import logging
from typing import Callable

from flask import current_app
from sqlalchemy import select, update

from portal import jobs
from portal.audit import services as audit
from portal.auth.models import User
from portal.donors import services as donor_services
from portal.donors.imports.donor_rows import DonorChecker
from portal.donors.imports.extras import extra_by_key
from portal.donors.imports.gift_rows import GiftChecker
from portal.donors.imports.lifecycle import RUNNING, get_batch, import_finished, transition
from portal.donors.imports.reading import ImportProblem
from portal.donors.imports.rows import Checked, RowChecker, erased_only_rows
from portal.donors.models import ImportBatch
from portal.extensions import db
from portal.giving import services as giving
from portal.settings.services import organisation
from portal.timeutil import utcnow

log = logging.getLogger(__name__)


def checker_for(batch: ImportBatch) -> DonorChecker | GiftChecker:
    return DonorChecker(batch) if batch.kind == "donors" else GiftChecker(batch)


def _actor(batch: ImportBatch):
    return db.session.get(User, batch.created_by_id) if batch.created_by_id else None


def _failure_reason(exc: Exception) -> str:
    if isinstance(exc, (ImportProblem, donor_services.DonorError, giving.GivingError)):
        return str(exc)
    return f"an unexpected error ({type(exc).__name__}); the details are in the server log"


@jobs.job
def run_validation(batch_id: int) -> None:
    """Check every row of the file with the saved mapping; keep every problem and a preview of valid rows."""
    batch = get_batch(batch_id)
    if batch is None or batch.status != "validating":
        return
    try:
        checker = checker_for(batch)
        total, problems, valid, preview = batch.total_rows, [], 0, []
        extra_counts = {extra.key: 0 for extra in checker.extras}
        for chunk in checker.chunks():
            problems.extend(chunk.problems)
            valid += len(chunk.valid)
            for key, count in checker.planned_extras(chunk.valid, problems).items():
                extra_counts[key] += count
            for item in chunk.valid[:current_app.config["IMPORT_PREVIEW_ROWS"] - len(preview)]:
                preview.append({"row": item.row, "cells": checker.preview_row(item)})
            jobs.report_progress(chunk.rows_done, total, "Checking rows")
            db.session.expunge_all()
        problems.sort(key=lambda p: p["row"])
    except Exception as exc:
        log.exception("checking import batch %s failed", batch_id)
        db.session.rollback()
        transition(batch_id, ("validating",), status="failed", finished_at=utcnow(),
                    message=f"The rows could not be checked: {_failure_reason(exc)}.")
        return
    transition(batch_id, ("validating",), status="validated", valid_rows=valid, errors=problems, preview=preview,
               extra_counts=extra_counts)


class _Changed(ImportProblem):
    pass


@jobs.job
def run_import(batch_id: int) -> None:
    """Import the valid rows in one transaction: all of them, or nothing."""
    organisation()  # created (and committed) here if missing, not halfway through the import's transaction
    batch = db.session.scalar(select(ImportBatch).where(ImportBatch.id == batch_id).with_for_update())
    if batch is None or batch.status != "importing":
        db.session.rollback()
        return  # already imported, cancelled or failed: running again changes nothing
    kind, filename, actor = batch.kind, batch.filename, _actor(batch)
    skipped = _skipped_rows(batch)
    try:
        imported, recorded = (_import_donors if kind == "donors" else _import_gifts)(batch)
        message = f"Imported {imported:,} {kind if imported != 1 else kind[:-1]}."
        extras_written = {}
        for key, count in recorded.items():
            extra = extra_by_key(key)
            if count and extra is not None:
                message += f" Recorded {extra.describe(count)}."
                extras_written[key] = count
        if skipped["on_file"]:
            message += f" {skipped['on_file']:,} row{'s' if skipped['on_file'] != 1 else ''} already on file " \
                       f"{'were' if skipped['on_file'] != 1 else 'was'} skipped."
        if skipped.get("likely_duplicates"):
            message += f" {skipped['likely_duplicates']:,} likely duplicate{'s' if skipped['likely_duplicates'] != 1 else ''} " \
                       f"{'were' if skipped['likely_duplicates'] != 1 else 'was'} skipped."
        db.session.execute(update(ImportBatch).where(ImportBatch.id == batch_id).values(
            status="imported", imported_rows=imported, finished_at=utcnow(), content="", message=message))
        audit.record(f"import.{kind}", actor=actor, summary=f"Imported {imported:,} {kind} from {filename}",
                     detail={"batch_id": batch_id, "filename": filename, "rows_written": imported, **skipped,
                             **({"extras_written": extras_written} if extras_written else {})})
        db.session.commit()
    except Exception as exc:
        if not isinstance(exc, ImportProblem):
            log.exception("import batch %s failed", batch_id)
        db.session.rollback()
        transition(batch_id, ("importing",), status="failed", finished_at=utcnow(),
                   message=f"Nothing was imported: {_failure_reason(exc)}")
        return
    import_finished.send(kind, batch_id=batch_id, rows=imported)


def _skipped_rows(batch: ImportBatch) -> dict:
    """Rows left out of the import: with problems (staff chose to skip them), already on file, and likely
    duplicates (unless staff chose to import them)."""
    problems = batch.errors or []
    bad = {p["row"] for p in problems if p["level"] == "error"}
    if batch.include_erased:
        bad -= erased_only_rows(problems)
    on_file = [p for p in problems if p["level"] == "on_file" and not (batch.include_on_file and p.get("overridable"))]
    skipped = {"skipped_with_problems": len(bad), "on_file": len(on_file)}
    if batch.kind == "donors":
        skipped["likely_duplicates"] = 0 if batch.include_duplicates else sum(1 for p in problems if p["level"] == "duplicate")
    return skipped


def _checked_again(batch: ImportBatch, checker: RowChecker, consume: Callable[[list[Checked]], None], label: str) -> None:
    """Check the rows again inside the import's transaction and hand the valid ones over, chunk by chunk.
    Exactly the rows staff confirmed go in: if any has become invalid since (say its email is now on file),
    the import stops, and its transaction is rolled back."""
    valid = 0
    for chunk in checker.chunks():
        errors = [p for p in chunk.problems if p["level"] == "error"]
        if errors:
            raise _Changed(f"row {errors[0]['row']} is no longer valid since the check: {errors[0]['message']} "
                           "Check the file again.")
        valid += len(chunk.valid)
        consume(chunk.valid)
        jobs.report_progress(chunk.rows_done, batch.total_rows, label)
    expected = batch.valid_rows
    problems = batch.errors or []
    if batch.include_on_file:
        expected += sum(1 for p in problems if p["level"] == "on_file" and p.get("overridable"))
    if batch.include_duplicates:
        expected += sum(1 for p in problems if p["level"] == "duplicate")
    if batch.include_erased:
        expected += len(erased_only_rows(problems))
    if valid != expected:
        raise _Changed(f"the file now has {valid:,} rows to import, not {expected:,}. Check the file again.")


def _import_donors(batch: ImportBatch) -> tuple[int, dict[str, int]]:
    """The donors written, and the records each extra made for them."""
    actor, batch_id, filename = _actor(batch), batch.id, batch.filename
    summary = f"Imported from {filename}"[:300]
    consent_source = f"import: {filename}"[:80]
    checker = DonorChecker(batch, recheck=True)
    count = 0
    recorded = {extra.key: 0 for extra in checker.extras}

    def add(valid: list[Checked]) -> None:
        nonlocal count
        if valid:
            ids = donor_services.add_imported_donors([item.values for item in valid], summary=summary, actor=actor,
                                                     consent_source=consent_source, channel="import",
                                                     data={"import_batch_id": batch_id})
            count += len(valid)
            written = checker.write_extras([checker.extra_row(item, donor_id=donor_id)
                                            for item, donor_id in zip(valid, ids)], actor)
            for key, made in written.items():
                recorded[key] += made
        db.session.expunge_all()  # written rows stay in the transaction; the session needn't hold them

    _checked_again(batch, checker, add, "Importing donors")
    return count, recorded


def _import_gifts(batch: ImportBatch) -> tuple[int, dict[str, int]]:
    """The gifts written, and the records each extra made for them."""
    actor, batch_id, total = _actor(batch), batch.id, batch.total_rows
    checker = GiftChecker(batch, recheck=True)
    valid_rows: list[Checked] = []
    _checked_again(batch, checker, valid_rows.extend, "Checking gifts")
    gifts = [(item.values["donor_id"], checker.gift(item)) for item in valid_rows]
    gift_ids = giving.add_gifts(gifts, actor=actor, channel="import", data={"import_batch_id": batch_id},
                                progress=lambda done, count: jobs.report_progress(done, count, "Importing gifts"))
    recorded = checker.write_extras([checker.extra_row(item, donor_id=item.values["donor_id"], gift_id=gift_id)
                                     for item, gift_id in zip(valid_rows, gift_ids)], actor)
    donor_services.settle_supporter_since(donor_id for donor_id, _ in gifts)
    jobs.report_progress(total, total, "Finishing")
    return len(gifts), recorded


def resume_stalled() -> int:
    """Sweep: a batch still checking or importing whose job no queue holds (Redis lost it, or it was never
    enqueued) gets a new job; a job that died gets its batch marked failed (its transaction rolled back)."""
    resumed = 0
    for batch in db.session.scalars(select(ImportBatch).where(ImportBatch.status.in_(RUNNING))).all():
        found = jobs.runner().fetch(batch.job_id) if batch.job_id else None
        state = str(getattr(found.get_status(refresh=False), "value", "")) if found is not None else "gone"
        if state in ("queued", "started", "deferred", "scheduled"):
            continue
        if state in ("failed", "stopped", "canceled"):
            transition(batch.id, (batch.status,), status="failed", finished_at=utcnow(),
                        message="The job stopped unexpectedly; nothing was imported. Check the file again.")
            continue
        task = run_validation if batch.status == "validating" else run_import
        job_id = jobs.enqueue_after_commit("default", task, batch.id)
        if transition(batch.id, (batch.status,), job_id=job_id):
            resumed += 1
    return resumed
