"""`rejected/<name>.problems.xlsx` (SPEC §3.2): the bad rows as staff wrote them, plus a Problems
column, each bad cell highlighted with a comment. Fixed and dropped back, it is a valid input."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from billing_batch.intake.cells import clean_text
from billing_batch.intake.inbox import FileIntake
from billing_batch.intake.sheets import OCCURRENCE_COLUMN, PROBLEMS_COLUMN
from billing_batch.ledger.posting import occurrence_numbers
from billing_batch.problems import Problem

BAD_FILL = {"fill_type": "solid", "fgColor": "FFC7CE"}  # openpyxl's PatternFill; openpyxl loads only to write


def problems_name(original: str) -> str:
    """clients.xlsx -> clients.xlsx.problems.xlsx; a dropped-back problems file keeps its name."""
    return original if original.endswith(".problems.xlsx") else f"{original}.problems.xlsx"


def _copy_cell(cell, value: object, marks, at: tuple[int, int]) -> None:
    """The cell as staff wrote it, so the workbook dropped back reads the same way: an error, or a
    formula without a saved result (written as the error #N/A: no formula is copied from input),
    stays an error; percent and zero-padded formats stay."""
    if marks is not None and at in marks.errors:
        cell.value = marks.errors[at] or "#N/A"
        cell.data_type = "e"
        return
    from billing_batch.reports.xlsx import put

    put(cell.parent, cell.row, cell.column, clean_text(value) if isinstance(value, str) else value)
    if marks is not None and at in marks.percent_cells:
        cell.number_format = "0%"
    elif marks is not None and at in marks.padded:
        cell.number_format = "0" * marks.padded[at]


def write_problems_workbook(intake: FileIntake, path: Path) -> bool:
    """Write the workbook if the file has any error; returns whether it did."""
    errors = [p for s in intake.sheets for p in s.problems if p.level == "error" and p.where.row is not None
              and p.where.row in s.raw_rows]
    general = [p for p in intake.problems if p.level == "error"] + [
        p for s in intake.sheets for p in s.problems
        if p.level == "error" and (p.where.row is None or p.where.row not in s.raw_rows)]
    if not errors and not general:
        return False
    # openpyxl only when there is a workbook to write (a quiet night has none).
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import PatternFill

    from billing_batch.reports.xlsx import finish_table, put, save_atomic, table_sheet

    bad_fill = PatternFill(**BAD_FILL)
    wb = Workbook()
    first = True
    ours = {PROBLEMS_COLUMN, OCCURRENCE_COLUMN}
    for sheet in intake.sheets:
        by_row: dict[int, list[Problem]] = defaultdict(list)
        for p in sheet.problems:
            if p.level == "error" and p.where.row in sheet.raw_rows:
                by_row[p.where.row].append(p)
        if not by_row:
            continue
        ws = wb.active if first else wb.create_sheet()
        first = False
        ws.title = sheet.sheet[:31]
        keep = [i for i, h in enumerate(sheet.headers) if clean_text(h) and clean_text(h) not in ours]
        occurrences = occurrence_numbers(sheet) if sheet.kind.identity else {}
        headers = [clean_text(sheet.headers[i]) for i in keep] + [PROBLEMS_COLUMN]
        if occurrences:
            headers.append(OCCURRENCE_COLUMN)
        for c, h in enumerate(headers, start=1):
            put(ws, 1, c, h)
        for n, (row_no, problems) in enumerate(sorted(by_row.items()), start=2):
            cells = sheet.raw_rows[row_no]
            for c, i in enumerate(keep, start=1):
                _copy_cell(ws.cell(row=n, column=c), cells[i] if i < len(cells) else None, sheet.marks,
                           (row_no, i + 1))
            for p in problems:
                if p.where.col_index and p.where.col_index - 1 in keep:
                    cell = ws.cell(row=n, column=keep.index(p.where.col_index - 1) + 1)
                    cell.fill = bad_fill
                    cell.comment = Comment(p.message, "billing-batch")
            put(ws, n, len(keep) + 1, " | ".join(_say(p) for p in problems))
            if row_no in occurrences:
                put(ws, n, len(keep) + 2, occurrences[row_no][1])
        finish_table(ws, headers, len(by_row) + 1, {PROBLEMS_COLUMN: 80})
    if general:
        table_sheet(wb, "About this file", ["Where", "Problem"],
                    [[" / ".join(str(x) for x in (p.where.sheet, p.where.row and f"row {p.where.row}") if x) or "file",
                      p.message] for p in general],
                    widths={"Where": 30, "Problem": 100}, first=first)
    save_atomic(wb, path)
    return True



def _say(p: Problem) -> str:
    column = p.where.column
    return p.message if not column or p.message.startswith(column) else f"{column}: {p.message}"
