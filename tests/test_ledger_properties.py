"""Ledger invariants over random histories (hypothesis): invoices, payments, reversals, write-offs,
credit notes, voids and refunds applied by the real stages, then checked from the tables."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import func, select

from billing_batch.billing.aging import age
from billing_batch.billing.records import InvoiceDraft, InvoiceLineDraft
from billing_batch.ledger import store
from billing_batch.ledger.apply import apply_adjustments, apply_credit_to_invoice, apply_payments
from billing_batch.ledger.db import open_ledger
from billing_batch.ledger.schema import adjustments, allocations, clients, credit_notes, invoices, payments
from billing_batch.money import from_cents

START = dt.date(2026, 1, 1)
CLIENTS = ("A", "B")

op = st.one_of(
    st.tuples(st.just("invoice"), st.sampled_from(CLIENTS), st.integers(100, 40_000)),
    st.tuples(st.just("payment"), st.sampled_from(CLIENTS), st.integers(1, 60_000), st.booleans()),
    st.tuples(st.just("reversal"), st.sampled_from(CLIENTS), st.integers(0, 5)),
    st.tuples(st.just("Write-off"), st.sampled_from(CLIENTS), st.integers(1, 20_000), st.booleans()),
    st.tuples(st.just("Credit"), st.sampled_from(CLIENTS), st.integers(1, 20_000)),
    st.tuples(st.just("Void"), st.sampled_from(CLIENTS)),
    st.tuples(st.just("Refund"), st.sampled_from(CLIENTS), st.integers(1, 20_000)),
)


def _history(conn, ops: list[tuple]) -> list[dt.date]:
    run = store.start_run(conn, START, dt.datetime(2026, 1, 1))
    for c in CLIENTS:
        conn.execute(clients.insert().values(client_id=c, name=c, type="Individual", address_line_1="x", city="y",
                                             postal_code="1", delivery="Mail", tax_exempt=False,
                                             collections_hold=False, run_id=run))
    seq = itertools.count()
    days = []
    for i, (kind, client, *args) in enumerate(ops):
        day = START + dt.timedelta(days=3 * i)
        days.append(day)
        last_invoice = conn.execute(select(invoices.c.number).where(invoices.c.client_id == client)
                                    .order_by(invoices.c.id.desc())).scalar()
        if kind == "invoice":
            cents = args[0]
            amount = from_cents(cents)
            line = InvoiceLineDraft(None, day, "X", "x", 1, amount, amount, False, False)
            draft = InvoiceDraft(client, day, day + dt.timedelta(days=30), 30, (line,), amount, 0, from_cents(0))
            number = f"INV-{day.year}-{store.next_number(conn, 'INV', day.year):05d}"
            inv = store.insert_invoices(conn, [(draft, number, {"client_id": client})], run)[number]
            apply_credit_to_invoice(conn, client, inv, day, cents, run)
        elif kind == "payment":
            cents, named = args
            conn.execute(payments.insert().values(
                identity=f"p{next(seq)}", occurrence=1, content_hash="", client_id=client, payment_date=day,
                amount_cents=cents, reference=f"R{i}", invoice_number=last_invoice if named else None, run_id=run))
        elif kind == "reversal":
            candidates = [p for ps in store.reversible_payments(conn).values() for p in ps
                          if not p["reversed"]]
            candidates = [p for p in candidates if conn.execute(select(payments.c.client_id).where(
                payments.c.id == p["id"])).scalar() == client]
            if candidates:
                original = candidates[args[0] % len(candidates)]
                conn.execute(payments.insert().values(
                    identity=f"p{next(seq)}", occurrence=1, content_hash="", client_id=client, payment_date=day,
                    amount_cents=-original["amount_cents"], reverses_payment_id=original["id"], run_id=run))
        else:
            cents = args[0] if args else None
            number = last_invoice if kind in ("Credit", "Void") or (kind == "Write-off" and args[1]) else None
            if kind in ("Credit", "Void") and number is None:
                continue
            conn.execute(adjustments.insert().values(
                identity=f"a{next(seq)}", occurrence=1, content_hash="", date=day, client_id=client, kind=kind,
                amount_cents=cents, invoice_number=number, reason="r", run_id=run))
        apply_payments(conn, run)
        for refused in apply_adjustments(conn, run, "CN").refused:  # the Poster hands these back to staff
            conn.execute(adjustments.delete().where(adjustments.c.id == refused.record["id"]))
    return days


def _gapless(numbers: list[str]) -> bool:
    by_year = defaultdict(list)
    for n in numbers:
        _, year, seq = n.split("-")
        by_year[year].append(int(seq))
    return all(sorted(s) == list(range(1, len(s) + 1)) for s in by_year.values())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, min_size=1, max_size=25))
def test_ledger_invariants_hold_after_any_history(tmp_path_factory, ops):
    engine = open_ledger(f"sqlite:///{tmp_path_factory.mktemp('l') / 'ledger.sqlite'}")
    with engine.begin() as conn:
        days = _history(conn, ops)
        for as_of in sorted(set(days))[::3] + [days[-1] + dt.timedelta(days=365)]:
            items = store.open_items(conn, as_of)
            credits = store.unapplied_credits(conn, as_of)
            aging = age(items, credits, as_of, [30, 60, 90, 120])
            # Σ buckets − unapplied credit = Σ invoices − Σ payments − Σ adjustments, on every date.
            assert aging.balance == store.ledger_balance(conn, as_of)
            assert all(i.balance >= 0 for i in items), "no open item below zero"
            assert all(c >= 0 for c in credits.values()), "no negative credit"
        for p in conn.execute(select(payments)).all():
            applied = conn.execute(select(func.coalesce(func.sum(allocations.c.amount_cents), 0))
                                   .where(allocations.c.payment_id == p.id)).scalar()
            if p.amount_cents > 0:
                assert 0 <= applied <= p.amount_cents  # the rest is the client's unapplied credit
            else:  # a reversal takes back exactly what its payment had applied
                original = conn.execute(select(func.coalesce(func.sum(allocations.c.amount_cents), 0))
                                        .where(allocations.c.payment_id == p.reverses_payment_id)).scalar()
                assert applied == -original
        assert _gapless(conn.execute(select(invoices.c.number)).scalars().all())
        assert _gapless(conn.execute(select(credit_notes.c.number)).scalars().all())
    engine.dispose()
