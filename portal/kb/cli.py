"""`flask kb ...`: loading the Markdown articles, rebuilding the search index and the nightly suggestions."""
from __future__ import annotations

import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from portal import jobs
from portal.kb import demo, services, suggestions, tasks

kb_cli = AppGroup("kb", help="Help-centre articles, search index and suggestions.")


@kb_cli.command("sync")
@click.option("--directory", type=click.Path(exists=True, file_okay=False), default=None,
              help="Folder of Markdown articles (default: the kb/ folder of the project).")
def sync_command(directory: str | None) -> None:
    """Load the Markdown articles into the database and queue their index updates."""
    report = services.sync_directory(Path(directory) if directory else services.default_content_dir(), queue_index=False)
    click.echo(f"{len(report.created)} created, {len(report.updated)} updated, {report.unchanged} unchanged, "
               f"{len(report.kept_edited)} kept as edited by staff")
    if services.articles_due_for_index(limit=1):
        _rebuild_on_index_queue()
    for error in report.errors:
        click.echo(f"skipped {error}", err=True)
    if report.errors:
        raise SystemExit(1)


def _rebuild_on_index_queue() -> None:
    """One rebuild on the index queue; without a Redis worker, wait here for the in-process job to finish."""
    job_id = jobs.enqueue_now("index", tasks.rebuild_index)
    if current_app.config["JOBS_MODE"] == "rq":
        click.echo("Index rebuild queued for the index worker.")
        return
    deadline = time.monotonic() + 600
    while jobs.job_progress(job_id)["status"] not in ("finished", "failed") and time.monotonic() < deadline:
        time.sleep(0.1)
    click.echo(f"Search index: {jobs.job_progress(job_id)['status']}")


@kb_cli.command("reindex")
def reindex_command() -> None:
    """Rebuild the search index from the database, through the index queue (its single writer)."""
    started = time.perf_counter()
    _rebuild_on_index_queue()
    click.echo(f"Done in {time.perf_counter() - started:.1f}s")


@kb_cli.command("demo-searches")
def demo_searches_command() -> None:
    """Log the demo's help-centre searches (once), so the staff help centre has figures from the start."""
    click.echo(f"{demo.seed_searches():,} demo searches logged")


@kb_cli.command("suggest-all")
def suggest_all_command() -> None:
    """Recompute every donor's suggested articles (nightly)."""
    started = time.perf_counter()
    result = suggestions.recompute_all()
    click.echo(f"{result['suggestions']:,} suggestions for {result['donors']:,} donors in {time.perf_counter() - started:.1f}s")
