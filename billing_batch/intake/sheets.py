"""From raw sheet cells to typed rows: header detection (SPEC §3) and cell parsing (§3.1).

Provenance travels with every row from here on: file, sheet and Excel row number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from openpyxl.utils import get_column_letter

from billing_batch.intake.cells import CellError, clean_text, is_blank, parse_cell
from billing_batch.intake.kinds import ALL_KINDS, Kind, header_key, header_lookup
from billing_batch.intake.workbook import RawSheet
from billing_batch.problems import Problem, Where

HEADER_SEARCH_ROWS = 10
# Columns the problems workbook adds; ignored without a note when such a file is dropped back.
PROBLEMS_COLUMN, OCCURRENCE_COLUMN = "Problems", "Occurrence"
OUR_COLUMNS = {header_key(PROBLEMS_COLUMN), header_key(OCCURRENCE_COLUMN)}
_LOOKUPS = {k.name: header_lookup(k) for k in ALL_KINDS}


@dataclass(frozen=True)
class Row:
    file: str
    sheet: str
    row: int  # Excel row number
    values: dict[str, Any]  # canonical column name -> typed value (per the column's CellType) or None
    # Carried by a problems workbook dropped back, so a fixed row keeps the occurrence number it
    # had among identical rows of its original sheet (SPEC §3.3); None = count in this sheet.
    occurrence: int | None = None


@dataclass
class ParsedSheet:
    file: str
    sheet: str
    kind: Kind
    header_row: int
    headers: list[object]  # the header row as written, for the problems workbook
    columns: dict[str, int]  # canonical column name -> 1-based Excel column
    raw_rows: dict[int, list[object]]  # Excel row -> cells as written
    marks: "RawSheet | None" = None  # error, percent and zero-padded cells, for the problems workbook
    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def where(self, row: int | None = None, column: str | None = None) -> Where:
        col_index = self.columns.get(column) if column else None
        header = clean_text(self.headers[col_index - 1]) if col_index else column
        return Where(self.file, self.sheet, row, header, col_index)

    def bad_rows(self) -> set[int]:
        return {p.where.row for p in self.problems if p.level == "error" and p.where.row is not None}


def _match(cells: list[object], kind: Kind) -> dict[str, int]:
    """Column name -> position; a column's own name beats an alias anywhere in the row (a service log
    with both `CPT` and `Service Code` reads the codes from Service Code)."""
    lookup = _LOOKUPS[kind.name]
    found: dict[str, int] = {}
    keys = [header_key(cell) for cell in cells]
    for own_name in (True, False):
        for i, key in enumerate(keys, start=1):
            name = lookup.get(key)
            if name and name not in found and (key == header_key(name)) == own_name:
                found[name] = i
    return found


@dataclass(frozen=True)
class Detection:
    """What a sheet's header row says: a kind (with its columns), or why none was chosen."""
    kind: Kind | None = None
    header_row: int | None = None
    columns: dict[str, int] = field(default_factory=dict)
    missing: tuple[str, ...] = ()  # required columns of the kind the sheet looks like
    fits: tuple[str, ...] = ()  # two kinds the headers fit equally well


def detect(sheet: RawSheet) -> Detection:
    """The first row within the first 10 that holds every required header of a kind.

    Such a row may still be another kind's sheet with a column missing (an Adjustments sheet without
    Reason has all of Payments' columns): when another kind matches more of the row's headers, or two
    kinds match equally well, nothing is guessed."""
    best_partial: tuple[int, int, Kind, dict[str, int]] | None = None
    for r, cells in enumerate(sheet.rows[:HEADER_SEARCH_ROWS], start=1):
        full, partial = [], []
        for kind in ALL_KINDS:
            found = _match(cells, kind)
            have = sum(1 for c in kind.required if c in found)
            if have == len(kind.required):
                full.append((len(found), kind, found))
            elif have >= 2:
                partial.append((len(found), kind, found))
                if best_partial is None or have > best_partial[0]:
                    best_partial = (have, r, kind, found)
        if not full:
            continue
        full.sort(key=lambda t: -t[0])
        matched, kind, found = full[0]
        bigger = [p for p in partial if p[0] > matched]
        if bigger:
            _, other, other_found = max(bigger, key=lambda t: t[0])
            return Detection(header_row=r, missing=tuple(c for c in other.required if c not in other_found))
        if len(full) > 1 and full[1][0] == matched:
            return Detection(header_row=r, fits=(kind.name, full[1][1].name))
        return Detection(kind, r, found)
    if best_partial:
        _, r, kind, found = best_partial
        return Detection(header_row=r, missing=tuple(c for c in kind.required if c not in found))
    return Detection()


def parse_sheet(file: str, sheet: RawSheet, kind: Kind, header_row: int, columns: dict[str, int],
                date_format: str) -> ParsedSheet:
    headers = list(sheet.rows[header_row - 1])
    parsed = ParsedSheet(file, sheet.name, kind, header_row, headers, columns, {}, sheet)
    known = set(columns.values())
    occurrence_col = next((i for i, h in enumerate(headers, start=1)
                           if header_key(h) == header_key(OCCURRENCE_COLUMN)), None)
    lookup = header_lookup(kind)
    for i, h in enumerate(headers, start=1):
        if i not in known and not is_blank(h) and header_key(h) not in OUR_COLUMNS:
            # A second name for a column already read (CPT beside HCPCS or Service Code) is not unknown:
            # say which one is read, so codes keyed only in this column are not taken as lost.
            same = lookup.get(header_key(h))
            why = (f"is another name for {same}, which is read from column {get_column_letter(columns[same])} "
                   f"({clean_text(headers[columns[same] - 1])}); this column is ignored (a code keyed only here is not "
                   "read)" if same in columns else "is not a column billing-batch uses; it is ignored")
            parsed.problems.append(Problem(Where(file, sheet.name, header_row, clean_text(h), i), why, level="note"))
    # calamine's range ends at the last cell with a value: a formula alone in a later row shows only
    # in the scan of errors, and must still be read (and reported).
    error_rows = {r for r, _ in sheet.errors}
    last = max([len(sheet.rows), *error_rows])
    for r in range(header_row + 1, last + 1):
        cells = sheet.rows[r - 1] if r <= len(sheet.rows) else []
        if all(is_blank(c) for c in cells) and r not in error_rows:
            continue
        parsed.raw_rows[r] = cells
        values: dict[str, object] = {}
        for col in kind.columns:
            c = columns.get(col.name)
            raw = cells[c - 1] if c and c <= len(cells) else ""
            if c and (r, c) in sheet.errors:
                err = sheet.errors[(r, c)]
                msg = (f"the formula here shows the error {err}; fix the formula or type the value" if err else
                       "holds a formula with no saved result; open the file in Excel or LibreOffice, save it, "
                       "and drop it again (or type the value)")
                parsed.problems.append(Problem(parsed.where(r, col.name), msg, err or None))
                values[col.name] = None
            elif is_blank(raw):
                values[col.name] = col.default
                if col.required:
                    parsed.problems.append(Problem(parsed.where(r, col.name),
                                                   f"{col.name} is required; fill it in and drop the file again"))
            else:
                try:
                    values[col.name] = parse_cell(col, raw, date_format, (r, c) in sheet.percent_cells,
                                                  sheet.padded.get((r, c)))
                except CellError as exc:
                    parsed.problems.append(Problem(parsed.where(r, col.name), f"{col.name} {exc}", clean_text(raw)))
                    values[col.name] = None
        occurrence = None
        if occurrence_col and occurrence_col <= len(cells) and not is_blank(cells[occurrence_col - 1]):
            try:
                occurrence = int(clean_text(cells[occurrence_col - 1]))
            except ValueError:
                occurrence = None
        parsed.rows.append(Row(file, sheet.name, r, values, occurrence))
    return parsed
