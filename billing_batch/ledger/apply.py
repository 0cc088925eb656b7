"""Business stages that turn posted money into allocations, inside the run's transaction."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection

from billing_batch.billing.payments import allocate
from billing_batch.ledger import store
from billing_batch.ledger.schema import payments


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
    """Apply every posted, unapplied payment; a reversal re-opens exactly what its payment paid."""
    done = 0
    for p in store.unapplied_payments(conn):
        if p["amount_cents"] < 0:
            for a in store.payment_allocations(conn, p["reverses_payment_id"]):
                store.add_allocation(conn, a["invoice_id"], a["source"], -a["amount_cents"],
                                     max(p["payment_date"], a["alloc_date"]), run_id, payment_id=p["id"])
        else:
            for item, cents in allocate(p["amount_cents"], store.open_invoices(conn, p["client_id"]),
                                        p["invoice_number"]):
                # Money cannot pay an invoice before it exists: the allocation is dated when both do.
                store.add_allocation(conn, item.invoice_id, "payment", cents,
                                     max(p["payment_date"], item.invoice_date), run_id, payment_id=p["id"])
        store.mark_applied(conn, payments, p["id"], run_id)
        done += 1
    return done
