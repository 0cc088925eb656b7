"""What finishing a run's outbox reads from and records in the ledger (billing_batch/publish.py)."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import Connection, func, select

from billing_batch.ledger.schema import outbox, runs, source_files

DOCUMENTS = ("invoice", "credit_note", "letter", "plan_letter", "coverage_notice")


def run_report(conn: Connection, run_id: int) -> tuple[date, dict]:
    """The business date and the report a run stored when it committed."""
    row = conn.execute(select(runs.c.business_date, runs.c.report).where(runs.c.id == run_id)).one()
    return row.business_date, json.loads(row.report)


def failed_documents(conn: Connection, run_id: int) -> list[str]:
    """"path: error" of the run's documents that could not be written (retried by later runs)."""
    return [f"{r.path}: {r.last_error}" for r in conn.execute(
        select(outbox.c.path, outbox.c.last_error).where(outbox.c.run_id == run_id, outbox.c.status == "failed",
                                                         outbox.c.kind.in_(DOCUMENTS)).order_by(outbox.c.id))]


def files_left(conn: Connection, run_id: int) -> list[tuple[str, str]]:
    """(file name, why) of the run's inbox files that were left in the inbox."""
    return [(r.name, r.last_error) for r in conn.execute(
        select(source_files.c.name, outbox.c.last_error)
        .join(source_files, source_files.c.id == outbox.c.ref_id)
        .where(outbox.c.run_id == run_id, outbox.c.kind == "file", outbox.c.status == "done",
               outbox.c.last_error.is_not(None)).order_by(outbox.c.id))]


def source_file(conn: Connection, file_id: int) -> tuple[str, str]:
    """(name, sha256) of a file a run read."""
    row = conn.execute(select(source_files.c.name, source_files.c.sha256).where(source_files.c.id == file_id)).one()
    return row.name, row.sha256


def is_latest_run(conn: Connection, run_id: int) -> bool:
    return conn.execute(select(func.max(runs.c.id)).where(runs.c.status == "ok")).scalar() == run_id


def day_already_reported(conn: Connection, run_id: int, business_date: date) -> bool:
    """Whether an earlier committed run wrote this business date's reports."""
    return (conn.execute(select(func.count()).select_from(runs).where(
        runs.c.status == "ok", runs.c.business_date == business_date, runs.c.id < run_id)).scalar() or 0) > 0


def mark(conn: Connection, outbox_id: int, status: str, note: str | None = None) -> None:
    """Record one row's outcome and commit it, so a crash after this never repeats the work."""
    conn.execute(outbox.update().where(outbox.c.id == outbox_id).values(
        status=status, attempts=outbox.c.attempts + 1, last_error=note))
    conn.commit()


def day_reports(conn: Connection, business_date: date, upto_run_id: int) -> list[tuple[int, dict]]:
    """(run id, stored report) of every committed run of the business date up to `upto_run_id`, in order:
    the day's workbook lists them all, whichever run writes it."""
    return [(r.id, json.loads(r.report)) for r in conn.execute(
        select(runs.c.id, runs.c.report).where(runs.c.status == "ok", runs.c.business_date == business_date,
                                               runs.c.id <= upto_run_id).order_by(runs.c.id))]


def previous_report(conn: Connection, business_date: date) -> tuple[date, dict] | None:
    """The business date and stored report of the latest committed run of an earlier business date."""
    row = conn.execute(select(runs.c.business_date, runs.c.report)
                       .where(runs.c.status == "ok", runs.c.business_date < business_date)
                       .order_by(runs.c.business_date.desc(), runs.c.id.desc()).limit(1)).first()
    return (row.business_date, json.loads(row.report)) if row else None


def last_report_with_workbook(conn: Connection, workbook: str, before: date) -> tuple[date, dict] | None:
    """The latest committed run before the business date whose report names `workbook` as a file's
    problems workbook (a text search first, so only candidate reports are parsed)."""
    needle = json.dumps({"problems_workbook": workbook})[1:-1]
    like = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    for r in conn.execute(select(runs.c.business_date, runs.c.report)
                          .where(runs.c.status == "ok", runs.c.business_date < before,
                                 runs.c.report.like(like, escape="\\"))
                          .order_by(runs.c.id.desc())):
        report = json.loads(r.report)
        if any(f.get("problems_workbook") == workbook for f in report.get("files", [])):
            return r.business_date, report
    return None
