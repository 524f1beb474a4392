"""PostgreSQL connections are pinged before reuse only after sitting idle; a dead idle one is replaced."""
import time

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

from portal.extensions import ping_after_idle
from portal.extensions import db

pytestmark = pytest.mark.postgres


@pytest.fixture
def pool_of_one(app):
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"], pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def backend_pid(engine) -> int:
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()


def cut(pid: int) -> None:
    """What a database restart does to one connection."""
    with db.engine.connect() as other:
        assert other.exec_driver_sql(f"SELECT pg_terminate_backend({pid})").scalar() is True
        other.commit()


def test_an_idle_connection_cut_by_the_database_is_replaced_before_a_request_sees_it(app, pool_of_one):
    with app.app_context():
        ping_after_idle(pool_of_one, seconds=0.05)
        first = backend_pid(pool_of_one)
        cut(first)
        time.sleep(0.1)
        assert backend_pid(pool_of_one) != first


def test_a_connection_in_steady_use_is_not_pinged(app, pool_of_one):
    with app.app_context():
        ping_after_idle(pool_of_one, seconds=60)
        cut(backend_pid(pool_of_one))
        with pytest.raises(OperationalError):
            backend_pid(pool_of_one)
        assert backend_pid(pool_of_one), "after the failure the pool reconnects"
