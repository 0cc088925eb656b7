"""Reading cells as staff write them (SPEC §3.1).

Each parser takes the raw value the workbook reader gives (str, int, float, bool, date, datetime
or "" for blank) and returns the typed value, or raises CellError with a message for staff.
Numbers from Excel arrive as floats; they become Decimal through repr(), never Decimal(float).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from billing_batch.intake.kinds import MAX_LENGTH, CellType, Column

EXCEL_EPOCH = date(1899, 12, 30)
_BLANKS = ("", None)
_YES = {"y", "yes", "true", "1"}
_NO = {"n", "no", "false", "0"}
_THOUSANDS = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")
_MONEY_TEXT = re.compile(r"^(?P<neg>-)?(?P<sym>[$€£])?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)$")


# Characters XML 1.0 cannot hold (NUL and other control characters, lone surrogates): a document or
# workbook with one cannot be written, and PostgreSQL refuses NUL.
_NOT_PRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class CellError(ValueError):
    """The cell holds something that cannot be read as its column's type."""


def clean_text(value: object) -> str:
    """Trim whitespace and non-breaking spaces; numbers become their plain text (1001.0 -> 1001)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).replace("\u00a0", " ").strip()


def is_blank(value: object) -> bool:
    return value in _BLANKS or (isinstance(value, str) and clean_text(value) == "")


MAX_ABS = Decimal("1e11")  # nothing an office bills is near this; beyond it a cell is garbage


def _decimal(value: object, what: str) -> Decimal:
    """A number cell as Decimal. Floats go through repr() (exact shortest form); a float that is the
    result of a formula (0.1+0.2 = 0.30000000000000004) is read as Excel shows it, to 15 digits."""
    if isinstance(value, bool):
        raise CellError(f"must be {what}, not TRUE/FALSE")
    if isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise CellError(f"is not {what}")
        d = Decimal(repr(value))
        shown = Decimal(format(value, ".15g"))
        if shown.as_tuple().exponent > d.as_tuple().exponent:
            d = shown
    else:
        raise TypeError(value)
    return _finite(d, what)


def _finite(d: Decimal, what: str) -> Decimal:
    if not d.is_finite() or abs(d) >= MAX_ABS:
        raise CellError(f"is not {what} billing-batch can use (too large or not a number)")
    return d


def _plain(d: Decimal) -> Decimal:
    """1.50 -> 1.5, 1E+1 -> 10: equal values get the same text (it is part of a row's content)."""
    return Decimal(format(d.normalize(), "f"))


def parse_money(value: object) -> Decimal:
    if isinstance(value, (int, float, bool)):
        amount = _decimal(value, "an amount")
    else:
        text = clean_text(value).replace(" ", "")
        negative = text.startswith("(") and text.endswith(")")
        if negative:
            text = text[1:-1]
        m = _MONEY_TEXT.match(text)
        if not m or (negative and m["neg"]):
            raise CellError("is not an amount; write it like 1234.50, 1,234.50 or (12.00) for a negative")
        amount = _finite(Decimal(m["num"].replace(",", "")), "an amount")
        if negative or m["neg"]:
            amount = -amount
    if amount != amount.quantize(Decimal("0.01")):
        raise CellError("has more than two decimals; round it to the cent")
    return amount.quantize(Decimal("0.01"))


def parse_quantity(value: object) -> Decimal:
    if isinstance(value, float) and (value != value or abs(value) == float("inf")):
        raise CellError("is not a number; write the quantity like 1, 2 or 1.5")
    try:
        if isinstance(value, str):
            text = clean_text(value)
            if "," in text and not _THOUSANDS.match(text):  # 1,5 may be a decimal comma: never guess
                raise InvalidOperation
            q = Decimal(text.replace(",", ""))
        else:
            q = _decimal(value, "a number")
    except InvalidOperation:
        raise CellError("is not a number; write the quantity like 1, 2 or 1.5")
    if not q.is_finite() or abs(q) >= MAX_ABS:
        raise CellError("is not a number; write the quantity like 1, 2 or 1.5")
    if q != q.quantize(Decimal("0.001")):
        raise CellError("has more than three decimals; round the quantity")
    return _plain(q)


def parse_integer(value: object) -> int:
    try:
        d = parse_quantity(value)
    except CellError:
        raise CellError("is not a whole number; write it like 30")
    if d != d.to_integral_value():
        raise CellError("is not a whole number; write it like 30")
    return int(d)


def parse_percent(value: object, percent_format: bool = False) -> Decimal:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        pct = _decimal(value, "a percentage")
        if percent_format:  # a percent-formatted cell stores 0.2 for 20%
            pct = pct * 100
    else:
        text = clean_text(value).rstrip("%").strip()
        try:
            pct = Decimal(text)
        except InvalidOperation:
            raise CellError("is not a percentage; write it like 20 or 20%")
        if not pct.is_finite() or abs(pct) >= MAX_ABS:
            raise CellError("is not a percentage; write it like 20 or 20%")
    if pct != pct.quantize(Decimal("0.01")):
        raise CellError("has more than two decimals; round the percentage")
    return _plain(pct)


def parse_yes_no(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = clean_text(value).casefold()
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise CellError("must be Y or N")


def parse_date(value: object, date_format: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not 1 <= value < 2958466:
            raise CellError("is not a date; write it like 2026-03-14")
        return EXCEL_EPOCH + timedelta(days=int(value))
    text = clean_text(value)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise CellError("is not a real date (no such day); check the day and month")
    try:
        return datetime.strptime(text, date_format).date()
    except ValueError:
        example = date(2026, 3, 14).strftime(date_format)
        raise CellError(f"is not a date I can read; write it as 2026-03-14 or {example}")


def parse_choice(value: object, choices: tuple[str, ...]) -> str:
    key = re.sub(r"[\s_-]+", "", clean_text(value)).casefold()
    for choice in choices:
        if re.sub(r"[\s_-]+", "", choice).casefold() == key:
            return choice
    raise CellError("must be one of: " + ", ".join(choices))


def parse_text(value: object, max_length: int) -> str:
    """Text as written (trimmed), if the ledger can keep it and documents can print it."""
    text = clean_text(value)
    if _NOT_PRINTABLE.search(text):
        raise CellError("holds a control character (such as NUL) that cannot be printed or stored; retype "
                        "the cell")
    if len(text) > max_length:
        raise CellError(f"is {len(text):,} characters long, more than the {max_length} billing-batch keeps; "
                        "shorten it")
    return text


def parse_cell(column: Column, value: object, date_format: str, percent_format: bool = False,
               pad_to: int | None = None) -> object:
    """The typed value of a non-blank cell, or CellError. `pad_to`: the cell shows its number zero-padded
    (a ZIP code formatted 00000): an ID keeps the zeros staff see."""
    t = column.type
    if t is CellType.ID and pad_to and isinstance(value, (int, float)) and float(value).is_integer():
        return str(int(value)).zfill(pad_to)
    if t in (CellType.ID, CellType.TEXT):
        return parse_text(value, MAX_LENGTH[t])
    if t is CellType.DATE:
        return parse_date(value, date_format)
    if t is CellType.MONEY:
        return parse_money(value)
    if t is CellType.PERCENT:
        return parse_percent(value, percent_format)
    if t is CellType.YES_NO:
        return parse_yes_no(value)
    if t is CellType.INTEGER:
        return parse_integer(value)
    if t is CellType.QUANTITY:
        return parse_quantity(value)
    if t is CellType.CHOICE:
        return parse_choice(value, column.choices)
    raise AssertionError(t)
