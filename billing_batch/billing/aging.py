"""Aging of open items as of a date (SPEC §4.3): pure, no I/O."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

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
