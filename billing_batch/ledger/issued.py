"""Issued invoices and credit notes: inserted once, read for documents, never changed."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date

from sqlalchemy import Connection, func, select

from billing_batch.billing.records import (
    InvoiceDraft,
)
from billing_batch.ledger.schema import (
    allocations,
    credit_notes,
    invoice_lines,
    invoices,
    service_lines,
)
from billing_batch.money import to_cents


def insert_invoices(conn: Connection, batch: list[tuple[InvoiceDraft, str, dict]], run_id: int,
                    plan_summaries: dict[str, dict] | None = None) -> dict[str, int]:
    """Insert (draft, number, bill_to) invoices and their lines in bulk, each with its client's plan as it
    stands (`plan_summaries`, by client); returns number -> id."""
    summaries = plan_summaries or {}
    if not batch:
        return {}
    conn.execute(invoices.insert(), [
        dict(number=number, client_id=d.client_id, invoice_date=d.invoice_date, due_date=d.due_date,
             terms_days=d.terms_days, subtotal_cents=to_cents(d.subtotal), tax_cents=to_cents(d.tax),
             tax_rate=str(d.tax_rate), total_cents=to_cents(d.total), bill_to=json.dumps(bill_to), run_id=run_id,
             plan_summary=json.dumps(summaries[d.client_id]) if d.client_id in summaries else None)
        for d, number, bill_to in batch])
    ids = dict(conn.execute(select(invoices.c.number, invoices.c.id).where(invoices.c.run_id == run_id)).all())
    conn.execute(invoice_lines.insert(), [
        dict(invoice_id=ids[number], line_no=i, service_line_id=l.service_line_id, service_date=l.service_date,
             service_code=l.service_code, description=l.description, quantity=str(l.quantity),
             unit_price_cents=to_cents(l.unit_price), amount_cents=to_cents(l.amount), taxable=l.taxable,
             discretionary=l.discretionary, claim_move_id=l.claim_move_id)
        for d, number, _ in batch for i, l in enumerate(d.lines, start=1)])
    return ids


def invoices_for_documents(conn: Connection, invoice_ids: list[int]) -> dict[int, tuple[dict, list[dict], int]]:
    """invoice id -> (invoice, lines, credit applied at issue) for many invoices in a few queries."""
    out: dict[int, tuple[dict, list[dict], int]] = {}
    for start in range(0, len(invoice_ids), 500):
        chunk = invoice_ids[start:start + 500]
        heads = {r.id: dict(r._mapping) for r in conn.execute(select(invoices).where(invoices.c.id.in_(chunk)))}
        lines: dict[int, list[dict]] = defaultdict(list)
        # The service log's Provider and Reference (a PO or authorisation) print on the line; a claim's share
        # has no service row, so they are None there.
        for r in conn.execute(select(invoice_lines, service_lines.c.provider, service_lines.c.reference)
                              .select_from(invoice_lines.outerjoin(
                                  service_lines, service_lines.c.id == invoice_lines.c.service_line_id))
                              .where(invoice_lines.c.invoice_id.in_(chunk))
                              .order_by(invoice_lines.c.invoice_id, invoice_lines.c.line_no)):
            lines[r.invoice_id].append(dict(r._mapping))
        credit = dict(conn.execute(
            select(allocations.c.invoice_id, func.sum(allocations.c.amount_cents))
            .join(invoices, invoices.c.id == allocations.c.invoice_id)
            .where(allocations.c.invoice_id.in_(chunk), allocations.c.source == "credit",
                   allocations.c.alloc_date == invoices.c.invoice_date)
            .group_by(allocations.c.invoice_id)).all())
        previous = previous_balances(conn, chunk)
        for i, head in heads.items():
            out[i] = ({**head, "previous_balance_cents": previous.get(i, 0)}, lines[i], credit.get(i, 0))
    return out


def previous_balances(conn: Connection, invoice_ids: list[int]) -> dict[int, int]:
    """Invoice id -> what its client still owed on their earlier invoices on its invoice date (allocations
    dated that day or before): the "Previous balance" the invoice prints. Earlier: a lower id (numbers are
    issued in order), so two invoices of one day each count only the one before."""
    me, older = invoices.alias("me"), invoices.alias("older")
    paid = (select(func.coalesce(func.sum(allocations.c.amount_cents), 0))
            .where(allocations.c.invoice_id == older.c.id, allocations.c.alloc_date <= me.c.invoice_date)
            .correlate(me, older).scalar_subquery())
    q = (select(me.c.id, func.sum(older.c.total_cents - paid))
         .select_from(me.join(older, (older.c.client_id == me.c.client_id) & (older.c.id < me.c.id)
                              & (older.c.invoice_date <= me.c.invoice_date)))
         .where(me.c.id.in_(invoice_ids)).group_by(me.c.id))
    return {i: max(int(cents or 0), 0) for i, cents in conn.execute(q)}


def invoice_by_number(conn: Connection, number: str) -> dict | None:
    row = conn.execute(select(invoices).where(invoices.c.number == number)).first()
    return dict(row._mapping) if row else None


def insert_credit_note(conn: Connection, number: str, kind: str, invoice_id: int, client_id: str, issue_date: date,
                       amount_cents: int, reason: str, adjustment_id: int, run_id: int) -> int:
    return conn.execute(credit_notes.insert().values(
        number=number, kind=kind, invoice_id=invoice_id, client_id=client_id, issue_date=issue_date,
        amount_cents=amount_cents, reason=reason, adjustment_id=adjustment_id, run_id=run_id)).inserted_primary_key[0]  # type: ignore[index]


def credit_note_with_invoice(conn: Connection, credit_note_id: int) -> tuple[dict, dict]:
    cn = dict(conn.execute(select(credit_notes).where(credit_notes.c.id == credit_note_id)).one()._mapping)
    inv = dict(conn.execute(select(invoices).where(invoices.c.id == cn["invoice_id"])).one()._mapping)
    return cn, inv


def plan_shares(conn: Connection, client_ids: list[str] | None = None) -> dict[int, tuple[int, int]]:
    """Invoice id -> (its non-discretionary lines with their share of the tax, its total): the most of
    it a payment plan may hold (billing/plans.plan_share). The tax share is rounded down."""
    disc = invoice_lines.c.discretionary
    nondisc = func.coalesce(func.sum(invoice_lines.c.amount_cents).filter(disc.is_(False)), 0)
    nondisc_taxed = func.coalesce(func.sum(invoice_lines.c.amount_cents).filter(
        disc.is_(False), invoice_lines.c.taxable.is_(True)), 0)
    taxed = func.coalesce(func.sum(invoice_lines.c.amount_cents).filter(invoice_lines.c.taxable.is_(True)), 0)
    q = (select(invoices.c.id, invoices.c.total_cents, invoices.c.tax_cents, nondisc.label("nondisc"),
                nondisc_taxed.label("nondisc_taxed"), taxed.label("taxed"))
         .join(invoice_lines, invoice_lines.c.invoice_id == invoices.c.id)
         .group_by(invoices.c.id, invoices.c.total_cents, invoices.c.tax_cents))
    if client_ids is not None:
        q = q.where(invoices.c.client_id.in_(client_ids))
    out = {}
    for r in conn.execute(q):
        tax = r.tax_cents * r.nondisc_taxed // r.taxed if r.taxed > 0 else 0
        out[r.id] = (min(r.nondisc + tax, r.total_cents), r.total_cents)
    return out


def discretionary_services(conn: Connection, invoice_ids: list[int]) -> dict[int, tuple[str, ...]]:
    """Invoice id -> what its discretionary lines are for (each description once, in line order): what
    a letter names as the part of the balance no plan can hold."""
    out: dict[int, list[str]] = defaultdict(list)
    if not invoice_ids:
        return {}
    q = (select(invoice_lines.c.invoice_id, invoice_lines.c.description)
         .where(invoice_lines.c.discretionary.is_(True), invoice_lines.c.invoice_id.in_(invoice_ids))
         .order_by(invoice_lines.c.invoice_id, invoice_lines.c.line_no))
    for invoice_id, description in conn.execute(q):
        if description not in out[invoice_id]:
            out[invoice_id].append(description)
    return {k: tuple(v) for k, v in out.items()}


def invoice_ids(conn: Connection) -> dict[str, int]:
    return dict(conn.execute(select(invoices.c.number, invoices.c.id)).all())
