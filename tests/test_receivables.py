"""Receivables over several runs (SPEC §4.2, §4.3): partial payment, overpayment, void, credit note,
write-off, refund, refused corrections, statements — every balance computed by hand below."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import openpyxl
from click.testing import CliRunner
from docx import Document
from docx.oxml.ns import qn

from billing_batch.cli import main
from billing_batch.pipeline import aging_report, run_batch
from tests.office import Office
from tests.test_end_to_end import drop_office, docx_paragraphs
from tests.test_posting import PAY_HEADERS

D = dt.date
ADJ_HEADERS = ["Date", "Client ID", "Kind", "Amount", "Invoice Number", "Reason", "Note on document"]


def money(v) -> Decimal:
    return Decimal(str(v)).quantize(Decimal("0.01"))


def docx_text(path) -> str:
    body = Document(str(path)).element.body
    return "\n".join("".join(t.text or "" for t in p.iter(qn("w:t"))) for p in body.iter(qn("w:p")))


def test_receivables_scenario(office: Office):
    # Run 1 (03-31, tax 0): INV-1 00042 123.99 due 04-15; INV-2 C001 330.05 due 04-30; INV-3 C003 33.50 due 04-30.
    drop_office(office)
    run_batch(office.settings, D(2026, 3, 31))
    office.drop("april.xlsx", {
        "Payments": [PAY_HEADERS,
                     [D(2026, 4, 2), "C001", Decimal("30.05"), "Check", "101", "INV-2026-00002"],  # INV-2 → 300.00
                     [D(2026, 4, 3), "00042", Decimal("150.00"), "Card", "102", None]],  # INV-1 paid; 26.01 credit
        "Adjustments": [ADJ_HEADERS,
                        [D(2026, 4, 4), "C003", "Void", None, "INV-2026-00003", "Billed in error"],    # CN-1 33.50
                        [D(2026, 4, 5), "C001", "Credit", Decimal("50.00"), "INV-2026-00002", "Friend of Dr. Lee",
                         "Loyalty discount, with our thanks"],  # CN-2; 250.00
                        [D(2026, 4, 6), "C001", "Write-off", Decimal("20.00"), "INV-2026-00002", "Small"],  # 230.00
                        [D(2026, 4, 8), "00042", "Refund", Decimal("20.00"), None, "Overpaid"],  # credit 6.01
                        [D(2026, 4, 9), "C001", "Credit", Decimal("1000.00"), "INV-2026-00002", "Typo"],  # refused
                        [D(2026, 4, 9), "C001", "Void", None, "INV-2026-00002", "Wrong"]],  # refused: paid
    })
    # Run 2 (04-10) first bills C003's 04-05 visit: INV-4 110.00 due 05-10.
    r2 = run_batch(office.settings, D(2026, 4, 10))
    assert [n for n, _ in r2.invoices] == ["INV-2026-00004"]
    assert r2.report["credit_notes"] == 2 and r2.report["adjustments_applied"] == 4
    errors = [(p.where.sheet, p.where.row, p.where.column, p.message) for p in r2.problems if p.level == "error"]
    assert errors == [
        ("Adjustments", 6, "Amount", "is more than invoice INV-2026-00002's open balance of $230.00; credit at most that"),
        ("Adjustments", 7, "Invoice Number", "has payments applied, so it cannot be voided; reverse the payment "
                                             "first, or use a Credit for the unpaid part")]
    adj = next(s for f in r2.report["files"] for s in f["sheets"] if s["kind"] == "Adjustments")
    assert (adj["rows_read"], adj["posted"], adj["rejected"]) == (6, 4, 2)
    # Open: INV-2 230.00, INV-4 110.00 (both not yet due); 00042 has 6.01 credit.
    # Ledger: invoices 597.54 − payments 180.05 − (33.50 + 50.00 + 20.00 − 20.00) = 333.99.
    aging = r2.report["aging"]
    assert (aging["buckets"]["Not Yet Due"], aging["unapplied_credit"], aging["balance"]) == ("340.00", "6.01", "333.99")
    assert aging["ties"]
    # The credit notes were written; the void one says so.
    cn1 = docx_text(next((office.root / "output/invoices/2026-04").glob("*-CN-2026-00001.docx")))
    cn2 = docx_text(next((office.root / "output/invoices/2026-04").glob("*-CN-2026-00002.docx")))
    assert "VOID NOTICE" in cn1 and "INV-2026-00003" in cn1 and "$33.50" in cn1
    assert "CREDIT NOTE" in cn2 and "$50.00" in cn2 and "$250.00" in cn2  # balance after the credit
    # What the client reads is the Note on document, or a plain line; the internal Reason never prints.
    assert "Loyalty discount, with our thanks" in cn2 and "Friend of Dr. Lee" not in cn2
    assert "Invoice canceled" in cn1 and "Billed in error" not in cn1
    # The refused rows are in the problems workbook, ready to fix.
    ws = openpyxl.load_workbook(office.root / "rejected" / "april.xlsx.problems.xlsx")["Adjustments"]
    assert [ws.cell(row=r, column=3).value for r in (2, 3)] == ["Credit", "Void"]

    # Run 3 (05-20): INV-2 due 04-30 is 20 days late, INV-4 due 05-10 is 10 days late: both 1-30.
    r3 = run_batch(office.settings, D(2026, 5, 20))
    assert r3.report["aging"]["buckets"] == {"Not Yet Due": "0.00", "1-30": "340.00", "31-60": "0.00",
                                             "61-90": "0.00", "91-120": "0.00", "Over 120": "0.00"}
    wb = openpyxl.load_workbook(r3.aging_path)
    header = [c.value for c in wb["Aging by Client"][1]]
    rows = {r[0]: dict(zip(header, r)) for r in wb["Aging by Client"].iter_rows(min_row=2, values_only=True)}
    assert money(rows["C001"]["1-30"]) == Decimal("230.00") and money(rows["C003"]["1-30"]) == Decimal("110.00")
    assert money(rows["00042"]["Unapplied Credit"]) == Decimal("6.01")
    assert money(rows["00042"]["Balance"]) == Decimal("-6.01")
    assert rows["00042"]["Last Payment Date"] == dt.datetime(2026, 4, 3)
    items = {r[0]: r for r in wb["Open Items"].iter_rows(min_row=2, values_only=True)}
    assert set(items) == {"INV-2026-00002", "INV-2026-00004", "Total (2 invoices)"}
    assert [money(v) for v in items["INV-2026-00002"][7:11]] == [
        Decimal("330.05"), Decimal("30.05"), Decimal("70.00"), Decimal("230.00")]  # amount, paid, adjusted, balance

    # Aging as of a past date ignores what came later, and matches what that run reported.
    path, recon = aging_report(office.settings, D(2026, 4, 10))
    assert recon.ties and recon.aging_balance == Decimal("333.99")
    past = openpyxl.load_workbook(path)
    summary = {r[0]: r[1] for r in past["Summary"].iter_rows(max_col=2, values_only=True) if r[0]}
    assert money(summary["Not Yet Due"]) == Decimal(r2.report["aging"]["buckets"]["Not Yet Due"])
    path, recon = aging_report(office.settings, D(2026, 4, 2))  # before the overpayment and corrections
    assert recon.aging_balance == Decimal("457.49")  # 123.99 + 300.00 + 33.50; INV-4 not yet issued

    # Statement for C001 as of 04-30: April's payment, credit note and write-off; 230.00 due.
    result = CliRunner().invoke(main, ["statement", "--config", str(office.config), "--as-of", "2026-04-30", "C001"])
    assert result.exit_code == 0, result.output
    text = docx_text(office.root / "output" / "statements" / "2026-04-30" / "C001-statement.docx")
    for expected in ("INV-2026-00002", "-$30.05", "-$50.00", "-$20.00", "$230.00", 'Smith & Sons <Ltd> "Trading"',
                     "CN-2026-00002"):
        assert expected in text
    # 00042 holds 6.01 of credit: its statement says so, never "Balance due -$6.01".
    result = CliRunner().invoke(main, ["statement", "--config", str(office.config), "--as-of", "2026-04-30", "00042"])
    assert result.exit_code == 0, result.output
    text = docx_text(office.root / "output" / "statements" / "2026-04-30" / "00042-statement.docx")
    assert "Credit balance\n$6.01" in text and "Credit Balance" in text  # the totals and the facts
    assert "Credit balance — no payment due: $6.01 is yours on account" in text  # no slip: nothing to pay
    assert "Please detach" not in text
    assert "-$6.01" not in text.replace("Unapplied credit\n-$6.01", "") and "Balance due" not in text


def test_statement_for_unknown_client_exits_1(sqlite_office: Office):
    result = CliRunner().invoke(main, ["statement", "--config", str(sqlite_office.config), "NOPE"])
    assert result.exit_code == 1 and "no client with ID NOPE" in result.output


def test_accuracy_review_lists_each_kind_of_warning(sqlite_office: Office):
    office = sqlite_office
    drop_office(office)
    from tests.test_end_to_end import LOG_HEADERS
    office.drop("late and odd.xlsx", {"Service Log": [
        LOG_HEADERS,
        [D(2025, 11, 1), "C003", "TH", 1, None, None],             # 150 days before 03-31: late entry
        [D(2026, 3, 2), "C001", "OV", 1, None, "Dr. Shah"],        # same client/date/code as march log
        [D(2026, 3, 3), "C003", "SUP", 11, None, None],            # quantity above 10
        [D(2026, 3, 4), "C003", "TH", 1, Decimal("95.00"), None],  # 95 vs 80: 18.75 % override
        [D(2026, 3, 5), "00042", "TH", 125, None, None],           # 10,000.00 + ...: large invoice
    ]})
    r = run_batch(office.settings, D(2026, 3, 31))
    checks = sorted((f["check"], f["client_id"]) for f in r.report["review"])
    # 00042's 3.99 supplies against the card's 3.35 (19 %) is an override too.
    assert checks == [("Large invoice", "00042"), ("Late entry", "C003"), ("Possible duplicate", "C001"),
                      ("Price override", "00042"), ("Price override", "C003"), ("Unusual quantity", "00042"),
                      ("Unusual quantity", "C003")]
    wb = openpyxl.load_workbook(r.aging_path)
    assert wb.sheetnames == ["Summary", "Aging by Client", "Open Items", "Payment Plans", "Collections", "Review", "Problems",
                             "Runs"]
    assert len(list(wb["Review"].iter_rows(min_row=2))) == 7
