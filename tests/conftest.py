"""Fixtures: a fresh office folder with its own ledger, on SQLite and on PostgreSQL.

Each PostgreSQL test gets a database of its own, created on the server at 127.0.0.1:5432 (trust
auth) and dropped afterwards. Where no server answers, those tests skip with the reason — except
in CI (BILLING_BATCH_REQUIRE_POSTGRES=1), where a missing server is a failure.
"""

from __future__ import annotations

import decimal
import os
import uuid

import pytest

from tests.office import Office

PG_ADMIN = os.environ.get("BILLING_BATCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(autouse=True)
def _no_float_in_decimal():
    """Money never meets a float: mixing them raises in every test (DESIGN §5)."""
    ctx = decimal.getcontext()
    old = ctx.traps[decimal.FloatOperation]
    ctx.traps[decimal.FloatOperation] = True
    yield
    ctx.traps[decimal.FloatOperation] = old


def no_postgres(exc: Exception):
    """No server answers: the test skips with the reason, or fails in CI (BILLING_BATCH_REQUIRE_POSTGRES=1)."""
    reason = f"no PostgreSQL server answers at {PG_ADMIN} ({str(exc).splitlines()[0]})"
    if os.environ.get("BILLING_BATCH_REQUIRE_POSTGRES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def _postgres_database():
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"bb_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        no_postgres(exc)
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name

    def drop():
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """A fresh, empty ledger URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        return
    url, drop = _postgres_database()
    yield url
    drop()


@pytest.fixture
def office(tmp_path, database_url) -> Office:
    return Office.create(tmp_path / "office", database_url)


@pytest.fixture
def sqlite_office(tmp_path) -> Office:
    return Office.create(tmp_path / "office", f"sqlite:///{tmp_path / 'ledger.sqlite'}")


def pytest_addoption(parser):
    group = parser.getgroup("crash", "crash tests (tests/test_crash.py)")
    group.addoption("--crash-iterations", type=int, default=0,
                    help="also kill this many runs at random moments (a soak); 0 = the fixed points only")
    group.addoption("--crash-clients", type=int, default=0,
                    help="clients in the crash tests' office (default: small for the fixed points, 300 for a soak)")
    group.addoption("--crash-seed", type=int, default=2026, help="seed of the soak's random moments")
