"""Prices from the rate card (SPEC §4.1)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from billing_batch.billing.records import RateVersion
from billing_batch.money import round_cents


def rate_on(versions: Iterable[RateVersion], day: date) -> RateVersion | None:
    """The version effective on `day`: the latest Effective From on or before it, if `day` is within
    its period. An older version never comes back after a newer one ends (a discontinued service)."""
    started = [v for v in versions if v.effective_from <= day]
    if not started:
        return None
    best = max(started, key=lambda v: v.effective_from)
    return best if best.effective_to is None or day <= best.effective_to else None


def unit_price(override: Decimal | None, rate: RateVersion) -> Decimal:
    """The service's own price when the log overrides it, else the rate card's."""
    return rate.unit_price if override is None else override


def line_amount(quantity: Decimal, unit_price: Decimal) -> Decimal:
    """Quantity × unit price, rounded half-up to the cent."""
    return round_cents(quantity * unit_price)


def tax_on(taxable_total: Decimal, rate_percent: Decimal) -> Decimal:
    """Tax once per invoice on the sum of its taxable lines, rounded half-up."""
    return round_cents(taxable_total * rate_percent / 100)


def overlapping(versions: list[RateVersion]) -> list[tuple[RateVersion, RateVersion]]:
    """Pairs of versions of one code whose periods overlap (an explicit Effective To past the next
    version's Effective From). Versions without an Effective To end where the next one starts."""
    ordered = sorted(versions, key=lambda v: v.effective_from)
    return [(a, b) for a, b in zip(ordered, ordered[1:])
            if a.effective_to is not None and a.effective_to >= b.effective_from]
