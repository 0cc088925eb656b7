"""Loading clients' accounts for the money engine, in a few queries for many clients."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from sqlalchemy import Connection, func, select

from billing_batch.billing.engine import PAID, Account, Alloc, Funds, Item, PlanBook, PlanPolicy
from billing_batch.ledger import issued, plans
from billing_batch.ledger.schema import allocations, invoices, payments

CHUNK = 500


def _chunks(ids: Iterable) -> Iterable[list]:
    ids = sorted(ids)
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def load_accounts(conn: Connection, client_ids: Iterable[str], with_history: Iterable[int] = (),
                  policy: PlanPolicy = PlanPolicy()) -> dict[str, Account]:
    """The accounts of the clients as the ledger holds them now: every invoice with its balance, every
    applied payment with what is left of it, their payment plans. `with_history`: payments whose
    allocations a reversal in this run must undo."""
    ids = sorted(set(client_ids))
    shares: dict[int, tuple[int, int]] = {}
    for chunk in _chunks(ids):
        shares |= issued.plan_shares(conn, chunk)
    items: dict[str, list[Item]] = defaultdict(list)
    funds: dict[str, list[Funds]] = defaultdict(list)
    credit: dict[str, int] = defaultdict(int)
    owner: dict[int, str] = {}
    applied = func.coalesce(func.sum(allocations.c.amount_cents), 0)
    paid = func.coalesce(func.sum(allocations.c.amount_cents).filter(allocations.c.source.in_(PAID)), 0)
    reversal = payments.alias("reversal")
    for chunk in _chunks(ids):
        q = (select(invoices.c.id, invoices.c.number, invoices.c.client_id, invoices.c.invoice_date,
                    invoices.c.due_date, (invoices.c.total_cents - applied).label("balance"), paid.label("paid"))
             .select_from(invoices.outerjoin(allocations, allocations.c.invoice_id == invoices.c.id))
             .where(invoices.c.client_id.in_(chunk))
             .group_by(invoices.c.id, invoices.c.number, invoices.c.client_id, invoices.c.invoice_date,
                       invoices.c.due_date, invoices.c.total_cents))
        for r in conn.execute(q):
            eligible, total = shares.get(r.id, (0, 0))
            items[r.client_id].append(Item(r.id, r.number, r.invoice_date, r.due_date, r.balance, r.paid, total,
                                           eligible))
        reversed_ = (select(func.count()).select_from(reversal)
                     .where(reversal.c.reverses_payment_id == payments.c.id, reversal.c.applied_run_id.is_not(None))
                     .scalar_subquery())
        q = (select(payments.c.id, payments.c.client_id, payments.c.payment_date, payments.c.amount_cents,
                    applied.label("used"), reversed_.label("reversed"))
             .select_from(payments.outerjoin(allocations, allocations.c.payment_id == payments.c.id))
             .where(payments.c.client_id.in_(chunk), payments.c.applied_run_id.is_not(None))
             .group_by(payments.c.id, payments.c.client_id, payments.c.payment_date, payments.c.amount_cents))
        for r in conn.execute(q):  # type: ignore[assignment]  # another query's row shape
            credit[r.client_id] += r.amount_cents - r.used
            owner[r.id] = r.client_id
            if r.amount_cents > 0:
                funds[r.client_id].append(Funds(r.id, r.payment_date, r.amount_cents - r.used, bool(r.reversed)))
    past: dict[str, dict[int, list[Alloc]]] = defaultdict(dict)
    for chunk in _chunks(p for p in set(with_history) if p in owner):
        for a in conn.execute(select(allocations).where(allocations.c.payment_id.in_(chunk))
                              .order_by(allocations.c.id)):
            past[owner[a.payment_id]].setdefault(a.payment_id, []).append(
                Alloc(a.source, a.amount_cents, a.alloc_date, a.invoice_id, a.payment_id, a.adjustment_id,
                      a.plan_id))
    books: dict[str, list[PlanBook]] = {}
    for chunk in _chunks(ids):
        books |= plans.load_books(conn, chunk)
    through: dict[str, date] = {}  # the latest payment or returned payment applied, per client
    for chunk in _chunks(ids):
        through |= dict(conn.execute(select(payments.c.client_id, func.max(payments.c.payment_date))
                                     .where(payments.c.client_id.in_(chunk), payments.c.applied_run_id.is_not(None))
                                     .group_by(payments.c.client_id)).all())
    return {c: Account(c, items[c], funds[c], credit[c], past[c], books.get(c, []), policy, through.get(c))
            for c in ids}


def save_allocations(conn: Connection, allocs: list[Alloc], run_id: int,
                     credit_note_ids: dict[int, int] | None = None, plan_ids: dict[int, int] | None = None) -> None:
    """Insert the engine's allocation rows; a credit note's row gets the note's id by its adjustment, a
    plan agreed in this run its saved id for the provisional one."""
    notes, saved = credit_note_ids or {}, plan_ids or {}
    rows = [dict(invoice_id=a.invoice_id, source=a.source, amount_cents=a.cents, alloc_date=a.date, run_id=run_id,
                 payment_id=a.payment_id, adjustment_id=a.adjustment_id,
                 plan_id=saved.get(a.plan_id, a.plan_id) if a.plan_id is not None else None,
                 credit_note_id=notes.get(a.adjustment_id or 0) if a.source == "credit_note" else None)
            for a in allocs]
    if rows:
        conn.execute(allocations.insert(), rows)
