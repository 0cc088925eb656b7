"""Business stages that turn posted money into allocations, inside the run's transaction."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from sqlalchemy import Connection

from billing_batch.billing.payments import allocate
from billing_batch.ledger import store
from billing_batch.ledger.schema import adjustments, payments
from billing_batch.money import fmt_money


def apply_credit_to_invoice(conn: Connection, client_id: str, invoice_id: int, invoice_date: date,
                            total_cents: int, run_id: int) -> int:
    """A new invoice takes the client's unapplied credit (oldest payment first); returns cents applied."""
    left, applied = total_cents, 0
    for payment_id, _, credit in store.payment_credit_left(conn, client_id):
        if left <= 0:
            break
        take = min(left, credit)
        store.add_allocation(conn, invoice_id, "credit", take, invoice_date, run_id, payment_id=payment_id)
        left, applied = left - take, applied + take
    return applied


def apply_payments(conn: Connection, run_id: int) -> int:
    """Apply every posted, unapplied payment in date order; a reversal re-opens exactly what its payment
    paid. Balances are kept in memory and allocations written in bulk (10,000 payments a night)."""
    pending = store.unapplied_payments(conn)
    if not pending:
        return 0
    open_items = store.all_open_invoices(conn, {p["client_id"] for p in pending})
    rows: list[dict] = []
    made: dict[int, list[dict]] = {}  # this run's allocations per payment, for a reversal in the same run
    for p in pending:
        if p["amount_cents"] < 0:
            original = p["reverses_payment_id"]
            for a in store.payment_allocations(conn, original) + made.get(original, []):
                rows.append(dict(invoice_id=a["invoice_id"], source=a["source"], amount_cents=-a["amount_cents"],
                                 alloc_date=max(p["payment_date"], a["alloc_date"]), run_id=run_id,
                                 payment_id=p["id"]))
                _reopen(open_items.get(p["client_id"], []), a["invoice_id"], a["amount_cents"])
            continue
        items = open_items.get(p["client_id"], [])
        for item, cents in allocate(p["amount_cents"], items, p["invoice_number"]):
            # Money cannot pay an invoice before it exists: the allocation is dated when both do.
            row = dict(invoice_id=item.invoice_id, source="payment", amount_cents=cents,
                       alloc_date=max(p["payment_date"], item.invoice_date), run_id=run_id, payment_id=p["id"])
            rows.append(row)
            made.setdefault(p["id"], []).append(row)
            items[items.index(item)] = replace(item, balance=item.balance - cents)
    store.add_allocations(conn, rows)
    store.mark_all_applied(conn, payments, [p["id"] for p in pending], run_id)
    return len(pending)


def _reopen(items: list, invoice_id: int, cents: int) -> None:
    for n, item in enumerate(items):
        if item.invoice_id == invoice_id:
            items[n] = replace(item, balance=item.balance + cents)
            return


@dataclass(frozen=True)
class Refused:
    """An adjustment that cannot be applied: the column to blame and what to tell staff."""
    record: dict
    column: str
    message: str


@dataclass
class AdjustmentResult:
    applied: int = 0
    credit_notes: list[int] = field(default_factory=list)  # ids, for the outbox
    refused: list[Refused] = field(default_factory=list)


def apply_adjustments(conn: Connection, run_id: int, credit_prefix: str) -> AdjustmentResult:
    """Write-offs, credit notes, voids and refunds (SPEC §4.2), each checked against the ledger as it
    stands after this run's invoices and payments. Issued invoices are never changed: every effect is
    a new allocation or a new credit note."""
    result = AdjustmentResult()
    for adj in store.unapplied_adjustments(conn):
        refusal = _apply(conn, adj, run_id, credit_prefix, result)
        if refusal:
            result.refused.append(Refused(adj, *refusal))
        else:
            store.mark_applied(conn, adjustments, adj["id"], run_id)
            result.applied += 1
    return result


def _apply(conn: Connection, adj: dict, run_id: int, credit_prefix: str,
           result: AdjustmentResult) -> tuple[str, str] | None:
    kind, amount, day = adj["kind"], adj["amount_cents"], adj["date"]
    invoice = store.invoice_by_number(conn, adj["invoice_number"]) if adj["invoice_number"] else None
    if kind == "Refund":
        credit = store.payment_credit_left(conn, adj["client_id"])
        available = sum(c for _, _, c in credit)
        if amount > available:
            return "Amount", f"is more than the client's unapplied credit of {fmt_money(available)}; refund at most that"
        for payment_id, _, left in credit:
            take = min(amount, left)
            if take <= 0:
                break
            store.add_allocation(conn, None, store.REFUND, take, day, run_id, payment_id=payment_id,
                                 adjustment_id=adj["id"])
            amount -= take
        return None
    if kind == "Write-off":
        items = [i for i in store.all_open_invoices(conn, {adj["client_id"]})[adj["client_id"]]
                 if i.balance > 0 and (invoice is None or i.invoice_id == invoice["id"])]
        open_total = sum(i.balance for i in items)
        if amount > open_total:
            what = f"invoice {invoice['number']}'s" if invoice else "the client's"
            return "Amount", f"is more than {what} open balance of {fmt_money(open_total)}; write off at most that"
        for item, cents in allocate(amount, items):
            store.add_allocation(conn, item.invoice_id, "write_off", cents, max(day, item.invoice_date), run_id,
                                 adjustment_id=adj["id"])
        return None
    balance = store.invoice_balance_cents(conn, invoice["id"])
    if kind == "Void":
        if store.invoice_paid_cents(conn, invoice["id"]) > 0:
            return "Invoice Number", ("has payments applied, so it cannot be voided; reverse the payment first, or "
                                      "use a Credit for the unpaid part")
        if balance <= 0:
            return "Invoice Number", "has nothing left to void (already credited, written off or void)"
        amount = balance
    elif amount > balance:
        return "Amount", f"is more than invoice {invoice['number']}'s open balance of {fmt_money(balance)}; credit at most that"
    year = day.year
    number = f"{credit_prefix}-{year}-{store.next_number(conn, credit_prefix, year):05d}"
    cn_id = store.insert_credit_note(conn, number, "void" if kind == "Void" else "credit", invoice, day, amount,
                                     adj["reason"], adj["id"], run_id)
    store.add_allocation(conn, invoice["id"], "credit_note", amount, max(day, invoice["invoice_date"]), run_id,
                         credit_note_id=cn_id, adjustment_id=adj["id"])
    store.add_outbox(conn, "credit_note", cn_id, f"invoices/{day:%Y-%m}/{number}.docx", run_id)
    result.credit_notes.append(cn_id)
    return None
