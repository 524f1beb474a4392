"""The documented deployment runs commands that exist, with the queues the app has, mail first."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

from portal import jobs

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def commands() -> list[list[str]]:
    found = [shlex.split(line.split(":", 1)[1]) for line in (DEPLOY / "Procfile").read_text().splitlines()
             if line and not line.startswith("#")]
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        exec_start = re.search(r"^ExecStart=(.+)$", unit.read_text(), re.M)
        assert exec_start, f"{unit.name} has no ExecStart"
        found.append(shlex.split(exec_start.group(1)))
    return found


def test_every_flask_command_in_the_deployment_exists(app):
    for argv in commands():
        program = Path(argv[0]).name
        assert program in ("flask", "gunicorn"), argv
        if program == "gunicorn":
            assert argv[-1] == "wsgi:app"
            continue
        name = argv[argv.index("wsgi") + 1]
        assert name in app.cli.commands, f"no `flask {name}`"


def test_workers_take_mail_first_and_one_worker_takes_only_mail():
    queue_lists = [argv[argv.index("--queues") + 1].split(",") for argv in commands() if "--queues" in argv]
    assert all(set(queues) <= set(jobs.QUEUES) and queues[0] == "mail" for queues in queue_lists), queue_lists
    assert ["mail"] in queue_lists


def test_the_environment_example_names_only_settings_the_app_reads():
    from portal.config import Config

    names = [line.split("=", 1)[0] for line in (DEPLOY / "harbour.env.example").read_text().splitlines()
             if line and not line.startswith("#")]
    source = (Path(__file__).resolve().parents[2] / "portal" / "config.py").read_text()
    assert all(f'"{name}"' in source for name in names), [n for n in names if f'"{n}"' not in source]
    assert hasattr(Config, "ORGANISATION_NAME") and hasattr(Config, "KB_INDEX_SYNC_SECONDS")
