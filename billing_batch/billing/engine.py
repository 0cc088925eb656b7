"""The money engine (SPEC §4.2): one client's account, and the events that move its money, in cents.
Pure: it reads frozen records and returns allocation rows, credit-note drafts and refusals; the
ledger loads the account, calls it and saves what it returns.

Date rules, all here:
- Nothing dated after the business date moves money (the row waits as a problem until it is due).
- An allocation is never dated before the money it moves exists: a payment applied to a later
  invoice is dated on the invoice's date; credit is only taken from payments dated by then.
- A write-off or credit note is dated on its own date, so its invoice must exist by then.
- A reversal is dated on or after its payment, and undoes exactly what the payment did to invoices,
  including credit it gave to later invoices. A refund already paid out of it is not undone: that
  money left the office, so the client owes it (the account's credit goes below zero).
- Within a run, events apply in date order whatever file or row they came from; on one day,
  corrections first (a void that day is not paid by a payment that day), then payments, refunds,
  and reversals last. The run's new invoices, dated the business date, come after all of them: they
  take the credit left once the run's money has moved (a refund dated before them is not refused).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
import datetime as dt
from datetime import date

from billing_batch.billing.payments import Open, allocate
from billing_batch.money import fmt_money

# Allocation sources. Money from the client: payment, credit (earlier payment credit applied to a
# new invoice). Corrections: write_off, credit_note. Paid back out: refund (no invoice).
PAID = ("payment", "credit")
ADJUSTED = ("write_off", "credit_note")
REFUND = "refund"


@dataclass(frozen=True)
class Item:
    """An invoice of the client with its balance now."""
    invoice_id: int
    number: str
    invoice_date: date
    due_date: date
    balance: int
    paid: int = 0  # payments and credit applied, net of reversals


@dataclass(frozen=True)
class Funds:
    """A payment received (positive) and the part of it not applied yet."""
    payment_id: int
    date: date
    left: int
    reversed: bool = False


@dataclass(frozen=True)
class Alloc:
    source: str
    cents: int
    date: date
    invoice_id: int | None = None
    payment_id: int | None = None
    adjustment_id: int | None = None  # a credit note's allocation names its adjustment: one note each


@dataclass(frozen=True)
class CreditNoteDraft:
    adjustment_id: int
    invoice_id: int
    kind: str  # credit | void
    cents: int
    date: date


# -- events ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Payment:
    payment_id: int
    date: date
    cents: int
    invoice_number: str | None = None


@dataclass(frozen=True)
class Reversal:
    payment_id: int
    date: date
    cents: int  # negative
    original_id: int
    original_date: dt.date


@dataclass(frozen=True)
class Adjustment:
    adjustment_id: int
    date: date
    kind: str  # Write-off | Credit | Void | Refund
    cents: int | None
    invoice_id: int | None = None


Event = Payment | Reversal | Adjustment
_RANK = {"Credit": 0, "Void": 0, "Write-off": 0, "Payment": 1, "Refund": 2, "Reversal": 3}


def event_order(e: Event) -> tuple:
    kind = e.kind if isinstance(e, Adjustment) else type(e).__name__
    ident = e.adjustment_id if isinstance(e, Adjustment) else e.payment_id
    return (e.date, _RANK[kind], ident)


@dataclass(frozen=True)
class Refusal:
    """An event the engine will not apply: the input column to blame and what to tell staff."""
    event: Event
    column: str
    message: str


@dataclass
class Outcome:
    allocations: list[Alloc] = field(default_factory=list)
    credit_notes: list[CreditNoteDraft] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    applied: list[Event] = field(default_factory=list)


class Account:
    """One client's money as it stands, folded forward event by event."""

    def __init__(self, client_id: str, items: list[Item], funds: list[Funds], credit: int,
                 past: dict[int, list[Alloc]] | None = None):
        self.client_id = client_id
        self.items = {i.invoice_id: i for i in items}
        self.funds = {f.payment_id: f for f in funds}
        self.credit = credit  # Σ payments − Σ their allocations: below zero when the client owes a refund
        self.past = past or {}  # allocations made by each payment, for its reversal

    # -- queries
    def available_credit(self, on: date) -> int:
        """Credit that can pay a new invoice or be refunded on `on`: from payments received by then."""
        by_then = sum(f.left for f in self.funds.values() if not f.reversed and f.date <= on)
        return max(0, min(self.credit, by_then))

    def open_items(self, on: date | None = None) -> list[Item]:
        return [i for i in self.items.values() if i.balance > 0 and (on is None or i.invoice_date <= on)]

    # -- bookkeeping
    def _add(self, out: Outcome, a: Alloc) -> None:
        out.allocations.append(a)
        if a.invoice_id is not None:
            item = self.items[a.invoice_id]
            self.items[a.invoice_id] = replace(item, balance=item.balance - a.cents,
                                               paid=item.paid + (a.cents if a.source in PAID else 0))
        if a.payment_id is not None:
            self.credit -= a.cents
            self.past.setdefault(a.payment_id, []).append(a)
            f = self.funds.get(a.payment_id)
            if f is not None:
                self.funds[a.payment_id] = replace(f, left=f.left - a.cents)

    def _draw(self, out: Outcome, cents: int, on: date, source: str, invoice_id: int | None,
              adjustment_id: int | None = None) -> None:
        """Take `cents` of credit from payments received by `on`, oldest first."""
        for f in sorted(self.funds.values(), key=lambda f: (f.date, f.payment_id)):
            if cents <= 0:
                break
            if f.reversed or f.date > on or f.left <= 0:
                continue
            take = min(cents, f.left)
            self._add(out, Alloc(source, take, on, invoice_id, f.payment_id, adjustment_id))
            cents -= take

    # -- events
    def new_invoice(self, item: Item) -> Outcome:
        """A new invoice takes the client's credit available on its date."""
        out = Outcome()
        self.items[item.invoice_id] = item
        take = min(item.balance, self.available_credit(item.invoice_date))
        if take > 0:
            self._draw(out, take, item.invoice_date, "credit", item.invoice_id)
        return out

    def settle(self, events: list[Event], as_of: date) -> Outcome:
        """Apply a run's events in date order; each either applies whole or is refused whole."""
        out = Outcome()
        for e in sorted(events, key=event_order):
            trial = Outcome()
            saved = (dict(self.items), dict(self.funds), self.credit, {k: list(v) for k, v in self.past.items()})
            refusal = self._apply(e, as_of, trial)
            if refusal:
                self.items, self.funds, self.credit, self.past = saved
                out.refusals.append(refusal)
            else:
                out.allocations += trial.allocations
                out.credit_notes += trial.credit_notes
                out.applied.append(e)
        return out

    def _apply(self, e: Event, as_of: date, out: Outcome) -> Refusal | None:
        column = "Payment Date" if isinstance(e, (Payment, Reversal)) else "Date"
        if e.date > as_of:
            return Refusal(e, column, f"is after today's business date ({as_of:%Y-%m-%d}); money is posted on "
                           "or after the day it moves — drop the row again on that day")
        if isinstance(e, Payment):
            return self._payment(e, out)
        if isinstance(e, Reversal):
            return self._reversal(e, out)
        return self._adjustment(e, out)

    def _payment(self, p: Payment, out: Outcome) -> Refusal | None:
        self.funds[p.payment_id] = Funds(p.payment_id, p.date, p.cents)
        self.credit += p.cents
        items = [Open(i.invoice_id, i.number, i.invoice_date, i.due_date, i.balance) for i in self.open_items()]
        for item, cents in allocate(p.cents, items, p.invoice_number):
            self._add(out, Alloc("payment", cents, max(p.date, item.invoice_date), item.invoice_id, p.payment_id))
        return None

    def _reversal(self, r: Reversal, out: Outcome) -> Refusal | None:
        if r.date < r.original_date:
            return Refusal(r, "Payment Date", f"is before the payment it reverses ({r.original_date:%Y-%m-%d}); "
                           "date the reversal on or after the payment")
        original = self.funds.get(r.original_id)
        if original is None or original.reversed:
            return Refusal(r, "Reference", "names a payment that has already been reversed; check the Reference")
        self.funds[r.original_id] = replace(original, reversed=True)
        self.credit += r.cents
        for a in list(self.past.get(r.original_id, [])):
            if a.invoice_id is not None and a.source in PAID:
                self._add(out, Alloc(a.source, -a.cents, max(r.date, a.date), a.invoice_id, r.payment_id))
        return None

    def _adjustment(self, a: Adjustment, out: Outcome) -> Refusal | None:
        if a.kind == "Refund":
            cents = a.cents or 0
            available = self.available_credit(a.date)
            if cents > available:
                return Refusal(a, "Amount", f"is more than the client's unapplied credit of {fmt_money(available)} "
                               f"on {a.date:%Y-%m-%d}; refund at most that")
            self._draw(out, cents, a.date, REFUND, None, a.adjustment_id)
            return None
        item = self.items.get(a.invoice_id) if a.invoice_id is not None else None
        if item is not None and item.invoice_date > a.date:
            return Refusal(a, "Date", f"is before invoice {item.number}'s date ({item.invoice_date:%Y-%m-%d}); "
                           "date the correction on or after the invoice")
        if a.kind == "Write-off":
            cents = a.cents or 0
            items = [i for i in self.open_items(a.date) if item is None or i.invoice_id == item.invoice_id]
            open_total = sum(i.balance for i in items)
            if cents > open_total:
                what = f"invoice {item.number}'s" if item else "the client's"
                return Refusal(a, "Amount", f"is more than {what} open balance of {fmt_money(open_total)} on "
                               f"{a.date:%Y-%m-%d}; write off at most that")
            opens = [Open(i.invoice_id, i.number, i.invoice_date, i.due_date, i.balance) for i in items]
            for o, c in allocate(cents, opens):
                self._add(out, Alloc("write_off", c, a.date, o.invoice_id, adjustment_id=a.adjustment_id))
            return None
        assert item is not None  # intake requires the invoice for Credit and Void
        if a.kind == "Void":
            if item.paid > 0:
                return Refusal(a, "Invoice Number", "has payments applied, so it cannot be voided; reverse the "
                               "payment first, or use a Credit for the unpaid part")
            if item.balance <= 0:
                return Refusal(a, "Invoice Number", "has nothing left to void (already credited, written off or void)")
            cents = item.balance
        else:
            cents = a.cents or 0
            if cents > item.balance:
                return Refusal(a, "Amount", f"is more than invoice {item.number}'s open balance of "
                               f"{fmt_money(item.balance)}; credit at most that")
        out.credit_notes.append(CreditNoteDraft(a.adjustment_id, item.invoice_id,
                                                "void" if a.kind == "Void" else "credit", cents, a.date))
        self._add(out, Alloc("credit_note", cents, a.date, item.invoice_id, adjustment_id=a.adjustment_id))
        return None
