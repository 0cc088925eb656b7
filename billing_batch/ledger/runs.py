"""Runs of the nightly job and the files each one read."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Connection, func, select

from billing_batch.ledger.schema import (
    invoices,
    letters,
    plan_letters,
    runs,
    source_files,
)
from billing_batch.money import from_cents

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


@dataclass(frozen=True)
class Activity:
    """An office's recent work, for the portfolio (reads only)."""
    last_run_at: datetime | None  # when the latest committed run finished
    last_run_date: date | None  # and the business date it ran for
    invoices_this_month: int
    letters_this_month: int  # collection and payment-plan letters
    invoiced_recently: Decimal  # invoices dated in the DSO window ending on as_of


def activity(conn: Connection, as_of: date, window_days: int) -> Activity:
    month = as_of.replace(day=1)
    last = conn.execute(select(runs.c.finished_at, runs.c.business_date).where(runs.c.status == "ok")
                        .order_by(runs.c.business_date.desc(), runs.c.id.desc()).limit(1)).first()
    invoiced = conn.execute(select(func.count(), func.coalesce(func.sum(invoices.c.total_cents), 0)).where(
        invoices.c.invoice_date >= month, invoices.c.invoice_date <= as_of)).one()
    recent = conn.execute(select(func.coalesce(func.sum(invoices.c.total_cents), 0)).where(
        invoices.c.invoice_date > as_of - timedelta(days=window_days), invoices.c.invoice_date <= as_of)).scalar()
    sent = sum(conn.execute(select(func.count()).where(t.c.letter_date >= month, t.c.letter_date <= as_of)).scalar()
               or 0 for t in (letters, plan_letters))
    return Activity(last.finished_at if last else None, last.business_date if last else None, invoiced[0], sent,
                    from_cents(int(recent or 0)))
