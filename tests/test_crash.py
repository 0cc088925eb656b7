"""Killed at any moment, the next run finishes the job with the same result (SPEC §6.4).

Real runs in processes of their own (tests/crashkit.py) are killed with SIGKILL at named points
(`billing_batch.faults`), then the office runs again; what it ends with is compared with an
uninterrupted run of the same office.
"""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from billing_batch import faults
from billing_batch.ledger.db import open_ledger
from billing_batch.ledger.schema import metadata
from tests.conftest import _postgres_database
from tests.crashkit import KILL_AT, run_child
from tests.test_end_to_end import drop_office

pytestmark = pytest.mark.crash


def _schema_statements(url: str, tmp_path) -> int:
    """How many statements creating a ledger takes, counted on a scratch ledger of the same kind."""
    drop = None
    if url.startswith("sqlite"):
        scratch = f"sqlite:///{tmp_path / 'count.sqlite'}"
    else:
        scratch, drop = _postgres_database()
    faults._passed.clear()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KILL_AT, "schema:0")  # counts, never kills
        open_ledger(scratch).dispose()
    n = faults._passed["schema"]
    faults._passed.clear()
    if drop:
        drop()
    return n


def _tables(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        return inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_a_first_run_killed_while_creating_the_schema_is_finished_by_the_next(office, tmp_path):
    """Issue 11.1: a kill during a new office's first run left half a schema and an empty
    alembic_version, and every later run failed with "table counters already exists"."""
    drop_office(office)
    url = office.settings.database_url
    n = _schema_statements(url, tmp_path)
    assert n > 20
    run = ["run", "--config", str(office.config), "--as-of", "2026-03-31"]
    for point in sorted({1, 2, 3, n // 4, n // 2, 3 * n // 4, n - 1, n}):
        outcome = run_child(run, {KILL_AT: f"schema:{point}"}, log=tmp_path / "child.log")
        assert outcome.killed, f"schema statement {point} of {n} was not reached"
        assert _tables(url) == [], f"killed at schema statement {point}, the ledger kept part of a schema"
    finished = run_child(run, log=tmp_path / "child.log")
    assert finished.exit_code == 0, (tmp_path / "child.log").read_text()[-3000:]
    engine = open_ledger(url)
    try:
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata) == []
            assert [r[0] for r in conn.exec_driver_sql("SELECT number FROM invoices ORDER BY number")] == [
                "INV-2026-00001", "INV-2026-00002", "INV-2026-00003"]
    finally:
        engine.dispose()
