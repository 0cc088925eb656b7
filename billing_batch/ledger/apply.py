"""The money stage, inside the run's transaction: load the accounts of clients with new payments or
adjustments, let the engine (billing/engine.py) apply them in date order, save what it returns.
Issued invoices are never changed: every effect is a new allocation or a new credit note."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Connection, select

from billing_batch.billing.engine import Adjustment, Agreement, Event, Item, Payment, PlanPolicy, Reversal, event_key
from billing_batch.ledger import balances, inputs, issued, numbering, plans, queue
from billing_batch.ledger.accounts import load_accounts, save_allocations
from billing_batch.ledger.schema import adjustments, invoices, payment_plans, payments


@dataclass(frozen=True)
class Refused:
    """A payment or adjustment that cannot be applied: its kind, the column to blame, what to tell staff."""
    kind: str  # Payments | Adjustments | Payment Plans
    record: dict
    column: str
    message: str


@dataclass
class MoneyResult:
    payments_applied: int = 0
    adjustments_applied: int = 0
    credit_notes: list[int] = field(default_factory=list)  # ids, for the outbox
    plans: list[str] = field(default_factory=list)  # numbers of the plans agreed
    refused: list[Refused] = field(default_factory=list)


def apply_credit_to_new_invoices(conn: Connection, new: list[tuple[str, int, str, date, date, int]],
                                 run_id: int) -> None:
    """(client, invoice id, number, invoice date, due date, total cents) of this run's invoices: each takes
    the credit its client has on its date."""
    clients = balances.clients_with_credit(conn) & {n[0] for n in new}
    if not clients:
        return
    accounts = load_accounts(conn, clients)
    allocs = []  # the accounts are in memory: one insert for them all, in the same order (ids as before)
    for client_id, invoice_id, number, day, due, total in new:
        if client_id in accounts:
            allocs += accounts[client_id].new_invoice(Item(invoice_id, number, day, due, total)).allocations
    save_allocations(conn, allocs, run_id)


def document_note(kind: str, adjustment: dict) -> str:
    """What a credit note tells the client: the Note on document, else a plain line. The Reason is for
    staff (it may say "billing error by Dr. X") and never prints."""
    if adjustment.get("note_on_document"):
        return adjustment["note_on_document"]
    return "Invoice canceled" if kind == "void" else "Correction to your account"


def apply_money(conn: Connection, run_id: int, as_of: date, credit_prefix: str,
                policy: PlanPolicy = PlanPolicy(), todays_agreements: bool = False) -> MoneyResult:
    """Every posted payment, reversal, adjustment and plan agreement dated before `as_of` not applied
    yet, per client in date order (a plan changes where the client's later payments go). With
    `todays_agreements`, only the agreements dated `as_of` or later: they come last on their day, after
    the run's invoices (dated `as_of`), so an agreement made today covers today's invoice too."""
    pending = payment_plans.c.applied_run_id.is_(None)
    when = payment_plans.c.agreement_date >= as_of if todays_agreements else payment_plans.c.agreement_date < as_of
    agreements = [dict(r._mapping) for r in conn.execute(
        select(payment_plans).where(pending, when).order_by(payment_plans.c.id))]
    pays, adjs = [], []
    if not todays_agreements:
        pays = [dict(r._mapping) for r in conn.execute(select(payments).where(payments.c.applied_run_id.is_(None)))]
        # An adjustment naming a claim is the insurance stage's (stages/insurance.py).
        adjs = [dict(r._mapping) for r in conn.execute(select(adjustments).where(
            adjustments.c.applied_run_id.is_(None), adjustments.c.claim_number.is_(None)))]
    result = MoneyResult()
    if not pays and not adjs and not agreements:
        return result
    numbers = {n: i for n, i in conn.execute(select(invoices.c.number, invoices.c.id).where(
        invoices.c.number.in_({a["invoice_number"] for a in adjs if a["invoice_number"]})))}
    history = [p["reverses_payment_id"] for p in pays if p["reverses_payment_id"] is not None]
    paid_on = dict(conn.execute(select(payments.c.id, payments.c.payment_date).where(payments.c.id.in_(history))).all())
    records: dict[tuple[str, int], tuple[str, dict]] = {}
    events: dict[str, list[Event]] = {}
    for p in pays:
        e: Event
        if p["amount_cents"] < 0:
            e = Reversal(p["id"], p["payment_date"], p["amount_cents"], p["reverses_payment_id"],
                         paid_on[p["reverses_payment_id"]])
        else:
            e = Payment(p["id"], p["payment_date"], p["amount_cents"], p["invoice_number"])
        events.setdefault(p["client_id"], []).append(e)
        records[("p", p["id"])] = ("Payments", p)
    for a in adjs:
        e = Adjustment(a["id"], a["date"], a["kind"], a["amount_cents"], numbers.get(a["invoice_number"]))
        events.setdefault(a["client_id"], []).append(e)
        records[("a", a["id"])] = ("Adjustments", a)
    for g in agreements:
        events.setdefault(g["client_id"], []).append(Agreement(
            g["id"], g["agreement_date"], g["installment_amount_cents"], g["frequency"], g["first_due_date"],
            g["plan_amount_cents"], g["cancel_date"]))
        records[("g", g["id"])] = ("Payment Plans", g)
    accounts = load_accounts(conn, events, with_history=history, policy=policy)
    applied_pays: list[int] = []
    applied_adjs: list[int] = []
    applied_plans: list[int] = []
    outcomes = {c: accounts[c].settle(events[c], as_of) for c in sorted(events)}
    # Plans are numbered in agreement date order across clients; allocations name their saved ids.
    plan_ids = {}
    for draft in sorted((d for o in outcomes.values() for d in o.plans),
                        key=lambda d: (d.terms.agreement_date, d.agreement_id)):
        plan_ids[draft.terms.plan_id], number = plans.save_plan(conn, draft, run_id)
        result.plans.append(number)
    # Credit notes are numbered in date order across clients, as staff entered them.
    note_ids = {}
    for cn in sorted((cn for o in outcomes.values() for cn in o.credit_notes), key=lambda n: (n.date, n.adjustment_id)):
        adj = records[("a", cn.adjustment_id)][1]
        number = numbering.next_number(conn, credit_prefix, cn.date.year)
        note_ids[cn.adjustment_id] = issued.insert_credit_note(
            conn, number, cn.kind, cn.invoice_id, adj["client_id"], cn.date, cn.cents, document_note(cn.kind, adj),
            cn.adjustment_id,
            run_id)
        queue.add_outbox(conn, "credit_note", note_ids[cn.adjustment_id], numbering.credit_note_path(number, cn.date, adj["client_id"]),
                         run_id)
        result.credit_notes.append(note_ids[cn.adjustment_id])
    for out in outcomes.values():
        save_allocations(conn, out.allocations, run_id, note_ids, plan_ids)
        applied = {"a": applied_adjs, "g": applied_plans, "p": applied_pays}
        for e in out.applied:
            tag, ident = event_key(e)
            applied[tag].append(ident)
        for r in out.refusals:
            kind, record = records[event_key(r.event)]
            result.refused.append(Refused(kind, record, r.column, r.message))
    inputs.mark_all_applied(conn, payments, applied_pays, run_id)
    inputs.mark_all_applied(conn, adjustments, applied_adjs, run_id)
    inputs.mark_all_applied(conn, payment_plans, applied_plans, run_id)
    result.payments_applied, result.adjustments_applied = len(applied_pays), len(applied_adjs)
    return result
