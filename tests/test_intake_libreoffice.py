"""Formulas are read by their cached value (SPEC §3.1) — with a file LibreOffice really saved.

openpyxl writes formulas without results; LibreOffice recalculates and saves them with cached
values (and `#DIV/0!` as an error cell), as Excel would. The same workbook before conversion has no
saved results, which the intake must report instead of reading 0.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from billing_batch.config import Settings
from billing_batch.intake.inbox import read_file
from tests.workbook_cases import CENTS, LOG_ALL, NO_RESULT, E, F, shows_error, values, write_book

SOFFICE = shutil.which("soffice")
pytestmark = pytest.mark.skipif(
    SOFFICE is None, reason="LibreOffice is not installed (no `soffice` on PATH); install libreoffice-calc-nogui")

D2, D3, D4, D5, D6 = (date(2026, 3, d) for d in (2, 3, 4, 5, 6))

# Service Log columns: A Service Date, B Client ID, C Service Code, D Quantity, E Provider,
# F Description, G Unit Price Override, H Reference
ROWS = [
    [D2, "00123", "S01", F("=1+1"), "Dr Lee", None, F("=ROUND(10/3,2)"), F('=""')],
    [D3, "C2", "S01", F("=D2"), None, None, F("=0.1+0.2")],
    [D4, "C3", "S01", 3, None, None, F("=1/0")],
    [D5, F('="00"&"124"'), "S01", F("=ROUND(7/4,3)"), None, None, F("=G2*3")],
    [D6, "C6", "S02", F("=0.1*3"), None, None, F("=10/3")],
]


def convert(src: Path, tmp_path: Path) -> Path:
    out = tmp_path / "converted"
    profile = tmp_path / "lo-profile"
    result = subprocess.run(
        [SOFFICE, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--convert-to", "xlsx",
         "--outdir", str(out), str(src)],
        capture_output=True, text=True, timeout=300)
    converted = out / src.name
    assert result.returncode == 0 and converted.exists(), (
        f"soffice failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return converted


def test_formulas_saved_by_libreoffice_are_read_by_their_cached_values(tmp_path):
    src = write_book(tmp_path / "src" / "log.xlsx", {"Service Log": [LOG_ALL, *ROWS]})

    # Before: openpyxl saved no results -> a problem at every formula cell, never a 0.
    before = read_file(src, Settings())
    formula_cells = ["D2", "G2", "H2", "D3", "G3", "G4", "B5", "D5", "G5", "D6", "G6"]
    assert sorted(p.where.cell for s in before.sheets for p in s.problems) == sorted(formula_cells)
    assert {p.message for s in before.sheets for p in s.problems} == {NO_RESULT}

    after = read_file(convert(src, tmp_path), Settings())
    assert not after.unreadable
    [sheet] = after.sheets
    assert sheet.kind.name == "Service Log"

    problems = [(p.where.row, p.where.column, p.where.cell, p.message, p.level) for p in sheet.problems]
    unit_price_third = [p for p in sheet.problems if p.where.cell == "G6"]
    assert sorted(problems) == sorted([
        (4, "Unit Price Override", "G4", shows_error("#DIV/0!"), "error"),
        (6, "Unit Price Override", "G6", f"Unit Price Override {CENTS}", "error"),
    ])
    assert [p.value for p in sheet.problems if p.where.cell == "G4"] == ["#DIV/0!"]
    assert str(unit_price_third[0].value).startswith("3.333")  # 10/3 as saved, not rounded away
    assert after.problems == []

    def row(**given):
        return values("Service Log", {k.replace("_", " "): v for k, v in given.items()})

    expected = {
        2: row(Service_Date=D2, Client_ID="00123", Service_Code="S01", Quantity=Decimal("2"), Provider="Dr Lee",
               Unit_Price_Override=Decimal("3.33")),
        3: row(Service_Date=D3, Client_ID="C2", Service_Code="S01", Quantity=Decimal("2"),
               Unit_Price_Override=Decimal("0.30")),
        4: row(Service_Date=D4, Client_ID="C3", Service_Code="S01", Quantity=Decimal("3")),
        5: row(Service_Date=D5, Client_ID="00124", Service_Code="S01", Quantity=Decimal("1.75"),
               Unit_Price_Override=Decimal("9.99")),
        6: row(Service_Date=D6, Client_ID="C6", Service_Code="S02", Quantity=Decimal("0.3")),
    }
    got = {r.row: r.values for r in sheet.rows}
    assert list(got) == [2, 3, 4, 5, 6]
    for n, vals in expected.items():
        for column, value in vals.items():
            actual = got[n][column]
            assert type(actual) is type(value), (n, column, actual)
            assert (str(actual) if isinstance(actual, Decimal) else actual) == (
                str(value) if isinstance(value, Decimal) else value), (n, column, actual, value)


def test_error_cells_saved_by_libreoffice_are_error_cells_for_openpyxl_too(tmp_path):
    """Guard for the fixture itself: LibreOffice keeps an error typed into a cell as an error cell."""
    src = write_book(tmp_path / "src" / "errors.xlsx", {"Service Log": [
        LOG_ALL, [D2, "C1", "S01", 1, None, None, E("#REF!")]]})
    after = read_file(convert(src, tmp_path), Settings())
    assert [(p.where.cell, p.message, p.value) for s in after.sheets for p in s.problems] == [
        ("G2", shows_error("#REF!"), "#REF!")]
