"""Days sales outstanding and the share of receivables far past due: pure, no I/O.

DSO = A/R ÷ (invoiced in the last 90 days) × 90: how many days of recent billing are still unpaid.
The portfolio (reports/portfolio_workbook.py) and the aging workbook use the same definition.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from billing_batch.billing.aging import DSO_DAYS, bucket_names, dso as days_sales_outstanding

__all__ = ["DSO_DAYS", "days_sales_outstanding", "over_days", "percent_of"]  # one DSO for both workbooks


def over_days(totals: dict[str, Decimal], limits: list[int], days: int = 90) -> Decimal:
    """What is in the buckets that start after `days` days past due (with the default buckets:
    91-120 and Over 120). A bucket that straddles `days` (e.g. 61-120) is not counted."""
    names = bucket_names(limits)
    lows = [None, 1, *(high + 1 for high in limits)]  # Not Yet Due has no low
    return sum((totals.get(name, Decimal(0)) for name, low in zip(names, lows) if low is not None and low > days),
               Decimal(0))


def percent_of(part: Decimal, whole: Decimal) -> Decimal | None:
    """part as a percentage of whole, to one decimal; None for an empty whole."""
    if whole <= 0:
        return None
    return (part / whole * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
