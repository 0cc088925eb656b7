"""Applying money to open items (SPEC §4.2): pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Open:
    """An invoice with a balance, in cents."""
    invoice_id: int
    number: str
    invoice_date: date
    due_date: date
    balance: int


def allocate(amount: int, items: list[Open], named: str | None = None) -> list[tuple[Open, int]]:
    """Split `amount` cents over open items: the named invoice first (if open), then oldest due date
    first, then lowest number. Returns (item, cents) pairs; what is left is unapplied credit."""
    order = sorted(items, key=lambda i: (i.number != named, i.due_date, i.number))
    out, left = [], amount
    for item in order:
        if left <= 0:
            break
        take = min(left, item.balance)
        if take > 0:
            out.append((item, take))
            left -= take
    return out
