"""Large workbooks people print, written row by row with xlsxwriter's constant-memory mode.

Each row goes to disk as it is written (the aging workbook of a 5,000-client office is written in
a fraction of what openpyxl's cell objects cost). Rows are written top to bottom, once. Text from
input stays text: strings are written as strings, never formulas (a risky first character also
gets a quote prefix, as reports/xlsx.py does); numbers are written from the Decimal's own text.
"""

from __future__ import annotations

import io
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import xlsxwriter
from math import isinf, isnan
from xlsxwriter.utility import _preserve_whitespace, _utf16_len, _utf16_truncate, xl_col_to_name
from billing_batch.documents.render import write_atomic

# openpyxl's ILLEGAL_CHARACTERS_RE (the control characters a workbook cannot hold), without loading openpyxl.
ILLEGAL_CHARACTERS_RE = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")
# What makes text need xlsxwriter's cleaning and escaping (control characters, XML's special characters,
# an _xHHHH_ escape, the two non-characters, whitespace to preserve at either end); text without any is
# written as it is.
_SPECIAL = re.compile(r"[\x00-\x1f&<>\ufffe\uffff]|_x[0-9a-fA-F]{4}_|^\s|\s$")
HEADER_BG = "#1F3864"
_RISKY_START = ("=", "+", "-", "@", "\t", "\r", "\n")
# Printing: a landscape US Letter page with 0.4 in margins is ~734 pt wide; a character of the
# default 11 pt font ~5.25 pt plus ~4 pt padding a column. Shrunk to fit, text must stay ≥ 8 pt.
PAGE_WIDTH_PT = 734.0
CHAR_PT, PAD_PT = 5.25, 4.0
BODY_PT, LEAST_PT = 11.0, 8.0


def excel_date_format(pattern: str) -> str:
    """The office's strftime pattern as an Excel number format: %m/%d/%Y -> mm/dd/yyyy."""
    codes = {"%d": "dd", "%m": "mm", "%Y": "yyyy", "%y": "yy", "%b": "mmm", "%B": "mmmm", "%a": "ddd",
             "%A": "dddd", "%e": "d", "%-d": "d", "%-m": "m", "%%": "%"}
    out = []
    for token in re.findall(r"%-?.|[^%]+", pattern):
        if token in codes:
            out.append(codes[token])
        elif token.startswith("%"):
            continue  # a code with no date meaning in Excel (time, week number): left out
        else:  # literal text: separators as they are, anything else quoted
            out.append(token if re.fullmatch(r"[/\-., :]+", token) else '"' + token.replace('"', "") + '"')
    return "".join(out)


def fit_width(texts: Iterable[str], least: int = 18, most: int = 40) -> int:
    """A column width that shows the longest of `texts`, within reason."""
    return max(least, min(most, max((len(t) + 2 for t in texts), default=0)))


def money_format(symbol: str) -> str:
    """Two places, thousands separated, the currency symbol, negatives red with a minus."""
    sym = '"' + symbol.replace('"', "") + '"' if symbol else ""
    return f"{sym}#,##0.00;[Red]-{sym}#,##0.00"


@dataclass(frozen=True)
class Look:
    """What every sheet of an office's workbook shares: its name (headers) and how it writes money and dates."""
    office: str = ""
    currency_symbol: str = "$"
    date_format: str = "%m/%d/%Y"

    @property
    def money(self) -> str:
        return money_format(self.currency_symbol)

    @property
    def date(self) -> str:
        return excel_date_format(self.date_format)

    def day(self, d: date) -> str:
        return d.strftime(self.date_format)


def _lines(text: str, width: float) -> int:
    """How many lines `text` wraps to in a column `width` characters wide (by words)."""
    lines, used = 1, 0
    for word in text.split():
        if used and used + 1 + len(word) > width - 1:
            lines, used = lines + 1, len(word)
        else:
            used += (1 if used else 0) + len(word)
    return lines


def _direct_ok(ws, first: int) -> bool:
    """Whether the body rows from `first` down can be written as XML directly: a constant-memory sheet
    whose rows take the default height, with no row, column or comment settings of their own below
    `first` (the direct writer writes plain rows; anything else goes cell by cell through xlsxwriter)."""
    return (ws.constant_memory and (first > ws.previous_row or not ws.table) and ws.excel_version != 2010 and ws.default_row_height == ws.original_row_height
            and not any(r >= first for r in ws.row_info) and not any(r >= first for r in ws.comments)
            and not any(info.column_format for info in ws.col_info.values()))


def write_text(ws, row: int, col: int, text: str, fmt=None) -> None:
    """A string as a string. xlsxwriter's constant-memory mode writes any "<r>…</r>" string as raw XML (its
    rich-string path), so a name typed like that would corrupt the workbook: such text goes in as a rich
    string of plain pieces (xlsxwriter asks for three), which it escapes."""
    if text.startswith("<r>") and text.endswith("</r>"):
        ws.write_rich_string(row, col, text[:1], text[1:2], text[2:], *([fmt] if fmt else []))
    else:
        ws.write_string(row, col, text, fmt)


def fits_one_page_wide(widths: Sequence[float]) -> bool:
    """Whether columns of these widths (characters), shrunk to one landscape page wide, keep the text
    at 8 pt or more (also for openpyxl sheets: the portfolio)."""
    width = sum(w * CHAR_PT + PAD_PT for w in widths)
    return width <= PAGE_WIDTH_PT or BODY_PT * PAGE_WIDTH_PT / width >= LEAST_PT


def header_text(text: str) -> str:
    """A header/footer section: `&` is a control character there, so doubled; kept short (Excel's 255)."""
    return text.replace("&", "&&")[:70]


class Book:
    """One workbook, written to memory-light temporary files, saved atomically by `save`."""

    def __init__(self, look: Look, title: str = ""):
        self.look = look
        self._tmp = tempfile.TemporaryDirectory(prefix="billing-batch-xlsx-")
        self._out = io.BytesIO()
        self.wb = xlsxwriter.Workbook(self._out, {
            "constant_memory": True, "tmpdir": self._tmp.name, "strings_to_formulas": False,
            "strings_to_urls": False, "strings_to_numbers": False, "default_date_format": look.date})
        if title:
            self.wb.set_properties({"title": title})
        self._formats: dict[tuple, object] = {}
        self.clients: dict[str, dict] = {}  # names for the rows that show them

    def fmt(self, **props):
        """A cached format: xlsxwriter makes one style per Format object."""
        key = tuple(sorted(props.items()))
        if key not in self._formats:
            self._formats[key] = self.wb.add_format(dict(props))
        return self._formats[key]

    def sheet(self, title: str, widths: Sequence[float]) -> "Sheet":
        return Sheet(self, title, widths)

    def save(self, path: Path, *copies: Path) -> None:
        self.wb.close()
        data = self._out.getvalue()
        self._tmp.cleanup()
        for target in (path, *copies):
            write_atomic(target, data)


class Sheet:
    """A sheet written top to bottom: `row` writes the next row and returns its 0-based index."""

    def __init__(self, book: Book, title: str, widths: Sequence[float]):
        self.book, self.title, self.widths = book, title, list(widths)
        self.ws = book.wb.add_worksheet(title)
        self.r = 0
        for c, w in enumerate(self.widths):
            self.ws.set_column(c, c, w)

    def skip(self, rows: int = 1) -> None:
        self.r += rows

    def put(self, row: int, col: int, value: object, money: bool = False, percent: bool = False,
            bold: bool = False, color: str | None = None, wrap: bool = False, indent: int = 0) -> None:
        book, look = self.book, self.book.look
        style: dict = {}
        if bold:
            style["bold"] = True
        if color:
            style["font_color"] = color
        if wrap:
            style |= {"text_wrap": True, "valign": "top"}
        if indent:
            style["indent"] = indent
        if value is None:
            if style:
                self.ws.write_blank(row, col, None, book.fmt(**style))
            return
        if isinstance(value, str):
            text = ILLEGAL_CHARACTERS_RE.sub("", value)  # control characters cannot be in a workbook
            if text.startswith(_RISKY_START):
                style |= {"quote_prefix": True, "align": "left"}
            write_text(self.ws, row, col, text, book.fmt(**style) if style else None)
        elif isinstance(value, bool):
            self.ws.write_string(row, col, "Y" if value else "N", book.fmt(**style) if style else None)
        elif isinstance(value, (Decimal, int)):
            if money:
                style["num_format"] = look.money
            elif percent:
                style["num_format"] = "0.0%"
            # A Decimal is written from its own digits (xlsxwriter formats it with `:.16G`): exact.
            self.ws.write_number(row, col, value, book.fmt(**style) if style else None)  # type: ignore[arg-type]
        elif isinstance(value, (datetime, date)):
            style["num_format"] = look.date
            self.ws.write_datetime(row, col, value, book.fmt(**style))
        else:
            self.ws.write(row, col, value, book.fmt(**style) if style else None)

    def row(self, values: Sequence[object], money: Iterable[int] = (), bold: bool = False,
            percent: Iterable[int] = (), color: str | None = None) -> int:
        money, percent = set(money), set(percent)
        for c, v in enumerate(values):
            self.put(self.r, c, v, money=c in money, percent=c in percent, bold=bold, color=color)
        self.r += 1
        return self.r - 1

    def table_rows(self, rows: Iterable[Sequence[object]], money: Sequence[int], sums: dict[int, Decimal]) -> int:
        """The body of a table, fast: one format per kind, no per-cell style work. Adds each money
        column into `sums`. Returns the number of rows written."""
        if _direct_ok(self.ws, self.r):
            return self._direct_rows(rows, money, sums)
        return self._cell_rows(rows, money, sums)

    def _direct_rows(self, rows: Iterable[Sequence[object]], money: Sequence[int], sums: dict[int, Decimal]) -> int:
        """table_rows without xlsxwriter's per-cell calls: each row's XML, as xlsxwriter's constant-memory
        mode writes it (the same bytes, tests/test_aging_workbook.py compares them), straight to the
        sheet's row file. ~5x faster; the sheet's bookkeeping (dimensions, the row written last) is kept."""
        book, ws = self.book, self.ws
        money_f, date_f = book.fmt(num_format=book.look.money), book.fmt(num_format=book.look.date)
        risky_f = book.fmt(quote_prefix=True, align="left")
        is_money = set(money)
        r, n = self.r, 0
        if r > ws.previous_row:
            ws._write_single_row(r)  # the rows above (the header) first, as the next write would
        clean, control, escape = ILLEGAL_CHARACTERS_RE.sub, ws._escape_control_characters, ws._escape_data
        to_serial, write = ws._convert_date_time, ws.fh.write
        strmax = ws.xls_strmax
        half, special, serials = strmax // 2, _SPECIAL.search, {}
        letters: list[str] = []
        low = high = top = bottom = None  # the cells written, for the sheet's dimensions
        for n, values in enumerate(rows, start=1):
            cells = []
            for c, v in enumerate(values):
                if v is None:
                    continue
                kind = type(v)
                if kind is str and v and len(v) <= half and not special(v):
                    # Nothing to clean, escape or preserve: the text as it is (names, IDs, most text).
                    head = f' s="{risky_f._get_xf_index()}" ' if v.startswith(_RISKY_START) else " "
                    cell = f't="inlineStr"><is><t>{v}</t></is></c>'
                elif kind is date:
                    serial = serials.get(v)
                    if serial is None:
                        serial = serials[v] = f"{to_serial(v):.16G}"
                    head, cell = f' s="{date_f._get_xf_index()}">', f"<v>{serial}</v></c>"
                elif isinstance(v, str) or isinstance(v, bool) or not isinstance(v, (Decimal, int, float, date)):
                    if not isinstance(v, str):
                        v = str(v)
                    elif not v:
                        continue
                    v = clean("", v)
                    if len(v) > strmax // 2 and _utf16_len(v) > strmax:
                        v = _utf16_truncate(v, strmax)
                    style = f' s="{risky_f._get_xf_index()}"' if v.startswith(_RISKY_START) else ""
                    v = control(v)  # always plain text (xlsxwriter passes a "<r>…</r>" string through as XML)
                    space = ' xml:space="preserve"' if _preserve_whitespace(v) else ""
                    cell = f't="inlineStr"><is><t{space}>{escape(v)}</t></is></c>'
                    head = f'{style} '
                elif isinstance(v, date):  # a datetime too
                    head, cell = f' s="{date_f._get_xf_index()}">', f"<v>{to_serial(v):.16G}</v></c>"
                else:
                    if isinstance(v, float) and (isnan(v) or isinf(v)):
                        raise TypeError("NAN/INF not supported in write_number()")
                    if isinstance(v, Decimal) and c in is_money:
                        head = f' s="{money_f._get_xf_index()}">'
                        sums[c] += v
                    else:
                        head = ">"
                    cell = f"<v>{v:.16G}</v></c>"
                if c >= len(letters):
                    letters += [xl_col_to_name(i) for i in range(len(letters), c + 1)]
                cells.append(f'<c r="{letters[c]}{r + 1}"{head}{cell}')
                low = c if low is None or c < low else low
                high = c if high is None or c > high else high
            if cells:
                write(f'<row r="{r + 1}">{"".join(cells)}</row>')
                top = r if top is None else top
                bottom = r
            r += 1
        if top is not None and bottom is not None and low is not None and high is not None:
            ws._check_dimensions(top, low)
            ws._check_dimensions(bottom, high)
        ws.previous_row = max(ws.previous_row, r)
        self.r = r
        return n

    def _cell_rows(self, rows: Iterable[Sequence[object]], money: Sequence[int], sums: dict[int, Decimal]) -> int:
        book = self.book
        money_f, date_f = book.fmt(num_format=book.look.money), book.fmt(num_format=book.look.date)
        risky_f = book.fmt(quote_prefix=True, align="left")
        is_money = set(money)
        ws, r, n = self.ws, self.r, 0
        clean = ILLEGAL_CHARACTERS_RE.sub
        for n, values in enumerate(rows, start=1):
            for c, v in enumerate(values):
                if v is None:
                    continue
                if isinstance(v, str):
                    if v:
                        v = clean("", v)
                        write_text(ws, r, c, v, risky_f if v.startswith(_RISKY_START) else None)
                elif isinstance(v, Decimal):
                    if c in is_money:
                        ws.write_number(r, c, v, money_f)  # type: ignore[arg-type]
                        sums[c] += v
                    else:
                        ws.write_number(r, c, v)  # type: ignore[arg-type]
                elif isinstance(v, (int, float)) and not isinstance(v, bool):
                    ws.write_number(r, c, v)
                elif isinstance(v, (date, datetime)):
                    ws.write_datetime(r, c, v, date_f)
                else:
                    write_text(ws, r, c, str(v))
            r += 1
        self.r = r
        return n

    def header(self, headers: Sequence[str], height: float | None = None, right: Iterable[int] = ()) -> int:
        """The styled header row, wrapped, tall enough for the longest header in its column (`right`:
        columns of figures, their header aligned over them)."""
        book, right = self.book, set(right)
        base = {"bold": True, "font_color": "#FFFFFF", "bg_color": HEADER_BG, "text_wrap": True, "valign": "vcenter"}
        for c, h in enumerate(headers):
            write_text(self.ws, self.r, c, h, book.fmt(**base, **({"align": "right"} if c in right else {})))
        lines = max((_lines(h, self.widths[c] if c < len(self.widths) else 8.43) for c, h in enumerate(headers)),
                    default=1)
        self.ws.set_row(self.r, height or 15 * lines)
        self.r += 1
        return self.r - 1

    def heading(self, text: str, size: int | None = None) -> int:
        f = self.book.fmt(bold=True, **({"font_size": size} if size else {}))
        write_text(self.ws, self.r, 0, text, f)
        self.r += 1
        return self.r - 1

    # -- the page -------------------------------------------------------------------------------
    def fits_one_page_wide(self) -> bool:
        """Whether shrinking the columns to one page wide keeps the text at 8 pt or more."""
        return fits_one_page_wide(self.widths)

    def finish(self, as_of: date, filter_to: int | None = None, freeze: bool = True, title_rows: bool = True,
               repeat_first_column: bool = False) -> None:
        """Frozen header, a filter over the header and rows 1..filter_to (None: no filter), and printing:
        landscape, the header row on every page, header and footer naming office, sheet, date and page;
        one page wide only where the text stays legible, else several pages wide (the first column
        repeated, so each page says whose row it is)."""
        ws, look = self.ws, self.book.look
        if freeze:
            ws.freeze_panes(1, 0)
        if filter_to is not None:
            ws.autofilter(0, 0, max(filter_to, 0), len(self.widths) - 1)
        ws.set_landscape()
        ws.set_margins(left=0.4, right=0.4, top=0.75, bottom=0.75)
        if title_rows:
            ws.repeat_rows(0)
        if self.fits_one_page_wide():
            ws.fit_to_pages(1, 0)
        elif repeat_first_column:
            ws.repeat_columns(0)
        ws.set_header(f"&L{header_text(look.office)}&C&B{header_text(self.title)}&R"
                      f"As of {header_text(look.day(as_of))}")
        ws.set_footer(f"&L{header_text(look.office)} — {header_text(self.title)}&RPage &P of &N")
