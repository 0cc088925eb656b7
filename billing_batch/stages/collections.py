"""The collections stage (SPEC §4.4), inside the run's transaction: load each client's situation from
the ledger, decide with billing/collections.py, record each letter once with what it says
(documents/letters.py), queue it, and build the call list and referrals. The last level sends no
letter: reaching it puts the client on the referral export, for a person to approve; the letter
before it is the final notice, naming the day from which the account may be referred."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Connection

from billing_batch.billing.collections import (
    CallEntry,
    Decision,
    Level,
    OverdueItem,
    Situation,
    decide,
    referral_date,
    suggested_action,
    suppression,
)
from billing_batch.billing.engine import PlanBook
from billing_batch.billing.plans import Offer, Standing, offer, plan_share
from billing_batch.billing.review import Finding
from billing_batch.config import Settings
from billing_batch.documents.letters import letter_content
from billing_batch.ledger import balances, dunning, inputs, issued, numbering, plans as plan_ledger, queue
from billing_batch.money import fmt_money, to_cents


@dataclass
class CollectionsResult:
    letters: list[tuple[int, str, str]] = field(default_factory=list)  # (letter id, client, level name)
    decisions: list[Decision] = field(default_factory=list)
    levels: dict[str, str] = field(default_factory=dict)  # client -> current level name
    calls: list[CallEntry] = field(default_factory=list)
    referrals: list[str] = field(default_factory=list)  # clients at the last level (no letter: the export)
    findings: list[Finding] = field(default_factory=list)  # hardship cases
    offers: list[tuple[str, Offer]] = field(default_factory=list)  # plan offers for staff, by client


def levels_of(settings: Settings) -> list[Level]:
    ordered = sorted(settings.collections.levels, key=lambda l: l.days)
    return [Level(i, l.name, l.days, l.template) for i, l in enumerate(ordered, start=1)]


def overdue_items(conn: Connection, as_of: date, settings: Settings
                  ) -> tuple[dict[str, list[OverdueItem]], dict[str, tuple[PlanBook, Standing]]]:
    """Per client, the overdue items that count for collections as of the date — less what is on a
    plan in good standing — and the client's plan in good standing, if any."""
    p = settings.plans
    in_force = plan_ledger.in_good_standing(conn, as_of, p.grace_days, p.default_after_missed)
    shares = issued.plan_shares(conn)
    ids = issued.invoice_ids(conn)
    items = [i for i in balances.open_items(conn, as_of) if (as_of - i.due_date).days >= 1 and i.balance > 0]
    held: dict[int, int] = {}  # invoice id -> what of it is the plan's
    for client_id, (book, _) in in_force.items():
        mine = {ids[i.invoice_number]: to_cents(i.balance) for i in items if i.client_id == client_id}
        held |= plan_ledger.in_force_left(book, mine)
    counted = []  # (item, invoice id, what counts of its balance, what of that may go on a plan)
    for item in items:
        invoice_id = ids[item.invoice_number]
        balance, on_plan = to_cents(item.balance), held.get(invoice_id, 0)
        if balance - on_plan <= 0:
            continue
        eligible = max(plan_share(balance, *shares.get(invoice_id, (0, 0))) - on_plan, 0)
        counted.append((item, invoice_id, balance - on_plan, eligible))
    # What the part no plan can hold is for, so a letter can say it.
    services = issued.discretionary_services(conn, [i for _, i, left, eligible in counted if eligible < left])
    overdue: dict[str, list[OverdueItem]] = {}
    for item, invoice_id, left, eligible in counted:
        overdue.setdefault(item.client_id, []).append(OverdueItem(
            item.invoice_number, item.invoice_date, item.due_date, (as_of - item.due_date).days, left,
            eligible, services.get(invoice_id, ()) if eligible < left else ()))
    return overdue, in_force


def plan_offer(client: dict, items: Iterable[OverdueItem], on_plan: bool, settings: Settings) -> Offer:
    """The plan to propose for the overdue items that may go on one: none to a client already on a plan
    (its letter shows that plan instead), nor to a business unless the office says so."""
    p = settings.plans
    if on_plan or (client["type"] == "Business" and not p.offer_to_business):
        return Offer(0)
    return offer(sum(i.eligible_cents for i in items), client["monthly_budget_cents"], p.max_months,
                 to_cents(p.min_installment))


def plan_offers(overdue: dict[str, list[OverdueItem]], in_force: dict, clients: dict[str, dict],
                settings: Settings) -> list[tuple[str, Offer]]:
    """What a coordinator can propose: clients with an overdue balance that may go on a plan, not on one."""
    offers = ((c, plan_offer(clients[c], overdue[c], c in in_force, settings)) for c in sorted(overdue))
    return [(c, o) for c, o in offers if o.eligible_cents > 0]


def run_collections(conn: Connection, run_id: int, as_of: date, settings: Settings) -> CollectionsResult:
    cfg, plans = settings.collections, settings.plans
    levels = levels_of(settings)
    clients = inputs.client_rows(conn)
    states = dunning.collection_states(conn)
    contacts = dunning.contact_summaries(conn, as_of)
    referral_days = dunning.referral_days(conn)
    overdue, in_force = overdue_items(conn, as_of, settings)
    result = CollectionsResult(offers=plan_offers(overdue, in_force, clients, settings))
    for client_id in sorted(set(overdue) | {c for c, s in states.items() if s["level"] > 0}):
        client, state = clients[client_id], states.get(client_id)
        contact = contacts.get(client_id, {})
        promise = contact.get("promise_date")
        situation = Situation(
            client_id, tuple(sorted(overdue.get(client_id, []), key=lambda i: (i.due_date, i.invoice_number))),
            state["level"] if state else 0, state["last_letter_date"] if state else None,
            hold=bool(client["collections_hold"]), open_dispute=bool(contact.get("dispute")),
            promise_until=promise + timedelta(days=cfg.promise_grace_days) if promise else None,
            referral_from=referral_days.get(client_id))
        decision = decide(situation, levels, as_of, cfg.min_days_between_letters, to_cents(cfg.min_balance))
        result.decisions.append(decision)
        series = state["series"] if state else 1
        level = situation.level
        if decision.reset:
            # The last letter's date stays: the gap between letters holds across a paid-up reset too.
            dunning.save_collection_state(conn, client_id, series + 1, 0, state["last_letter_date"] if state else None,
                                        run_id, state is not None)
            level = 0
        elif decision.send:
            level = decision.send.number
            plan = plan_offer(client, situation.items, client_id in in_force, settings)
            if plan.hardship:
                result.findings.append(Finding(
                    "Hardship", client_id, f"a budget of {fmt_money(plan.installment_cents)} a month cannot clear "
                    f"{fmt_money(plan.eligible_cents)} within {plans.max_months} months: review before offering a plan"))
            if level == len(levels):
                # The referral stage sends no letter: the client goes on the referral export for a person
                # to approve. The last letter (the final notice) keeps its date.
                dunning.save_collection_state(conn, client_id, series, level, situation.last_letter, run_id,
                                            state is not None)
            else:
                referral_on = (referral_date(situation, levels, as_of, cfg.min_days_between_letters)
                               if level == len(levels) - 1 else None)
                content = letter_content(client, decision.send, situation, plan, as_of,
                                         cfg.min_days_between_letters, referral_on)
                if client_id in in_force:
                    content["on_plan"] = plan_ledger.summary(*in_force[client_id], as_of)
                letter_id = dunning.insert_letter(conn, client_id, series, level, decision.send.name, as_of,
                                                situation.overdue_cents, content, run_id)
                template = f"{decision.send.template}_{'business' if client['type'] == 'Business' else 'individual'}"
                queue.add_outbox(conn, "letter", letter_id, numbering.letter_path(letter_id, template, as_of, client_id), run_id)
                dunning.save_collection_state(conn, client_id, series, level, as_of, run_id, state is not None)
                result.letters.append((letter_id, client_id, decision.send.name))
        if level:
            result.levels[client_id] = levels[level - 1].name
            if level == len(levels):
                result.referrals.append(client_id)
        if level >= 2 and client.get("phone") and situation.items and \
                not suppression(situation, as_of, to_cents(cfg.min_balance)):
            result.calls.append(CallEntry(
                client_id, client["phone"], situation.overdue_cents, situation.oldest_days, levels[level - 1].name,
                as_of if result.letters and result.letters[-1][1] == client_id else situation.last_letter,
                contact.get("last"), promise,
                suggested_action(level, len(levels), contact, promise, as_of)))
    result.calls.sort(key=lambda c: (-c.days_past_due, -c.balance_cents, c.client_id))
    return result


def hardship_cases(conn: Connection, as_of: date, settings: Settings, client_ids: Iterable[str]) -> set[str]:
    """Of `client_ids`, those whose budget cannot clear what may go on a plan in time, as of the date:
    worked out on every run (not only the run that sent a letter), so a hardship case at the last level
    stays off the referral list until a person has looked."""
    overdue, in_force = overdue_items(conn, as_of, settings)
    clients = inputs.client_rows(conn)
    return {c for c in client_ids
            if plan_offer(clients[c], overdue.get(c, []), c in in_force, settings).hardship}


def held_cases(conn: Connection, as_of: date, settings: Settings, client_ids: Iterable[str]) -> dict[str, str]:
    """Of `client_ids` (at the last level), those no letter could be sent to today, with why: a Collections
    Hold, an open dispute, a promise to pay not yet due. Set after the client reached the referral, they
    keep it off the referral list (a disputed account is never sent to an agency) until a person looks."""
    cfg = settings.collections
    overdue, _ = overdue_items(conn, as_of, settings)
    clients, contacts = inputs.client_rows(conn), dunning.contact_summaries(conn, as_of)
    out = {}
    for c in client_ids:
        promise = contacts.get(c, {}).get("promise_date")
        why = suppression(Situation(c, tuple(overdue.get(c, [])), 0, None, hold=bool(clients[c]["collections_hold"]),
                                    open_dispute=bool(contacts.get(c, {}).get("dispute")),
                                    promise_until=promise + timedelta(days=cfg.promise_grace_days) if promise else None),
                          as_of, 0)
        if why:
            out[c] = why
    return out
