"""From raw sheet cells to typed rows: header detection (SPEC §3) and cell parsing (§3.1).

Provenance travels with every row from here on: file, sheet and Excel row number.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    values: dict[str, object]  # canonical column name -> typed value or None (blank)
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
    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def where(self, row: int | None = None, column: str | None = None) -> Where:
        col_index = self.columns.get(column) if column else None
        header = clean_text(self.headers[col_index - 1]) if col_index else column
        return Where(self.file, self.sheet, row, header, col_index)

    def bad_rows(self) -> set[int]:
        return {p.where.row for p in self.problems if p.level == "error" and p.where.row is not None}


def _match(cells: list[object], kind: Kind) -> dict[str, int]:
    lookup = _LOOKUPS[kind.name]
    found: dict[str, int] = {}
    for i, cell in enumerate(cells, start=1):
        name = lookup.get(header_key(cell))
        if name and name not in found:
            found[name] = i
    return found


def detect(sheet: RawSheet) -> tuple[Kind, int, dict[str, int]] | tuple[None, int | None, list[str]]:
    """(kind, header row, columns) for a recognised sheet; else (None, row, missing required columns)
    for a sheet that looks like a kind but lacks columns, or (None, None, []) for an unrelated one."""
    best_partial: tuple[int, int, Kind, dict[str, int]] | None = None
    for r, cells in enumerate(sheet.rows[:HEADER_SEARCH_ROWS], start=1):
        full = []
        for kind in ALL_KINDS:
            found = _match(cells, kind)
            have = sum(1 for c in kind.required if c in found)
            if have == len(kind.required):
                full.append((len(found), kind, found))
            elif have >= 2 and (best_partial is None or have > best_partial[0]):
                best_partial = (have, r, kind, found)
        if full:
            _, kind, found = max(full, key=lambda t: t[0])
            return kind, r, found
    if best_partial:
        _, r, kind, found = best_partial
        return None, r, [c for c in kind.required if c not in found]
    return None, None, []


def parse_sheet(file: str, sheet: RawSheet, kind: Kind, header_row: int, columns: dict[str, int],
                date_format: str) -> ParsedSheet:
    headers = list(sheet.rows[header_row - 1])
    parsed = ParsedSheet(file, sheet.name, kind, header_row, headers, columns, {})
    known = set(columns.values())
    occurrence_col = next((i for i, h in enumerate(headers, start=1)
                           if header_key(h) == header_key(OCCURRENCE_COLUMN)), None)
    for i, h in enumerate(headers, start=1):
        if i not in known and not is_blank(h) and header_key(h) not in OUR_COLUMNS:
            parsed.problems.append(Problem(Where(file, sheet.name, header_row, clean_text(h), i),
                                           "is not a column billing-batch uses; it is ignored", level="note"))
    for r in range(header_row + 1, len(sheet.rows) + 1):
        cells = sheet.rows[r - 1]
        if all(is_blank(c) for c in cells) and not any((r, c) in sheet.errors for c in range(1, len(cells) + 1)):
            continue
        parsed.raw_rows[r] = cells
        values: dict[str, object] = {}
        for col in kind.columns:
            c = columns.get(col.name)
            raw = cells[c - 1] if c and c <= len(cells) else ""
            where = parsed.where(r, col.name)
            if c and (r, c) in sheet.errors:
                err = sheet.errors[(r, c)]
                msg = (f"the formula here shows the error {err}; fix the formula or type the value" if err else
                       "holds a formula with no saved result; open the file in Excel or LibreOffice, save it, "
                       "and drop it again (or type the value)")
                parsed.problems.append(Problem(where, msg, err or None))
                values[col.name] = None
            elif is_blank(raw):
                values[col.name] = col.default
                if col.required:
                    parsed.problems.append(Problem(where, f"{col.name} is required; fill it in and drop the file again"))
            else:
                try:
                    values[col.name] = parse_cell(col, raw, date_format, (r, c) in sheet.percent_cells)
                except CellError as exc:
                    parsed.problems.append(Problem(where, f"{col.name} {exc}", clean_text(raw)))
                    values[col.name] = None
        occurrence = None
        if occurrence_col and occurrence_col <= len(cells) and not is_blank(cells[occurrence_col - 1]):
            try:
                occurrence = int(clean_text(cells[occurrence_col - 1]))
            except ValueError:
                occurrence = None
        parsed.rows.append(Row(file, sheet.name, r, values, occurrence))
    return parsed
