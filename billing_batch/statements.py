"""Statements of account from the ledger (SPEC §7): `billing-batch statement CLIENT_ID` writes one,
`billing-batch statements` one for every client with a balance (and a print pack of them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Connection

from billing_batch.billing.aging import age
from billing_batch.config import Settings
from billing_batch.documents.contexts import statement_context
from billing_batch.documents.render import render_docx, write_atomic
from billing_batch.ledger import balances, inputs, numbering, plans
from billing_batch.ledger.db import open_ledger
from billing_batch.resources import data_path
from billing_batch.wording import counted


class UnknownClient(Exception):
    pass


def statement_period(as_of: date) -> tuple[date, date]:
    """The period a statement covers: the previous full month when run on the 1st (the month-end
    statement), otherwise the month to date."""
    if as_of.day == 1:
        end = as_of - timedelta(days=1)
        return end.replace(day=1), end
    return as_of.replace(day=1), as_of


def client_balance(conn: Connection, client_id: str, as_of: date) -> Decimal:
    """What the client owes as of a date (open items less unapplied credit); below zero: a credit."""
    owed = sum((i.balance for i in balances.open_items(conn, as_of, client_id)), Decimal(0))
    return owed - balances.unapplied_credits(conn, as_of).get(client_id, Decimal(0))


@dataclass(frozen=True)
class Movement:
    """The period's account movement; opening + charges - payments - credits == closing."""
    opening: Decimal
    charges: Decimal
    payments: Decimal  # received less returned
    credits: Decimal  # credit notes and write-offs, less refunds paid out
    closing: Decimal


def movement(conn: Connection, client_id: str, start: date, end: date,
             activity: list[tuple[date, str, str, int]]) -> Movement:
    opening = client_balance(conn, client_id, start - timedelta(days=1))
    charges = sum((i.amount for i in balances.open_items(conn, end, client_id) if i.invoice_date >= start),
                  Decimal(0))
    # client_activity's rows read as the client does (what lowers the balance is negative).
    paid = -sum((c for _d, what, _r, c in activity if what.startswith("Payment")), 0)
    credited = -sum((c for _d, what, _r, c in activity if not what.startswith("Payment")), 0)
    return Movement(opening, charges, Decimal(paid) / 100, Decimal(credited) / 100,
                    client_balance(conn, client_id, end))


def _statement_ctx(settings: Settings, conn: Connection, client: dict, as_of: date) -> dict:
    client_id = client["client_id"]
    start, end = statement_period(as_of)
    items = [i for i in balances.open_items(conn, end, client_id)]
    credit = balances.unapplied_credits(conn, end).get(client_id)
    aging = age(items, {client_id: credit} if credit else {}, end, settings.aging.buckets)
    activity = balances.client_activity(conn, client_id, start, end)
    p = settings.plans
    on_plan = [plans.summary(b, s, end) for b, s in plans.in_good_standing(
        conn, end, p.grace_days, p.default_after_missed, [client_id]).values()]
    totals = aging.clients[0] if aging.clients else None
    summary = {"as_of": as_of, "period_start": start, "period_end": end,
               "total_open": aging.open_total, "unapplied_credit": aging.unapplied_credit, "balance": aging.balance,
               "movement": movement(conn, client_id, start, end, activity)}
    return statement_context(settings, client, summary, aging.items, activity,
                             [(n, totals.buckets[n] if totals else 0) for n in aging.names],
                             plan=on_plan[0] if on_plan else None)


def _template(settings: Settings) -> Path:
    template = settings.templates / "statement.docx"
    return template if template.exists() else data_path("letter_templates") / "statement.docx"


def write_statement(settings: Settings, client_id: str, as_of: date) -> Path:
    engine = open_ledger(settings.database_url, **settings.ledger_options)
    try:
        with engine.connect() as conn:
            client = inputs.client_rows(conn).get(client_id)
            if client is None:
                raise UnknownClient(f"no client with ID {client_id} in the ledger")
            ctx = _statement_ctx(settings, conn, client, as_of)
    finally:
        engine.dispose()
    path = settings.output / numbering.statement_path(client_id, as_of)
    write_atomic(path, render_docx(_template(settings), ctx))
    return path


@dataclass
class Batch:
    written: list[Path]
    skipped: int  # clients whose balance is under the minimum (or zero)
    pack: Path | None = None
    pack_problem: str = ""


def write_statements(settings: Settings, as_of: date, min_balance: Decimal = Decimal(0)) -> Batch:
    """One statement for every client whose balance at the period's end is at least `min_balance` (and not
    zero); a client in credit gets one too, so they know the money is there (README: Statements). Writes the
    Word files, then, with documents.print_pack on, their PDFs and a print pack for the Mail clients."""
    _start, end = statement_period(as_of)
    engine = open_ledger(settings.database_url, **settings.ledger_options)
    out: list[tuple[dict, Path, bytes]] = []
    skipped = 0
    try:
        with engine.connect() as conn:
            clients = inputs.client_rows(conn)
            items = balances.open_items(conn, end)
            credits = balances.unapplied_credits(conn, end)
            owed: dict[str, Decimal] = {}
            for i in items:
                owed[i.client_id] = owed.get(i.client_id, Decimal(0)) + i.balance
            template = _template(settings)
            for client_id in sorted(set(owed) | set(credits)):
                balance = owed.get(client_id, Decimal(0)) - credits.get(client_id, Decimal(0))
                if client_id not in clients or balance == 0 or abs(balance) < min_balance:
                    skipped += 1
                    continue
                ctx = _statement_ctx(settings, conn, clients[client_id], as_of)
                out.append((clients[client_id], settings.output / numbering.statement_path(client_id, as_of),
                            render_docx(template, ctx)))
    finally:
        engine.dispose()
    for _client, path, data in out:
        write_atomic(path, data)
    batch = Batch([p for _, p, _ in out], skipped)
    if settings.documents.print_pack and out:
        _print_pack(settings, as_of, [(c, p) for c, p, _ in out if c.get("delivery") in ("Mail", "Both")], batch)
    return batch


def _print_pack(settings: Settings, as_of: date, mailed: list[tuple[dict, Path]], batch: Batch) -> None:
    """The mailed statements' PDFs (LibreOffice) merged into print/statements-DATE.pdf, with its mailing list."""
    from billing_batch import print_pack
    from billing_batch.documents import pdf
    from billing_batch.documents.contexts import bill_to_snapshot

    if not mailed:
        return
    d = settings.documents
    pairs = [(p, p.with_suffix(".pdf")) for _, p in mailed]
    made = pdf.convert(pairs, pdf.Limits(d.pdf_timeout_seconds, float(d.pdf_seconds_per_document)), d.libreoffice)
    missing = [t for t, error in made.items() if error]
    if missing:
        batch.pack_problem = f"{counted(len(missing), 'PDF')} not made ({made[missing[0]]}); no print pack written"
        return
    pieces = [print_pack.Piece(n, "letter", str(p.relative_to(settings.output)), p.with_suffix(".pdf"),
                               bill_to_snapshot(client)) for n, (client, p) in enumerate(mailed)]
    target = settings.output / "print" / f"statements-{as_of:%Y-%m-%d}.pdf"
    print_pack.write_pack(pieces, target, target.with_name(f"statements-mailing-list-{as_of:%Y-%m-%d}.xlsx"))
    batch.pack = target
