"""Blank input workbooks for office staff (SPEC §2: `billing-batch init` copies them).

Each workbook has the exact headers of its kind (from `intake/kinds.py`), formats and drop-downs on
the empty data area and an Instructions sheet. Output is byte-reproducible so the committed copies
under `workbooks/templates/` can be compared with a fresh build.

    python -m billing_batch.workbook_templates      # rewrites <repo>/workbooks/templates/
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from billing_batch.intake.kinds import (
    ADJUSTMENTS, CLIENTS, CONTACT_LOG, PAYER_FEES, PAYMENT_PLANS, PAYMENTS, RATES, SERVICE_LOG, CellType, Column, Kind,
)

# (file name, kinds in sheet order); each sheet is named after its kind.
TEMPLATES: tuple[tuple[str, tuple[Kind, ...]], ...] = (
    ("Clients.xlsx", (CLIENTS,)),
    ("Rates.xlsx", (RATES, PAYER_FEES)),
    ("Service Log.xlsx", (SERVICE_LOG,)),
    ("Payments.xlsx", (PAYMENTS, ADJUSTMENTS)),
    ("Payment Plans.xlsx", (PAYMENT_PLANS,)),
    ("Contact Log.xlsx", (CONTACT_LOG,)),
)

DATA_ROWS = 1000  # rows 2..1000 get formats and drop-downs
FIXED_TIME = dt.datetime(2026, 1, 1)  # workbook properties: fixed so builds are byte-identical
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # earliest time a zip entry can hold

REQUIRED_FILL = PatternFill("solid", fgColor="1F4E78")  # dark blue: must be filled in
OPTIONAL_FILL = PatternFill("solid", fgColor="BDD7EE")  # light blue
REQUIRED_FONT = Font(bold=True, color="FFFFFF")
OPTIONAL_FONT = Font(bold=True, color="000000")

NUMBER_FORMATS = {
    CellType.ID: "@",  # text, so 00123 keeps its zeros
    CellType.TEXT: "@",  # text, so "4-5" in an address line is not turned into a date
    CellType.DATE: "yyyy-mm-dd",
    CellType.MONEY: "#,##0.00",
    CellType.PERCENT: "General",  # staff type 20 for 20%; a % format would store 0.2 and confuse
    CellType.INTEGER: "0",
    CellType.QUANTITY: "General",
}

WIDTHS = {
    CellType.ID: 14, CellType.TEXT: 22, CellType.DATE: 13, CellType.MONEY: 13,
    CellType.PERCENT: 10, CellType.YES_NO: 8, CellType.INTEGER: 8, CellType.QUANTITY: 10,
    CellType.CHOICE: 14,
}

DROP_INSTRUCTIONS = (
    "How to hand the file in",
    "1. Fill in one row per record under the header row. Leave the header row exactly as it is; "
    "dark headers are required, light ones optional.",
    "2. Save the file as .xlsx (any file name) and close it in Excel.",
    "3. Copy it into the office's inbox folder. The nightly run reads it; accepted files move to "
    "processed/.",
    "4. Rows with problems come back in rejected/<file name>.problems.xlsx with the bad cells "
    "highlighted. Fix them in that workbook and copy it into the inbox again as it is.",
    "Extra columns of your own are allowed (they are ignored). This Instructions sheet is ignored.",
)


def build_input_templates(out_dir: Path) -> list[Path]:
    """Write the blank input workbooks into `out_dir`; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, kinds in TEMPLATES:
        path = out_dir / file_name
        path.write_bytes(reproducible_bytes(_template_workbook(kinds)))
        written.append(path)
    return written


def _template_workbook(kinds: tuple[Kind, ...]) -> Workbook:
    wb = Workbook()
    wb.remove(wb.active)
    for kind in kinds:
        _add_kind_sheet(wb.create_sheet(kind.name), kind)
    _add_instructions(wb.create_sheet("Instructions"), kinds)
    return wb


def _add_kind_sheet(ws: Worksheet, kind: Kind) -> None:
    for col_idx, column in enumerate(kind.columns, start=1):
        letter = get_column_letter(col_idx)
        cell = ws.cell(row=1, column=col_idx, value=column.name)
        cell.font = REQUIRED_FONT if column.required else OPTIONAL_FONT
        cell.fill = REQUIRED_FILL if column.required else OPTIONAL_FILL
        cell.alignment = Alignment(vertical="center")
        ws.column_dimensions[letter].width = max(WIDTHS[column.type], len(column.name) + 3)
        _format_data_area(ws, col_idx, column)
        _add_drop_down(ws, letter, column)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(kind.columns))}1"


def _format_data_area(ws: Worksheet, col_idx: int, column: Column) -> None:
    number_format = NUMBER_FORMATS.get(column.type)
    if number_format is None:
        return
    for row in range(2, DATA_ROWS + 1):
        ws.cell(row=row, column=col_idx).number_format = number_format


def _choices(column: Column) -> tuple[str, ...]:
    if column.type is CellType.YES_NO:
        return ("Y", "N")
    if column.type is CellType.CHOICE:
        return column.choices
    return ()


def _add_drop_down(ws: Worksheet, letter: str, column: Column) -> None:
    choices = _choices(column)
    if not choices:
        return
    dv = DataValidation(
        type="list",
        formula1='"' + ",".join(choices) + '"',
        allow_blank=True,
        showErrorMessage=True,
        errorTitle=f"{column.name}: not allowed",
        error=f"{column.name} must be one of: {', '.join(choices)}. Pick from the list.",
        showInputMessage=False,
    )
    dv.add(f"{letter}2:{letter}{DATA_ROWS}")
    ws.add_data_validation(dv)


def what_to_enter(column: Column) -> str:
    """The format hint staff need for a column, derived from its type and default."""
    t = column.type
    if t is CellType.DATE:
        return "date, e.g. 2026-03-14"
    if t is CellType.MONEY:
        return "amount, e.g. 1,234.50"
    if t is CellType.PERCENT:
        return "number: enter 20 for 20%"
    if t is CellType.YES_NO:
        return f"Y or N (blank = {'Y' if column.default else 'N'})"
    if t is CellType.CHOICE:
        text = "one of: " + ", ".join(column.choices)
        return text + (f" (blank = {column.default})" if column.default else "")
    if t is CellType.INTEGER:
        return "whole number, e.g. 30"
    if t is CellType.QUANTITY:
        # SPEC §3: Quantity defaults to 1.
        return "number, e.g. 1 or 1.5 (blank = 1)"
    if t is CellType.ID:
        return "text; leading zeros are kept"
    return "text"


def _add_instructions(ws: Worksheet, kinds: tuple[Kind, ...]) -> None:
    bold = Font(bold=True)
    ws.append([f"How to fill in this workbook ({', '.join(k.name for k in kinds)})"])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([])
    for kind in kinds:
        ws.append([f'Sheet "{kind.name}"', kind.help])
        ws.cell(row=ws.max_row, column=1).font = bold
        ws.append(["Column", "Required", "What to enter", "Notes"])
        for cell in ws[ws.max_row]:
            cell.font = bold
            cell.fill = OPTIONAL_FILL
        for column in kind.columns:
            ws.append([column.name, "Yes" if column.required else "",
                       what_to_enter(column), column.help])
        ws.append([])
    for i, line in enumerate(DROP_INSTRUCTIONS):
        ws.append([line])
        if i == 0:
            ws.cell(row=ws.max_row, column=1).font = bold
    for letter, width in zip("ABCD", (24, 10, 44, 70)):
        ws.column_dimensions[letter].width = width


def reproducible_bytes(wb: Workbook) -> bytes:
    """Serialise `wb` so the same workbook always gives the same bytes.

    openpyxl's `save()` stamps the current time into docProps/core.xml, and zip entries carry
    their write time; we write through ExcelWriter with fixed properties and then re-zip with
    fixed entry timestamps.
    """
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    wb.properties.creator = "billing-batch"
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()
    return _rezip_fixed_times(raw.getvalue())


def _rezip_fixed_times(data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def repo_templates_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "workbooks" / "templates"


if __name__ == "__main__":
    for written_path in build_input_templates(repo_templates_dir()):
        print(written_path)
