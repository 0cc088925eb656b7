"""Problems are values with an address, collected and reported, never raised (SPEC §3.2)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Where:
    file: str
    sheet: str | None = None
    row: int | None = None  # Excel row number, 1-based
    column: str | None = None  # header as written in the file
    col_index: int | None = None  # 1-based Excel column

    @property
    def cell(self) -> str | None:
        if self.row is None or self.col_index is None:
            return None
        from openpyxl.utils import get_column_letter  # openpyxl (~0.1 s) only when a problem is shown

        return f"{get_column_letter(self.col_index)}{self.row}"


@dataclass(frozen=True)
class Problem:
    where: Where
    message: str  # what is wrong and what to do, in plain words
    value: object = None
    level: str = "error"  # "error" holds the row back; "warning" (posted, staff should look) and "note" do not

    def text(self, values: bool = True) -> str:
        """The problem in one line; `values=False` leaves the cell's value out (console and logs:
        with shifted columns a value may be a name or an address)."""
        w = self.where
        parts = [w.file]
        place = ""
        if w.sheet:
            place = w.sheet
            if w.row is not None:
                place += f", row {w.row}"
            if w.column:
                place += f", {w.column}"
                if w.cell:
                    place += f" ({w.cell})"
            parts.append(place)
        head = ": ".join(parts)
        shown = "" if self.value in (None, "") or not values else f'"{self.value}" — '
        return f"{head}: {shown}{self.message}"


def file_problem(file: str, message: str) -> Problem:
    return Problem(Where(file), message)
