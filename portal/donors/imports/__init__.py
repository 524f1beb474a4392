"""CSV import of donors and of gifts.

An upload becomes an ImportBatch that moves through
    uploaded -> validating -> validated -> importing -> imported
with "cancelled" and "failed" on the side. Staff match the file's columns to our fields (we guess from
the header names, including the names other CRMs export), a job checks every row and keeps every problem
with its row number, and after staff confirm, a second job imports the valid rows in ONE transaction.

Both jobs take only the batch id and read the stored file again, so they can be re-run: each starts by
checking the batch status, and status changes are conditional updates, so a job that runs twice (or a
cancel that races a job) changes nothing the second time. The import checks the rows again inside its
transaction and stops if one of them has become invalid since, so what goes in is exactly what staff
confirmed. Any error rolls the whole import back and marks the batch failed with the reason.

The modules, by concept:
    reading      decoding an upload and walking its rows (and the errors staff can fix)
    fields       the fields a column can fill, and guessing them from header names
    values       dates, amounts, payment methods, yes/no and the other cell values
    rows         the chunked row checker both kinds share; donor_rows and gift_rows check each kind
    lifecycle    a batch's states and the guarded moves between them
    batches      what staff do with a batch (upload, map, confirm, cancel) and its reports
    tasks        the checking and importing jobs, and the sweep that restarts lost ones
    extras       columns other domains add (tax relief's "Gift Aid"), registered from their init_app
This package exposes what the views, the sweep and the tests use.
"""
from portal.donors.imports.batches import (cancel, column_samples, confirm, create_batch, earlier_import, extra_summaries,
                                           problem_counts, problems_csv, problems_page, progress, recent_batches, save_mapping)
from portal.donors.imports.extras import ExtraColumns, ExtraField, ExtraRow, extra_by_key, register as register_extra, targets_for
from portal.donors.imports.fields import TARGETS, Target, guess_mapping
from portal.donors.imports.lifecycle import KINDS, RUNNING, STATUSES, get_batch, import_finished
from portal.donors.imports.reading import MAX_FILE_BYTES, ImportProblem, MappingProblem, decode_upload, read_table, size_limit
from portal.donors.imports.rows import preview_columns
from portal.donors.imports.tasks import resume_stalled, run_import, run_validation
from portal.donors.imports.values import guess_day_first, parse_money, parse_when
from portal.email_address import email_is_valid

__all__ = ["KINDS", "MAX_FILE_BYTES", "RUNNING", "STATUSES", "TARGETS", "ExtraColumns", "ExtraField", "ExtraRow",
           "ImportProblem", "MappingProblem", "Target", "cancel", "extra_by_key", "extra_summaries", "register_extra",
           "targets_for",
           "column_samples", "confirm", "create_batch", "decode_upload", "earlier_import", "email_is_valid", "get_batch",
           "guess_day_first", "guess_mapping", "import_finished", "parse_money", "parse_when", "preview_columns", "problem_counts",
           "problems_csv", "problems_page", "progress", "read_table", "recent_batches", "resume_stalled",
           "run_import", "run_validation", "save_mapping", "size_limit"]
