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

from billing_batch.billing import plans as P
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
    total: int = 0  # the invoice's total and the part of it from non-discretionary services (with tax):
    eligible_total: int = 0  # what may go on a payment plan


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
    plan_id: int | None = None  # money applied to a plan's part of the invoice (counts toward the plan)


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


@dataclass(frozen=True)
class Agreement:
    """A Payment Plans row: a plan over what the client may put on one, as it stands at its date."""
    agreement_id: int
    date: date
    installment_cents: int
    frequency: str
    first_due: dt.date
    plan_cents: int | None = None  # blank: the whole eligible balance
    cancel_date: dt.date | None = None


Event = Payment | Reversal | Adjustment | Agreement
# An agreement comes last on its day: it covers what is open once that day's money has moved.
_RANK = {"Credit": 0, "Void": 0, "Write-off": 0, "Payment": 1, "Refund": 2, "Reversal": 3, "Agreement": 4}


def event_key(e: Event) -> tuple[str, int]:
    """The input row an event comes from: ("a", adjustment), ("g", agreement) or ("p", payment) id."""
    if isinstance(e, Adjustment):
        return "a", e.adjustment_id
    if isinstance(e, Agreement):
        return "g", e.agreement_id
    return "p", e.payment_id


def event_order(e: Event) -> tuple:
    kind = e.kind if isinstance(e, Adjustment) else type(e).__name__
    return (e.date, _RANK[kind], event_key(e)[1])


@dataclass(frozen=True)
class PlanPolicy:
    grace_days: int = 10
    default_after: int = 2
    min_installment_cents: int = 2500
    max_months: int = 12


@dataclass
class PlanBook:
    """A plan and what has been applied to its part of each invoice (by date, for its status)."""
    terms: P.Terms
    parts: dict[int, int]  # invoice id -> cents put on the plan when it was agreed
    covered: list[tuple[date, int]] = field(default_factory=list)
    taken: dict[int, int] = field(default_factory=dict)  # invoice id -> cents applied to that part

    def copy(self) -> PlanBook:
        return PlanBook(self.terms, dict(self.parts), list(self.covered), dict(self.taken))


def _named(book: PlanBook) -> str:
    """A plan as staff know it: its number, or for one agreed in this run (numbered when saved) its date."""
    t = book.terms
    return f"plan {t.number}" if t.number else f"the plan agreed on {t.agreement_date:%Y-%m-%d}"


@dataclass(frozen=True)
class PlanDraft:
    """A plan the engine agreed: its id is provisional (−agreement id) until the ledger saves it."""
    agreement_id: int
    terms: P.Terms
    parts: dict[int, int]


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
    plans: list[PlanDraft] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    applied: list[Event] = field(default_factory=list)


class Account:
    """One client's money as it stands, folded forward event by event."""

    def __init__(self, client_id: str, items: list[Item], funds: list[Funds], credit: int,
                 past: dict[int, list[Alloc]] | None = None, plans: list[PlanBook] | None = None,
                 policy: PlanPolicy = PlanPolicy(), money_through: date | None = None):
        self.client_id = client_id
        self.items = {i.invoice_id: i for i in items}
        self.funds = {f.payment_id: f for f in funds}
        self.credit = credit  # Σ payments − Σ their allocations: below zero when the client owes a refund
        self.past = past or {}  # allocations made by each payment, for its reversal
        self.plans = {b.terms.plan_id: b for b in plans or []}
        self.policy = policy
        self.money_through = money_through  # the date of the latest payment or returned payment applied

    # -- plans
    def plan_in_force(self, on: date) -> PlanBook | None:
        """The client's plan in good standing on `on` (at most one: a second is refused)."""
        for book in self.plans.values():
            if book.terms.agreement_date <= on and P.standing(
                    book.terms, book.covered, on, self.policy.grace_days, self.policy.default_after).good:
                return book
        return None

    def plan_for_money(self, on: date) -> PlanBook | None:
        """The plan money dated `on` counts toward: the one in force then, or else one agreed later —
        the money was entered after the agreement (a check mailed before it), and the plan was agreed
        over a balance that did not know it."""
        book = self.plan_in_force(on)
        later = sorted((b for b in self.plans.values() if b.terms.agreement_date > on
                        and (b.terms.cancel_date is None or b.terms.cancel_date > on)),
                       key=lambda b: (b.terms.agreement_date, b.terms.plan_id))
        return book or (later[0] if later else None)

    def plan_left(self, book: PlanBook | None, invoice_id: int) -> int:
        """What of the invoice's balance is still the plan's (never more than the balance)."""
        if book is None or invoice_id not in book.parts:
            return 0
        left = book.parts[invoice_id] - book.taken.get(invoice_id, 0)
        return max(0, min(left, self.items[invoice_id].balance))

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
        if a.plan_id is not None:
            book = self.plans[a.plan_id]
            book.taken[a.invoice_id or 0] = book.taken.get(a.invoice_id or 0, 0) + a.cents
            book.covered.append((a.date, a.cents))
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
            saved = (dict(self.items), dict(self.funds), self.credit, {k: list(v) for k, v in self.past.items()},
                     {k: b.copy() for k, b in self.plans.items()}, self.money_through)
            refusal = self._apply(e, as_of, trial)
            if refusal:
                self.items, self.funds, self.credit, self.past, self.plans, self.money_through = saved
                out.refusals.append(refusal)
            else:
                out.allocations += trial.allocations
                out.credit_notes += trial.credit_notes
                out.plans += trial.plans
                out.applied.append(e)
        return out

    def _apply(self, e: Event, as_of: date, out: Outcome) -> Refusal | None:
        column = "Payment Date" if isinstance(e, (Payment, Reversal)) else \
            "Agreement Date" if isinstance(e, Agreement) else "Date"
        if e.date > as_of and isinstance(e, Agreement):
            return Refusal(e, column, f"is after today's business date ({as_of:%Y-%m-%d}); a plan is entered on "
                           "or after the day it is agreed — check the date, or drop the row again on that day")
        if e.date > as_of:
            return Refusal(e, column, f"is after today's business date ({as_of:%Y-%m-%d}); money is posted on "
                           "or after the day it moves — drop the row again on that day")
        if isinstance(e, Agreement):
            return self._agreement(e, as_of, out)
        if isinstance(e, Payment):
            return self._payment(e, out)
        if isinstance(e, Reversal):
            return self._reversal(e, out)
        return self._adjustment(e, out)

    def _payment(self, p: Payment, out: Outcome) -> Refusal | None:
        self.funds[p.payment_id] = Funds(p.payment_id, p.date, p.cents)
        self.credit += p.cents
        self.money_through = max(self.money_through or p.date, p.date)
        book = self.plan_in_force(p.date)
        if book is not None:
            self._plan_payment(p, book, out)
            return None
        later = self.plan_for_money(p.date)  # a payment entered after a plan agreed later than it
        items = [Open(i.invoice_id, i.number, i.invoice_date, i.due_date, i.balance) for i in self.open_items()]
        for item, cents in allocate(p.cents, items, p.invoice_number):
            on_plan = min(cents, self.plan_left(later, item.invoice_id))
            for piece, plan in ((on_plan, later.terms.plan_id if later else None), (cents - on_plan, None)):
                if piece > 0:
                    self._add(out, Alloc("payment", piece, max(p.date, item.invoice_date), item.invoice_id,
                                         p.payment_id, plan_id=plan))
        return None

    def _plan_payment(self, p: Payment, book: PlanBook, out: Outcome) -> None:
        """With a plan in force: the named invoice (its plan part first); then the installments due by
        the payment's date, oldest item first; then the client's other open items, oldest first; then
        the plan's later installments; what is left is credit."""
        left = p.cents
        plan_id = book.terms.plan_id

        def pay(item_id: int, on_plan: bool, limit: int | None = None) -> None:
            nonlocal left
            part = self.plan_left(book, item_id)
            room = part if on_plan else self.items[item_id].balance - part
            cents = min(left, room, room if limit is None else limit)
            if cents > 0:
                item = self.items[item_id]
                self._add(out, Alloc("payment", cents, max(p.date, item.invoice_date), item_id, p.payment_id,
                                     plan_id=plan_id if on_plan else None))
                left -= cents

        oldest = sorted(self.open_items(), key=lambda i: (i.due_date, i.number))
        on_plan = [i for i in oldest if i.invoice_id in book.parts]
        named = next((i for i in oldest if i.number == p.invoice_number), None)
        if named is not None:
            pay(named.invoice_id, True)
            pay(named.invoice_id, False)
        due = P.due_by(book.terms, book.covered, p.date)
        for i in on_plan:
            before = left
            pay(i.invoice_id, True, due)
            due -= before - left
        for i in oldest:
            pay(i.invoice_id, False)
        for i in on_plan:
            pay(i.invoice_id, True)

    def _split(self, item_id: int, cents: int, on: date) -> list[tuple[int, int | None]]:
        """A correction of an invoice: its part off any plan first, then the plan's part (which then
        counts toward the plan, as the client owes that much less)."""
        book = self.plan_for_money(on)
        part = self.plan_left(book, item_id)
        off = min(cents, self.items[item_id].balance - part)
        pieces = [(off, None), (cents - off, book.terms.plan_id if book else None)]
        return [(c, plan) for c, plan in pieces if c > 0]

    def _agreement(self, a: Agreement, as_of: date, out: Outcome) -> Refusal | None:
        """A plan over the client's open non-discretionary balance on its date (or `plan_cents` of it,
        oldest items first), with its schedule: refused, saying why, when it breaks the policy."""
        pol = self.policy
        if a.first_due < a.date:
            return Refusal(a, "First Due Date", f"is before the Agreement Date ({a.date:%Y-%m-%d}); the first "
                           "installment falls due on or after the day the plan is agreed")
        if a.cancel_date is not None and a.cancel_date < a.date:
            return Refusal(a, "Cancel Date", f"is before the Agreement Date ({a.date:%Y-%m-%d}); a plan is "
                           "cancelled on or after the day it was agreed")
        if a.cancel_date is not None:
            return Refusal(a, "Cancel Date", f"cancels a plan, but no plan was agreed with this client on "
                           f"{a.date:%Y-%m-%d}; check the Agreement Date against the plan's (Payment Plans sheet)")
        # A plan agreed before or after this date and still in good standing: one plan at a time.
        current = self.plan_in_force(a.date) or next(
            (b for b in self.plans.values() if b.terms.agreement_date > a.date and P.standing(
                b.terms, b.covered, b.terms.agreement_date, self.policy.grace_days, self.policy.default_after).good),
            None)
        # Money moved after this date is already applied (a payment the plan would have sent to its
        # installments, a returned payment that changed what was open): no plan is agreed back before it.
        later = self.money_through
        if later is not None and later > a.date:
            return Refusal(a, "Agreement Date", f"is before money already entered for this client (a payment or a "
                           f"returned payment dated {later:%Y-%m-%d}); a plan cannot be agreed back before it — "
                           "agree it with that date or later (and a First Due Date on or after it), and enter "
                           "agreements before the payments made under them")
        opens = sorted(self.open_items(a.date), key=lambda i: (i.due_date, i.number))
        shares = {i.invoice_id: P.plan_share(i.balance - self.plan_left(current, i.invoice_id), i.eligible_total,
                                             i.total) for i in opens}
        eligible = sum(shares.values())
        if eligible <= 0:
            if not opens:
                why = f"the client has nothing open on {a.date:%Y-%m-%d}"
            elif current is not None and any(self.plan_left(current, i.invoice_id) for i in opens):
                why = f"what the client owes is already on {_named(current)}"
            else:
                why = "what is open is for discretionary services only, which never go on a plan"
            return Refusal(a, "Client ID", f"has no balance that can go on a plan: {why}")
        if current is not None:
            return Refusal(a, "Client ID", f"already has a payment plan in force on {a.date:%Y-%m-%d} "
                           f"({_named(current)}); a new one can be agreed once it is completed, cancelled or has "
                           "ended")
        amount = a.plan_cents or eligible
        if amount > eligible:
            return Refusal(a, "Plan Amount", f"is above the client's balance that can go on a plan "
                           f"({fmt_money(eligible)} on {a.date:%Y-%m-%d}); agree at most that")
        if a.installment_cents < min(pol.min_installment_cents, amount):
            return Refusal(a, "Installment Amount", f"is below the minimum installment of "
                           f"{fmt_money(pol.min_installment_cents)} (plans.min_installment); agree at least that")
        installments = P.schedule(amount, a.installment_cents, a.frequency, a.first_due)
        last = installments[-1][0]
        if P.months_between(a.first_due, last) > pol.max_months:
            return Refusal(a, "Installment Amount", f"is too small: the plan would run until {last:%Y-%m-%d}, "
                           f"more than {pol.max_months} months after the first due date (plans.max_months); "
                           "agree a larger installment")
        parts, left = {}, amount
        for i in opens:
            take = min(left, shares[i.invoice_id])
            if take > 0:
                parts[i.invoice_id] = take
                left -= take
        terms = P.Terms(-a.agreement_id, "", self.client_id, a.date, a.frequency, a.installment_cents, amount,
                        tuple(installments), a.cancel_date)
        book = self.plans[terms.plan_id] = PlanBook(terms, parts)
        out.plans.append(PlanDraft(a.agreement_id, terms, parts))
        now = P.standing(terms, book.covered, as_of, pol.grace_days, pol.default_after)
        if now.status == P.DEFAULTED:  # entered too late to be kept: say so rather than send "ended"
            return Refusal(a, "First Due Date", f"makes a plan that would already be in default today (since "
                           f"{now.ended:%Y-%m-%d}, its installments unpaid); agree the plan again with today's date "
                           "and a first due date still to come")
        return None

    def _reversal(self, r: Reversal, out: Outcome) -> Refusal | None:
        if r.date < r.original_date:
            return Refusal(r, "Payment Date", f"is before the payment it reverses ({r.original_date:%Y-%m-%d}); "
                           "date the reversal on or after the payment")
        self.money_through = max(self.money_through or r.date, r.date)
        original = self.funds.get(r.original_id)
        if original is None or original.reversed:
            return Refusal(r, "Reference", "names a payment that has already been reversed; check the Reference")
        self.funds[r.original_id] = replace(original, reversed=True)
        self.credit += r.cents
        for a in list(self.past.get(r.original_id, [])):
            if a.invoice_id is not None and a.source in PAID:
                self._add(out, Alloc(a.source, -a.cents, max(r.date, a.date), a.invoice_id, r.payment_id,
                                     plan_id=a.plan_id if a.plan_id in self.plans else None))
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
                for piece, plan in self._split(o.invoice_id, c, a.date):
                    self._add(out, Alloc("write_off", piece, a.date, o.invoice_id, adjustment_id=a.adjustment_id,
                                         plan_id=plan))
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
        for piece, plan in self._split(item.invoice_id, cents, a.date):
            self._add(out, Alloc("credit_note", piece, a.date, item.invoice_id, adjustment_id=a.adjustment_id,
                                 plan_id=plan))
        return None
