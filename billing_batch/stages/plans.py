"""The payment-plan stage (SPEC §4.5), inside the run's transaction, after the money has moved: each
plan's standing on the business date against what the last run saw — a missed installment's letter
once per late episode, a plan-ended letter once, cures counted."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Connection

from billing_batch.billing.engine import PlanBook, PlanPolicy
from billing_batch.billing.plans import DEFAULTED, LATE, ON_TRACK, STATUS_ORDER, Offer, Standing
from billing_batch.config import Settings
from billing_batch.documents.contexts import bill_to_snapshot
from billing_batch.ledger import inputs, numbering, plans, queue
from billing_batch.money import to_cents


def plan_policy(settings: Settings) -> PlanPolicy:
    p = settings.plans
    return PlanPolicy(p.grace_days, p.default_after_missed, to_cents(p.min_installment), p.max_months)


@dataclass
class PlansResult:
    letters: list[tuple[int, str, str]] = field(default_factory=list)  # (letter id, client, kind)
    cured: list[str] = field(default_factory=list)  # plan numbers
    by_status: dict[str, int] = field(default_factory=dict)


def run_plans(conn: Connection, run_id: int, as_of: date, settings: Settings) -> PlansResult:
    pol = plan_policy(settings)
    clients = inputs.client_rows(conn)
    seen = plans.states(conn)
    result = PlansResult()
    for book, s in plans.standings(conn, as_of, pol.grace_days, pol.default_after):
        t = book.terms
        result.by_status[s.status] = result.by_status.get(s.status, 0) + 1
        state = seen.get(t.plan_id)
        before, episode = (state["status"], state["episode"]) if state else (None, 0)
        if s.status == before:
            continue
        kind = None
        if s.status == LATE:
            episode += 1
            kind = "missed"
        elif s.status == DEFAULTED:
            kind = "ended"
        elif s.status == ON_TRACK and before == LATE:
            result.cured.append(t.number)
        plans.save_state(conn, t.plan_id, s.status, episode, run_id, state is not None)
        client = clients[t.client_id]
        if kind is None or client["collections_hold"]:
            continue
        content = {"template": f"plan_{kind}", "bill_to": bill_to_snapshot(client), "date": as_of,
                   "pay_by": as_of + timedelta(days=settings.collections.min_days_between_letters),
                   "plan": {**plans.summary(book, s, as_of), "start_date": t.agreement_date, "missed": s.missed,
                            "overdue_cents": s.overdue_cents if kind == "missed" else s.remaining_cents,
                            "missed_dates": list(s.missed_dates)}}
        letter_id = plans.insert_letter(conn, t.plan_id, t.client_id, kind, episode, as_of, content, run_id)
        template = f"plan_{kind}_{'business' if client['type'] == 'Business' else 'individual'}"
        queue.add_outbox(conn, "plan_letter", letter_id, numbering.letter_path(letter_id, template, as_of, t.client_id, "P"), run_id)
        result.letters.append((letter_id, t.client_id, kind))
    return result


@dataclass
class PlanSheet:
    """The aging workbook's Payment Plans sheet as of a date, from the ledger alone."""
    plans: list[tuple[PlanBook, Standing]]  # sorted Defaulted, Late, On Track, then the rest
    offers: list[tuple[str, Offer]]
    on_plan: set[str]  # clients with a plan in good standing

    def count(self, status: str) -> int:
        return sum(1 for _, s in self.plans if s.status == status)


def plan_sheet(conn: Connection, as_of: date, settings: Settings) -> PlanSheet:
    from billing_batch.stages.collections import overdue_items, plan_offers

    pol = plan_policy(settings)
    rows = plans.standings(conn, as_of, pol.grace_days, pol.default_after)
    rows.sort(key=lambda r: (STATUS_ORDER.index(r[1].status), r[0].terms.number))
    overdue, in_force = overdue_items(conn, as_of, settings)
    return PlanSheet(rows, plan_offers(overdue, in_force, inputs.client_rows(conn), settings), set(in_force))
