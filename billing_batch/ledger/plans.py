"""Payment plans in the ledger: loading them for the money engine and the reports, saving the plans
the engine agrees, their state between runs and their letters."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from sqlalchemy import Connection, select

from billing_batch.billing.engine import PlanBook, PlanDraft
from billing_batch.billing.plans import Standing, Terms, standing
from billing_batch.ledger import numbering
from billing_batch.ledger.schema import (
    allocations, payment_plans, plan_installments, plan_items, plan_letters, plan_state, plans,
)

PREFIX = "PLN"


def load_books(conn: Connection, client_ids: Iterable[str] | None = None,
               as_of: date | None = None) -> dict[str, list[PlanBook]]:
    """Per client, every plan with its items and what was applied to them (dated ≤ `as_of` when given)."""
    q = (select(plans, payment_plans.c.cancel_date)
         .join(payment_plans, payment_plans.c.id == plans.c.agreement_id).order_by(plans.c.id))
    if client_ids is not None:
        q = q.where(plans.c.client_id.in_(sorted(set(client_ids))))
    rows = conn.execute(q).all()
    if not rows:
        return {}
    ids = [r.id for r in rows]
    installments: dict[int, list[tuple[date, int]]] = defaultdict(list)
    for i in conn.execute(select(plan_installments).where(plan_installments.c.plan_id.in_(ids))
                          .order_by(plan_installments.c.plan_id, plan_installments.c.seq)):
        installments[i.plan_id].append((i.due_date, i.amount_cents))
    parts: dict[int, dict[int, int]] = defaultdict(dict)
    for i in conn.execute(select(plan_items).where(plan_items.c.plan_id.in_(ids))):
        parts[i.plan_id][i.invoice_id] = i.amount_cents
    covered: dict[int, list[tuple[date, int]]] = defaultdict(list)
    taken: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    q = select(allocations.c.plan_id, allocations.c.invoice_id, allocations.c.alloc_date,
               allocations.c.amount_cents).where(allocations.c.plan_id.in_(ids))
    if as_of is not None:
        q = q.where(allocations.c.alloc_date <= as_of)
    for a in conn.execute(q.order_by(allocations.c.id)):
        covered[a.plan_id].append((a.alloc_date, a.amount_cents))
        taken[a.plan_id][a.invoice_id] += a.amount_cents
    out: dict[str, list[PlanBook]] = defaultdict(list)
    for r in rows:
        terms = Terms(r.id, r.number, r.client_id, r.agreement_date, r.frequency, r.installment_cents,
                      r.amount_cents, tuple(installments[r.id]), r.cancel_date)
        out[r.client_id].append(PlanBook(terms, parts[r.id], covered[r.id], dict(taken[r.id])))
    return dict(out)


def save_plan(conn: Connection, draft: PlanDraft, run_id: int) -> tuple[int, str]:
    """A plan the engine agreed, numbered PLN-<year>-<5 digits> (gapless, by agreement year)."""
    t = draft.terms
    number = numbering.next_number(conn, PREFIX, t.agreement_date.year)
    plan_id = conn.execute(plans.insert().values(
        number=number, agreement_id=draft.agreement_id, client_id=t.client_id, agreement_date=t.agreement_date,
        frequency=t.frequency, installment_cents=t.installment_cents, amount_cents=t.amount_cents,
        run_id=run_id)).inserted_primary_key[0]  # type: ignore[index]
    conn.execute(plan_installments.insert(), [dict(plan_id=plan_id, seq=n, due_date=d, amount_cents=c)
                                              for n, (d, c) in enumerate(t.installments, start=1)])
    conn.execute(plan_items.insert(), [dict(plan_id=plan_id, invoice_id=i, amount_cents=c)
                                       for i, c in sorted(draft.parts.items())])
    return plan_id, number


def standings(conn: Connection, as_of: date, grace_days: int, default_after: int,
              client_ids: Iterable[str] | None = None) -> list[tuple[PlanBook, Standing]]:
    """Every plan agreed by `as_of` with its standing on that date, from the ledger alone."""
    return [(b, standing(b.terms, b.covered, as_of, grace_days, default_after))
            for books in load_books(conn, client_ids, as_of).values() for b in books
            if b.terms.agreement_date <= as_of]


def in_good_standing(conn: Connection, as_of: date, grace_days: int, default_after: int,
                     client_ids: Iterable[str] | None = None) -> dict[str, tuple[PlanBook, Standing]]:
    """Per client, its plan in good standing (On Track or Late) on the date, if it has one."""
    return {b.terms.client_id: (b, s) for b, s in standings(conn, as_of, grace_days, default_after, client_ids)
            if s.good}


def in_force_left(book: PlanBook, balances: dict[int, int]) -> dict[int, int]:
    """Invoice id -> what of its balance is still the plan's (a plan in good standing)."""
    return {i: max(0, min(c - book.taken.get(i, 0), balances.get(i, 0))) for i, c in book.parts.items()}


def summary(book: PlanBook, s: Standing, on: date) -> dict:
    """The plan as an invoice or letter dated `on` shows it (kept with the document: it never changes).
    With an installment overdue, the next one is due now: the document's date."""
    t = book.terms
    due = on if s.overdue_cents > 0 else s.next_due
    return {"id": t.number, "installment_cents": t.installment_cents, "frequency": t.frequency,
            "next_due_date": due.isoformat() if due else None, "paid_cents": s.paid_cents,
            "remaining_cents": s.remaining_cents, "plan_amount_cents": t.amount_cents}


def states(conn: Connection) -> dict[int, dict]:
    return {r.plan_id: dict(r._mapping) for r in conn.execute(select(plan_state))}


def save_state(conn: Connection, plan_id: int, status: str, episode: int, run_id: int, exists_: bool) -> None:
    values = dict(status=status, episode=episode, run_id=run_id)
    if exists_:
        conn.execute(plan_state.update().where(plan_state.c.plan_id == plan_id).values(**values))
    else:
        conn.execute(plan_state.insert().values(plan_id=plan_id, **values))


def insert_letter(conn: Connection, plan_id: int, client_id: str, kind: str, episode: int, day: date,
                  content: dict, run_id: int) -> int:
    return conn.execute(plan_letters.insert().values(
        plan_id=plan_id, client_id=client_id, kind=kind, episode=episode, letter_date=day,
        content=json.dumps(content, default=str), run_id=run_id)).inserted_primary_key[0]  # type: ignore[index]


def letter(conn: Connection, letter_id: int) -> dict:
    return dict(conn.execute(select(plan_letters).where(plan_letters.c.id == letter_id)).one()._mapping)
