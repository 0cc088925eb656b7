"""What a collection letter says, kept with the letter so it renders the same whenever it is rendered."""

from __future__ import annotations

from datetime import date, timedelta

from billing_batch.billing.collections import Level, Situation
from billing_batch.billing.plans import Offer
from billing_batch.documents.contexts import bill_to_snapshot


def letter_content(client: dict, level: Level, s: Situation, plan: Offer, as_of: date, pay_within: int,
                   referral_on: date | None = None) -> dict:
    """Everything the letter says, kept with it so it renders the same whenever it is rendered.
    `referral_on`: for the final notice, the first day the account may be referred."""
    rest_for: list[str] = []
    if plan.show:  # what the part a plan cannot hold is for: the letter names it
        for item in s.items:
            rest_for += [d for d in item.discretionary if d not in rest_for]
    return {
        "template": level.template, "level": level.name, "bill_to": bill_to_snapshot(client),
        "date": as_of, "pay_by": as_of + timedelta(days=pay_within), "oldest_days": s.oldest_days,
        "total_cents": s.overdue_cents, "referral_date": referral_on,
        "items": [{"number": i.invoice_number, "date": i.invoice_date, "due_date": i.due_date,
                   "days_past_due": i.days_past_due, "balance_cents": i.balance_cents} for i in s.items],
        "plan": {"show": plan.show, "eligible_cents": plan.eligible_cents,
                 "installment_cents": plan.installment_cents, "months": plan.months,
                 "rest_cents": s.overdue_cents - plan.eligible_cents if plan.show else 0, "rest_for": rest_for},
        # A patient we bill as self-pay is asked about insurance we could bill instead.
        "self_pay": client["type"] == "Individual" and not client.get("payer"),
    }
