"""One test per money bug of issue 10, each on both ledgers, each failing on the code before its fix.
Expected balances are worked out by hand in the comments."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import openpyxl
from click.testing import CliRunner
from sqlalchemy import func, select

from billing_batch.cli import main
from billing_batch.ledger.db import open_ledger
from billing_batch.ledger.schema import allocations, letters, payments, service_lines
from billing_batch.pipeline import aging_report, run_batch
from billing_batch.statements import write_statement
from tests.office import Office
from tests.test_receivables import docx_text

D = dt.date
CLIENTS = [["Client ID", "Name", "Type", "Address Line 1", "City", "Postal Code", "Terms Days"],
           ["X1", "Pat Doe", "Individual", "1 Elm St", "Springfield", "62701", 0],
           ["X2", "Sam Roe", "Individual", "2 Oak St", "Springfield", "62702", 0]]
RATES = [["Service Code", "Description", "Unit Price", "Effective From", "Effective To"],
         ["OV", "Office visit", Decimal("100.00"), None, None]]
LOG = ["Service Date", "Client ID", "Service Code", "Quantity"]
PAY = ["Payment Date", "Client ID", "Amount", "Method", "Reference", "Invoice Number"]
ADJ = ["Date", "Client ID", "Kind", "Amount", "Invoice Number", "Reason"]


def start(office: Office, visits=((D(2026, 3, 1), "X1"),)) -> None:
    """Clients and rates, and visits billed on 03-01 (terms 0: due the same day)."""
    office.drop("a-clients.xlsx", {"Clients": CLIENTS, "Rates": RATES})
    office.drop("b-log.xlsx", {"Service Log": [LOG, *[[d, c, "OV", 1] for d, c in visits]]})
    run_batch(office.settings, D(2026, 3, 1))


def balances(office: Office, as_of: dt.date) -> dict[str, Decimal]:
    """Per-client balance from the aging workbook read back (Aging by Client sheet)."""
    path, recon = aging_report(office.settings, as_of)
    assert recon.ties
    ws = openpyxl.load_workbook(path)["Aging by Client"]
    rows = list(ws.iter_rows(values_only=True))
    head = next(i for i, r in enumerate(rows) if r and "Client ID" in r)
    cols = rows[head]
    out = {}
    for r in rows[head + 1:]:
        if r[cols.index("Client ID")] in ("X1", "X2"):
            out[r[cols.index("Client ID")]] = Decimal(str(r[cols.index("Balance")])).quantize(Decimal("0.01"))
    return out


def errors(result) -> list[tuple]:
    return [(p.where.sheet, p.where.row, p.where.column) for p in result.problems if p.level == "error"]


def verify_exit(office: Office, as_of: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, ["verify", "--config", str(office.config), "--as-of", as_of])
    return r.exit_code, r.output


# 1 ---------------------------------------------------------------------------------------------------
def test_future_dated_payment_is_a_problem_and_no_allocation_predates_its_money(office: Office):
    start(office)
    office.drop("pay.xlsx", {"Payments": [PAY, [D(2026, 3, 10), "X1", Decimal("100.00"), "Check", "9", None]]})
    r = run_batch(office.settings, D(2026, 3, 5))
    assert errors(r) == [("Payments", 2, "Payment Date")]
    assert "after today's business date (2026-03-05)" in r.problems[0].message
    assert balances(office, D(2026, 3, 5)) == {"X1": Decimal("100.00")}
    # Dropped again on the day it arrives, it posts and pays the invoice.
    office.drop("pay.xlsx", {"Payments": [PAY, [D(2026, 3, 10), "X1", Decimal("100.00"), "Check", "9", None]]})
    assert errors(run_batch(office.settings, D(2026, 3, 10))) == []
    assert balances(office, D(2026, 3, 10)) == {}
    engine = open_ledger(office.settings.database_url)
    with engine.connect() as c:
        early = c.execute(select(func.count()).select_from(allocations.join(payments))
                          .where(allocations.c.alloc_date < payments.c.payment_date)).scalar()
    engine.dispose()
    assert early == 0
    assert verify_exit(office, "2026-03-10")[0] == 0


# 2 ---------------------------------------------------------------------------------------------------
def test_refund_then_bounced_cheque_keeps_the_refund_owed(office: Office):
    start(office)
    office.drop("m.xlsx", {
        "Payments": [PAY, [D(2026, 3, 2), "X1", Decimal("150.00"), "Check", "77", None]],  # 100 paid, 50 credit
        "Adjustments": [ADJ, [D(2026, 3, 3), "X1", "Refund", Decimal("50.00"), None, "overpaid"]]})
    assert errors(run_batch(office.settings, D(2026, 3, 3))) == []
    assert balances(office, D(2026, 3, 3)) == {}
    office.drop("bounce.xlsx", {"Payments": [PAY, [D(2026, 3, 6), "X1", Decimal("-150.00"), "Check", "77", None]]})
    assert errors(run_batch(office.settings, D(2026, 3, 6))) == []
    # The cheque bounced: the invoice is open again (100) and the 50 paid back out is owed too.
    assert balances(office, D(2026, 3, 6)) == {"X1": Decimal("150.00")}
    assert verify_exit(office, "2026-03-06")[0] == 0
    # The statement says what the 50 is: open items 100, owed on account 50, balance due 150.
    text = docx_text(write_statement(office.settings, "X1", D(2026, 3, 6)))
    assert "Owed on account (refund of a returned payment)\n$50.00" in text
    assert "Balance due\n$150.00" in text


def test_reversal_in_a_file_sorted_before_its_payment_applies(office: Office):
    start(office)
    office.drop("a-reversal.xlsx", {"Payments": [PAY, [D(2026, 3, 4), "X1", Decimal("-100.00"), "Check", "5", None]]})
    office.drop("b-payment.xlsx", {"Payments": [PAY, [D(2026, 3, 2), "X1", Decimal("100.00"), "Check", "5", None]]})
    r = run_batch(office.settings, D(2026, 3, 4))
    assert errors(r) == []
    assert balances(office, D(2026, 3, 3)) == {}  # paid on 03-02 …
    assert balances(office, D(2026, 3, 4)) == {"X1": Decimal("100.00")}  # … and returned on 03-04


def test_reversal_dated_before_its_payment_is_a_problem(office: Office):
    start(office)
    office.drop("p.xlsx", {"Payments": [PAY, [D(2026, 3, 5), "X1", Decimal("100.00"), "Check", "6", None],
                                        [D(2026, 3, 3), "X1", Decimal("-100.00"), "Check", "6", None]]})
    r = run_batch(office.settings, D(2026, 3, 5))
    assert errors(r) == [("Payments", 3, "Payment Date")]
    assert "before the payment it reverses (2026-03-05)" in next(p.message for p in r.problems if p.level == "error")
    assert balances(office, D(2026, 3, 5)) == {}  # the payment stands


def test_reversal_of_a_payment_whose_credit_paid_a_later_invoice_reopens_both(office: Office):
    start(office)
    office.drop("p.xlsx", {"Payments": [PAY, [D(2026, 3, 2), "X1", Decimal("250.00"), "Check", "8", None]]})
    run_batch(office.settings, D(2026, 3, 2))  # INV-1 paid, 150 credit
    office.drop("l.xlsx", {"Service Log": [LOG, [D(2026, 3, 3), "X1", "OV", 1]]})
    run_batch(office.settings, D(2026, 3, 3))  # INV-2 100 paid from the credit; 50 left
    office.drop("r.xlsx", {"Payments": [PAY, [D(2026, 3, 4), "X1", Decimal("-250.00"), "Check", "8", None]]})
    assert errors(run_batch(office.settings, D(2026, 3, 4))) == []
    assert balances(office, D(2026, 3, 4)) == {"X1": Decimal("200.00")}
    assert verify_exit(office, "2026-03-04")[0] == 0


# 3 ---------------------------------------------------------------------------------------------------
def test_a_second_identical_service_typed_above_the_first_does_not_rebill_it(office: Office):
    start(office, visits=())
    office.drop("log.xlsx", {"Service Log": [LOG, [D(2026, 3, 2), "X1", "OV", 1]]})
    run_batch(office.settings, D(2026, 3, 2))
    # The same log saved again with another visit that day typed above the first.
    office.drop("log.xlsx", {"Service Log": [LOG, [D(2026, 3, 2), "X1", "OV", 2], [D(2026, 3, 2), "X1", "OV", 1]]})
    r = run_batch(office.settings, D(2026, 3, 3))
    assert errors(r) == []
    engine = open_ledger(office.settings.database_url)
    with engine.connect() as c:
        quantities = sorted(c.execute(select(service_lines.c.quantity)).scalars())
    engine.dispose()
    assert quantities == ["1", "2"]
    # Billed: 100 on 03-02, then only the new visit, 2 × 100, on 03-03.
    assert [t for _, t in r.invoices] == [Decimal("200.00")]


# 4 ---------------------------------------------------------------------------------------------------
def test_posted_service_without_a_price_is_reported_every_run_until_priced(office: Office):
    start(office, visits=())
    office.drop("log.xlsx", {"Service Log": [LOG, [D(2026, 3, 5), "X1", "OV", 1]]})
    run_batch(office.settings, D(2026, 3, 2))  # posted (priced on 03-05 by today's card), billed when it is due
    office.drop("rates.xlsx", {"Rates": [RATES[0], ["OV", "Office visit", Decimal("100.00"), None, D(2026, 3, 4)]]})
    run_batch(office.settings, D(2026, 3, 3))  # the card now ends OV on 03-04: the 03-05 visit has no price
    for day in (D(2026, 3, 5), D(2026, 3, 6)):
        r = run_batch(office.settings, day)
        unpriced = [p for p in r.problems if "has no rate on that date" in p.message]
        assert [(p.where.file, p.where.sheet, p.where.row, p.where.column) for p in unpriced] == [
            ("log.xlsx", "Service Log", 2, "Service Code")]
        assert r.invoices == []
    office.drop("rates2.xlsx", {"Rates": [RATES[0], ["OV", "Office visit", Decimal("120.00"), D(2026, 3, 5), None]]})
    r = run_batch(office.settings, D(2026, 3, 7))
    assert not [p for p in r.problems if "has no rate" in p.message]
    assert [t for _, t in r.invoices] == [Decimal("120.00")]


# 7 ---------------------------------------------------------------------------------------------------
def test_report_aging_leaves_the_nightly_workbook_whole(office: Office):
    start(office)
    nightly = office.root / "output" / "reports" / "aging-2026-03-01.xlsx"
    before = openpyxl.load_workbook(nightly).sheetnames
    assert "Collections" in before
    path, _ = aging_report(office.settings, D(2026, 3, 1))
    assert path != nightly and path.exists()
    assert openpyxl.load_workbook(nightly).sheetnames == before


# 8 ---------------------------------------------------------------------------------------------------
def test_dry_run_workbook_names_clients_added_in_the_dry_run(office: Office):
    office.drop("a-clients.xlsx", {"Clients": CLIENTS, "Rates": RATES})
    office.drop("b-log.xlsx", {"Service Log": [LOG, [D(2026, 3, 1), "X1", "OV", 1]]})
    r = run_batch(office.settings, D(2026, 3, 1), dry_run=True)
    ws = openpyxl.load_workbook(r.aging_path)["Aging by Client"]
    assert "Pat Doe" in [v for row in ws.iter_rows(values_only=True) for v in row]


# 9 ---------------------------------------------------------------------------------------------------
def test_the_gap_between_letters_holds_across_a_paid_up_reset(office: Office):
    start(office)
    run_batch(office.settings, D(2026, 3, 2))  # INV-1 1 day overdue: Reminder on 03-02
    office.drop("c.xlsx", {"Service Log": [LOG, [D(2026, 3, 3), "X1", "OV", 1]],
                           "Payments": [PAY, [D(2026, 3, 3), "X1", Decimal("100.00"), "Card", "1", "INV-2026-00001"]]})
    run_batch(office.settings, D(2026, 3, 3))  # INV-1 paid, INV-2 due today: paid up, the series resets
    sent = {d: run_batch(office.settings, d).report["letters"] for d in (D(2026, 3, 5), D(2026, 3, 15), D(2026, 3, 16))}
    assert sent[D(2026, 3, 5)] == [] and sent[D(2026, 3, 15)] == []  # 14 days after 03-02 is 03-16
    assert sent[D(2026, 3, 16)] == [{"client_id": "X1", "level": "Reminder"}]
    engine = open_ledger(office.settings.database_url)
    with engine.connect() as c:
        assert sorted(c.execute(select(letters.c.letter_date)).scalars()) == [D(2026, 3, 2), D(2026, 3, 16)]
    engine.dispose()


# Found by the hostile review --------------------------------------------------------------------------
def test_a_refund_dated_before_this_runs_invoice_is_not_refused(office: Office):
    start(office, visits=())
    office.drop("p.xlsx", {"Payments": [PAY, [D(2026, 3, 1), "X1", Decimal("200.00"), "Check", "1", None]]})
    run_batch(office.settings, D(2026, 3, 2))  # 200 credit
    office.drop("r.xlsx", {"Service Log": [LOG, [D(2026, 3, 8), "X1", "OV", 1]],
                           "Adjustments": [ADJ, [D(2026, 3, 9), "X1", "Refund", Decimal("200.00"), None, "asked"]]})
    r = run_batch(office.settings, D(2026, 3, 10))
    assert errors(r) == []  # on 03-09 the credit was 200; the invoice of 03-10 comes after
    assert balances(office, D(2026, 3, 10)) == {"X1": Decimal("100.00")}


def test_a_void_and_a_payment_on_one_day_void_first(office: Office):
    start(office)  # INV-1 100 on 03-01
    office.drop("l.xlsx", {"Service Log": [LOG, [D(2026, 3, 2), "X1", "OV", 1]]})
    run_batch(office.settings, D(2026, 3, 2))  # INV-2 100
    office.drop("m.xlsx", {"Payments": [PAY, [D(2026, 3, 5), "X1", Decimal("100.00"), "Cash", "R1", None]],
                           "Adjustments": [ADJ, [D(2026, 3, 5), "X1", "Void", None, "INV-2026-00001", "error"]]})
    r = run_batch(office.settings, D(2026, 3, 5))
    assert errors(r) == [] and r.report["credit_notes"] == 1
    assert balances(office, D(2026, 3, 5)) == {}  # INV-1 void, the 100 paid INV-2


def test_a_run_for_a_date_before_the_last_run_is_refused(office: Office):
    start(office)  # run of 03-01
    run_batch(office.settings, D(2026, 3, 20))
    office.drop("l.xlsx", {"Service Log": [LOG, [D(2026, 3, 9), "X2", "OV", 1]]})
    r = CliRunner().invoke(main, ["run", "--config", str(office.config), "--as-of", "2026-03-10"])
    assert r.exit_code == 1 and "the last run was for 2026-03-20" in r.output
    assert (office.inbox / "l.xlsx").exists()
    assert CliRunner().invoke(main, ["run", "--config", str(office.config), "--as-of", "2026-03-10",
                                     "--dry-run"]).exit_code == 0


def test_a_corrected_payment_dropped_again_is_flagged_for_review(office: Office):
    start(office)
    office.drop("pay.xlsx", {"Payments": [PAY, [D(2026, 3, 3), "X1", Decimal("40.00"), None, "CHK5", None]]})
    assert run_batch(office.settings, D(2026, 3, 3)).report["review"] == []
    # The same cheque typed again with its Method: by SPEC §3.3 another payment, so staff are told.
    office.drop("pay.xlsx", {"Payments": [PAY, [D(2026, 3, 3), "X1", Decimal("40.00"), "Check", "CHK5", None]]})
    r = run_batch(office.settings, D(2026, 3, 4))
    assert [(f["check"], f["client_id"], f["service_date"]) for f in r.report["review"]] == [
        ("Possible duplicate payment", "X1", D(2026, 3, 3))]
    assert "reverse the earlier payment" in r.report["review"][0]["detail"]
