"""Document numbers (gapless series per year, allocated in the run's transaction) and where each
document's file goes in the output folder: one place, so a number and its file never disagree."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, select

from billing_batch.ledger.schema import counters


def reserve_numbers(conn: Connection, series: str, year: int, count: int) -> int:
    """Allocate `count` consecutive numbers of a gapless series at once; returns the first."""
    row = conn.execute(select(counters.c.last).where(counters.c.series == series, counters.c.year == year)
                       .with_for_update()).first()
    if row is None:
        conn.execute(counters.insert().values(series=series, year=year, last=count))
        return 1
    conn.execute(counters.update().where(counters.c.series == series, counters.c.year == year)
                 .values(last=row.last + count))
    return row.last + 1


def next_number(conn: Connection, series: str, year: int) -> str:
    """The next number of a series, formatted: `CN-2026-00003`."""
    return document_number(series, year, reserve_numbers(conn, series, year, 1))


def document_number(series: str, year: int, n: int) -> str:
    return f"{series}-{year}-{n:05d}"


def invoice_path(number: str, invoice_date: date) -> str:
    return f"invoices/{invoice_date:%Y-%m}/{number}.docx"


def credit_note_path(number: str, issue_date: date) -> str:
    return f"invoices/{issue_date:%Y-%m}/{number}.docx"


def letter_path(letter_id: int, template: str, letter_date: date, series: str = "") -> str:
    """`series` keeps two kinds of letter numbered apart from each other apart on disk (P: plan letters)."""
    return f"letters/{letter_date:%Y-%m-%d}/{series}{letter_id:06d}-{template}.docx"
