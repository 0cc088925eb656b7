"""Invoices from unbilled service lines (SPEC §4.1): pure, no I/O."""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from decimal import Decimal

from billing_batch.billing.pricing import line_amount, rate_on, tax_on, unit_price
from billing_batch.billing.records import (
    ClientTerms, InvoiceDraft, InvoiceLineDraft, RateVersion, ServiceLine,
)
from billing_batch.money import ZERO

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def last_cycle_day(cycle: str, as_of: date) -> date:
    """The most recent billing day on or before `as_of` for `daily`, `weekly:<day>`, `monthly:<n>`."""
    if cycle == "daily":
        return as_of
    kind, _, arg = cycle.partition(":")
    if kind == "weekly":
        back = (as_of.weekday() - WEEKDAYS.index(arg)) % 7
        return as_of - timedelta(days=back)
    day = int(arg)

    def in_month(y: int, m: int) -> date:
        return date(y, m, min(day, calendar.monthrange(y, m)[1]))

    this = in_month(as_of.year, as_of.month)
    if this <= as_of:
        return this
    prev = as_of.replace(day=1) - timedelta(days=1)
    return in_month(prev.year, prev.month)


def billing_due(cycle: str, as_of: date, last_billed: date | None) -> bool:
    """Bill when a cycle day has come since the last billing run: a missed cycle day is caught up."""
    return last_billed is None or last_billed < last_cycle_day(cycle, as_of)


def draft_invoices(
    lines: Iterable[ServiceLine],
    rates: Mapping[str, list[RateVersion]],
    clients: Mapping[str, ClientTerms],
    as_of: date,
    tax_rate: Decimal,
    max_line_amount: Decimal | None = None,
    shares: Mapping[str, list[InvoiceLineDraft]] | None = None,
) -> tuple[list[InvoiceDraft], list[ServiceLine]]:
    """One invoice per client for its lines dated on or before `as_of`, lines in date order, and the
    patients' shares of claims (`shares`, by client: `share_line`). Returns the drafts (in client
    order) and the lines that could not be priced: no rate on their date, or coming to more than
    `max_line_amount` (a later rate card made them absurd)."""
    shares = shares or {}
    by_client: dict[str, list[ServiceLine]] = defaultdict(list)
    for line in lines:
        if line.service_date <= as_of:
            by_client[line.client_id].append(line)
    drafts, unpriced = [], []
    for client_id in sorted(set(by_client) | set(shares)):
        terms = clients[client_id]
        out = list(shares.get(client_id, []))
        for line in sorted(by_client[client_id], key=lambda l: (l.service_date, l.id)):
            rate = rate_on(rates.get(line.service_code, []), line.service_date)
            if rate is None:
                unpriced.append(line)
                continue
            price = unit_price(line.unit_price_override, rate)
            amount = line_amount(line.quantity, price)
            if max_line_amount is not None and amount > max_line_amount:
                unpriced.append(line)
                continue
            out.append(InvoiceLineDraft(
                line.id, line.service_date, line.service_code, line_description(rate.description, line.description),
                line.quantity, price, amount, rate.taxable, rate.discretionary))
        if not out:
            continue
        out.sort(key=lambda l: (l.service_date, l.claim_move_id is not None))
        subtotal = sum((l.amount for l in out), ZERO)
        taxable = sum((l.amount for l in out if l.taxable), ZERO)
        rate_pct = ZERO if terms.tax_exempt else tax_rate
        drafts.append(InvoiceDraft(
            client_id, as_of, as_of + timedelta(days=terms.terms_days), terms.terms_days, tuple(out),
            subtotal, rate_pct, tax_on(taxable, rate_pct) if taxable else ZERO))
    return drafts, unpriced


def line_description(service: str, override: str | None) -> str:
    """The service log's Description goes with the rate card's name, never instead of it (the client must
    see what the service was); capped at the ledger column's 500 characters."""
    if not override or override.strip() == service.strip():
        return service
    text = f"{service} — {override}"
    return text if len(text) <= 500 else text[:499] + "…"


def share_line(move_id: int, claim_number: str, payer: str, service_date: date, cents: int,
               kind: str = "patient") -> InvoiceLineDraft:
    """A patient's share of a claim as a line of their invoice, naming the claim and its service date:
    never taxed (the services were), and it may go on a payment plan (covered care is not elective).
    `kind`: `patient` (the payer's remittance said so) or `bill_patient` (the office moved what the
    payer left open to the patient)."""
    amount = Decimal(cents) / 100
    when = f"services of {service_date:%B} {service_date.day}, {service_date.year}"
    # The code column is narrow: "INS" there, the claim number in the description (it would break mid-word).
    what = (f"Your share after insurance ({payer[:200]}), claim {claim_number}" if kind == "patient" else
            f"Balance not paid by your insurance ({payer[:200]}), claim {claim_number}")
    return InvoiceLineDraft(None, service_date, "INS", f"{what}, {when}", Decimal(1), amount, amount, False, False,
                            move_id)
