"""Workbook cases for the intake (SPEC §3, §3.1, §3.2): each one is built by code, then read.

A case is (id, builder, expected). The builder writes the file(s) under a temporary folder and
returns the path to read; `expected` says exactly what `read_file` must report: every problem
(sheet, Excel row, column header as written, cell, message, value, level) and, where given, every
typed value of every row. Expectations are worked out by hand from the spec and the messages of
the intake code, never by calling the code under test.

`bug=` marks a case the code gets wrong today: the test module turns it into a strict xfail, so the
case starts passing (and the xfail fails) the day the bug is fixed.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook

NBSP = "\u00a0"
D = date
FILE = "book.xlsx"

# -- the messages staff read (intake/sheets.py, cells.py, validate.py, workbook.py, inbox.py) -------

NOT_A_COLUMN = "is not a column billing-batch uses; it is ignored"
NO_KIND = "matches no input kind; the sheet is ignored"
NO_SHEET = ("no sheet has the headers of an input kind (Clients, Rates, Service Log, ...); use a blank "
            "workbook from the templates")
NO_RESULT = ("holds a formula with no saved result; open the file in Excel or LibreOffice, save it, and drop "
             "it again (or type the value)")
OLD_XLS = ("this is a password-protected workbook or an old .xls file; save it in Excel as 'Excel Workbook "
           "(.xlsx)' without a password and drop it again")
TEXT_RENAMED = ("this is a text, CSV or web page file renamed to .xlsx; open it in Excel, save it as 'Excel "
                "Workbook (.xlsx)' and drop it again")
MACROS = ("this is a macro-enabled workbook; save it as 'Excel Workbook (.xlsx)' without macros and drop it "
          "again")
ZIP_NOT_WORKBOOK = "this is a zip file but not an Excel workbook; save it from Excel as .xlsx"
UNSAFE_DTD = "the workbook contains unsafe XML (a DTD); save a fresh copy from Excel"
OVER_LIMITS = re.compile(
    r"the workbook unpacks to 1[45]\d MB from \d\.\d MB, over the safety limits \(intake\.max_uncompressed_mb, "
    r"intake\.max_ratio\); it may be damaged or hostile — save a fresh copy from Excel")
NO_SUCH_DAY = "is not a real date (no such day); check the day and month"
NOT_A_DATE_MDY = "is not a date I can read; write it as 2026-03-14 or 03/14/2026"
NOT_A_DATE_DMY = "is not a date I can read; write it as 2026-03-14 or 14/03/2026"
NOT_A_SERIAL = "is not a date; write it like 2026-03-14"
OUTSIDE_YEARS = "is outside 2000–2099; check the year"
NOT_AN_AMOUNT = "is not an amount; write it like 1234.50, 1,234.50 or (12.00) for a negative"
CENTS = "has more than two decimals; round it to the cent"
NOT_A_QUANTITY = "is not a number; write the quantity like 1, 2 or 1.5"
NOT_A_PERCENT = "is not a percentage; write it like 20 or 20%"
REVERSAL = "a negative amount reverses a payment: give the Reference of the payment it reverses"
OUTCOMES = ("Promise to pay, Dispute, Dispute resolved, No answer, Left message, Wrong number, "
            "Plan requested, Other")


def required(column: str) -> str:
    return f"{column} is required; fill it in and drop the file again"


def missing_columns(*columns: str) -> str:
    one = len(columns) == 1
    return (f"this sheet looks like an input sheet but is missing the required column{'' if one else 's'} "
            + ", ".join(columns) + f"; add {'it' if one else 'them'} to the header row and drop the file again")


def shows_error(code: str) -> str:
    return f"the formula here shows the error {code}; fix the formula or type the value"


# -- expectations --------------------------------------------------------------------------------

class _Any:
    def __repr__(self) -> str:
        return "ANY"


ANY = _Any()  # the value is not part of this expectation


@dataclass(frozen=True)
class P:
    """One problem. `column` is the header as written (trimmed); `message` a str or a compiled regex."""
    sheet: str | None
    row: int | None
    column: str | None
    cell: str | None
    message: str | re.Pattern
    value: object = ANY
    level: str = "error"


def note(sheet: str, row: int | None = None, column: str | None = None, cell: str | None = None,
         message: str = NOT_A_COLUMN) -> P:
    return P(sheet, row, column, cell, message, None, "note")


def file_problem(message: str | re.Pattern) -> P:
    return P(None, None, None, None, message, None)


# Every column of every kind, with the default a blank cell reads as (SPEC §3), written out from
# the spec rather than taken from kinds.py.
_COLUMNS: dict[str, dict[str, object]] = {
    "Clients": {
        "Client ID": None, "Name": None, "Type": None, "Attention": None, "Address Line 1": None,
        "Address Line 2": None, "City": None, "Region": None, "Postal Code": None, "Country": None,
        "Email": None, "Phone": None, "Terms Days": None, "Delivery": "Mail", "Tax Exempt": False,
        "Payer": None, "Member ID": None, "Copay": None, "Coinsurance %": None, "Monthly Budget": None,
        "Collections Hold": False,
    },
    "Rates": {
        "Service Code": None, "Description": None, "Unit Price": None, "Unit": "each", "Taxable": False,
        "Discretionary": False, "Effective From": None, "Effective To": None, "Billing Code": None,
    },
    "Payer Fees": {"Payer": None, "Service Code": None, "Allowed Amount": None, "Covered": True,
                   "Effective From": None},
    "Service Log": {
        "Service Date": None, "Client ID": None, "Service Code": None, "Quantity": Decimal("1"),
        "Provider": None, "Description": None, "Unit Price Override": None, "Reference": None,
    },
    "Payments": {"Payment Date": None, "Client ID": None, "Amount": None, "Method": None, "Reference": None,
                 "Invoice Number": None},
    "Remittances": {"Claim Number": None, "Payer": None, "Paid Date": None, "Paid": None, "Allowed": None,
                    "Patient Responsibility": None, "Reason Code": None, "Reference": None},
    "Adjustments": {"Date": None, "Client ID": None, "Kind": None, "Amount": None, "Invoice Number": None,
                    "Claim Number": None, "Reason": None, "Note on document": None},
    "Payment Plans": {"Client ID": None, "Agreement Date": None, "Installment Amount": None, "Frequency": None,
                      "First Due Date": None, "Plan Amount": None, "Notes": None, "Cancel Date": None},
    "Contact Log": {"Contact Date": None, "Client ID": None, "Outcome": None, "Promise Date": None,
                    "Promise Amount": None, "Notes": None},
}


def values(kind: str, given: dict[str, object]) -> dict[str, object]:
    """The full `Row.values` of a row of `kind`: blanks read as their defaults, plus `given`."""
    unknown = set(given) - set(_COLUMNS[kind])
    assert not unknown, f"not {kind} columns: {unknown}"
    return {**_COLUMNS[kind], **given}


@dataclass(frozen=True)
class Sheet:
    """A sheet read as `kind` with its header on `header_row`: every row read, in order, exactly."""
    sheet: str
    kind: str
    header_row: int
    rows: tuple[tuple[int, dict[str, object]], ...]


def sheet(name: str, kind: str, rows: list[tuple[int, dict[str, object]]], header_row: int = 1) -> Sheet:
    return Sheet(name, kind, header_row, tuple((r, values(kind, v)) for r, v in rows))


@dataclass(frozen=True)
class Read:
    """`read_file` returns; exactly these problems; when `sheets` is given, exactly these sheets/rows."""
    problems: tuple[P, ...] = ()
    sheets: tuple[Sheet, ...] | None = None
    unreadable: bool = False
    calamine_never: bool = False  # rejected before any workbook reader sees it
    max_seconds: float | None = None


@dataclass(frozen=True)
class Waits:
    """`read_file` raises NotReady: the file is left alone until a later run."""


@dataclass(frozen=True)
class Ignored:
    """`is_ignored` on names in the folder the builder returns."""
    ignored: tuple[str, ...]
    kept: tuple[str, ...]


@dataclass(frozen=True)
class Scan:
    """`scan_inbox` on the folder the builder returns; `grows` gets bytes appended during the sleep."""
    grows: str
    ready: tuple[str, ...]
    waiting: tuple[str, ...]
    ignored: tuple[str, ...]
    reason: str = "still being copied (its size or time changed)"


@dataclass(frozen=True)
class RoundTrip:
    """Read (`first` problems), write the problems workbook, read it again as dropped back (`again`),
    apply `fixes` ((sheet, cell) -> value) to it with openpyxl, read it: no problems, `fixed` rows."""
    first: tuple[P, ...]
    again: tuple[P, ...]
    fixes: dict[tuple[str, str], object]
    fixed: tuple[Sheet, ...]


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Path], Path]
    expected: Read | Waits | Ignored | Scan | RoundTrip
    settings: dict = field(default_factory=dict)  # Settings(**settings)
    bug: str | None = None  # strict xfail with this reason


# -- building workbooks ----------------------------------------------------------------------------

@dataclass(frozen=True)
class F:
    """A live formula written by openpyxl: no cached value in the file."""
    formula: str


@dataclass(frozen=True)
class E:
    """An error value cell (t="e"), as Excel saves #REF!, #DIV/0! ..."""
    code: str


@dataclass(frozen=True)
class Fmt:
    """A value with a number format (e.g. 0.2 shown as 20%)."""
    value: object
    number_format: str


def put_cell(cell, value: object) -> None:
    if value is None:
        return
    if isinstance(value, F):
        cell.value = value.formula
        assert cell.data_type == "f"
    elif isinstance(value, E):
        cell.value = value.code
        assert cell.data_type == "e", f"openpyxl did not store {value.code} as an error cell"
    elif isinstance(value, Fmt):
        put_cell(cell, value.value)
        cell.number_format = value.number_format
    elif isinstance(value, Decimal):
        cell.value = float(value)  # Excel stores numbers as doubles
    elif isinstance(value, str):
        cell.value = value
        cell.data_type = "s"  # text stays text, whatever it looks like
    else:
        cell.value = value


def write_book(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    """sheets: name -> rows from Excel row 1 ([] = a blank row); None = an empty cell."""
    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r, row in enumerate(rows, start=1):
            for c, v in enumerate(row, start=1):
                put_cell(ws.cell(row=r, column=c), v)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def xlsx(sheets: dict[str, list[list[object]]], name: str = FILE) -> Callable[[Path], Path]:
    return lambda tmp: write_book(tmp / name, sheets)


def rezip(src: Path, dst: Path, replace: dict[str, bytes | Callable[[bytes], bytes]] | None = None,
          add: dict[str, bytes] | None = None) -> Path:
    """Copy a zip, replacing or adding parts."""
    replace, add = replace or {}, add or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename in replace:
                new = replace[info.filename]
                data = new(data) if callable(new) else new
            zout.writestr(info.filename, data)
        for name, data in add.items():
            zout.writestr(name, data)
    return dst


def bytes_file(data: bytes, name: str = FILE) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(data)
        return path
    return build


SMALL_LOG = {"Service Log": [["Service Date", "Client ID", "Service Code"], [D(2026, 3, 2), "C1", "S01"]]}


def small_real_xlsx(tmp: Path) -> Path:
    return write_book(tmp / "real.xlsx", SMALL_LOG)


def macro_enabled(tmp: Path) -> Path:
    return rezip(small_real_xlsx(tmp), tmp / FILE, add={"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0" + bytes(512)})


def zip_not_workbook(tmp: Path) -> Path:
    path = tmp / FILE
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("readme.txt", "holiday photos")
        zf.writestr("photos/list.csv", "a,b\n1,2\n")
    return path


def truncated(tmp: Path) -> Path:
    rows = [["Service Date", "Client ID", "Service Code", "Provider"]]
    rows += [[D(2026, 3, 1 + i % 28), f"C{i:04d}", "S01", f"Provider {i}"] for i in range(300)]
    whole = write_book(tmp / "whole.xlsx", {"Service Log": rows}).read_bytes()
    path = tmp / FILE
    path.write_bytes(whole[: len(whole) // 2])
    return path


def truncated_long_ago(tmp: Path) -> Path:
    """A file cut short that has not changed for longer than the settle time: the copy stopped."""
    path = truncated(tmp)
    os.utime(path, (path.stat().st_atime - 3600, path.stat().st_mtime - 3600))
    return path


LAUGH = "LAUGHTER"
_ENTITIES = '<!ENTITY lol "lol">' + "".join(
    f'<!ENTITY lol{i} "{("&lol" + ("" if i == 1 else str(i - 1)) + ";") * 10}">' for i in range(1, 10))
BILLION_LAUGHS = f"<!DOCTYPE lolz [{_ENTITIES}]>"
XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def laughs(padding: int) -> Callable[[Path], Path]:
    """The sheet XML declares the billion-laughs entities (after `padding` bytes of comment) and
    a cell uses &lol9;."""
    def patch(data: bytes) -> bytes:
        text = data.decode()
        assert LAUGH in text and text.startswith("<worksheet")
        pad = f"<!--{'x' * padding}-->" if padding else ""
        return (XML_DECL + pad + BILLION_LAUGHS + text.replace(LAUGH, "&lol9;")).encode()

    def build(tmp: Path) -> Path:
        src = write_book(tmp / "real.xlsx", {"Service Log": [["Service Date", "Client ID", "Service Code"],
                                                             [D(2026, 3, 2), LAUGH, "S01"]]})
        return rezip(src, tmp / FILE, replace={"xl/worksheets/sheet1.xml": patch})
    return build


BOMB_MB = 150


def zip_bomb(tmp: Path) -> Path:
    """A real xlsx whose sheet1.xml is a valid sheet of ~150 MB of rows, deflated to well under 1 MB.
    Written streaming, so building it does not hold 150 MB in memory."""
    src = small_real_xlsx(tmp)
    path = tmp / FILE
    row = b'<row><c t="inlineStr"><is><t>x</t></is></c></row>'
    chunk = row * (1_000_000 // len(row))
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                zout.writestr(info.filename, zin.read(info))
                continue
            member = zipfile.ZipInfo(info.filename, date_time=(2026, 3, 1, 0, 0, 0))
            member.compress_type = zipfile.ZIP_DEFLATED
            with zout.open(member, "w", force_zip64=True) as out:
                out.write(XML_DECL.encode() + b'<worksheet xmlns="http://schemas.openxmlformats.org/'
                          b'spreadsheetml/2006/main"><sheetData>')
                for _ in range(BOMB_MB):
                    out.write(chunk)
                out.write(b"</sheetData></worksheet>")
    return path


def _prefixed(data: bytes) -> bytes:
    """The same sheet XML with the spreadsheetml namespace on an `x:` prefix (as the Open XML SDK and
    tools built on it write it): <x:worksheet xmlns:x="..."><x:sheetData><x:row><x:c><x:f> ..."""
    text = data.decode()
    main = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    assert text.startswith("<worksheet ") and main in text
    text = text.replace(main, main.replace("xmlns=", "xmlns:x="), 1)
    return re.sub(r"<(/?)([A-Za-z]+)(?=[ >/])", r"<\1x:\2", text).encode()


def prefixed_sheet_xml(sheets: dict[str, list[list[object]]]) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        src = write_book(tmp / "plain.xlsx", sheets)
        return rezip(src, tmp / FILE, replace={"xl/worksheets/sheet1.xml": _prefixed})
    return build


def ignored_names(tmp: Path) -> Path:
    for name in ("~$book.xlsx", ".~lock.book.xlsx#", "book.tmp", "book.xlsx", "Book 2.XLSX"):
        (tmp / name).write_bytes(b"PK\x03\x04")
    (tmp / "folder.xlsx").mkdir()
    return tmp


def inbox_with_growing_file(tmp: Path) -> Path:
    inbox = tmp / "inbox"
    inbox.mkdir()
    write_book(inbox / "a.xlsx", SMALL_LOG)
    write_book(inbox / "b.xlsx", SMALL_LOG)
    (inbox / "~$a.xlsx").write_bytes(b"owner")
    (inbox / ".~lock.a.xlsx#").write_bytes(b"owner")
    return inbox


# -- the header rows used below --------------------------------------------------------------------

CLIENT_MIN = ["Client ID", "Name", "Type", "Address Line 1", "City", "Postal Code"]
CLIENT_ALL = ["Client ID", "Name", "Type", "Attention", "Address Line 1", "Address Line 2", "City", "Region",
              "Postal Code", "Country", "Email", "Phone", "Terms Days", "Delivery", "Tax Exempt", "Payer",
              "Member ID", "Copay", "Coinsurance %", "Monthly Budget", "Collections Hold"]
LOG_ALL = ["Service Date", "Client ID", "Service Code", "Quantity", "Provider", "Description",
           "Unit Price Override", "Reference"]
LOG_MIN = ["Service Date", "Client ID", "Service Code", "Quantity"]
PAY = ["Payment Date", "Client ID", "Amount", "Method", "Reference", "Invoice Number"]
REMIT = ["Claim Number", "Payer", "Paid Date", "Paid", "Allowed", "Patient Responsibility", "Reason Code",
         "Reference"]
ADJ = ["Date", "Client ID", "Kind", "Amount", "Invoice Number", "Reason"]
PLAN = ["Client ID", "Agreement Date", "Installment Amount", "Frequency", "First Due Date", "Plan Amount", "Notes"]
CONTACT = ["Contact Date", "Client ID", "Outcome", "Promise Date", "Promise Amount", "Notes"]

ANN = ["00123", "Ann Smith", "Individual", "1 Main St", "Springfield", "01234"]
ANN_VALUES = {"Client ID": "00123", "Name": "Ann Smith", "Type": "Individual", "Address Line 1": "1 Main St",
              "City": "Springfield", "Postal Code": "01234"}
M14 = D(2026, 3, 14)


def log(*rows: list[object], headers: list[str] = LOG_MIN) -> Callable[[Path], Path]:
    return xlsx({"Service Log": [headers, *rows]})


def service(row: int, **given) -> tuple[int, dict]:
    return row, {k.replace("_", " "): v for k, v in given.items()}


# ================================================================================================
# The cases
# ================================================================================================

KIND_CASES = [
    # -- Clients ----------------------------------------------------------------------------------
    Case("clients-defaults-and-every-column", xlsx({"Clients": [
        CLIENT_ALL,
        ["00123", "Ann Smith", "Individual", None, "1 Main St", None, "Springfield", None, "01234"],
        ["C2", "Acme Ltd", "business", "Bob Jones", "2 High St", "Suite 5", "Shelbyville", "IL", "62701", "USA",
         "ap@acme.test", "555-0100", 45, "email", "Yes", "Blue Shield", "000987", "$20.00", "20%", 150, "1"],
    ]}), Read(sheets=(sheet("Clients", "Clients", [
        (2, ANN_VALUES),
        (3, {"Client ID": "C2", "Name": "Acme Ltd", "Type": "Business", "Attention": "Bob Jones",
             "Address Line 1": "2 High St", "Address Line 2": "Suite 5", "City": "Shelbyville", "Region": "IL",
             "Postal Code": "62701", "Country": "USA", "Email": "ap@acme.test", "Phone": "555-0100",
             "Terms Days": 45, "Delivery": "Email", "Tax Exempt": True, "Payer": "Blue Shield",
             "Member ID": "000987", "Copay": Decimal("20.00"), "Coinsurance %": Decimal("20"),
             "Monthly Budget": Decimal("150.00"), "Collections Hold": True}),
    ]),))),
    Case("clients-bad-type-delivery-terms", xlsx({"Clients": [
        CLIENT_MIN + ["Terms Days", "Delivery"],
        ["C1", "Ann", "Robot", "1 Main", "X", "01234"],
        ["C2", "Bob", "Individual", "1 Main", "X", "01234", 400, "Fax"],
        ["C3", "Cy", "Individual", "1 Main", "X", "01234", "thirty", "both"],
    ]}), Read(problems=(
        P("Clients", 2, "Type", "C2", "Type must be one of: Individual, Business", "Robot"),
        P("Clients", 3, "Terms Days", "G3", "Terms Days must be between 0 and 365 days", 400),
        P("Clients", 3, "Delivery", "H3", "Delivery must be one of: Mail, Email, Both", "Fax"),
        P("Clients", 4, "Terms Days", "G4", "Terms Days is not a whole number; write it like 30", "thirty"),
    ))),
    Case("clients-missing-required-values", xlsx({"Clients": [
        CLIENT_MIN,
        ["C1", None, "Individual", "1 Main", "X", "01234"],
        ["C2", "Bob", "Individual", "1 Main", "   ", None],
        ANN,
    ]}), Read(problems=(
        P("Clients", 2, "Name", "B2", required("Name"), None),
        P("Clients", 3, "City", "E3", required("City"), None),
        P("Clients", 3, "Postal Code", "F3", required("Postal Code"), None),
    ))),
    Case("clients-missing-required-columns", xlsx({"Clients": [
        ["Client ID", "Name", "Type", "Address Line 1", "Email"],
        ["C1", "Ann", "Individual", "1 Main", "a@b.test"],
    ]}), Read(unreadable=True, problems=(
        P("Clients", 1, None, None, missing_columns("City", "Postal Code"), None),
    ))),
    # -- Rates ------------------------------------------------------------------------------------
    Case("rates-defaults-and-every-column", xlsx({"Rates": [
        ["Service Code", "Description", "Unit Price", "Unit", "Taxable", "Discretionary", "Effective From",
         "Effective To", "Billing Code"],
        ["S01", "Office visit", 75],
        ["S02", "Whitening", "$250.00", "session", "Y", "yes", D(2026, 1, 1), D(2026, 12, 31), 99213],
    ]}), Read(sheets=(sheet("Rates", "Rates", [
        (2, {"Service Code": "S01", "Description": "Office visit", "Unit Price": Decimal("75.00")}),
        (3, {"Service Code": "S02", "Description": "Whitening", "Unit Price": Decimal("250.00"), "Unit": "session",
             "Taxable": True, "Discretionary": True, "Effective From": D(2026, 1, 1),
             "Effective To": D(2026, 12, 31), "Billing Code": "99213"}),
    ]),))),
    Case("rates-effective-to-before-from", xlsx({"Rates": [
        ["Service Code", "Description", "Unit Price", "Effective From", "Effective To"],
        ["S1", "Visit", 10, D(2026, 3, 1), D(2026, 2, 1)],
        ["S1", "Visit", -1],
        ["S2", "Call", 5, D(2026, 3, 1), D(2026, 3, 1)],
    ]}), Read(problems=(
        P("Rates", 2, "Effective To", "E2", "Effective To is before Effective From; fix one of the dates",
          D(2026, 2, 1)),
        P("Rates", 3, "Unit Price", "C3", "Unit Price must not be negative", Decimal("-1.00")),
    ))),
    Case("rates-missing-unit-price-column-other-sheet-read", xlsx({
        "Rate Card": [["Service Code", "Description", "Unit"], ["S01", "Visit", "each"]],
        "Clients": [CLIENT_MIN, ANN],
    }), Read(
        problems=(P("Rate Card", 1, None, None, missing_columns("Unit Price"), None),),
        sheets=(sheet("Clients", "Clients", [(2, ANN_VALUES)]),),
    )),
    # -- Payer Fees -------------------------------------------------------------------------------
    Case("payer-fees-covered-defaults-to-yes", xlsx({"Payer Fees": [
        ["Payer", "Service Code", "Allowed", "Covered", "Effective From"],
        ["Blue Shield", "S01", 60],
        ["Aetna", "007", "45.5", "N", D(2026, 1, 1)],
    ]}), Read(sheets=(sheet("Payer Fees", "Payer Fees", [
        (2, {"Payer": "Blue Shield", "Service Code": "S01", "Allowed Amount": Decimal("60.00")}),
        (3, {"Payer": "Aetna", "Service Code": "007", "Allowed Amount": Decimal("45.50"), "Covered": False,
             "Effective From": D(2026, 1, 1)}),
    ]),))),
    Case("payer-fees-bad-values", xlsx({"Payer Fees": [
        ["Payer", "Service Code", "Allowed Amount", "Covered"],
        ["Aetna", "S01", 60, "maybe"],
        ["Aetna", "S02", -5],
        [None, "S03", 10],
    ]}), Read(problems=(
        P("Payer Fees", 2, "Covered", "D2", "Covered must be Y or N", "maybe"),
        P("Payer Fees", 3, "Allowed Amount", "C3", "Allowed Amount must not be negative", Decimal("-5.00")),
        P("Payer Fees", 4, "Payer", "A4", required("Payer"), None),
    ))),
    # -- Service Log ------------------------------------------------------------------------------
    Case("service-log-quantity-defaults-to-1", log(
        [D(2026, 3, 2), "C1", "S01"],
        [D(2026, 3, 3), "00123", "S02", 2.5, "Dr Lee", "Cleaning", 80, "V-9"],
        headers=LOG_ALL,
    ), Read(sheets=(sheet("Service Log", "Service Log", [
        service(2, Service_Date=D(2026, 3, 2), Client_ID="C1", Service_Code="S01"),
        service(3, Service_Date=D(2026, 3, 3), Client_ID="00123", Service_Code="S02", Quantity=Decimal("2.5"),
                Provider="Dr Lee", Description="Cleaning", Unit_Price_Override=Decimal("80.00"), Reference="V-9"),
    ]),))),
    Case("service-log-bad-quantities-and-missing-code", log(
        [D(2026, 3, 2), "C1", "S01", -2],
        [D(2026, 3, 2), "C1", "S01", "1.2345"],
        [D(2026, 3, 2), "C1", "S01", "lots"],
        [D(2026, 3, 2), "C1", None, 1, -5],
        headers=LOG_MIN + ["Unit Price Override"],
    ), Read(problems=(
        P("Service Log", 2, "Quantity", "D2", "Quantity must be more than 0", Decimal("-2")),
        P("Service Log", 3, "Quantity", "D3", "Quantity has more than three decimals; round the quantity", "1.2345"),
        P("Service Log", 4, "Quantity", "D4", f"Quantity {NOT_A_QUANTITY}", "lots"),
        P("Service Log", 5, "Service Code", "C5", required("Service Code"), None),
        P("Service Log", 5, "Unit Price Override", "E5",
          "Unit Price Override must not be negative; use Adjustments for credits", Decimal("-5.00")),
    ))),
    Case("service-log-missing-service-code-column", xlsx({"Service Log": [
        ["Service Date", "Client ID", "Quantity"], [D(2026, 3, 2), "C1", 1],
    ]}), Read(unreadable=True, problems=(
        P("Service Log", 1, None, None, missing_columns("Service Code"), None),
    ))),
    # -- Payments ---------------------------------------------------------------------------------
    Case("payments-read-with-reversal", xlsx({"Payments": [
        PAY,
        [D(2026, 3, 5), "00123", 150, "Check", "1042", "INV-2026-00001"],
        [D(2026, 3, 9), "00123", -150, None, 1042],
    ]}), Read(sheets=(sheet("Payments", "Payments", [
        (2, {"Payment Date": D(2026, 3, 5), "Client ID": "00123", "Amount": Decimal("150.00"), "Method": "Check",
             "Reference": "1042", "Invoice Number": "INV-2026-00001"}),
        (3, {"Payment Date": D(2026, 3, 9), "Client ID": "00123", "Amount": Decimal("-150.00"),
             "Reference": "1042"}),
    ]),))),
    Case("payments-negative-without-reference", xlsx({"Payments": [
        ["Payment Date", "Client ID", "Amount", "Reference"],
        [D(2026, 3, 5), "C1", -10],
        [D(2026, 3, 5), "C1", None, "R-2"],
    ]}), Read(problems=(
        P("Payments", 2, "Reference", "D2", REVERSAL, ""),
        P("Payments", 3, "Amount", "C3", required("Amount"), None),
    ))),
    Case("payments-zero-amount", xlsx({"Payments": [
        ["Payment Date", "Client ID", "Amount", "Reference"],
        [D(2026, 3, 5), "C1", 0],
    ]}), Read(problems=(
        P("Payments", 2, "Amount", "C2", "Amount must not be 0", Decimal("0.00")),
    ))),
    # -- Remittances ------------------------------------------------------------------------------
    Case("remittances-read", xlsx({"Remittances": [
        REMIT,
        ["CLM-0001", "Blue Shield", D(2026, 3, 10), 80, 100, 20, "CO-45", "ERA-77"],
        ["000555", "Aetna", "2026-03-11", "0.00", None, None, 45],
    ]}), Read(sheets=(sheet("Remittances", "Remittances", [
        (2, {"Claim Number": "CLM-0001", "Payer": "Blue Shield", "Paid Date": D(2026, 3, 10),
             "Paid": Decimal("80.00"), "Allowed": Decimal("100.00"), "Patient Responsibility": Decimal("20.00"),
             "Reason Code": "CO-45", "Reference": "ERA-77"}),
        (3, {"Claim Number": "000555", "Payer": "Aetna", "Paid Date": D(2026, 3, 11), "Paid": Decimal("0.00"),
             "Reason Code": "45"}),
    ]),))),
    Case("remittances-problems", xlsx({"Remittances": [
        ["Claim Number", "Payer", "Paid Date", "Paid", "Allowed"],
        ["CLM-1", None, D(2026, 3, 10), 80],
        ["CLM-2", "Aetna", D(2026, 3, 10), -5],
        ["CLM-3", "Aetna", "yesterday", 5, "12.345"],
    ]}), Read(problems=(
        P("Remittances", 2, "Payer", "B2", required("Payer"), None),
        P("Remittances", 3, "Paid", "D3", "Paid must not be negative", Decimal("-5.00")),
        P("Remittances", 4, "Paid Date", "C4", f"Paid Date {NOT_A_DATE_MDY}", "yesterday"),
        P("Remittances", 4, "Allowed", "E4", f"Allowed {CENTS}", "12.345"),
    ))),
    # -- Adjustments ------------------------------------------------------------------------------
    Case("adjustments-read", xlsx({"Adjustments": [
        ADJ,
        [D(2026, 3, 1), "C1", "write off", 25, None, "Small balance"],
        [D(2026, 3, 1), "C1", "credit", "10.00", "INV-2026-00001", "Overcharge"],
        [D(2026, 3, 1), "C1", "VOID", None, "INV-2026-00002", "Billed twice"],
        [D(2026, 3, 1), "C1", "Refund", 5, None, "Overpaid"],
    ]}), Read(sheets=(sheet("Adjustments", "Adjustments", [
        (2, {"Date": D(2026, 3, 1), "Client ID": "C1", "Kind": "Write-off", "Amount": Decimal("25.00"),
             "Reason": "Small balance"}),
        (3, {"Date": D(2026, 3, 1), "Client ID": "C1", "Kind": "Credit", "Amount": Decimal("10.00"),
             "Invoice Number": "INV-2026-00001", "Reason": "Overcharge"}),
        (4, {"Date": D(2026, 3, 1), "Client ID": "C1", "Kind": "Void", "Invoice Number": "INV-2026-00002",
             "Reason": "Billed twice"}),
        (5, {"Date": D(2026, 3, 1), "Client ID": "C1", "Kind": "Refund", "Amount": Decimal("5.00"),
             "Reason": "Overpaid"}),
    ]),))),
    Case("adjustments-row-rules", xlsx({"Adjustments": [
        ADJ,
        [D(2026, 3, 1), "C1", "Credit", 10, None, "r"],
        [D(2026, 3, 1), "C1", "Void", None, None, "r"],
        [D(2026, 3, 1), "C1", "Write-off", None, None, "r"],
        [D(2026, 3, 1), "C1", "Discount", 5, None, "r"],
        [D(2026, 3, 1), "C1", "Refund", -5, None, "r"],
        [D(2026, 3, 1), "C1", "Refund", 5],
    ]}), Read(problems=(
        P("Adjustments", 2, "Invoice Number", "E2", "Invoice Number is required for a Credit or a Void", ""),
        P("Adjustments", 3, "Invoice Number", "E3", "Invoice Number is required for a Credit or a Void", ""),
        P("Adjustments", 4, "Amount", "D4", "Amount is required for a Write-off, Credit, Refund or Bill Patient", ""),
        P("Adjustments", 5, "Kind", "C5", "Kind must be one of: Write-off, Credit, Void, Refund, Bill Patient", "Discount"),
        P("Adjustments", 6, "Amount", "D6", "Amount must be more than 0 (the Kind says which way it goes)",
          Decimal("-5.00")),
        P("Adjustments", 7, "Reason", "F7", required("Reason"), None),
    ))),
    Case("adjustments-missing-reason-column", xlsx({"Adjustments": [
        ["Date", "Client ID", "Kind", "Amount", "Invoice Number"],
        [D(2026, 3, 1), "C1", "Write-off", 25],
    ]}), Read(unreadable=True, problems=(
        P("Adjustments", 1, None, None, missing_columns("Reason"), None),
    ))),
    # -- Payment Plans ----------------------------------------------------------------------------
    Case("payment-plans-read", xlsx({"Payment Plans": [
        PLAN,
        ["00123", D(2026, 3, 1), 50, "monthly", D(2026, 4, 1), None, "Agreed by phone"],
        ["C2", D(2026, 3, 2), "$25.00", "Bi-weekly", D(2026, 3, 16), 600],
        ["C3", D(2026, 3, 3), 10, "WEEKLY", D(2026, 3, 10)],
    ]}), Read(sheets=(sheet("Payment Plans", "Payment Plans", [
        (2, {"Client ID": "00123", "Agreement Date": D(2026, 3, 1), "Installment Amount": Decimal("50.00"),
             "Frequency": "Monthly", "First Due Date": D(2026, 4, 1), "Notes": "Agreed by phone"}),
        (3, {"Client ID": "C2", "Agreement Date": D(2026, 3, 2), "Installment Amount": Decimal("25.00"),
             "Frequency": "Biweekly", "First Due Date": D(2026, 3, 16), "Plan Amount": Decimal("600.00")}),
        (4, {"Client ID": "C3", "Agreement Date": D(2026, 3, 3), "Installment Amount": Decimal("10.00"),
             "Frequency": "Weekly", "First Due Date": D(2026, 3, 10)}),
    ]),))),
    Case("payment-plans-problems", xlsx({"Payment Plans": [
        PLAN,
        ["C1", D(2026, 3, 1), 50, "Fortnightly", D(2026, 4, 1)],
        ["C2", D(2026, 3, 1), 0, "Monthly", D(2026, 4, 1)],
        ["C3", D(2026, 3, 1), 50, "Monthly", None, -1],
    ]}), Read(problems=(
        P("Payment Plans", 2, "Frequency", "D2", "Frequency must be one of: Weekly, Biweekly, Monthly",
          "Fortnightly"),
        P("Payment Plans", 3, "Installment Amount", "C3", "Installment Amount must be more than 0",
          Decimal("0.00")),
        P("Payment Plans", 4, "First Due Date", "E4", required("First Due Date"), None),
        P("Payment Plans", 4, "Plan Amount", "F4", "Plan Amount must be more than 0", Decimal("-1.00")),
    ))),
    Case("payment-plans-missing-frequency-column", xlsx({"Plans": [
        ["Client ID", "Agreement Date", "Installment Amount", "First Due Date"],
        ["C1", D(2026, 3, 1), 50, D(2026, 4, 1)],
    ]}), Read(unreadable=True, problems=(P("Plans", 1, None, None, missing_columns("Frequency"), None),))),
    Case("payer-fees-payments-remittances-contact-log-missing-required-columns", xlsx({
        "Payer Fees": [["Payer", "Service Code", "Covered"], ["Aetna", "S01", "Y"]],
        "Payments": [["Payment Date", "Client ID", "Method", "Reference"], [M14, "C1", "Check", "1042"]],
        "Remittances": [["Claim Number", "Payer", "Paid"], ["CLM-1", "Aetna", 80]],
        "Contact Log": [["Contact Date", "Client ID", "Promise Date", "Notes"], [M14, "C1", M14, "Called"]],
    }), Read(unreadable=True, problems=(
        P("Payer Fees", 1, None, None, missing_columns("Allowed Amount"), None),
        P("Payments", 1, None, None, missing_columns("Amount"), None),
        P("Remittances", 1, None, None, missing_columns("Paid Date"), None),
        P("Contact Log", 1, None, None, missing_columns("Outcome"), None),
    ))),
    # -- Contact Log ------------------------------------------------------------------------------
    Case("contact-log-read-every-outcome", xlsx({"Contact Log": [
        CONTACT,
        [D(2026, 3, 2), "00123", "promise to pay", D(2026, 3, 20), "$100", "Will pay Friday"],
        [D(2026, 3, 2), "C2", "No Answer"],
        [D(2026, 3, 2), "C3", "left message"],
        [D(2026, 3, 2), "C4", "DISPUTE"],
        [D(2026, 3, 3), "C4", "Dispute resolved"],
        [D(2026, 3, 2), "C5", "wrong number"],
        [D(2026, 3, 2), "C6", "Plan Requested"],
        [D(2026, 3, 2), "C7", "other"],
    ]}), Read(sheets=(sheet("Contact Log", "Contact Log", [
        (2, {"Contact Date": D(2026, 3, 2), "Client ID": "00123", "Outcome": "Promise to pay",
             "Promise Date": D(2026, 3, 20), "Promise Amount": Decimal("100.00"), "Notes": "Will pay Friday"}),
        (3, {"Contact Date": D(2026, 3, 2), "Client ID": "C2", "Outcome": "No answer"}),
        (4, {"Contact Date": D(2026, 3, 2), "Client ID": "C3", "Outcome": "Left message"}),
        (5, {"Contact Date": D(2026, 3, 2), "Client ID": "C4", "Outcome": "Dispute"}),
        (6, {"Contact Date": D(2026, 3, 3), "Client ID": "C4", "Outcome": "Dispute resolved"}),
        (7, {"Contact Date": D(2026, 3, 2), "Client ID": "C5", "Outcome": "Wrong number"}),
        (8, {"Contact Date": D(2026, 3, 2), "Client ID": "C6", "Outcome": "Plan requested"}),
        (9, {"Contact Date": D(2026, 3, 2), "Client ID": "C7", "Outcome": "Other"}),
    ]),))),
    Case("contact-log-problems", xlsx({"Contact Log": [
        CONTACT,
        [D(2026, 3, 2), "C1", "Maybe"],
        [D(2026, 3, 2), "C2", "Promise to pay", None, 50],
        [D(2026, 3, 2), "C3", "Promise to pay", D(2026, 3, 9), 0],
        [None, "C4", "No answer"],
    ]}), Read(problems=(
        P("Contact Log", 2, "Outcome", "C2", f"Outcome must be one of: {OUTCOMES}", "Maybe"),
        P("Contact Log", 3, "Promise Date", "D3", "a Promise to pay needs the Promise Date", ""),
        P("Contact Log", 4, "Promise Amount", "E4", "Promise Amount must be more than 0", Decimal("0.00")),
        P("Contact Log", 5, "Contact Date", "A5", required("Contact Date"), None),
    ))),
]

HEADER_CASES = [
    Case("header-on-row-3-under-a-title", xlsx({"Service Log": [
        ["Service log — March 2026"],
        [],
        LOG_MIN,
        [D(2026, 3, 2), "C1", "S01", 2],
        [D(2026, 3, 2), "C2", "S01", 0],
    ]}), Read(
        problems=(P("Service Log", 5, "Quantity", "D5", "Quantity must be more than 0", Decimal("0")),),
        sheets=(sheet("Service Log", "Service Log", [
            service(4, Service_Date=D(2026, 3, 2), Client_ID="C1", Service_Code="S01", Quantity=Decimal("2")),
            service(5, Service_Date=D(2026, 3, 2), Client_ID="C2", Service_Code="S01", Quantity=Decimal("0")),
        ], header_row=3),),
    )),
    Case("header-on-row-11-is-not-found", xlsx({
        "Late Log": [["Service log"], *([] for _ in range(9)), LOG_MIN, [D(2026, 3, 2), "C1", "S01", 1]],
        "Clients": [CLIENT_MIN, ANN],
    }), Read(
        problems=(note("Late Log", message=NO_KIND),),
        sheets=(sheet("Clients", "Clients", [(2, ANN_VALUES)]),),
    )),
    Case("header-case-space-punctuation-insensitive", xlsx({
        "Visits": [["SERVICE DATE", "client-id", " Service_Code ", "quantity.", f"Unit{NBSP}Price{NBSP}Override"],
                   [D(2026, 3, 2), "C1", "S01", 3, 9.5]],
        "Money In": [["payment date", " CLIENT ID ", "AMOUNT"],
                     [D(2026, 3, 5), None, 20]],
    }), Read(
        problems=(P("Money In", 2, "CLIENT ID", "B2", required("Client ID"), None),),
        sheets=(
            sheet("Visits", "Service Log", [
                service(2, Service_Date=D(2026, 3, 2), Client_ID="C1", Service_Code="S01", Quantity=Decimal("3"),
                        Unit_Price_Override=Decimal("9.50"))]),
            sheet("Money In", "Payments", [
                (2, {"Payment Date": D(2026, 3, 5), "Amount": Decimal("20.00")})]),
        ),
    )),
    Case("header-aliases", xlsx({"Log": [
        ["Date of Service", "Patient ID", "Code", "Qty", "Price Override"],
        [D(2026, 3, 2), "00123", "S01", 2, 40],
        [D(2026, 3, 3), "00124", "S02", -1],
    ]}), Read(
        problems=(P("Log", 3, "Qty", "D3", "Quantity must be more than 0", Decimal("-1")),),
        sheets=(sheet("Log", "Service Log", [
            service(2, Service_Date=D(2026, 3, 2), Client_ID="00123", Service_Code="S01", Quantity=Decimal("2"),
                    Unit_Price_Override=Decimal("40.00")),
            service(3, Service_Date=D(2026, 3, 3), Client_ID="00124", Service_Code="S02", Quantity=Decimal("-1")),
        ]),),
    )),
    Case("columns-in-any-order", xlsx({"Service Log": [
        ["Reference", "Quantity", "Service Code", "Client ID", "Service Date"],
        ["V-1", 2, "S01", "C1", D(2026, 3, 2)],
        [None, None, "S02", None, D(2026, 3, 2)],
    ]}), Read(
        problems=(P("Service Log", 3, "Client ID", "D3", required("Client ID"), None),),
        sheets=(sheet("Service Log", "Service Log", [
            service(2, Service_Date=D(2026, 3, 2), Client_ID="C1", Service_Code="S01", Quantity=Decimal("2"),
                    Reference="V-1"),
            service(3, Service_Date=D(2026, 3, 2), Service_Code="S02"),
        ]),),
    )),
    Case("unknown-columns-noted-and-ignored", xlsx({"Service Log": [
        ["Service Date", "Client ID", "Room", "Service Code", "Checked by"],
        [D(2026, 3, 2), "C1", "Room 4", "S01", "JS"],
    ]}), Read(
        problems=(note("Service Log", 1, "Room", "C1"), note("Service Log", 1, "Checked by", "E1")),
        sheets=(sheet("Service Log", "Service Log", [
            service(2, Service_Date=D(2026, 3, 2), Client_ID="C1", Service_Code="S01")]),),
    )),
    Case("several-kinds-in-one-workbook", xlsx({
        "Clients": [CLIENT_MIN, ANN],
        "Rates": [["Service Code", "Description", "Unit Price"], ["S01", "Office visit", 75]],
        "Service Log": [LOG_ALL, [D(2026, 3, 2), "00123", "S01", None, "Dr Lee", "Follow-up"]],
    }), Read(sheets=(
        sheet("Clients", "Clients", [(2, ANN_VALUES)]),
        sheet("Rates", "Rates", [(2, {"Service Code": "S01", "Description": "Office visit",
                                      "Unit Price": Decimal("75.00")})]),
        sheet("Service Log", "Service Log", [
            service(2, Service_Date=D(2026, 3, 2), Client_ID="00123", Service_Code="S01", Provider="Dr Lee",
                    Description="Follow-up")]),
    ))),
    Case("instructions-sheet-ignored-with-a-note", xlsx({
        "Instructions": [["How to fill in this workbook"], [],
                         ["Client ID — your ID for the client; leading zeros stay"],
                         ["Service Date — the day the service was delivered"],
                         ["Service Code — a code from the rate card"]],
        "Service Log": [LOG_MIN, [D(2026, 3, 2), "C1", "S01", 1]],
    }), Read(
        problems=(note("Instructions", message=NO_KIND),),
        sheets=(sheet("Service Log", "Service Log", [
            service(2, Service_Date=D(2026, 3, 2), Client_ID="C1", Service_Code="S01")]),),
    )),
    Case("blank-rows-skipped-row-numbers-kept", log(
        [D(2026, 3, 2), "C1", "S01", 1],
        [],
        [],
        [" ", NBSP, f" {NBSP}\t"],
        [D(2026, 3, 3), "C2", "S01", 2],
        [D(2026, 3, 4), None, "S01", 3],
    ), Read(
        problems=(P("Service Log", 7, "Client ID", "B7", required("Client ID"), None),),
        sheets=(sheet("Service Log", "Service Log", [
            service(2, Service_Date=D(2026, 3, 2), Client_ID="C1", Service_Code="S01"),
            service(6, Service_Date=D(2026, 3, 3), Client_ID="C2", Service_Code="S01", Quantity=Decimal("2")),
            service(7, Service_Date=D(2026, 3, 4), Service_Code="S01", Quantity=Decimal("3")),
        ]),),
    )),
]

CELL_CASES = [
    Case("ids-stay-text", log(
        [M14, "00123", "007", 1, "0042"],
        [M14, "NA", "S01", 1, 42],
        [M14, "NULL", "S01", 1, "None"],
        [M14, "None", "S01", 1],
        [M14, 1001, 1234, 1],
        headers=LOG_MIN + ["Reference"],
    ), Read(sheets=(sheet("Service Log", "Service Log", [
        service(2, Service_Date=M14, Client_ID="00123", Service_Code="007", Reference="0042"),
        service(3, Service_Date=M14, Client_ID="NA", Service_Code="S01", Reference="42"),
        service(4, Service_Date=M14, Client_ID="NULL", Service_Code="S01", Reference="None"),
        service(5, Service_Date=M14, Client_ID="None", Service_Code="S01"),
        service(6, Service_Date=M14, Client_ID="1001", Service_Code="1234"),
    ]),))),
    Case("zip-code-formatted-00000-keeps-its-zero", xlsx({"Clients": [
        CLIENT_MIN,
        ["C1", "Ann Smith", "Individual", "1 Main St", "Boston", Fmt(2134, "00000")],
    ]}), Read(sheets=(sheet("Clients", "Clients", [
        (2, {"Client ID": "C1", "Name": "Ann Smith", "Type": "Individual", "Address Line 1": "1 Main St",
             "City": "Boston", "Postal Code": "02134"}),
    ]),))),
    Case("dates-real-serial-iso-and-configured-mdy", log(
        [M14, "C1", "S01"],
        [datetime(2026, 3, 14, 9, 30), "C2", "S01"],
        [46095, "C3", "S01"],
        ["2026-03-14", "C4", "S01"],
        ["03/14/2026", "C5", "S01"],
        [f"{NBSP}3/14/2026 ", "C6", "S01"],
    ), Read(sheets=(sheet("Service Log", "Service Log", [
        service(r, Service_Date=M14, Client_ID=f"C{r - 1}", Service_Code="S01") for r in range(2, 8)
    ]),))),
    Case("dates-configured-day-first", log(
        ["14/03/2026", "C1", "S01"],
        ["2026-03-14", "C2", "S01"],
        [M14, "C3", "S01"],
        ["03/14/2026", "C4", "S01"],
    ), Read(
        problems=(P("Service Log", 5, "Service Date", "A5", f"Service Date {NOT_A_DATE_DMY}", "03/14/2026"),),
        sheets=(sheet("Service Log", "Service Log", [
            service(2, Service_Date=M14, Client_ID="C1", Service_Code="S01"),
            service(3, Service_Date=M14, Client_ID="C2", Service_Code="S01"),
            service(4, Service_Date=M14, Client_ID="C3", Service_Code="S01"),
            service(5, Client_ID="C4", Service_Code="S01"),
        ]),),
    ), settings={"date_format": "%d/%m/%Y"}),
    Case("dates-impossible", log(
        ["2026-02-30", "C1", "S01"],
        ["02/30/2026", "C2", "S01"],
        [-5, "C3", "S01"],
        [D(1999, 12, 31), "C4", "S01"],
        [D(2100, 1, 1), "C5", "S01"],
    ), Read(problems=(
        P("Service Log", 2, "Service Date", "A2", f"Service Date {NO_SUCH_DAY}", "2026-02-30"),
        P("Service Log", 3, "Service Date", "A3", f"Service Date {NOT_A_DATE_MDY}", "02/30/2026"),
        P("Service Log", 4, "Service Date", "A4", f"Service Date {NOT_A_SERIAL}", "-5"),
        P("Service Log", 5, "Service Date", "A5", f"Service Date {OUTSIDE_YEARS}", D(1999, 12, 31)),
        P("Service Log", 6, "Service Date", "A6", f"Service Date {OUTSIDE_YEARS}", D(2100, 1, 1)),
    ))),
    Case("dates-unreadable-text", log(
        ["next Tuesday", "C1", "S01"],
        ["2026/03/14", "C2", "S01"],
        ["14.03.2026", "C3", "S01"],
        ["14/03/2026", "C4", "S01"],
    ), Read(problems=(
        P("Service Log", 2, "Service Date", "A2", f"Service Date {NOT_A_DATE_MDY}", "next Tuesday"),
        P("Service Log", 3, "Service Date", "A3", f"Service Date {NOT_A_DATE_MDY}", "2026/03/14"),
        P("Service Log", 4, "Service Date", "A4", f"Service Date {NOT_A_DATE_MDY}", "14.03.2026"),
        P("Service Log", 5, "Service Date", "A5", f"Service Date {NOT_A_DATE_MDY}", "14/03/2026"),
    ))),
    Case("money-as-staff-write-it", xlsx({"Payments": [
        ["Payment Date", "Client ID", "Amount", "Reference"],
        [M14, "C1", "$1,234.50", "R1"],
        [M14, "C1", "1,234.50", "R2"],
        [M14, "C1", "(12.00)", "R3"],
        [M14, "C1", "-$5.00", "R4"],
        [M14, "C1", " € 7 ", "R5"],
        [M14, "C1", 99.5, "R6"],
        [M14, "C1", f"{NBSP}1,000{NBSP}", "R7"],
        [M14, "C1", "$.75", "R8"],
    ]}), Read(sheets=(sheet("Payments", "Payments", [
        (r, {"Payment Date": M14, "Client ID": "C1", "Amount": Decimal(a), "Reference": f"R{r - 1}"})
        for r, a in [(2, "1234.50"), (3, "1234.50"), (4, "-12.00"), (5, "-5.00"), (6, "7.00"), (7, "99.50"),
                     (8, "1000.00"), (9, "0.75")]
    ]),))),
    Case("money-more-than-two-decimals-or-unreadable", xlsx({"Payments": [
        ["Payment Date", "Client ID", "Amount", "Reference"],
        [M14, "C1", 12.345, "R1"],
        [M14, "C1", "1,234.567", "R2"],
        [M14, "C1", "$0.001", "R3"],
        [M14, "C1", "12,34", "R4"],
        [M14, "C1", "1.234,50", "R5"],
        [M14, "C1", "ten dollars", "R6"],
    ]}), Read(problems=(
        P("Payments", 2, "Amount", "C2", f"Amount {CENTS}", "12.345"),
        P("Payments", 3, "Amount", "C3", f"Amount {CENTS}", "1,234.567"),
        P("Payments", 4, "Amount", "C4", f"Amount {CENTS}", "$0.001"),
        P("Payments", 5, "Amount", "C5", f"Amount {NOT_AN_AMOUNT}", "12,34"),
        P("Payments", 6, "Amount", "C6", f"Amount {NOT_AN_AMOUNT}", "1.234,50"),
        P("Payments", 7, "Amount", "C7", f"Amount {NOT_AN_AMOUNT}", "ten dollars"),
    ))),
    Case("percent-20-20pct-and-percent-formatted", xlsx({"Clients": [
        CLIENT_MIN + ["Coinsurance %"],
        ANN + [20],
        ["C2", *ANN[1:], "20%"],
        ["C3", *ANN[1:], Fmt(0.2, "0%")],
        ["C4", *ANN[1:], "12.5 %"],
        ["C5", *ANN[1:], Fmt(0.125, "0.0%")],
        ["C6", *ANN[1:], Fmt(0.2, "0.00%")],
        ["C7", *ANN[1:], 0],
    ]}), Read(sheets=(sheet("Clients", "Clients", [
        (r, {**ANN_VALUES, "Client ID": cid, "Coinsurance %": Decimal(pct)})
        for r, cid, pct in [(2, "00123", "20"), (3, "C2", "20"), (4, "C3", "20"), (5, "C4", "12.5"),
                            (6, "C5", "12.5"), (7, "C6", "20"), (8, "C7", "0")]
    ]),))),
    Case("percent-problems", xlsx({"Clients": [
        CLIENT_MIN + ["Coinsurance"],
        ["C1", *ANN[1:], 150],
        ["C2", *ANN[1:], "twenty"],
        ["C3", *ANN[1:], "12.345%"],
    ]}), Read(problems=(
        P("Clients", 2, "Coinsurance", "G2", "Coinsurance % must be between 0 and 100", Decimal("150")),
        P("Clients", 3, "Coinsurance", "G3", f"Coinsurance % {NOT_A_PERCENT}", "twenty"),
        P("Clients", 4, "Coinsurance", "G4", "Coinsurance % has more than two decimals; round the percentage",
          "12.345%"),
    ))),
    Case("yes-no-variants", xlsx({"Rates": [
        ["Service Code", "Description", "Unit Price", "Taxable", "Discretionary"],
        *[[f"S{i}", "x", 1, yes, no] for i, (yes, no) in enumerate(
            [("Y", "N"), ("yes", "No"), ("TRUE", "false"), ("1", "0"), (True, False), (1, 0), (" y ", f"{NBSP}n")])],
        ["S7", "x", 1, "x", "maybe"],
    ]}), Read(
        problems=(P("Rates", 9, "Taxable", "D9", "Taxable must be Y or N", "x"),
                  P("Rates", 9, "Discretionary", "E9", "Discretionary must be Y or N", "maybe")),
        sheets=(sheet("Rates", "Rates", [
            *[(i + 2, {"Service Code": f"S{i}", "Description": "x", "Unit Price": Decimal("1.00"), "Taxable": True,
                       "Discretionary": False}) for i in range(7)],
            (9, {"Service Code": "S7", "Description": "x", "Unit Price": Decimal("1.00"), "Taxable": None,
                 "Discretionary": None}),
        ]),),
    )),
    Case("whitespace-and-non-breaking-spaces-trimmed", log(
        [f" {NBSP}2026-03-14{NBSP}", f"{NBSP}C7 ", "\tS01\n", f" 2{NBSP}", f"Dr{NBSP}Lee ", f"{NBSP}$12.50 "],
        headers=LOG_MIN + ["Provider", "Unit Price Override"],
    ), Read(sheets=(sheet("Service Log", "Service Log", [
        service(2, Service_Date=M14, Client_ID="C7", Service_Code="S01", Quantity=Decimal("2"), Provider="Dr Lee",
                Unit_Price_Override=Decimal("12.50")),
    ]),))),
    Case("error-values-are-problems-at-the-cell", log(
        [M14, "C1", "S01", E("#DIV/0!"), E("#REF!")],
        [M14, E("#N/A"), "S01", 1, 5],
        headers=LOG_MIN + ["Unit Price Override"],
    ), Read(
        problems=(P("Service Log", 2, "Quantity", "D2", shows_error("#DIV/0!"), "#DIV/0!"),
                  P("Service Log", 2, "Unit Price Override", "E2", shows_error("#REF!"), "#REF!"),
                  P("Service Log", 3, "Client ID", "B3", shows_error("#N/A"), "#N/A")),
        sheets=(sheet("Service Log", "Service Log", [
            service(2, Service_Date=M14, Client_ID="C1", Service_Code="S01", Quantity=None),
            service(3, Service_Date=M14, Service_Code="S01", Unit_Price_Override=Decimal("5.00")),
        ]),),
    )),
    Case("formula-without-saved-result", log(
        [M14, "C1", "S01", F("=1+1")],
        [M14, F('="C"&"2"'), "S01", 1],
        [M14, "C3", "S01", 1, F("=E2")],
        headers=LOG_MIN + ["Reference"],
    ), Read(
        problems=(P("Service Log", 2, "Quantity", "D2", NO_RESULT, None),
                  P("Service Log", 3, "Client ID", "B3", NO_RESULT, None),
                  P("Service Log", 4, "Reference", "E4", NO_RESULT, None)),
        sheets=(sheet("Service Log", "Service Log", [
            service(2, Service_Date=M14, Client_ID="C1", Service_Code="S01", Quantity=None),
            service(3, Service_Date=M14, Service_Code="S01"),
            service(4, Service_Date=M14, Client_ID="C3", Service_Code="S01"),
        ]),),
    )),
    Case("error-cell-alone-in-last-row", log(
        [M14, "C1", "S01", 1],
        [None, None, None, None, E("#REF!")],
        headers=LOG_MIN + ["Reference"],
    ), Read(problems=(
        P("Service Log", 3, "Service Date", "A3", required("Service Date"), None),
        P("Service Log", 3, "Client ID", "B3", required("Client ID"), None),
        P("Service Log", 3, "Service Code", "C3", required("Service Code"), None),
        P("Service Log", 3, "Reference", "E3", shows_error("#REF!"), "#REF!"),
    ))),
    Case("formula-without-saved-result-alone-in-last-row", log(
        [M14, "C1", "S01", 1],
        [None, None, None, None, F("=E2")],
        headers=LOG_MIN + ["Reference"],
    ), Read(problems=(
        P("Service Log", 3, "Service Date", "A3", required("Service Date"), None),
        P("Service Log", 3, "Client ID", "B3", required("Client ID"), None),
        P("Service Log", 3, "Service Code", "C3", required("Service Code"), None),
        P("Service Log", 3, "Reference", "E3", NO_RESULT, None),
    ))),
    Case("prefixed-sheet-xml-read-like-any-other", prefixed_sheet_xml({"Service Log": [
        LOG_MIN + ["Unit Price Override"],
        [M14, "00123", "S01", 2, E("#REF!")],
    ]}), Read(
        problems=(P("Service Log", 2, "Unit Price Override", "E2", shows_error("#REF!"), "#REF!"),),
        sheets=(sheet("Service Log", "Service Log", [
            service(2, Service_Date=M14, Client_ID="00123", Service_Code="S01", Quantity=Decimal("2"))]),),
    )),
    Case("formula-without-saved-result-in-prefixed-sheet-xml", prefixed_sheet_xml({"Service Log": [
        LOG_MIN,
        [M14, "C1", "S01", F("=1+1")],
    ]}), Read(
        problems=(P("Service Log", 2, "Quantity", "D2", NO_RESULT, None),),
        sheets=(sheet("Service Log", "Service Log", [
            service(2, Service_Date=M14, Client_ID="C1", Service_Code="S01", Quantity=None)]),),
    )),
    Case("quantity-text-with-decimal-comma", log(
        [M14, "C1", "S01", "1,5"],
        [M14, "C2", "S01", "1,000"],
    ), Read(
        problems=(P("Service Log", 2, "Quantity", "D2", f"Quantity {NOT_A_QUANTITY}", "1,5"),),
        sheets=(sheet("Service Log", "Service Log", [
            service(2, Service_Date=M14, Client_ID="C1", Service_Code="S01", Quantity=None),
            service(3, Service_Date=M14, Client_ID="C2", Service_Code="S01", Quantity=Decimal("1000")),
        ]),),
    )),
]

FILE_CASES = [
    Case("old-xls-or-encrypted-renamed", bytes_file(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 8),
         Read(unreadable=True, problems=(file_problem(OLD_XLS),), calamine_never=True)),
    Case("csv-renamed", bytes_file(b"Client ID,Name,Type\r\n00123,Ann Smith,Individual\r\n"),
         Read(unreadable=True, problems=(file_problem(TEXT_RENAMED),), calamine_never=True)),
    Case("html-renamed", bytes_file(b"<html><body><table><tr><td>Client ID</td></tr></table></body></html>"),
         Read(unreadable=True, problems=(file_problem(TEXT_RENAMED),), calamine_never=True)),
    Case("macro-enabled-workbook", macro_enabled,
         Read(unreadable=True, problems=(file_problem(MACROS),), calamine_never=True)),
    Case("zip-that-is-not-a-workbook", zip_not_workbook,
         Read(unreadable=True, problems=(file_problem(ZIP_NOT_WORKBOOK),), calamine_never=True)),
    Case("truncated-xlsx-waits", truncated, Waits()),
    Case("truncated-xlsx-after-the-settle-time-is-rejected", truncated_long_ago, Read(unreadable=True, problems=(
        P(None, None, None, None, "the file is cut short (not a complete workbook: a copy that stopped half-way?); "
                                  "save it again from Excel and drop it again", None),), calamine_never=True)),
    Case("empty-file-waits", bytes_file(b""), Waits()),
    Case("no-recognisable-sheet", xlsx({
        "Notes": [["Call the landlord"], ["Budget", 1200]],
        "Sheet2": [["a", "b", "c"], [1, 2, 3]],
    }), Read(unreadable=True, problems=(
        note("Notes", message=NO_KIND), note("Sheet2", message=NO_KIND), file_problem(NO_SHEET),
    ))),
    Case("billion-laughs-dtd", laughs(0),
         Read(unreadable=True, problems=(file_problem(UNSAFE_DTD),), calamine_never=True)),
    Case("dtd-after-2kb-of-comment", laughs(3000),
         Read(unreadable=True, problems=(file_problem(UNSAFE_DTD),), calamine_never=True)),
    Case("zip-bomb-150mb-sheet", zip_bomb,
         Read(unreadable=True, problems=(file_problem(OVER_LIMITS),), calamine_never=True, max_seconds=1.0)),
    Case("lock-and-temp-files-ignored", ignored_names, Ignored(
        ignored=("~$book.xlsx", ".~lock.book.xlsx#", "book.tmp", "folder.xlsx"),
        kept=("book.xlsx", "Book 2.XLSX"),
    )),
    Case("scan-inbox-file-still-growing-waits", inbox_with_growing_file, Scan(
        grows="b.xlsx", ready=("a.xlsx",), waiting=("b.xlsx",), ignored=(".~lock.a.xlsx#", "~$a.xlsx"),
    )),
]

ROUND_TRIP_CASES = [
    Case("problems-workbook-dropped-back-then-fixed", xlsx({
        "Service Log": [
            ["March services"],
            [],
            ["Service Date", "Client ID", "Service Code", "Quantity", "Provider", "Unit Price Override",
             "Reference"],
            [D(2026, 3, 2), "00123", "S01", 1, "Dr Lee", None, "V-1"],
            [D(2026, 3, 2), "00123", "S01", -2, "Dr Lee", None, "V-2"],
            [D(2026, 3, 3), "C2", "S01", 1],
            ["2026-02-30", "C2", "S02", 1],
            [D(2026, 3, 3), None, "S01", 1, None, 12.345],
        ],
        "Clients": [CLIENT_MIN, ["00123", "Ann Smith", "Robot", "1 Main St", "Springfield", "01234"],
                    ["C2", "Bob Ray", "Individual", "2 Elm St", "Springfield", "01235"]],
    }), RoundTrip(
        first=(
            P("Service Log", 5, "Quantity", "D5", "Quantity must be more than 0", Decimal("-2")),
            P("Service Log", 7, "Service Date", "A7", f"Service Date {NO_SUCH_DAY}", "2026-02-30"),
            P("Service Log", 8, "Client ID", "B8", required("Client ID"), None),
            P("Service Log", 8, "Unit Price Override", "F8", f"Unit Price Override {CENTS}", "12.345"),
            P("Clients", 2, "Type", "C2", "Type must be one of: Individual, Business", "Robot"),
        ),
        again=(
            P("Service Log", 2, "Quantity", "D2", "Quantity must be more than 0", Decimal("-2")),
            P("Service Log", 3, "Service Date", "A3", f"Service Date {NO_SUCH_DAY}", "2026-02-30"),
            P("Service Log", 4, "Client ID", "B4", required("Client ID"), None),
            P("Service Log", 4, "Unit Price Override", "F4", f"Unit Price Override {CENTS}", "12.345"),
            P("Clients", 2, "Type", "C2", "Type must be one of: Individual, Business", "Robot"),
        ),
        fixes={("Service Log", "D2"): 2, ("Service Log", "A3"): D(2026, 2, 28), ("Service Log", "B4"): "00125",
               ("Service Log", "F4"): Decimal("12.35"), ("Clients", "C2"): "individual"},
        fixed=(
            sheet("Service Log", "Service Log", [
                service(2, Service_Date=D(2026, 3, 2), Client_ID="00123", Service_Code="S01", Quantity=Decimal("2"),
                        Provider="Dr Lee", Reference="V-2"),
                service(3, Service_Date=D(2026, 2, 28), Client_ID="C2", Service_Code="S02"),
                service(4, Service_Date=D(2026, 3, 3), Client_ID="00125", Service_Code="S01",
                        Unit_Price_Override=Decimal("12.35")),
            ]),
            sheet("Clients", "Clients", [(2, ANN_VALUES)]),
        ),
    )),
    Case("problems-workbook-keeps-error-and-formula-cells", log(
        [D(2026, 3, 2), "C1", "S01", F("=1+1"), E("#REF!")],
        headers=LOG_MIN + ["Unit Price Override"],
    ), RoundTrip(
        first=(P("Service Log", 2, "Quantity", "D2", NO_RESULT, None),
               P("Service Log", 2, "Unit Price Override", "E2", shows_error("#REF!"), "#REF!")),
        # A formula without a saved result comes back as the error #N/A (no formula is copied from input).
        again=(P("Service Log", 2, "Quantity", "D2", shows_error("#N/A"), "#N/A"),
               P("Service Log", 2, "Unit Price Override", "E2", shows_error("#REF!"), "#REF!")),
        fixes={("Service Log", "D2"): 2, ("Service Log", "E2"): Decimal("12.5")},
        fixed=(sheet("Service Log", "Service Log", [
            service(2, Service_Date=D(2026, 3, 2), Client_ID="C1", Service_Code="S01", Quantity=Decimal("2"),
                    Unit_Price_Override=Decimal("12.50"))]),),
    )),
    Case("problems-workbook-keeps-percent-formatted-cells", xlsx({"Clients": [
        CLIENT_MIN + ["Coinsurance %"],
        ["00123", "Ann Smith", "Robot", "1 Main St", "Springfield", "01234", Fmt(0.2, "0%")],
    ]}), RoundTrip(
        first=(P("Clients", 2, "Type", "C2", "Type must be one of: Individual, Business", "Robot"),),
        again=(P("Clients", 2, "Type", "C2", "Type must be one of: Individual, Business", "Robot"),),
        fixes={("Clients", "C2"): "Individual"},
        fixed=(sheet("Clients", "Clients", [(2, {**ANN_VALUES, "Coinsurance %": Decimal("20")})]),),
    )),
]

CASES: list[Case] = KIND_CASES + HEADER_CASES + CELL_CASES + FILE_CASES + ROUND_TRIP_CASES

assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"
