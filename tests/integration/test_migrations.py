"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""
import os
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, text

from portal import create_app
from portal.config import ROOT, TestConfig
from portal.extensions import db
from tests.conftest import make_donor, make_gift


@pytest.fixture
def scratch_database_url(tmp_path):
    base = os.environ.get("TEST_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    name = f"portal_migrations_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield base.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_migrations_match_the_models_and_downgrade_cleanly(scratch_database_url):
    app = create_app(type("MigrationConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": scratch_database_url,
                                                             "SQLALCHEMY_ENGINE_OPTIONS": {}}))
    directory = str(ROOT / "migrations")
    with app.app_context():
        upgrade(directory=directory)
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, db.metadata)
        assert differences == [], differences
        downgrade(directory=directory, revision="base")
        with db.engine.connect() as connection:
            remaining = db.inspect(connection).get_table_names()
        assert set(remaining) <= {"alembic_version"}
        db.engine.dispose()


def test_sqlite_enforces_foreign_keys_except_while_migrating(tmp_path):
    """Deleting a donor cascades to their gifts, as on PostgreSQL; a migration's connection has the check off,
    because a batch migration rebuilds a table by dropping it, which would otherwise cascade."""
    app = create_app(type("MigrationConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'fk.db'}",
                                                             "SQLALCHEMY_ENGINE_OPTIONS": {}}))
    seen_while_migrating = []
    with app.app_context():
        app.extensions["migrate"].configure_args["on_version_apply"] = lambda ctx, **_: seen_while_migrating.append(
            ctx.connection.exec_driver_sql("PRAGMA foreign_keys").scalar())
        upgrade(directory=str(ROOT / "migrations"))
        assert seen_while_migrating and set(seen_while_migrating) == {0}
        assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1
        donor = make_donor(first_name="Ada", email="ada@example.org")
        make_gift(donor.id, 100)
        db.session.execute(text("DELETE FROM donors WHERE id = :id"), {"id": donor.id})
        db.session.commit()
        assert db.session.execute(text("SELECT count(*) FROM gifts")).scalar() == 0
        db.session.remove()
        db.engine.dispose()
