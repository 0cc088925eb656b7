"""Frozen records the billing core works on. No database, file or template imports here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class RateVersion:
    service_code: str
    effective_from: date  # schema.ALWAYS when the card gave no date
    effective_to: date | None
    description: str
    unit_price: Decimal
    taxable: bool
    discretionary: bool
    billing_code: str | None = None  # CPT/HCPCS, for claims


@dataclass(frozen=True)
class ServiceLine:
    id: int
    client_id: str
    service_date: date
    service_code: str
    quantity: Decimal
    description: str | None
    unit_price_override: Decimal | None


@dataclass(frozen=True)
class ClientTerms:
    client_id: str
    terms_days: int
    tax_exempt: bool


@dataclass(frozen=True)
class InvoiceLineDraft:
    service_line_id: int | None  # None for a patient's share of a claim (`claim_move_id`)
    service_date: date
    service_code: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    taxable: bool
    discretionary: bool
    claim_move_id: int | None = None


@dataclass(frozen=True)
class InvoiceDraft:
    client_id: str
    invoice_date: date
    due_date: date
    terms_days: int
    lines: tuple[InvoiceLineDraft, ...]
    subtotal: Decimal
    tax_rate: Decimal  # percent
    tax: Decimal

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.tax


@dataclass(frozen=True)
class OpenItem:
    """An invoice as of a date: its amount and what has been paid or adjusted against it by then."""
    invoice_number: str
    client_id: str
    invoice_date: date
    due_date: date
    amount: Decimal
    paid: Decimal
    adjusted: Decimal

    @property
    def balance(self) -> Decimal:
        return self.amount - self.paid - self.adjusted
