"""Money is Decimal from the first cell to the last document, and integer cents in the ledger.

One rounding rule everywhere: ROUND_HALF_UP to the cent. Floats are refused: a float reaching
this module is a bug upstream, not something to round away.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def D(value: object) -> Decimal:
    """A Decimal from text, int or Decimal. Floats are refused (use Decimal(repr(x)) at the edge)."""
    if isinstance(value, float):
        raise TypeError(f"float {value!r} reached money code; convert at the edge with repr()")
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def round_cents(value: Decimal) -> Decimal:
    return D(value).quantize(CENT, rounding=ROUND_HALF_UP)


def to_cents(value: Decimal) -> int:
    """Decimal amount -> integer cents; the amount must already be whole cents."""
    q = D(value)
    cents = q * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"{value} is not a whole number of cents")
    return int(cents)


def from_cents(cents: int) -> Decimal:
    if not isinstance(cents, int):
        raise TypeError(f"cents must be an int, not {type(cents).__name__}")
    return (Decimal(int(cents)) / 100).quantize(CENT)


def fmt_money(value: Decimal | int, symbol: str = "$") -> str:
    """`$1,234.50`, negative as `-$12.00`; ints are cents."""
    if isinstance(value, int):  # in integers: the same text, without Decimal (~100,000 a month-end's documents)
        cents = abs(value)
        return f"{'-' if value < 0 else ''}{symbol}{cents // 100:,}.{cents % 100:02d}"
    amount = round_cents(value)
    sign = "-" if amount < 0 else ""
    return f"{sign}{symbol}{abs(amount):,.2f}"
