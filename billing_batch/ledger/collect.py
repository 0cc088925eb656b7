"""The collections stage (SPEC §4.4), inside the run's transaction: decide per client, record each
letter once with what it says, queue it for rendering, and build the call list and referrals."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Connection

from billing_batch.billing.collections import Decision, Level, OverdueItem, Situation, decide, suppression
from billing_batch.billing.plans import Offer, eligible_share, offer
from billing_batch.billing.review import Finding
from billing_batch.config import Settings
from billing_batch.documents.contexts import bill_to_snapshot
from billing_batch.ledger import balances, numbering, store
from billing_batch.money import fmt_money, to_cents


@dataclass(frozen=True)
class CallEntry:
    client_id: str
    phone: str
    balance_cents: int
    days_past_due: int
    level_name: str
    last_letter: date | None
    last_contact: tuple[date, str] | None
    promise_date: date | None
    action: str


@dataclass
class CollectionsResult:
    letters: list[tuple[int, str, str]] = field(default_factory=list)  # (letter id, client, level name)
    decisions: list[Decision] = field(default_factory=list)
    levels: dict[str, str] = field(default_factory=dict)  # client -> current level name
    calls: list[CallEntry] = field(default_factory=list)
    referrals: list[str] = field(default_factory=list)  # clients at the last level
    findings: list[Finding] = field(default_factory=list)  # hardship cases


def levels_of(settings: Settings) -> list[Level]:
    ordered = sorted(settings.collections.levels, key=lambda l: l.days)
    return [Level(i, l.name, l.days, l.template) for i, l in enumerate(ordered, start=1)]


def run_collections(conn: Connection, run_id: int, as_of: date, settings: Settings) -> CollectionsResult:
    cfg, plans = settings.collections, settings.plans
    levels = levels_of(settings)
    clients = store.client_rows(conn)
    states = store.collection_states(conn)
    contacts = store.contact_summaries(conn, as_of)
    shares = store.invoice_shares(conn)
    overdue: dict[str, list[OverdueItem]] = {}
    for item in balances.open_items(conn, as_of):
        days = (as_of - item.due_date).days
        if days >= 1 and item.balance > 0:
            balance = to_cents(item.balance)
            nondisc, subtotal = shares.get(item.invoice_number, (0, 0))
            overdue.setdefault(item.client_id, []).append(OverdueItem(
                item.invoice_number, item.invoice_date, item.due_date, days, balance,
                eligible_share(balance, nondisc, subtotal)))
    result = CollectionsResult()
    for client_id in sorted(set(overdue) | {c for c, s in states.items() if s["level"] > 0}):
        client, state = clients[client_id], states.get(client_id)
        contact = contacts.get(client_id, {})
        promise = contact.get("promise_date")
        situation = Situation(
            client_id, tuple(sorted(overdue.get(client_id, []), key=lambda i: (i.due_date, i.invoice_number))),
            state["level"] if state else 0, state["last_letter_date"] if state else None,
            hold=bool(client["collections_hold"]), open_dispute=bool(contact.get("dispute")),
            promise_until=promise + timedelta(days=cfg.promise_grace_days) if promise else None)
        decision = decide(situation, levels, as_of, cfg.min_days_between_letters, to_cents(cfg.min_balance))
        result.decisions.append(decision)
        series = state["series"] if state else 1
        level = situation.level
        if decision.reset:
            # The last letter's date stays: the gap between letters holds across a paid-up reset too.
            store.save_collection_state(conn, client_id, series + 1, 0, state["last_letter_date"] if state else None,
                                        run_id, state is not None)
            level = 0
        elif decision.send:
            level = decision.send.number
            plan = offer(sum(i.eligible_cents for i in situation.items), client["monthly_budget_cents"],
                         plans.max_months, to_cents(plans.min_installment))
            if plan.hardship:
                result.findings.append(Finding(
                    "Hardship", client_id, f"a budget of {fmt_money(plan.installment_cents)} a month cannot clear "
                    f"{fmt_money(plan.eligible_cents)} within {plans.max_months} months: review before offering a plan"))
            content = letter_content(client, decision.send, situation, plan, as_of, cfg.min_days_between_letters)
            letter_id = store.insert_letter(conn, client_id, series, level, decision.send.name, as_of,
                                            situation.overdue_cents, content, run_id)
            template = f"{decision.send.template}_{'business' if client['type'] == 'Business' else 'individual'}"
            store.add_outbox(conn, "letter", letter_id, numbering.letter_path(letter_id, template, as_of), run_id)
            store.save_collection_state(conn, client_id, series, level, as_of, run_id, state is not None)
            result.letters.append((letter_id, client_id, decision.send.name))
        if level:
            result.levels[client_id] = levels[level - 1].name
            if level == len(levels):
                result.referrals.append(client_id)
        if level >= 2 and client.get("phone") and situation.items and \
                not suppression(situation, as_of, to_cents(cfg.min_balance)):
            result.calls.append(CallEntry(
                client_id, client["phone"], situation.overdue_cents, situation.oldest_days, levels[level - 1].name,
                as_of if decision.send else situation.last_letter, contact.get("last"), promise,
                suggested_action(level, len(levels), contact, promise, as_of)))
    result.calls.sort(key=lambda c: (-c.days_past_due, -c.balance_cents, c.client_id))
    return result


def suggested_action(level: int, top: int, contact: dict, promise: date | None, as_of: date) -> str:
    if contact.get("plan_requested"):
        return "Set up the payment plan the client asked for"
    if promise and promise < as_of:
        return f"Promise of {promise:%Y-%m-%d} not kept: call about it"
    if level == top:
        return "Referred: confirm with the agency, or agree payment before it acts"
    return "Call about the overdue balance"


def letter_content(client: dict, level: Level, s: Situation, plan: Offer, as_of: date, pay_within: int) -> dict:
    """Everything the letter says, kept with it so it renders the same whenever it is rendered."""
    return {
        "template": level.template, "level": level.name, "bill_to": bill_to_snapshot(client),
        "date": as_of, "pay_by": as_of + timedelta(days=pay_within), "oldest_days": s.oldest_days,
        "total_cents": s.overdue_cents,
        "items": [{"number": i.invoice_number, "date": i.invoice_date, "due_date": i.due_date,
                   "days_past_due": i.days_past_due, "balance_cents": i.balance_cents} for i in s.items],
        "plan": {"show": plan.show, "eligible_cents": plan.eligible_cents,
                 "installment_cents": plan.installment_cents, "months": plan.months},
    }
