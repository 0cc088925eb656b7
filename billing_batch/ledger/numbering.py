"""Document numbers (gapless series per year, allocated in the run's transaction) and where each
document's file goes in the output folder: one place, so a number and its file never disagree."""

from __future__ import annotations

import hashlib
import re
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


def safe_id(client_id: str) -> str:
    """A client ID as a file-name part: an ID, never a name, and no path tricks (`/`, `..`, spaces).
    An ID that had to be changed gets a short digest of the real one after a `.` (which no unchanged ID
    holds), so `B/1` and `B_1` never share a file name (a statement's name holds no number of its own)."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", client_id) or "_"
    if safe == client_id:
        return safe
    return f"{safe}.{hashlib.sha256(client_id.encode('utf-8')).hexdigest()[:8]}"


# Every name starts with the client ID so staff find a client's papers in a folder listing, and holds
# the document's own unique number (invoice, credit note, letter id) so two can never share a name.
def invoice_path(number: str, invoice_date: date, client_id: str) -> str:
    return f"invoices/{invoice_date:%Y-%m}/{safe_id(client_id)}-{number}.docx"


def credit_note_path(number: str, issue_date: date, client_id: str) -> str:
    return f"invoices/{issue_date:%Y-%m}/{safe_id(client_id)}-{number}.docx"


def letter_path(letter_id: int, template: str, letter_date: date, client_id: str, series: str = "") -> str:
    """`C1003-reminder-000012.docx`; `series` keeps two kinds of letter numbered apart from each other apart
    on disk (P: plan letters, N: coverage notices). The client type suffix of the template is left off."""
    name = template.removesuffix("_individual").removesuffix("_business")
    return f"letters/{letter_date:%Y-%m-%d}/{safe_id(client_id)}-{name}-{series}{letter_id:06d}.docx"


def statement_path(client_id: str, as_of: date) -> str:
    """One statement per client and date: a re-run for the same date rewrites the same file."""
    return f"statements/{as_of:%Y-%m-%d}/{safe_id(client_id)}-statement.docx"
