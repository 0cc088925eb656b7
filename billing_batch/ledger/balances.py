"""Balances as of a date, from invoices and the allocations against them: the one balance query
(open items) that the aging, collections, statements and the proof read."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, and_, exists, func, select, true

from billing_batch.billing.engine import ADJUSTED, PAID
from billing_batch.billing.records import OpenItem
from billing_batch.ledger.schema import (
    adjustments,
    allocations,
    credit_notes,
    invoices,
    payments,
)
from billing_batch.money import from_cents


def open_items(conn: Connection, as_of: date | None, client_id: str | None = None) -> list[OpenItem]:
    """Every invoice dated on or before `as_of` with what was paid and adjusted by then (None: every
    invoice and every allocation, whatever its date)."""
    paid = func.coalesce(func.sum(allocations.c.amount_cents).filter(allocations.c.source.in_(PAID)), 0)
    adjusted = func.coalesce(func.sum(allocations.c.amount_cents).filter(allocations.c.source.in_(ADJUSTED)), 0)
    q = (select(invoices.c.number, invoices.c.client_id, invoices.c.invoice_date, invoices.c.due_date,
                invoices.c.total_cents, paid.label("paid"), adjusted.label("adjusted"))
         .select_from(invoices.outerjoin(allocations, and_(
             allocations.c.invoice_id == invoices.c.id, true() if as_of is None else allocations.c.alloc_date <= as_of)))
         .where(true() if as_of is None else invoices.c.invoice_date <= as_of,
                true() if client_id is None else invoices.c.client_id == client_id)
         .group_by(invoices.c.id, invoices.c.number, invoices.c.client_id, invoices.c.invoice_date,
                   invoices.c.due_date, invoices.c.total_cents))
    return [OpenItem(r.number, r.client_id, r.invoice_date, r.due_date, from_cents(r.total_cents),
                     from_cents(r.paid), from_cents(r.adjusted)) for r in conn.execute(q)]


def unapplied_credits(conn: Connection, as_of: date) -> dict[str, Decimal]:
    """Per client: payments dated ≤ as_of minus what of them was applied or refunded by then. Below zero
    when a refund was paid out of a payment later reversed: the client owes it."""
    received = dict(conn.execute(select(payments.c.client_id, func.sum(payments.c.amount_cents))
                                 .where(payments.c.payment_date <= as_of).group_by(payments.c.client_id)).all())
    applied = dict(conn.execute(
        select(payments.c.client_id, func.sum(allocations.c.amount_cents))
        .join(allocations, allocations.c.payment_id == payments.c.id)
        .where(allocations.c.alloc_date <= as_of).group_by(payments.c.client_id)).all())
    return {c: from_cents(received[c] - applied.get(c, 0)) for c in received if received[c] != applied.get(c, 0)}


def last_payment_dates(conn: Connection, as_of: date) -> dict[str, date]:
    return dict(conn.execute(select(payments.c.client_id, func.max(payments.c.payment_date))
                             .where(payments.c.payment_date <= as_of, payments.c.amount_cents > 0)
                             .group_by(payments.c.client_id)).all())


def clients_with_credit(conn: Connection) -> set[str]:
    """Clients with credit a new invoice can take: applied, unreversed payments with something left
    (a first cut, in one query; the engine decides what each can take)."""
    applied = select(func.coalesce(func.sum(allocations.c.amount_cents), 0)).where(
        allocations.c.payment_id == payments.c.id).scalar_subquery()
    reversal = payments.alias("reversal")
    q = (select(payments.c.client_id).distinct()
         .where(payments.c.amount_cents > 0, payments.c.applied_run_id.is_not(None),
                ~exists().where(reversal.c.reverses_payment_id == payments.c.id, reversal.c.applied_run_id.is_not(None)),
                payments.c.amount_cents > applied))
    return set(conn.execute(q).scalars())


def invoice_balance_cents(conn: Connection, invoice_id: int, through_credit_note: int | None = None) -> int:
    """What is still owed on the invoice now; with `through_credit_note`, just after that credit note
    (so a credit note's document shows the same balance whenever it is rendered)."""
    total = conn.execute(select(invoices.c.total_cents).where(invoices.c.id == invoice_id)).scalar_one()
    q = select(func.coalesce(func.sum(allocations.c.amount_cents), 0)).where(allocations.c.invoice_id == invoice_id)
    if through_credit_note is not None:
        upto = select(allocations.c.id).where(allocations.c.credit_note_id == through_credit_note).scalar_subquery()
        q = q.where(allocations.c.id <= upto)
    return total - conn.execute(q).scalar()


def client_activity(conn: Connection, client_id: str, start: date, end: date) -> list[tuple[date, str, str, int]]:
    """Payments and credits of a client dated in [start, end]: (date, description, reference, cents as the
    client reads them: what lowers the balance is negative)."""
    out = []
    for p in conn.execute(select(payments).where(payments.c.client_id == client_id,
                                                 payments.c.payment_date.between(start, end))):
        what = "Payment received" if p.amount_cents > 0 else "Payment returned (reversed)"
        out.append((p.payment_date, what + (f" — {p.method}" if p.method else ""), p.reference, -p.amount_cents))
    for r in conn.execute(select(credit_notes.c.issue_date, credit_notes.c.number, credit_notes.c.kind,
                                 credit_notes.c.amount_cents, invoices.c.number.label("invoice"))
                          .join(invoices, invoices.c.id == credit_notes.c.invoice_id)
                          .where(credit_notes.c.client_id == client_id, credit_notes.c.issue_date.between(start, end))):
        what = f"Invoice {r.invoice} voided" if r.kind == "void" else f"Credit note for invoice {r.invoice}"
        out.append((r.issue_date, what, r.number, -r.amount_cents))
    for a in conn.execute(select(adjustments.c.date, adjustments.c.kind, adjustments.c.invoice_number,
                                 adjustments.c.amount_cents)
                          .where(adjustments.c.client_id == client_id, adjustments.c.applied_run_id.is_not(None),
                                 adjustments.c.kind.in_(("Write-off", "Refund")),
                                 adjustments.c.claim_number.is_(None),  # a claim's write-off is the insurer's
                                 adjustments.c.date.between(start, end))):
        if a.kind == "Refund":
            out.append((a.date, "Refund of credit", "", a.amount_cents))
        else:
            on = f" on invoice {a.invoice_number}" if a.invoice_number else ""
            out.append((a.date, f"Balance written off{on}", "", -a.amount_cents))
    return sorted(out, key=lambda a: a[0])


def open_by_due_date(conn: Connection, as_of: date) -> list[tuple[date, Decimal]]:
    """What invoices dated on or before `as_of` still had open then, summed per due date: the aging's
    bucket totals for any past date in one aggregate query (the Summary's 12 month-end trend)."""
    allocated = (select(allocations.c.invoice_id, func.sum(allocations.c.amount_cents).label("cents"))
                 .where(allocations.c.alloc_date <= as_of).group_by(allocations.c.invoice_id).subquery())
    q = (select(invoices.c.due_date, func.sum(invoices.c.total_cents - func.coalesce(allocated.c.cents, 0)))
         .select_from(invoices.outerjoin(allocated, allocated.c.invoice_id == invoices.c.id))
         .where(invoices.c.invoice_date <= as_of).group_by(invoices.c.due_date))
    return [(due, from_cents(cents)) for due, cents in conn.execute(q) if cents]


def balances_on(conn: Connection, days: Iterable[date]) -> dict[date, tuple[list[tuple[date, Decimal]], Decimal]]:
    """For each of `days`: what open_by_due_date gives and the total of unapplied_credits, from one read
    of the invoices, allocations and payments up to the last day (the Summary's month-end trend and
    same day last month: 13 dates, not 26 aggregate queries)."""
    days = sorted(set(days))
    if not days:
        return {}
    last = days[-1]
    open_cents: list[dict[date, int]] = [defaultdict(int) for _ in days]  # per day: due date -> cents
    dated = {}
    for inv_id, invoice_date, due, total in conn.execute(
            select(invoices.c.id, invoices.c.invoice_date, invoices.c.due_date, invoices.c.total_cents)
            .where(invoices.c.invoice_date <= last)):
        dated[inv_id] = (invoice_date, due)
        for i in range(bisect_left(days, invoice_date), len(days)):
            open_cents[i][due] += total
    for inv_id, alloc_date, cents in conn.execute(
            select(allocations.c.invoice_id, allocations.c.alloc_date, func.sum(allocations.c.amount_cents))
            .where(allocations.c.alloc_date <= last).group_by(allocations.c.invoice_id, allocations.c.alloc_date)):
        if inv_id not in dated:
            continue  # an invoice dated after the last day
        invoice_date, due = dated[inv_id]
        for i in range(bisect_left(days, max(alloc_date, invoice_date)), len(days)):
            open_cents[i][due] -= cents
    # Unapplied credit, per client as unapplied_credits counts it: only clients with a payment by then.
    received: list[dict[str, int]] = [defaultdict(int) for _ in days]
    applied: list[dict[str, int]] = [defaultdict(int) for _ in days]
    for client, paid_on, cents in conn.execute(
            select(payments.c.client_id, payments.c.payment_date, func.sum(payments.c.amount_cents))
            .where(payments.c.payment_date <= last).group_by(payments.c.client_id, payments.c.payment_date)):
        for i in range(bisect_left(days, paid_on), len(days)):
            received[i][client] += cents
    for client, alloc_date, cents in conn.execute(
            select(payments.c.client_id, allocations.c.alloc_date, func.sum(allocations.c.amount_cents))
            .join(allocations, allocations.c.payment_id == payments.c.id)
            .where(allocations.c.alloc_date <= last).group_by(payments.c.client_id, allocations.c.alloc_date)):
        for i in range(bisect_left(days, alloc_date), len(days)):
            applied[i][client] += cents
    out = {}
    for i, day in enumerate(days):
        credit = sum(cents - applied[i].get(c, 0) for c, cents in received[i].items())
        out[day] = ([(due, from_cents(cents)) for due, cents in open_cents[i].items() if cents], from_cents(credit))
    return out


def credit_sales(conn: Connection, start: date, end: date) -> Decimal:
    """Invoiced (sold on credit) with an invoice date in [start, end], at the invoices' totals."""
    cents = conn.execute(select(func.coalesce(func.sum(invoices.c.total_cents), 0))
                         .where(invoices.c.invoice_date.between(start, end))).scalar()
    return from_cents(cents or 0)
