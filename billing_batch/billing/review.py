"""Accuracy review (SPEC §4.1): warnings for a person to look at, never rejections. Pure."""

from __future__ import annotations

from typing import Any

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from billing_batch.billing.pricing import rate_on
from billing_batch.billing.records import InvoiceDraft, RateVersion


@dataclass(frozen=True)
class Finding:
    check: str  # Price override | Unusual quantity | Late entry | Large invoice | Possible duplicate
    client_id: str
    detail: str
    invoice: str | None = None
    service_date: date | None = None
    service_code: str | None = None

    def as_dict(self) -> dict:
        return {"check": self.check, "client_id": self.client_id, "invoice": self.invoice,
                "service_date": self.service_date, "service_code": self.service_code, "detail": self.detail}


def review_invoice(draft: InvoiceDraft, number: str, rates: Mapping[str, list[RateVersion]], as_of: date,
                   override_pct: Decimal, max_quantity: Decimal, late_days: int, large: Decimal) -> list[Finding]:
    found = []
    for line in draft.lines:
        if line.claim_move_id is not None:
            continue  # a patient's share of a claim: its service was reviewed on the claim's terms
        where: dict[str, Any] = dict(client_id=draft.client_id, invoice=number, service_date=line.service_date,
                                     service_code=line.service_code)
        card = rate_on(rates.get(line.service_code, []), line.service_date)
        if card and line.unit_price != card.unit_price:
            differs = card.unit_price == 0 or abs(line.unit_price - card.unit_price) * 100 / card.unit_price > override_pct
            if differs:
                found.append(Finding("Price override", detail=f"charged {line.unit_price} instead of the card's "
                                     f"{card.unit_price}", **where))
        if line.quantity > max_quantity:
            found.append(Finding("Unusual quantity", detail=f"quantity {line.quantity} is above {max_quantity}", **where))
        age = (as_of - line.service_date).days
        if age > late_days:
            found.append(Finding("Late entry", detail=f"entered {age} days after the service", **where))
    if draft.total > large:
        found.append(Finding("Large invoice", draft.client_id, f"total {draft.total} is above {large}", number))
    return found
