"""Runs of the nightly job and the files each one read."""

from __future__ import annotations

import json
from datetime import date, datetime

from sqlalchemy import Connection, func, select, text

from billing_batch.ledger.schema import (
    runs,
    source_files,
)

ADVISORY_LOCK_KEY = 0x6269_6C6C  # "bill": one billing-batch run at a time per PostgreSQL ledger


class AlreadyRunning(Exception):
    pass


def lock_ledger(conn: Connection) -> None:
    """On a shared PostgreSQL ledger, a second run (from another machine) must not overlap."""
    if conn.dialect.name == "postgresql":
        if not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK_KEY}).scalar():
            raise AlreadyRunning("another billing-batch run is using this ledger")


def start_run(conn: Connection, business_date: date, started: datetime) -> int:
    return conn.execute(runs.insert().values(
        business_date=business_date, started_at=started, status="running", billed=False)).inserted_primary_key[0]  # type: ignore[index]


def finish_run(conn: Connection, run_id: int, status: str, billed: bool, report: dict) -> None:
    conn.execute(runs.update().where(runs.c.id == run_id).values(
        status=status, billed=billed, finished_at=datetime.now(), report=json.dumps(report, default=str)))


def last_run_date(conn: Connection) -> date | None:
    """The business date of the latest run that committed."""
    return conn.execute(select(func.max(runs.c.business_date)).where(runs.c.status == "ok")).scalar()


def last_billed_date(conn: Connection, before_or_on: date) -> date | None:
    return conn.execute(select(func.max(runs.c.business_date)).where(
        runs.c.billed.is_(True), runs.c.status == "ok", runs.c.business_date <= before_or_on)).scalar()


def record_file(conn: Connection, run_id: int, sha256: str, name: str, received: datetime) -> int:
    return conn.execute(source_files.insert().values(
        sha256=sha256, name=name, received_at=received, run_id=run_id)).inserted_primary_key[0]  # type: ignore[index]
