"""Payment-plan offers (SPEC §4.5): pure. Only balances from non-discretionary services qualify."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Offer:
    eligible_cents: int
    installment_cents: int = 0
    months: int = 0
    hardship: bool = False  # the budget cannot clear the balance within max_months: a person decides

    @property
    def show(self) -> bool:
        return self.eligible_cents > 0 and not self.hardship


def eligible_share(balance_cents: int, non_discretionary_cents: int, subtotal_cents: int) -> int:
    """The part of an item's balance that comes from non-discretionary services (half-up to the cent)."""
    if subtotal_cents <= 0 or non_discretionary_cents <= 0:
        return 0
    if non_discretionary_cents >= subtotal_cents:
        return balance_cents
    return (2 * balance_cents * non_discretionary_cents + subtotal_cents) // (2 * subtotal_cents)


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
