"""Aging of open items as of a date (SPEC §4.3): pure, no I/O."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from billing_batch.billing.records import OpenItem
from billing_batch.money import ZERO

NOT_YET_DUE = "Not Yet Due"


def bucket_names(limits: list[int]) -> list[str]:
    """[30, 60, 90, 120] -> Not Yet Due, 1-30, 31-60, 61-90, 91-120, Over 120."""
    names, low = [NOT_YET_DUE], 1
    for high in limits:
        names.append(f"{low}-{high}")
        low = high + 1
    names.append(f"Over {limits[-1]}")
    return names


def bucket_for(days_past_due: int, limits: list[int]) -> str:
    names = bucket_names(limits)
    if days_past_due <= 0:
        return names[0]
    for name, high in zip(names[1:], limits):
        if days_past_due <= high:
            return name
    return names[-1]


@dataclass(frozen=True)
class AgedItem:
    item: OpenItem
    days_past_due: int
    bucket: str


@dataclass
class ClientAging:
    client_id: str
    buckets: dict[str, Decimal]
    oldest_due: date | None = None
    unapplied_credit: Decimal = ZERO

    @property
    def open_total(self) -> Decimal:
        return sum(self.buckets.values(), ZERO)

    @property
    def balance(self) -> Decimal:
        return self.open_total - self.unapplied_credit


@dataclass
class Aging:
    as_of: date
    names: list[str]
    items: list[AgedItem]
    clients: list[ClientAging]
    totals: dict[str, Decimal] = field(default_factory=dict)
    unapplied_credit: Decimal = ZERO

    @property
    def open_total(self) -> Decimal:
        return sum(self.totals.values(), ZERO)

    @property
    def balance(self) -> Decimal:
        """Σ buckets − Σ unapplied credit: what the reconciliation compares to the ledger."""
        return self.open_total - self.unapplied_credit


def age(items: Iterable[OpenItem], credits: dict[str, Decimal], as_of: date, limits: list[int]) -> Aging:
    """Bucket every item with a balance; `credits` is unapplied credit per client as of the date."""
    names = bucket_names(limits)
    aged = []
    per_client: dict[str, ClientAging] = {}
    for item in sorted(items, key=lambda i: (i.client_id, i.due_date, i.invoice_number)):
        if item.balance == 0:
            continue
        days = (as_of - item.due_date).days
        a = AgedItem(item, days, bucket_for(days, limits))
        aged.append(a)
        ca = per_client.setdefault(item.client_id, ClientAging(item.client_id, dict.fromkeys(names, ZERO)))
        ca.buckets[a.bucket] += item.balance
        ca.oldest_due = min(filter(None, (ca.oldest_due, item.due_date)))
    for client_id, credit in credits.items():
        if credit:
            ca = per_client.setdefault(client_id, ClientAging(client_id, dict.fromkeys(names, ZERO)))
            ca.unapplied_credit = credit
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for ca in per_client.values():
        for name, amount in ca.buckets.items():
            totals[name] += amount
    return Aging(as_of, names, aged, sorted(per_client.values(), key=lambda c: c.client_id),
                 {n: totals[n] for n in names}, sum(credits.values(), ZERO))


# -- figures for a manager (the aging workbook's Summary; the portfolio workbook reuses them) ----------

DSO_DAYS = 90


def share(part: Decimal, whole: Decimal) -> Decimal:
    """A fraction of the whole to four places (shown as a percentage), 0 when there is nothing."""
    return (part / whole).quantize(Decimal("0.0001")) if whole > 0 else ZERO


def over_days(limits: list[int]) -> int:
    """Where "old" starts: the start of the last two buckets (90 days with 30/60/90/120)."""
    return limits[-2] if len(limits) >= 2 else limits[-1]


def bucket_shares(totals: dict[str, Decimal]) -> dict[str, Decimal]:
    """Each bucket's amount as a fraction of all that is open."""
    whole = sum(totals.values(), ZERO)
    return {name: share(amount, whole) for name, amount in totals.items()}


def over_amount(totals: dict[str, Decimal], limits: list[int]) -> Decimal:
    """What is more than `over_days(limits)` days past due."""
    names = bucket_names(limits)
    start = names.index(f"{over_days(limits) + 1}-{limits[-1]}") if len(limits) >= 2 else len(names) - 1
    return sum((totals.get(n, ZERO) for n in names[start:]), ZERO)


def dso(receivable: Decimal, credit_sales: Decimal, days: int = DSO_DAYS) -> Decimal | None:
    """Days sales outstanding: A/R ÷ credit sales of the last `days` days × `days`, to one place;
    None when nothing was sold on credit in that time (the figure means nothing then)."""
    if credit_sales <= 0:
        return None
    return (receivable / credit_sales * days).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def buckets_from_due_dates(open_by_due: Iterable[tuple[date, Decimal]], as_of: date,
                           limits: list[int]) -> dict[str, Decimal]:
    """Bucket totals from what is open per due date (the ledger sums it per due date for any date)."""
    totals = dict.fromkeys(bucket_names(limits), ZERO)
    for due, amount in open_by_due:
        totals[bucket_for((as_of - due).days, limits)] += amount
    return totals


def largest_balances(aging: Aging, n: int = 10) -> list[ClientAging]:
    """The `n` clients who owe the most (ties by client ID), for the Summary."""
    return sorted((c for c in aging.clients if c.balance > 0), key=lambda c: (-c.balance, c.client_id))[:n]


def month_ends(as_of: date, count: int = 12) -> list[date]:
    """The last `count` month-ends on or before `as_of`, oldest first (as_of itself when it is one)."""
    from calendar import monthrange

    y, m = as_of.year, as_of.month
    if as_of.day != monthrange(y, m)[1]:
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    out = []
    for _ in range(count):
        out.append(date(y, m, monthrange(y, m)[1]))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]


def same_day_last_month(as_of: date) -> date:
    """03-31 -> 02-28: the same day a month before, clamped to that month's end."""
    from calendar import monthrange

    y, m = (as_of.year, as_of.month - 1) if as_of.month > 1 else (as_of.year - 1, 12)
    return date(y, m, min(as_of.day, monthrange(y, m)[1]))
