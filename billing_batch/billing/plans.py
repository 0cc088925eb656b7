"""Payment-plan offers (SPEC §4.5): pure. Only balances from non-discretionary services qualify."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Offer:
    eligible_cents: int
    installment_cents: int = 0
    months: int = 0
    hardship: bool = False  # the budget cannot clear the balance within max_months: a person decides

    @property
    def show(self) -> bool:
        return self.eligible_cents > 0 and not self.hardship


def offer(eligible_cents: int, monthly_budget_cents: int | None, max_months: int, min_installment_cents: int) -> Offer:
    """Installment = the client's monthly budget when given, else the balance over max_months; never
    below the minimum. A budget that cannot clear the balance in time is a hardship case, not an offer."""
    if eligible_cents <= 0:
        return Offer(0)
    if monthly_budget_cents:
        installment = monthly_budget_cents
        if installment < min(min_installment_cents, eligible_cents):
            return Offer(eligible_cents, installment, 0, hardship=True)
    else:
        installment = max(-(-eligible_cents // max_months), min_installment_cents)
    installment = min(installment, eligible_cents)
    months = -(-eligible_cents // installment)
    if months > max_months:
        return Offer(eligible_cents, installment, months, hardship=True)
    return Offer(eligible_cents, installment, months)


# -- agreed plans -----------------------------------------------------------------------------------

ON_TRACK, LATE, DEFAULTED, COMPLETED, CANCELLED = "On Track", "Late", "Defaulted", "Completed", "Cancelled"
GOOD_STANDING = (ON_TRACK, LATE)  # its items are out of dunning
STATUS_ORDER = (DEFAULTED, LATE, ON_TRACK, COMPLETED, CANCELLED)  # how staff read the Payment Plans sheet
FREQUENCIES = ("Weekly", "Biweekly", "Monthly")


def plan_share(balance_cents: int, eligible_total_cents: int, total_cents: int) -> int:
    """The part of an invoice's balance that may go on a plan: its non-discretionary lines and their tax,
    in proportion when part of the invoice is paid, rounded down so no discretionary cent is ever on it."""
    if balance_cents <= 0 or eligible_total_cents <= 0 or total_cents <= 0:
        return 0
    if eligible_total_cents >= total_cents:
        return balance_cents
    return balance_cents * eligible_total_cents // total_cents


def _add_months(d: date, months: int) -> date:
    """The same day `months` later, clamped to that month's end."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def due_dates(first_due: date, frequency: str, count: int) -> list[date]:
    """Weekly, every two weeks, or monthly on the first due day (clamped: Jan 31 → Feb 28 → Mar 31)."""
    if frequency == "Monthly":
        return [_add_months(first_due, k) for k in range(count)]
    step = timedelta(weeks=1 if frequency == "Weekly" else 2)
    return [first_due + k * step for k in range(count)]


def schedule(amount_cents: int, installment_cents: int, frequency: str, first_due: date) -> list[tuple[date, int]]:
    """Installments of `installment_cents` from `first_due`; the last takes the remainder, so they sum
    exactly to the plan amount."""
    if amount_cents <= 0 or installment_cents <= 0:
        return []
    count = -(-amount_cents // installment_cents)
    cents = [installment_cents] * (count - 1) + [amount_cents - installment_cents * (count - 1)]
    return list(zip(due_dates(first_due, frequency, count), cents))


def months_between(start: date, end: date) -> int:
    """Whole calendar months from `start` to `end`, counting a part month as one (Jan 15 → Feb 16 = 2)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    return months + (1 if end.day > start.day else 0)


@dataclass(frozen=True)
class Terms:
    """An agreed plan as the ledger keeps it: never changed once agreed (a cancel date is added once)."""
    plan_id: int
    number: str
    client_id: str
    agreement_date: date
    frequency: str
    installment_cents: int
    amount_cents: int
    installments: tuple[tuple[date, int], ...]
    cancel_date: date | None = None


@dataclass(frozen=True)
class Standing:
    status: str
    paid_cents: int  # applied to the plan's items since the agreement, by the date
    remaining_cents: int
    next_due: date | None
    missed: int  # installments more than grace days past due and not covered
    missed_dates: tuple[date, ...]
    overdue_cents: int  # installment money due by the date and not paid
    ended: date | None = None  # when it was completed, cancelled or defaulted

    @property
    def good(self) -> bool:
        return self.status in GOOD_STANDING


def _paid_by(covered: list[tuple[date, int]], day: date) -> int:
    return sum(c for d, c in covered if d <= day)


def _missed(terms: Terms, paid: int, day: date, grace_days: int) -> list[date]:
    out, cumulative = [], 0
    for due, cents in terms.installments:
        cumulative += cents
        if (day - due).days > grace_days and paid < cumulative:
            out.append(due)
    return out


def standing(terms: Terms, covered: list[tuple[date, int]], as_of: date, grace_days: int,
             default_after: int) -> Standing:
    """The plan's status as of a date, from what was applied to its items dated on or before it (so a
    payment dated later never changes it). Cancelled and Defaulted are final, and so is Completed while
    the plan amount stays covered (a bounced payment re-opens it); whichever came first wins.
    Defaulted: `default_after` installments missed at the same time, or the last installment missed
    (nothing is left to catch up on schedule). The missed count only rises on the day an installment
    passes its grace days or money counted toward the plan is taken back, so those days are checked."""
    covered = sorted((d, c) for d, c in covered if d <= as_of)
    ends: list[tuple[date, int, str]] = []
    running, crossed = 0, None
    for d, c in covered:
        if running < terms.amount_cents <= running + c:
            crossed = d
        running += c
    if running >= terms.amount_cents and crossed is not None:
        ends.append((crossed, 0, COMPLETED))
    if terms.cancel_date is not None and terms.cancel_date <= as_of:
        ends.append((terms.cancel_date, 1, CANCELLED))
    last_due = terms.installments[-1][0] if terms.installments else None
    checks = {due + timedelta(days=grace_days + 1) for due, _ in terms.installments} | {d for d, c in covered if c < 0}
    for day in sorted(d for d in checks if d <= as_of):
        missed = _missed(terms, _paid_by(covered, day), day, grace_days)
        if len(missed) >= default_after or (missed and missed[-1] == last_due):
            ends.append((day, 2, DEFAULTED))
            break
    paid = _paid_by(covered, as_of)
    remaining = max(terms.amount_cents - paid, 0)
    if ends:
        ended, _, status = min(ends)
        missed = _missed(terms, _paid_by(covered, ended), ended, grace_days) if status == DEFAULTED else []
        return Standing(status, paid, remaining, None, len(missed), tuple(missed), 0, ended)
    missed = _missed(terms, paid, as_of, grace_days)
    cumulative, next_due, due_now = 0, None, 0
    for due, cents in terms.installments:
        cumulative += cents
        if due <= as_of:
            due_now = cumulative
        elif next_due is None and paid < cumulative:
            next_due = due  # the next installment still to come (what is overdue is said apart)
    return Standing(LATE if missed else ON_TRACK, paid, remaining, next_due, len(missed), tuple(missed),
                    max(due_now - paid, 0))


def due_by(terms: Terms, covered: list[tuple[date, int]], day: date) -> int:
    """Installment money due on or before `day` and not yet covered: what a payment that day pays first."""
    due = sum(c for d, c in terms.installments if d <= day)
    return max(due - _paid_by(covered, day), 0)
