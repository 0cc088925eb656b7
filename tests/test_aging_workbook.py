"""The aging workbook a manager reads (issue 15): what a second run of the same date keeps, what is
carried forward until fixed, the Summary's figures against hand-computed values, number formats and
print settings, read back with openpyxl."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal

import openpyxl
import pytest

from billing_batch.billing.aging import age, dso, month_ends, same_day_last_month
from billing_batch.billing.records import OpenItem
from billing_batch.pipeline import run_batch
from billing_batch.reports.aging_workbook import Reconciliation, write_aging_workbook
from billing_batch.reports.xlsx_stream import Look, excel_date_format, money_format
from tests.office import Office
from tests.test_collections import CLIENT_HEADERS, CONTACT_HEADERS, LOG_HEADERS, RATES, client

D = dt.date
MONEY = money_format("$")
DAY_FORMAT = excel_date_format("%m/%d/%Y")


def money(v) -> Decimal:
    return Decimal(str(v))


def summary_rows(ws) -> dict:
    return {r[0]: r[1:] for r in ws.iter_rows(max_col=5, values_only=True) if r[0] is not None}


def test_date_and_money_formats_follow_the_office():
    assert excel_date_format("%m/%d/%Y") == "mm/dd/yyyy"
    assert excel_date_format("%d.%m.%Y") == "dd.mm.yyyy"
    assert excel_date_format("%Y-%m-%d") == "yyyy-mm-dd"
    assert excel_date_format("%d %B %Y") == "dd mmmm yyyy"
    assert money_format("€") == '"€"#,##0.00;[Red]-"€"#,##0.00'


def test_pure_figures():
    # DSO = A/R ÷ credit sales of the last 90 days × 90: 8,400 ÷ 7,900 × 90 = 95.696… → 95.7.
    assert dso(Decimal("8400"), Decimal("7900")) == Decimal("95.7")
    assert dso(Decimal("100"), Decimal("0")) is None
    assert same_day_last_month(D(2026, 3, 31)) == D(2026, 2, 28)
    assert month_ends(D(2026, 5, 20), 3) == [D(2026, 2, 28), D(2026, 3, 31), D(2026, 4, 30)]
    assert month_ends(D(2026, 4, 30), 2) == [D(2026, 3, 31), D(2026, 4, 30)]


def _month_office(office: Office) -> None:
    """12 clients (terms 30). 01-15: C01 5 × 100.00 (due 02-14). 03-31: Ck k × 100.00 (due 04-30), 7,800.00.
    04-30: C01 1 × 100.00 (due 05-30)."""
    office.drop("clients.xlsx", {"Clients": [CLIENT_HEADERS, *(client(f"C{k:02d}", f"Client {k:02d}")
                                                               for k in range(1, 13))]})
    office.drop("rates.xlsx", {"Rates": RATES})
    office.drop("jan.xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 1, 5), "C01", "OV", 5, None]]})
    run_batch(office.settings, D(2026, 1, 15))
    office.drop("mar.xlsx", {"Service Log": [LOG_HEADERS, *([D(2026, 3, 2), f"C{k:02d}", "OV", k, None]
                                                            for k in range(1, 13))]})
    run_batch(office.settings, D(2026, 3, 31))
    office.drop("apr.xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 4, 15), "C01", "OV", 1, None]]})
    run_batch(office.settings, D(2026, 4, 30))


def test_summary_for_a_manager_against_hand_computed_values(sqlite_office: Office):
    _month_office(sqlite_office)
    result = run_batch(sqlite_office.settings, D(2026, 5, 20))
    wb = openpyxl.load_workbook(result.aging_path)
    ws = wb["Summary"]
    s = summary_rows(ws)
    # As of 05-20: C01's 500.00 is 95 days past due (91-120), the 03-31 invoices 20 days (1-30: 7,800.00),
    # the 04-30 one not yet due (100.00). Open 8,400.00.
    assert [ws.cell(r, 1).value for r in range(5, 11)] == ["Not Yet Due", "1-30", "31-60", "61-90", "91-120",
                                                           "Over 120"]
    amounts = {k: money(s[k][0]) for k in ("Not Yet Due", "1-30", "61-90", "91-120", "Total open", "Balance")}
    assert amounts == {"Not Yet Due": Decimal("100.00"), "1-30": Decimal("7800.00"), "61-90": 0,
                       "91-120": Decimal("500.00"), "Total open": Decimal("8400.00"), "Balance": Decimal("8400.00")}
    # % of open: 100/8400 = 1.19 %, 7800/8400 = 92.86 %, 500/8400 = 5.95 %.
    assert [money(s[k][1]) for k in ("Not Yet Due", "1-30", "91-120")] == [
        Decimal("0.0119"), Decimal("0.9286"), Decimal("0.0595")]
    assert money(s["% over 90 days"][0]) == Decimal("0.0595")
    # The previous run (04-30) reported 7,900.00 not yet due (7,800 due that day + 100) and 500.00 at 75 days.
    assert ws["D4"].value == "Change since previous run (04/30/2026)"
    prev = {k: money(s[k][2]) for k in ("Not Yet Due", "1-30", "61-90", "91-120", "Balance")}
    assert prev == {"Not Yet Due": Decimal("-7800.00"), "1-30": Decimal("7800.00"), "61-90": Decimal("-500.00"),
                    "91-120": Decimal("500.00"), "Balance": 0}
    # 04-20, from the ledger: 7,800.00 not yet due, 500.00 at 65 days; the 04-30 invoice did not exist.
    assert ws["E4"].value == "Change since 04/20/2026"
    month = {k: money(s[k][3]) for k in ("Not Yet Due", "1-30", "61-90", "91-120", "Balance")}
    assert month == {"Not Yet Due": Decimal("-7700.00"), "1-30": Decimal("7800.00"), "61-90": Decimal("-500.00"),
                     "91-120": Decimal("500.00"), "Balance": Decimal("100.00")}
    # DSO: invoiced 02-20..05-20 = 7,800 + 100 = 7,900; 8,400 ÷ 7,900 × 90 = 95.7 days.
    assert money(s["DSO, days (last 90 days)"][0]) == Decimal("95.7")
    assert money(s["Invoiced in the last 90 days"][0]) == Decimal("7900.00")
    # The 10 largest: C12 1,200 … C08 800, then C01 and C07 at 700 (by ID), C06, C05, C04; not C03, C02.
    labels = [ws.cell(r, 1).value for r in range(1, ws.max_row + 1)]
    top = labels.index("The 10 largest balances") + 3  # 1-based row of the first client
    rows = list(ws.iter_rows(min_row=top, max_row=top + 9, max_col=5, values_only=True))
    assert [r[4] for r in rows] == ["C12", "C11", "C10", "C09", "C08", "C01", "C07", "C06", "C05", "C04"]
    assert rows[0][0] == "Client 12" and money(rows[0][1]) == Decimal("1200.00")
    assert money(rows[0][2]) == Decimal("0.1429")  # 1200 / 8400
    assert money(rows[5][3]) == Decimal("500.00")  # C01's 500.00 is over 90 days
    assert ws.cell(top + 10, 1).value is None  # ten, no more
    # Month-ends 2025-06-30 … 2026-04-30 from the ledger as of each date: 500 from 01-31, 8,300 at 03-31
    # (the 03-31 invoices), 8,400 at 04-30.
    trend_at = labels.index("Month-end") + 2
    trend = [(r[0].date(), money(r[1]), money(r[2])) for r in ws.iter_rows(
        min_row=trend_at, max_row=trend_at + 11, max_col=3, values_only=True)]
    assert [t[0] for t in trend] == month_ends(D(2026, 5, 20))
    assert trend[-4:] == [(D(2026, 1, 31), Decimal("500.00"), 0), (D(2026, 2, 28), Decimal("500.00"), 0),
                          (D(2026, 3, 31), Decimal("8300.00"), 0), (D(2026, 4, 30), Decimal("8400.00"), 0)]
    assert all(t[1] == 0 for t in trend[:-4])
    charts = ws._charts
    assert [type(c).__name__ for c in charts] == ["BarChart", "LineChart"]
    assert ws.auto_filter.ref is None  # no filter on the Summary
    # Formats: money with the symbol, dates in the office's date_format.
    assert ws["B6"].number_format == MONEY and ws["B2"].number_format == DAY_FORMAT
    assert ws.cell(trend_at, 1).number_format == DAY_FORMAT

    # Aging by Client, largest first, a totals row; Client Name on Open Items.
    ac = wb["Aging by Client"]
    ids = [r[0] for r in ac.iter_rows(min_row=2, values_only=True)]
    assert ids[:6] == ["C12", "C11", "C10", "C09", "C08", "C01"] and ids[-1] == "Total (12 clients)"
    total = list(ac.iter_rows(min_row=14, max_row=14, values_only=True))[0]
    assert money(total[4]) == Decimal("7800.00") and money(total[10]) == Decimal("8400.00")
    assert ac.auto_filter.ref == "A1:O13" and ac["K2"].number_format == MONEY and ac["L2"].number_format == DAY_FORMAT
    oi = wb["Open Items"]
    assert [c.value for c in oi[1]][:3] == ["Invoice Number", "Client ID", "Client Name"]
    items = list(oi.iter_rows(min_row=2, values_only=True))
    assert items[-1][0] == "Total (14 invoices)" and money(items[-1][10]) == Decimal("8400.00")
    assert {r[1]: r[2] for r in items[:-1]}["C07"] == "Client 07"
    assert oi["D2"].number_format == DAY_FORMAT and oi["H2"].number_format == MONEY

    # Printing: landscape, the header row on every page, header/footer with office, sheet, date, page N of M.
    office_name = sqlite_office.settings.office.name
    for sheet in wb.worksheets:
        assert sheet.page_setup.orientation == "landscape", sheet.title
        assert sheet.oddHeader.left.text == office_name.replace("&", "&&")
        assert sheet.oddHeader.center.text == "&B" + sheet.title  # in bold
        assert sheet.oddHeader.right.text == "As of 05/20/2026"
        assert sheet.oddFooter.right.text == "Page &P of &N"
    for title in ("Aging by Client", "Open Items", "Review", "Problems"):
        sheet = wb[title]
        assert sheet.print_title_rows == "$1:$1", title
        assert sheet.freeze_panes == "A2"
        # These columns fit one page wide at 8 pt or more: shrunk to the width, as long as needed.
        assert sheet.sheet_properties.pageSetUpPr.fitToPage and sheet.page_setup.fitToHeight == 0


def test_a_sheet_too_wide_to_shrink_prints_several_pages_wide_with_its_first_column(tmp_path):
    # Ten buckets: 21 columns cannot shrink to one page above 8 pt.
    limits = [30, 60, 90, 120, 150, 180, 210, 240]
    items = [OpenItem("INV-1", "C1", D(2026, 1, 1), D(2026, 1, 31), Decimal("10.00"), Decimal("0"), Decimal("0"))]
    aging = age(items, {}, D(2026, 5, 20), limits)
    path = tmp_path / "a.xlsx"
    write_aging_workbook(path, aging, Reconciliation(aging.balance, aging.balance), {"C1": {"name": "N", "type": "x"}},
                         {}, {}, [], look=Look("Smith & Co", "€", "%d.%m.%Y"))
    wb = openpyxl.load_workbook(path)
    ws = wb["Aging by Client"]
    assert not ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.print_title_rows == "$1:$1" and ws.print_title_cols == "$A:$A"
    assert ws.oddHeader.left.text == "Smith && Co" and ws.oddHeader.right.text == "As of 20.05.2026"
    assert ws["J2"].number_format == '"€"#,##0.00;[Red]-"€"#,##0.00' and ws["P2"].number_format == "dd.mm.yyyy"
    assert wb["Open Items"].sheet_properties.pageSetUpPr.fitToPage  # that one still fits


def test_a_second_run_the_same_day_keeps_review_and_problems_and_unfixed_problems_carry_forward(
        sqlite_office: Office):
    office = sqlite_office
    office.drop("clients.xlsx", {"Clients": [CLIENT_HEADERS, client("C01", "Ann"), client("C02", "Bo")]})
    office.drop("rates.xlsx", {"Rates": RATES})
    # Quantity 11 is above review.max_quantity (10): a Review warning. NOPE is no client: a problem.
    office.drop("log1.xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 3, 2), "C01", "OV", 11, None],
                                              [D(2026, 3, 2), "NOPE", "OV", 1, None]]})
    first = run_batch(office.settings, D(2026, 3, 31))
    assert [f["check"] for f in first.report["review"]] == ["Unusual quantity"]
    assert (office.root / "rejected" / "log1.xlsx.problems.xlsx").exists()
    office.drop("log2.xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 3, 3), "C02", "OV", 1, None]]})
    second = run_batch(office.settings, D(2026, 3, 31))
    assert second.report["review"] == [] and second.report["problems"] == []
    assert second.aging_path == first.aging_path
    wb = openpyxl.load_workbook(second.aging_path)
    review = list(wb["Review"].iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[1], r[2]) for r in review] == [("Unusual quantity", "C01", "Ann")]
    problems = list(wb["Problems"].iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in problems] == [("log1.xlsx", "Service Log", 3, "Client ID", "B3")]
    assert problems[0][6].date() == D(2026, 3, 31)
    # Each run's counts: run 1 read 3 files, posted 5 rows (2 clients, 2 rates, 1 service), rejected 1 and
    # billed; run 2 read 1 file and posted its row (billed on the next billing day: the date is billed).
    runs = wb["Runs"]
    header = [c.value for c in runs[1]]
    got = [dict(zip(header, r)) for r in runs.iter_rows(min_row=2, values_only=True)]
    assert [(g["Run"], g["Files read"], g["Rows posted"], g["Rows rejected"], g["Invoices issued"]) for g in got] == [
        ("Run 1", 3, 2 + 2 + 1, 1, 1), ("Run 2", 1, 1, 0, 0), ("Total", 4, 6, 1, 1)]
    assert runs.auto_filter.ref.startswith("A1:") and runs.auto_filter.ref.endswith("3")  # the runs, not the total
    # The Summary's "This run" counts stay this run's; its Review count says it is the day's.
    s = summary_rows(wb["Summary"])
    assert s["Files read"][0] == 1 and s["Review warnings (the day's)"][0] == 1

    # The next day: nothing new, but log1's problems workbook still waits in rejected/: still listed.
    third = run_batch(office.settings, D(2026, 4, 1))
    problems = list(openpyxl.load_workbook(third.aging_path)["Problems"].iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[4], r[6].date(), r[7]) for r in problems] == [
        ("log1.xlsx", "B3", D(2026, 3, 31), "Not fixed yet: log1.xlsx.problems.xlsx is still waiting in rejected/")]
    assert [r for r in openpyxl.load_workbook(third.aging_path)["Review"].iter_rows(min_row=2, values_only=True)] == []
    # Staff take it out of rejected/ to fix it: no longer listed.
    (office.root / "rejected" / "log1.xlsx.problems.xlsx").unlink()
    fourth = run_batch(office.settings, D(2026, 4, 2))
    assert list(openpyxl.load_workbook(fourth.aging_path)["Problems"].iter_rows(min_row=2, values_only=True)) == []


def test_a_later_run_the_same_day_keeps_what_the_first_run_printed(tmp_path):
    # The Runs sheet is rewritten by each run of the date: run 1's printed documents (added to its report
    # when it was published, not stored with it) must not turn into 0 when run 2 writes the workbook.
    if shutil.which("soffice") is None:
        pytest.skip("LibreOffice is not installed: nothing is printed")
    office = Office.create(tmp_path / "office", f"sqlite:///{tmp_path / 'ledger.sqlite'}", documents__print_pack=True)
    office.drop("clients.xlsx", {"Clients": [CLIENT_HEADERS, client("C01", "Ann"), client("C02", "Bo")]})
    office.drop("rates.xlsx", {"Rates": RATES})
    office.drop("log1.xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 3, 2), "C01", "OV", 1, None]]})
    first = run_batch(office.settings, D(2026, 3, 31))
    printed = first.report["delivery"]["printed"]
    assert printed == 1  # C01's invoice, on paper
    office.drop("log2.xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 3, 3), "C02", "OV", 1, None]]})
    second = run_batch(office.settings, D(2026, 3, 31))
    runs = openpyxl.load_workbook(second.aging_path)["Runs"]
    header = [c.value for c in runs[1]]
    got = {r[0]: dict(zip(header, r)) for r in runs.iter_rows(min_row=2, values_only=True)}
    assert got["Run 1"]["Documents printed"] == 1
    assert got["Run 2"]["Documents printed"] == second.report["delivery"]["printed"] == 0
    assert got["Total"]["Documents printed"] == 1


def test_a_disputed_or_promised_client_stays_in_held_back_when_no_letter_is_due(sqlite_office: Office):
    # C01 and C02 get their Reminder on 05-01; on 05-02 C01 disputes, C02 promises to pay on 05-20. On 05-03
    # no letter is due to either (the Second Notice waits for 31 days), yet both must be in view, with why.
    office = sqlite_office
    office.drop("clients.xlsx", {"Clients": [CLIENT_HEADERS, client("C01", "Ann"), client("C02", "Bo"),
                                             client("C03", "Cy")]})
    office.drop("rates.xlsx", {"Rates": RATES})
    office.drop("log.xlsx", {"Service Log": [LOG_HEADERS, *([D(2026, 3, 2), c, "OV", 1, None]
                                                            for c in ("C01", "C02", "C03"))]})
    run_batch(office.settings, D(2026, 3, 31))
    assert len(run_batch(office.settings, D(2026, 5, 1)).report["letters"]) == 3  # the three Reminders
    office.drop("calls.xlsx", {"Contact Log": [CONTACT_HEADERS,
                                               [D(2026, 5, 2), "C01", "Dispute", None, None],
                                               [D(2026, 5, 2), "C02", "Promise to pay", D(2026, 5, 20), None]]})
    result = run_batch(office.settings, D(2026, 5, 3))
    assert result.report["letters"] == []
    cells = list(openpyxl.load_workbook(result.aging_path)["Collections"].iter_rows(values_only=True))
    start = next(i for i, r in enumerate(cells) if r[0] == "Held Back — overdue, but no letter this run")
    held = {r[0]: (r[2], r[3]) for r in cells[start + 2:] if r[0]}
    # The promise holds until its date plus promise_grace_days (5): 05-25. C03 has nothing holding it back.
    assert held == {"C01": ("Open dispute", "until the dispute is resolved in the contact log"),
                    "C02": ("Promise to pay (until 2026-05-25)", dt.datetime(2026, 5, 25))}


def test_held_back_reasons_wrap_instead_of_being_cut_and_runs_headers_sit_over_their_figures(tmp_path):
    from billing_batch.reports.aging_workbook import RunCounts
    from billing_batch.stages.collections import CollectionsResult

    items = [OpenItem("INV-1", "C1", D(2026, 1, 1), D(2026, 1, 31), Decimal("10.00"), Decimal("0"), Decimal("0"))]
    aging = age(items, {}, D(2026, 5, 20), [30, 60, 90, 120])
    path = tmp_path / "a.xlsx"
    write_aging_workbook(path, aging, Reconciliation(aging.balance, aging.balance), {"C1": {"name": "N", "type": "x"}},
                         {}, {}, [], collections=CollectionsResult(), held_back=[("C1", "Open dispute")],
                         runs=[RunCounts("Run 1", {"Files read": 2, "Letters sent": 1})])
    wb = openpyxl.load_workbook(path)
    ws = wb["Collections"]
    row = next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value == "C1")
    # "until the dispute is resolved in the contact log" is 49 characters in a 14-wide column: 4 lines or
    # more, the row made that tall (LibreOffice does not grow a written row by itself).
    assert ws.cell(row, 4).value == "until the dispute is resolved in the contact log"
    assert all(ws.cell(row, c).alignment.wrap_text for c in (2, 3, 4))
    assert ws.row_dimensions[row].height >= 60
    runs = wb["Runs"]
    assert [runs.cell(1, c).alignment.horizontal for c in (1, 2, 3)] == [None, "right", "right"]


def test_a_dry_run_lists_the_problems_still_waiting_in_the_real_rejected_folder(sqlite_office: Office):
    # A dry run writes its own problems workbooks apart (output/dry-run/rejected), but what staff have not
    # fixed yet is in the office's rejected/: its workbook must show those as the real run's would.
    office = sqlite_office
    office.drop("clients.xlsx", {"Clients": [CLIENT_HEADERS, client("C01", "Ann")]})
    office.drop("rates.xlsx", {"Rates": RATES})
    office.drop("log1.xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 3, 2), "NOPE", "OV", 1, None]]})
    run_batch(office.settings, D(2026, 3, 31))
    assert (office.root / "rejected" / "log1.xlsx.problems.xlsx").exists()
    dry = run_batch(office.settings, D(2026, 4, 1), dry_run=True)
    problems = list(openpyxl.load_workbook(dry.aging_path)["Problems"].iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[4], r[6].date(), r[7]) for r in problems] == [
        ("log1.xlsx", "B2", D(2026, 3, 31), "Not fixed yet: log1.xlsx.problems.xlsx is still waiting in rejected/")]


def _table_book(path, direct: bool, rows: list[list]) -> None:
    from billing_batch.reports import xlsx_stream

    book = xlsx_stream.Book(Look(office="Test"))
    ws = book.sheet("T", [12] * 6)
    ws.header(["A", "B", "C", "D", "E", "F"])
    sums = {1: Decimal(0)}
    if direct:
        assert xlsx_stream._direct_ok(ws.ws, ws.r)
        n = ws._direct_rows(rows, [1], sums)
    else:
        n = ws._cell_rows(rows, [1], sums)
    assert n == len(rows)
    ws.put(ws.r, 1, sums[1], money=True, bold=True)
    ws.finish(dt.date(2026, 3, 31), filter_to=n)
    book.save(path)


def test_table_rows_written_directly_are_the_bytes_xlsxwriter_writes_cell_by_cell(tmp_path):
    """The direct row writer (no per-cell xlsxwriter calls) against xlsxwriter's own cell path, on the
    kinds of value a table holds: risky first characters, control characters, spaces to keep, XML's
    special characters, blanks, booleans, ints, dates and datetimes, money and plain Decimals."""
    import zipfile

    rows = [["=SUM(A1)", Decimal("12.50"), "  padded ", dt.date(2026, 3, 1), 7, True],
            ["a & b < c > \"d\"", Decimal("-0.01"), None, dt.datetime(2026, 3, 2, 13, 30), Decimal("3"), ""],
            [None, None, None, None, None, None],
            ["bell\x07 and _x0041_", Decimal("1234567.89"), "+1 555", None, 0, "line\nbreak"],
            ["-5", Decimal(0), "@home", dt.date(1900, 2, 28), 2.5, "Ünïcødé"],
            ["\u00a0nbsp", Decimal("0.10"), "tab\tinside", dt.date(2026, 3, 1), "trailing\n", "non\ufffechar"],
            ["plain text", Decimal("7"), "x_X00ff_y", dt.date(2026, 3, 1), "\ttab first", "end space "]]
    a, b = tmp_path / "cells.xlsx", tmp_path / "direct.xlsx"
    _table_book(a, False, rows)
    _table_book(b, True, rows)
    za, zb = zipfile.ZipFile(a), zipfile.ZipFile(b)
    assert za.namelist() == zb.namelist()
    assert [n for n in za.namelist() if n != "docProps/core.xml" and za.read(n) != zb.read(n)] == []
    ws = openpyxl.load_workbook(b)["T"]
    assert ws["A2"].value == "=SUM(A1)" and ws["A2"].data_type == "s"
    assert ws["B9"].value == 1234587.48  # the totals row: 12.50 - 0.01 + 1,234,567.89 + 0 + 0.10 + 7
    assert ws["C2"].value == "  padded " and ws["F3"].value is None and ws["E5"].value == 0


def test_a_cell_that_looks_like_rich_text_is_written_as_text(tmp_path):
    """xlsxwriter writes a string that starts with <r> and ends with </r> as raw XML; the direct
    writer never does (a client's text is data): it reads back as the same text."""
    path = tmp_path / "rich.xlsx"
    _table_book(path, True, [["<r><t>x</t></r>", Decimal(1), "<r>&</r>", None, None, None]])
    ws = openpyxl.load_workbook(path)["T"]
    assert ws["A2"].value == "<r><t>x</t></r>" and ws["C2"].value == "<r>&</r>"


def test_balances_on_many_days_in_one_pass_match_each_day_read_alone(sqlite_office: Office):
    """The Summary's 13 dates read in one pass give what the per-date queries give, on every day
    from before the first invoice to after the last run (payments and a refund-free credit included)."""
    from billing_batch.ledger import balances
    from billing_batch.ledger.db import open_ledger

    _month_office(sqlite_office)
    sqlite_office.drop("payments.xlsx", {"Payments": [["Payment Date", "Client ID", "Amount", "Method", "Reference"],
                                                      [D(2026, 4, 10), "C01", 750, "Check", "1001"],
                                                      [D(2026, 5, 2), "C03", 100, "Check", "1002"]]})
    result = run_batch(sqlite_office.settings, D(2026, 5, 20))
    assert result.report["payments_applied"] == 2, [p.message for p in result.problems]
    days = [D(2026, 1, 1) + dt.timedelta(days=i) for i in range(0, 160)]
    engine = open_ledger(sqlite_office.settings.database_url)
    try:
        with engine.connect() as conn:
            together = balances.balances_on(conn, days)
            for day in days:
                alone = (sorted(balances.open_by_due_date(conn, day)),
                         sum(balances.unapplied_credits(conn, day).values(), Decimal(0)))
                assert (sorted(together[day][0]), together[day][1]) == alone, day
            assert together[D(2026, 5, 20)][1] == Decimal("50.00")  # C01 paid 750.00 against 700.00 billed
    finally:
        engine.dispose()


def test_text_shaped_like_rich_string_xml_stays_text_in_every_cell_path(tmp_path):
    """Headings, single cells and table rows of a name typed "<r>&</r>" (xlsxwriter's constant-memory mode
    would write it as raw XML: a corrupt workbook) read back as the text typed."""
    from billing_batch.reports import xlsx_stream

    book = xlsx_stream.Book(Look(office="Test"))
    ws = book.sheet("T", [12] * 3)
    ws.heading("<r>&heading</r>")
    ws.header(["<r>h</r>", "B", "C"])
    ws.put(ws.r, 0, "<r><t>x</t></r>")
    ws.put(ws.r, 1, "<r>&</r>", bold=True)
    ws.skip()
    ws._cell_rows([["<r>a&b</r>", Decimal(1), "ok"]], money=[1], sums={1: Decimal(0)})
    path = tmp_path / "t.xlsx"
    book.save(path)
    cells = openpyxl.load_workbook(path)["T"]
    assert [cells["A1"].value, cells["A2"].value, cells["A3"].value, cells["B3"].value, cells["A4"].value] == [
        "<r>&heading</r>", "<r>h</r>", "<r><t>x</t></r>", "<r>&</r>", "<r>a&b</r>"]
