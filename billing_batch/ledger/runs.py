"""Runs of the nightly job and the files each one read."""

from __future__ import annotations

import json
from datetime import date, datetime

from sqlalchemy import Connection, func, select

from billing_batch.ledger.schema import (
    runs,
    source_files,
)




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
