"""Knowledge base: help articles, their Whoosh search (search/) and articles suggested from each donor's activity.

Owns the kb_* tables (articles, views, votes, searches, suggestions) and the search index directory.
Offers the help centre to donors and a help panel to the donor portal's home page.
"""
from __future__ import annotations

import atexit
import time

import click
from flask import Flask, render_template
from flask.cli import AppGroup
from flask_login import current_user

kb_cli = AppGroup("kb", help="Help-centre articles, search index and suggestions.")


@kb_cli.command("sync")
@click.option("--directory", type=click.Path(exists=True, file_okay=False), default=None,
              help="Folder of Markdown articles (default: the kb/ folder of the project).")
def sync_command(directory: str | None) -> None:
    """Load the Markdown articles into the database and queue their index updates."""
    from pathlib import Path

    from portal.kb import services

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
    from flask import current_app

    from portal import jobs
    from portal.kb import tasks

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
    # Loaded when the command runs: importing the kb package must not load its services.
    from portal.kb import demo

    click.echo(f"{demo.seed_searches():,} demo searches logged")


@kb_cli.command("suggest-all")
def suggest_all_command() -> None:
    """Recompute every donor's suggested articles (nightly)."""
    from portal.kb import suggestions

    started = time.perf_counter()
    result = suggestions.recompute_all()
    click.echo(f"{result['suggestions']:,} suggestions for {result['donors']:,} donors in {time.perf_counter() - started:.1f}s")


def _staff_donor_panel(donor=None, **_context):
    from portal.kb import services

    if donor is None:
        return None
    return render_template("kb/_staff_donor_panel.html", donor=donor, suggestions=services.suggestions_for(donor.id),
                           reading=services.articles_read_by(donor.id))


def _me_home_panel(donor=None, **_context):
    from portal.kb import services

    donor_id = getattr(donor, "id", None) or (current_user.donor_id if current_user.is_authenticated else None)
    if not donor_id:
        return None
    return render_template("kb/_me_home_panel.html", suggestions=services.suggestions_for(donor_id, limit=3))


def init_app(app: Flask) -> None:
    from portal.kb import donor_records
    from portal import sweep
    from portal.kb import services
    from portal.kb import tasks  # noqa: F401  (registers the touchpoint listener that queues suggestions)
    from portal.kb.views import bp, staff_bp
    from portal.web import add_me_nav, add_panel, add_staff_nav

    app.register_blueprint(bp)
    app.register_blueprint(staff_bp)
    recorder = app.extensions["kb_search_recorder"] = services.SearchRecorder(app)
    atexit.register(recorder.flush_at_exit)
    follower = app.extensions["kb_index_follower"] = services.IndexFollower(app)
    app.before_request(follower.start)  # web processes only: CLI commands and workers never start it
    add_staff_nav(app, "kb_staff.index", "Help centre", ("fundraiser", "support"))
    add_me_nav(app, "kb.me_help", "Help", order=90)
    add_panel(app, "staff_donor_side", _staff_donor_panel)
    add_panel(app, "me_home", _me_home_panel)
    app.cli.add_command(kb_cli)
    sweep.register("kb_index", tasks.sweep_index)
    sweep.register("kb_suggestions", tasks.sweep_suggestions)
    donor_records.register()
