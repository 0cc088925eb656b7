"""Writing workbooks people read: every text from input stays text, formatted tables.

openpyxl writes any string starting with `=` as a live formula; `put` forces strings to be strings
(and marks risky ones with a quote prefix) so a client named `=HYPERLINK(...)` stays a name.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from billing_batch.documents.render import write_atomic
from billing_batch.reports.xlsx_stream import fit_width  # noqa: F401  (one column-width rule for both writers)

MONEY_FORMAT = '#,##0.00;[Red]-#,##0.00'
DATE_FORMAT = "yyyy-mm-dd"
HEADER_FILL = PatternFill("solid", fgColor="1F3864")
HEADER_FONT = Font(bold=True, color="FFFFFF")
_RISKY_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def put(ws: Worksheet, row: int, col: int, value: object, money: bool = False) -> Cell:
    """Write one value with the right type and format. Strings are never formulas."""
    cell = ws.cell(row=row, column=col)
    if isinstance(value, str):
        cell.value = ILLEGAL_CHARACTERS_RE.sub("", value)  # control characters cannot be in a workbook
        cell.data_type = "s"
        if value.startswith(_RISKY_START):
            cell.style = "Normal"
            cell.alignment = Alignment(horizontal="left")
            cell.quotePrefix = True
    elif isinstance(value, Decimal):
        cell.value = value  # openpyxl writes Decimal as its exact text in the XML
        cell.number_format = MONEY_FORMAT if money else "General"
    elif isinstance(value, (datetime, date)):
        cell.value = value
        cell.number_format = DATE_FORMAT
    else:
        cell.value = value
    return cell


def table_sheet(wb: Workbook, title: str, headers: Sequence[str], rows: Iterable[Sequence[object]],
                money_cols: Iterable[str] = (), widths: dict[str, int] | None = None,
                first: bool = False) -> Worksheet:
    """A sheet with a styled, frozen, filtered header row and landscape fit-to-width printing."""
    ws = wb.active if first else wb.create_sheet()
    ws.title = title
    money = {headers.index(h) + 1 for h in money_cols}
    for c, h in enumerate(headers, start=1):
        cell = put(ws, 1, c, h)
        cell.fill, cell.font = HEADER_FILL, HEADER_FONT
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    n = 1
    for n, values in enumerate(rows, start=2):
        for c, v in enumerate(values, start=1):
            put(ws, n, c, v, money=c in money)
    finish_table(ws, headers, n, widths)
    return ws


def finish_table(ws: Worksheet, headers: Sequence[str], last_row: int, widths: dict[str, int] | None) -> None:
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{max(last_row, 1)}"
    for c, h in enumerate(headers, start=1):
        ws.column_dimensions[get_column_letter(c)].width = (widths or {}).get(h, max(12, min(len(h) + 4, 40)))
    landscape(ws)


def landscape(ws: Worksheet) -> None:
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:1"


def save_atomic(wb: Workbook, path: Path, *copies: Path) -> None:
    """Save the workbook at `path` and at each of `copies`, each complete or not there at all."""
    buf = io.BytesIO()
    wb.save(buf)
    for target in (path, *copies):
        write_atomic(target, buf.getvalue())
