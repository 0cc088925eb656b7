"""Ledger invariants over random histories (hypothesis), through the real nightly run: several runs,
each with services, payments (some named, some future-dated), reversals (before and after refunds,
some dated before their payment), refunds, write-offs, credits, voids, and files dropped again.

The expectation is a model written here, independently of billing/engine.py: a few lines of plain
bookkeeping per rule of SPEC §4.2. After every run: the run's own proof passed (it refuses to commit
otherwise), each client's balance equals the model's, and the rows handed back as problems are
exactly the ones the model refuses."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from billing_batch.ledger.db import open_ledger
from billing_batch.pipeline import aging_as_of, run_batch
from tests.office import Office
from tests.test_regressions_ledger import ADJ, CLIENTS, LOG, PAY, RATES

START = dt.date(2026, 3, 1)
NAMES = ("X1", "X2")
PRICE = 10_000  # OV: 100.00

client = st.sampled_from(NAMES)
offset = st.integers(-3, 1)
# Mostly round amounts, so overpayments, exact refunds and write-offs of what is left happen often.
amount = st.one_of(st.sampled_from([2_500, 5_000, 10_000, 15_000, 20_000]), st.integers(1, 30_000))
op = st.one_of(
    st.tuples(st.just("service"), client, st.integers(1, 3)),
    st.tuples(st.just("payment"), client, amount, st.booleans(), st.integers(-3, 2)),
    st.tuples(st.just("reversal"), client, st.integers(0, 4), offset),
    st.tuples(st.just("Refund"), client, amount, offset),
    st.tuples(st.just("Write-off"), client, amount, offset),
    st.tuples(st.just("Credit"), client, amount, offset),
    st.tuples(st.just("Void"), client, offset),
    st.tuples(st.just("redrop"), st.integers(0, 10)),
)
runs_ = st.lists(st.tuples(st.integers(1, 3), st.lists(op, max_size=6)), min_size=1, max_size=6)


# -- the model -----------------------------------------------------------------------------------------

@dataclass
class Inv:
    number: str
    day: dt.date
    balance: int
    paid: int = 0


@dataclass
class Pay:
    ref: str
    day: dt.date
    amount: int
    left: int
    order: tuple  # (run, position): the order the ledger numbers payments in
    allocs: list = field(default_factory=list)  # [inv, cents], what it paid
    reversed: bool = False


@dataclass
class Client:
    invoices: list[Inv] = field(default_factory=list)
    pays: dict[str, Pay] = field(default_factory=dict)
    credit: int = 0  # received − applied − refunded; below zero when a refunded payment bounced

    def balance(self) -> int:
        return sum(i.balance for i in self.invoices) - self.credit

    def available(self, day: dt.date) -> int:
        return max(0, min(self.credit, sum(p.left for p in self.pays.values() if not p.reversed and p.day <= day)))

    def draw(self, cents: int, day: dt.date, inv: Inv | None) -> None:
        for p in sorted(self.pays.values(), key=lambda p: (p.day, p.order)):  # oldest payment first
            if cents <= 0:
                break
            if p.reversed or p.day > day or p.left <= 0:
                continue
            take = min(cents, p.left)
            p.left -= take
            self.credit -= take
            cents -= take
            if inv is not None:
                inv.balance -= take
                inv.paid += take
                p.allocs.append([inv, take])


class Model:
    def __init__(self):
        self.clients = {c: Client() for c in NAMES}
        self.next_invoice = 1

    def bill(self, day: dt.date, qty: dict[str, int]) -> None:
        for c in sorted(qty):
            inv = Inv(f"INV-{day.year}-{self.next_invoice:05d}", day, qty[c] * PRICE)
            self.next_invoice += 1
            self.clients[c].invoices.append(inv)
            self.clients[c].draw(min(inv.balance, self.clients[c].available(day)), day, inv)

    def apply(self, row: dict, today: dt.date, order: tuple) -> bool:
        """One payment or adjustment row; False when the run must refuse it."""
        c = self.clients[row["client"]]
        kind, day, cents = row["kind"], row["day"], row["cents"]
        if day > today:
            return False
        inv = next((i for i in c.invoices if i.number == row.get("invoice")), None)
        if kind == "payment":
            p = c.pays[row["ref"]] = Pay(row["ref"], day, cents, cents, order)
            c.credit += cents
            order = sorted((i for i in c.invoices if i.balance > 0), key=lambda i: (i is not inv, i.day, i.number))
            for i in order:
                take = min(p.left, i.balance)
                if take > 0:
                    i.balance -= take
                    i.paid += take
                    p.left -= take
                    c.credit -= take
                    p.allocs.append([i, take])
            return True
        if kind == "reversal":
            p = c.pays.get(row["ref"])
            if p is None or p.reversed or day < p.day:
                return False
            p.reversed = True
            c.credit -= p.amount
            for i, take in p.allocs:  # what it paid comes back; what it refunded stays owed
                i.balance += take
                i.paid -= take
                c.credit += take
            return True
        if kind == "Refund":
            if cents > c.available(day):
                return False
            c.draw(cents, day, None)
            return True
        if inv is not None and inv.day > day:
            return False
        if kind == "Write-off":
            items = sorted((i for i in c.invoices if i.balance > 0 and i.day <= day), key=lambda i: (i.day, i.number))
            if cents > sum(i.balance for i in items):
                return False
            for i in items:
                take = min(cents, i.balance)
                i.balance -= take
                cents -= take
            return True
        if kind == "Void":
            if inv.paid > 0 or inv.balance <= 0:
                return False
            inv.balance = 0
            return True
        if cents > inv.balance:  # Credit
            return False
        inv.balance -= cents
        return True


# -- driving the real run ------------------------------------------------------------------------------

RANK = {"Credit": 0, "Void": 0, "Write-off": 0, "payment": 1, "Refund": 2, "reversal": 3}


def workbook(rows: list[dict]) -> dict:
    pays = [[r["day"], r["client"], Decimal(r["cents"] * (-1 if r["kind"] == "reversal" else 1)) / 100, "Check",
             r["ref"], r.get("invoice")] for r in rows if r["kind"] in ("payment", "reversal")]
    adjs = [[r["day"], r["client"], r["kind"], None if r["kind"] == "Void" else Decimal(r["cents"]) / 100,
             r.get("invoice"), "test"] for r in rows if r["kind"] not in ("payment", "reversal")]
    sheets = {}
    if pays:
        sheets["Payments"] = [PAY, *pays]
    if adjs:
        sheets["Adjustments"] = [ADJ, *adjs]
    return sheets


def history(tmp: os.PathLike, url: str, runs: list) -> None:
    office = Office.create(tmp, url)
    office.drop("a-master.xlsx", {"Clients": CLIENTS, "Rates": RATES})
    model, today, files, refs, used = Model(), START - dt.timedelta(days=1), [], 0, set()
    run_batch(office.settings, today)
    for n, (gap, ops) in enumerate(runs):
        today += dt.timedelta(days=gap)
        qty: dict[str, int] = {}
        fresh: list[dict] = []
        again: set[int] = set()
        for kind, *args in ops:
            if kind == "service":
                qty[args[0]] = qty.get(args[0], 0) + args[1]
                continue
            if kind == "redrop":
                if files:
                    again.add(args[0] % len(files))
                continue
            c = model.clients[args[0]]
            last = c.invoices[-1].number if c.invoices else None
            row = {"client": args[0], "kind": kind, "cents": 0}
            if kind == "payment":
                refs += 1
                row.update(cents=args[1], ref=f"R{refs}", invoice=last if args[2] else None,
                           day=today + dt.timedelta(days=args[3]))
            elif kind == "reversal":
                mine = [r for f in [*files, fresh] for r in f if r["kind"] == "payment" and r["client"] == args[0]]
                if not mine:
                    continue
                target = mine[args[1] % len(mine)]
                row.update(cents=target["cents"], ref=target["ref"], day=today + dt.timedelta(days=args[2]))
                key = ("reversal", target["ref"])  # one reversal per payment
            else:
                if kind in ("Credit", "Void") and last is None:
                    continue
                row.update(cents=0 if kind == "Void" else args[1], day=today + dt.timedelta(days=args[-1]),
                           invoice=last if kind in ("Credit", "Void") else None)
                while kind != "Void" and (args[0], row["day"], kind, row["invoice"], row["cents"]) in used:
                    row["cents"] += 1  # a different row, not the same one typed twice (that posts once)
                key = (args[0], row["day"], kind, row["invoice"], row["cents"])
            if kind != "payment":
                if key in used:
                    continue
                used.add(key)
            fresh.append(row)
        if qty:
            office.drop(f"log-{n}.xlsx", {"Service Log": [LOG, *[[today, c, "OV", q] for c, q in sorted(qty.items())]]})
        if fresh:
            office.drop(f"money-{n}.xlsx", workbook(fresh))
        for k in sorted(again):  # named to sort after money-N: ledger ids follow posting order
            office.drop(f"zz-again-{n}-{k}.xlsx", workbook(files[k]))
        result = run_batch(office.settings, today)
        # The model, in the run's order: every money row by date and kind, then the run's invoices. A file
        # dropped again posts only what it had refused before.
        pending = fresh + [r for k in sorted(again) for r in files[k] if not r["posted"]]
        for order, r in sorted(enumerate(pending), key=lambda e: (e[1]["day"], RANK[e[1]["kind"]], e[0])):
            r["posted"] = model.apply(r, today, (n, order))
        model.bill(today, qty)
        got = [p for p in result.problems if p.level == "error"]
        assert len(got) == sum(1 for r in pending if not r["posted"]), ([p.text() for p in got], pending)
        engine = open_ledger(office.settings.database_url)
        with engine.connect() as conn:
            aging, recon, proof = aging_as_of(conn, today, [30, 60, 90, 120])
        engine.dispose()
        assert recon.ties and proof.ok, proof.failures
        balances = {c.client_id: int(c.balance * 100) for c in aging.clients}
        assert {c: balances.get(c, 0) for c in NAMES} == {c: m.balance() for c, m in model.clients.items()}
        if fresh:
            files.append(fresh)


@settings(max_examples=int(os.environ.get("LEDGER_EXAMPLES", "30")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(runs=runs_)
def test_balances_match_an_independent_model_sqlite(tmp_path_factory, runs):
    tmp = tmp_path_factory.mktemp("office")
    history(tmp / "office", f"sqlite:///{tmp / 'ledger.sqlite'}", runs)


@pytest.mark.postgres
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(runs=runs_)
def test_balances_match_an_independent_model_postgresql(tmp_path_factory, runs):
    from tests.conftest import _postgres_database

    url, drop = _postgres_database()
    try:
        history(tmp_path_factory.mktemp("office") / "office", url, runs)
    finally:
        drop()
