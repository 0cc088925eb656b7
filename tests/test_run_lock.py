"""One run at a time (SPEC §6.5): the lock is taken before the schema is touched and held until the
run has written its last file, and a second run is told the same thing on both ledgers."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from sqlalchemy import create_engine, inspect, text

from billing_batch.ledger.db import ALREADY_RUNNING, RUN_LOCK_KEY, AlreadyRunning
from billing_batch.pipeline import run_batch, run_lock
from tests.conftest import _postgres_database
from tests.office import Office
from tests.test_end_to_end import drop_office


@pytest.fixture
def pg_url():
    url, drop = _postgres_database()
    yield url
    drop()


class _OtherMachine:
    """A run elsewhere holding the PostgreSQL run lock (a session of its own)."""

    def __init__(self, url: str):
        self.engine = create_engine(url, isolation_level="AUTOCOMMIT")
        self.conn = self.engine.connect()
        assert self.conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": RUN_LOCK_KEY}).scalar()

    def close(self):
        self.conn.close()
        self.engine.dispose()


@pytest.mark.postgres
def test_a_second_run_on_an_empty_postgres_ledger_is_refused_before_the_schema_is_created(tmp_path, pg_url):
    """Issue 11.11: two first runs at the same moment; the second printed a UniqueViolation from
    creating the schema. It must say "already running" and leave the schema alone."""
    office = Office.create(tmp_path / "office", pg_url)
    drop_office(office)
    other = _OtherMachine(pg_url)
    try:
        with pytest.raises(AlreadyRunning) as refused:
            run_batch(office.settings, dt.date(2026, 3, 31))
        engine = create_engine(pg_url)
        assert inspect(engine).get_table_names() == []  # the lock came first
        engine.dispose()
    finally:
        other.close()
    assert str(refused.value) == ALREADY_RUNNING
    assert sorted(p.name for p in office.inbox.iterdir()) == ["clients.xlsx", "march log.xlsx", "rates.xlsx"]


@pytest.mark.postgres
def test_a_postgres_run_holds_the_lock_while_it_writes_documents(tmp_path, pg_url):
    """Issue 10.6: the lock was a transaction lock released at commit, so a second run (another
    machine, another office folder on the same ledger) slipped in while documents were written.
    The second folder is the same office's (a second coordinator's copy: it has the office's
    office-id.json, issue 16), so only the lock keeps it out."""
    first = Office.create(tmp_path / "first", pg_url)
    second = Office.create(tmp_path / "second", pg_url)
    drop_office(first)
    attempts: list[str] = []

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "Writing documents" and not attempts:
            shutil.copy(first.root / "office-id.json", second.root / "office-id.json")
            try:
                run_batch(second.settings, dt.date(2026, 3, 31))
                attempts.append("ran")
            except AlreadyRunning as exc:
                attempts.append(str(exc))

    result = run_batch(first.settings, dt.date(2026, 3, 31), progress=progress)
    assert attempts == [ALREADY_RUNNING]
    assert len(result.invoices) == 3
    run_batch(second.settings, dt.date(2026, 3, 31))  # free again once the first run has finished


def test_already_running_says_the_same_on_both_ledgers(office):
    """The office folder's lock (SQLite and PostgreSQL) and the ledger's own (PostgreSQL, across
    machines) refuse with the same sentence."""
    messages = []
    with run_lock(office.settings):
        with pytest.raises(AlreadyRunning) as refused:
            run_batch(office.settings, dt.date(2026, 3, 31))
        messages.append(str(refused.value))
    if office.settings.database_url.startswith("postgresql"):
        other = _OtherMachine(office.settings.database_url)
        try:
            with pytest.raises(AlreadyRunning) as refused:
                run_batch(office.settings, dt.date(2026, 3, 31))
            messages.append(str(refused.value))
        finally:
            other.close()
    assert set(messages) == {ALREADY_RUNNING}
