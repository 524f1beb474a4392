"""The states an import batch moves through, and moving it from one to the next."""
from __future__ import annotations

from blinker import Namespace
from sqlalchemy import update
from sqlalchemy.orm import defer

from portal.donors.models import ImportBatch
from portal.extensions import db

KINDS = {"donors": "Donors", "gifts": "Gifts"}
STATUSES = {
    "uploaded": "Matching columns",
    "validating": "Checking rows",
    "validated": "Ready to import",
    "importing": "Importing",
    "imported": "Imported",
    "failed": "Failed",
    "cancelled": "Cancelled",
}
RUNNING = ("validating", "importing")

# Sent after an import has committed, with the kind, batch_id and rows written: imported history is written
# as already processed (it reacts to nothing), so what depends on the totals refreshes itself from here.
import_finished = Namespace().signal("import-finished")


def get_batch(batch_id: int) -> ImportBatch | None:
    """The batch without its file, which can be megabytes: it is read only when used."""
    return db.session.get(ImportBatch, batch_id, options=[defer(ImportBatch.content)])


def transition(batch_id: int, from_statuses: tuple[str, ...], **values) -> bool:
    """Move a batch on only if it is still where we expect, so racing requests and re-run jobs are harmless."""
    result = db.session.execute(update(ImportBatch).where(ImportBatch.id == batch_id,
                                                          ImportBatch.status.in_(from_statuses)).values(**values))
    db.session.commit()
    return result.rowcount == 1
