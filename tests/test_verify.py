"""The ledger's proof can fail: each corruption below, made behind the engine's back, makes
`billing-batch verify` and the next run refuse (exit 2) with a message naming what is wrong, and the
run posts nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, delete, func, insert, select, update

from billing_batch.cli import main
from billing_batch.ledger.db import open_ledger
from billing_batch.ledger.schema import allocations, counters, invoice_lines, invoices, outbox, payments, runs
from tests.office import Office
from tests.test_regressions_ledger import ADJ, D, LOG, PAY, start


def scenario(office: Office) -> None:
    """X1: INV-1 100 (03-01) paid exactly on 03-02; X2: INV-2 100 (03-01), 30 written off on 03-03, and a
    payment of 50 on 03-02 returned on 03-03."""
    start(office, visits=((D(2026, 3, 1), "X1"), (D(2026, 3, 1), "X2")))
    office.drop("m.xlsx", {
        "Payments": [PAY, [D(2026, 3, 2), "X1", Decimal("100.00"), "Check", "1", None],
                     [D(2026, 3, 2), "X2", Decimal("50.00"), "Check", "2", None],
                     [D(2026, 3, 3), "X2", Decimal("-50.00"), "Check", "2", None]],
        "Adjustments": [ADJ, [D(2026, 3, 3), "X2", "Write-off", Decimal("30.00"), "INV-2026-00002", "small"]]})
    from billing_batch.pipeline import run_batch
    run_batch(office.settings, D(2026, 3, 3))


def run(office: Office, *args: str):
    return CliRunner().invoke(main, [*args, "--config", str(office.config), "--as-of", "2026-03-04"])


def corrupt(office: Office, how) -> None:
    engine = create_engine(office.settings.database_url)  # without the guard on issued documents
    with engine.begin() as c:
        how(c)
    engine.dispose()


def _payment_applied_twice(c):
    a = c.execute(select(allocations).where(allocations.c.source == "payment",
                                            allocations.c.amount_cents == 10_000)).one()._mapping
    c.execute(insert(allocations).values({k: v for k, v in a.items() if k != "id"}))


def _invoice_below_zero(c):
    inv = c.execute(select(invoices.c.id).where(invoices.c.number == "INV-2026-00002")).scalar()
    run_id = c.execute(select(func.max(runs.c.id))).scalar()
    c.execute(insert(allocations).values(invoice_id=inv, source="write_off", amount_cents=9000,
                                         alloc_date=D(2026, 3, 3), run_id=run_id))


def _write_off_changed(c):
    c.execute(update(allocations).where(allocations.c.source == "write_off").values(amount_cents=2000))


def _payment_amount_changed(c):
    c.execute(update(payments).where(payments.c.client_id == "X1").values(amount_cents=9000))


def _number_gap(c):
    c.execute(update(counters).where(counters.c.series == "INV").values(last=counters.c.last + 1))


def _document_not_queued(c):
    c.execute(delete(outbox).where(outbox.c.kind == "invoice", outbox.c.path.like("%INV-2026-00001%")))


def _adjustment_lost(c):
    c.execute(delete(allocations).where(allocations.c.source == "write_off"))


def _invoice_line_changed(c):
    c.execute(update(invoice_lines).values(amount_cents=5000))


def _invoice_lines_deleted(c):
    c.execute(delete(invoice_lines))


def _invoice_redated(c):
    c.execute(update(invoices).where(invoices.c.number == "INV-2026-00001").values(invoice_date=D(2026, 3, 20)))


def _allocation_in_the_future(c):
    c.execute(update(allocations).where(allocations.c.source == "write_off").values(alloc_date=D(2027, 5, 1)))


def _payment_became_write_off(c):
    c.execute(update(allocations).where(allocations.c.amount_cents == 10_000).values(source="write_off"))


def _reversed_payment_grew(c):
    c.execute(update(payments).where(payments.c.amount_cents == 5000).values(amount_cents=8000))


CASES = {
    "payment applied twice": (_payment_applied_twice, ["payment", "has $200.00 applied", "outside 0 to $100.00"]),
    "invoice written below zero": (_invoice_below_zero, ["client X2", "invoice INV-2026-00002 has a balance of -$20.00"]),
    "write-off allocation changed": (_write_off_changed, ["client X2: the inputs give $70.00, the aging $80.00"]),
    "payment amount changed": (_payment_amount_changed, ["payment 1 of client X1 ($90.00) has $100.00 applied"]),
    "numbering gap": (_number_gap, ["the INV numbers of 2026 are not 1 to 3"]),
    "document not queued": (_document_not_queued, ["1 issued invoice without a document queued"]),
    "write-off lost": (_adjustment_lost, ["client X2: the inputs give $70.00, the aging $100.00"]),
    "invoice line changed": (_invoice_line_changed, ["invoice INV-2026-00001's lines ($50.00, 1 line)"]),
    "invoice lines deleted": (_invoice_lines_deleted, ["lines ($0.00, 0 lines) and tax do not add up"]),
    "invoice redated": (_invoice_redated, ["invoice INV-2026-00001 is dated 2026-03-20, not on the day"]),
    "allocation in the future": (_allocation_in_the_future, ["is dated 2027-05-01, after the run that made it"]),
    "payment became a write-off": (_payment_became_write_off, ["(write_off) does not point at what moved it"]),
    "reversed payment grew": (_reversed_payment_grew, ["does not undo its payment of $80.00"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_corrupted_ledger_is_refused(office: Office, case: str):
    scenario(office)
    assert run(office, "verify").exit_code == 0
    how, expected = CASES[case]
    corrupt(office, how)
    checked = run(office, "verify")
    assert checked.exit_code == 2
    for words in expected:
        assert words in checked.output, (words, checked.output)
    office.drop("n.xlsx", {"Service Log": [LOG, [D(2026, 3, 4), "X1", "OV", 1]]})
    nightly = run(office, "run")
    assert nightly.exit_code == 2 and "does not prove itself" in nightly.output
    assert (office.inbox / "n.xlsx").exists()  # rolled back: nothing posted, nothing moved
    engine = open_ledger(office.settings.database_url)
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(invoices)).scalar() == 2
    engine.dispose()


def test_a_sound_ledger_proves_itself_on_every_date(office: Office):
    scenario(office)
    for day in ("2026-02-28", "2026-03-01", "2026-03-02", "2026-03-03", "2026-12-31"):
        r = CliRunner().invoke(main, ["verify", "--config", str(office.config), "--as-of", day])
        assert r.exit_code == 0 and "proves itself" in r.output, r.output
