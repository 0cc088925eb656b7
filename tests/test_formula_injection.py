"""Text from input stays text in every workbook we write (SPEC §5, §6.7)."""

from __future__ import annotations

import datetime as dt

import openpyxl
from click.testing import CliRunner

from billing_batch.cli import main
from billing_batch.pipeline import run_batch
from tests.office import Office, write_workbook
from tests.test_end_to_end import CLIENT_HEADERS, LOG_HEADERS, RATE_HEADERS, RATES

EVIL = '=HYPERLINK("http://example.com","x")'


def test_a_formula_looking_name_is_text_in_every_workbook_and_no_cell_is_a_formula(sqlite_office: Office, tmp_path):
    office = sqlite_office
    office.drop("clients.xlsx", {"Clients": [
        CLIENT_HEADERS,
        ["C001", EVIL, "Business", "+SUM(1,1)", "@cmd", "Springfield", "IL", "62701", 30, "N"],
        ["C002", EVIL, "Alien", None, "1 Way", "Springfield", "IL", "62701", 30, "N"],  # bad Type: rejected row
    ]})
    office.drop("rates.xlsx", {"Rates": [RATE_HEADERS, *RATES]})
    office.drop("log.xlsx", {"Service Log": [LOG_HEADERS, [dt.date(2026, 3, 2), "C001", "OV", 11, None, "-1+1"]]})
    result = run_batch(office.settings, dt.date(2026, 3, 31))
    check_file = write_workbook(tmp_path / "check.xlsx", {"Clients": [CLIENT_HEADERS, ["C003", EVIL, "Nope"]]})
    CliRunner().invoke(main, ["check", "--config", str(office.config), str(check_file)])
    CliRunner().invoke(main, ["report", "aging", "--config", str(office.config), "--as-of", "2026-04-30"])

    books = sorted({*office.root.joinpath("output").rglob("*.xlsx"), *office.root.joinpath("rejected").rglob("*.xlsx")})
    assert len(books) >= 5  # aging ×2 (+latest), the problems workbook, the check's problems workbook
    seen_as_text = 0
    for book in books:
        wb = openpyxl.load_workbook(book)
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", f"{book.name}!{ws.title}!{cell.coordinate} is a formula"
                    if cell.value == EVIL:
                        assert cell.data_type == "s"
                        seen_as_text += 1
    aging = openpyxl.load_workbook(result.aging_path)
    names = [r[1] for r in aging["Aging by Client"].iter_rows(min_row=2, values_only=True)][:-1]  # less the totals
    assert names == [EVIL]
    assert seen_as_text >= 4  # aging by client, review, problems sheet value, problems workbooks
