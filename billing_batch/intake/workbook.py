"""Opening a dropped file safely and reading its sheets as raw cell values.

Order matters: the zip structure is checked (size, entry count, compression ratio, no DTDs, no
macros) before any parser sees the file, because zip and XML bombs are unguarded in the readers.
Values come from calamine (fast); calamine shows error cells and formulas without a saved result as
blank, so a light scan of the sheet XML marks those cells, and percent-formatted ones, when the
sheet has any.
"""

from __future__ import annotations

import io
import posixpath
import re
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import defusedxml.ElementTree as SafeET
import python_calamine
from lxml import etree

NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
PKG_REL_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
PERCENT_BUILTIN_FORMATS = {9, 10}


class NotReady(Exception):
    """The file is still being copied (or is not yet a complete zip): try again next run."""


class Unreadable(Exception):
    """The file cannot be accepted at all; the message says why and what to do."""


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int
    max_entries: int
    max_uncompressed_bytes: int
    max_ratio: int
    settle_seconds: float = 0.0  # a file unchanged this long is complete, or never will be


@dataclass
class RawSheet:
    name: str
    rows: list[list[object]]  # rows[0] is Excel row 1, cell [0] is column A
    errors: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, col) 1-based -> "#REF!" or ""
    percent_cells: set[tuple[int, int]] = field(default_factory=set)
    padded: dict[tuple[int, int], int] = field(default_factory=dict)  # number shown zero-padded: width


def check_zip(path: Path, limits: Limits) -> None:
    """Raise Unreadable or NotReady unless `path` is a plain, sane .xlsx package."""
    size = path.stat().st_size
    if size == 0:
        raise NotReady("the file is still empty (being copied?)")
    if size > limits.max_file_bytes:
        raise Unreadable(f"the file is {size / 1e6:.0f} MB, over the limit of {limits.max_file_bytes / 1e6:.0f} MB "
                         "(intake.max_file_mb); split it into smaller workbooks")
    with path.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise Unreadable("this is a password-protected workbook or an old .xls file; save it in Excel as "
                         "'Excel Workbook (.xlsx)' without a password and drop it again")
    if not head.startswith(b"PK"):
        kind = "a text, CSV or web page file" if head[:1] in (b"<", b"\xef") or head.isascii() else "not an Excel file"
        raise Unreadable(f"this is {kind} renamed to .xlsx; open it in Excel, save it as "
                         "'Excel Workbook (.xlsx)' and drop it again")
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        if time.time() - path.stat().st_mtime < limits.settle_seconds:
            raise NotReady("not yet a complete file (still being copied?)")
        raise Unreadable("the file is cut short (not a complete workbook: a copy that stopped half-way?); "
                         "save it again from Excel and drop it again") from None
    with zf:
        infos = zf.infolist()
        names = {i.filename for i in infos}
        if len(infos) > limits.max_entries:
            raise Unreadable(f"the workbook has {len(infos)} parts, over the limit of {limits.max_entries}")
        total = sum(i.file_size for i in infos)
        packed = sum(i.compress_size for i in infos) or 1
        if total > limits.max_uncompressed_bytes or total / packed > limits.max_ratio:
            raise Unreadable(f"the workbook unpacks to {total / 1e6:.0f} MB from {packed / 1e6:.1f} MB, over the "
                             "safety limits (intake.max_uncompressed_mb, intake.max_ratio); it may be damaged "
                             "or hostile — save a fresh copy from Excel")
        if "xl/vbaProject.bin" in names:
            raise Unreadable("this is a macro-enabled workbook; save it as 'Excel Workbook (.xlsx)' without "
                             "macros and drop it again")
        if "xl/workbook.xml" not in names or "[Content_Types].xml" not in names:
            raise Unreadable("this is a zip file but not an Excel workbook; save it from Excel as .xlsx")
        for info in infos:
            if info.filename.endswith((".xml", ".rels")) and _has_dtd(zf, info):
                raise Unreadable("the workbook contains unsafe XML (a DTD); save a fresh copy from Excel")


_COMMENT = re.compile(rb"<!--.*?-->", re.S)
_ROOT_START = re.compile(rb"<[A-Za-z_]")
PROLOGUE_LIMIT = 1 << 20


def _has_dtd(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    """A DTD can only stand in the prologue, before the root element; read that far (comments may be
    long) and no further. Excel never writes one; a prologue over 1 MB is treated as hostile too."""
    buf = b""
    with zf.open(info) as member:
        while True:
            chunk = member.read(65536)
            buf += chunk
            visible = _COMMENT.sub(b"", buf)
            if b"<!DOCTYPE" in visible or b"<!ENTITY" in visible:
                return True
            open_comment = visible.rfind(b"<!--")
            if _ROOT_START.search(visible if open_comment < 0 else visible[:open_comment]) or not chunk:
                return False
            if len(buf) > PROLOGUE_LIMIT:
                return True


def _sheet_parts(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> zip path of its XML."""
    wb = SafeET.fromstring(zf.read("xl/workbook.xml"))
    rels = SafeET.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target") for r in rels.iter(f"{PKG_REL_NS}Relationship")}
    parts = {}
    for sheet in wb.iter(f"{NS}sheet"):
        target = targets.get(sheet.get(f"{REL_NS}id"), "")
        path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        parts[sheet.get("name")] = path
    return parts


@dataclass(frozen=True)
class Styles:
    percent: frozenset[str]  # style indexes (a cell's `s`) whose number format shows a percentage
    padded: dict[str, int]  # style index -> width, for formats like 00000 (ZIP codes shown with zeros)

    def __bool__(self) -> bool:
        return bool(self.percent or self.padded)


def _styles(zf: zipfile.ZipFile) -> Styles:
    if "xl/styles.xml" not in zf.namelist():
        return Styles(frozenset(), {})
    styles = SafeET.fromstring(zf.read("xl/styles.xml"))
    codes = {int(f.get("numFmtId")): f.get("formatCode") or "" for f in styles.iter(f"{NS}numFmt")}
    percent_ids = PERCENT_BUILTIN_FORMATS | {i for i, code in codes.items() if "%" in code}
    padded_ids = {i: len(code) for i, code in codes.items() if re.fullmatch(r"0{2,}", code)}
    xfs = styles.find(f"{NS}cellXfs")
    if xfs is None:
        return Styles(frozenset(), {})
    fmt = [int(xf.get("numFmtId", 0)) for xf in xfs.iter(f"{NS}xf")]
    return Styles(frozenset(str(i) for i, f in enumerate(fmt) if f in percent_ids),
                  {str(i): padded_ids[f] for i, f in enumerate(fmt) if f in padded_ids})


def _col_row(ref: str) -> tuple[int, int]:
    col = 0
    for i, ch in enumerate(ref):
        if ch.isdigit():
            return int(ref[i:]), col
        col = col * 26 + (ord(ch.upper()) - 64)
    raise ValueError(ref)


_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")


def _scan_marks(data: bytes, styles: Styles, sheet: RawSheet) -> None:
    """Mark error cells, formulas with no saved result, and percent- or zero-padded-formatted cells."""
    want_styles = bool(styles) and b' s="' in data
    if b't="e"' not in data and not want_styles and not _FORMULA.search(data):
        return
    parser = etree.iterparse(
        io.BytesIO(data), events=("end",), tag=f"{NS}c",
        resolve_entities=False, no_network=True, huge_tree=False,
    )
    for _, c in parser:
        ref = c.get("r")
        if ref:
            v = c.find(f"{NS}v")
            if c.get("t") == "e":
                sheet.errors[_col_row(ref)] = v.text if v is not None and v.text else "#ERROR"
            elif c.find(f"{NS}f") is not None and (v is None or v.text is None):
                if c.get("t") != "str" or v is None:
                    sheet.errors[_col_row(ref)] = ""
            if want_styles:
                style = c.get("s")
                if style in styles.percent:
                    sheet.percent_cells.add(_col_row(ref))
                elif style in styles.padded:
                    sheet.padded[_col_row(ref)] = styles.padded[style]
        c.clear()


def read_sheets(path: Path) -> list[RawSheet]:
    """All sheets of a checked workbook with raw values; Unreadable when the readers refuse it."""
    try:
        book = python_calamine.CalamineWorkbook.from_path(str(path))
        with zipfile.ZipFile(path) as zf:
            parts = _sheet_parts(zf)
            styles = _styles(zf)
            sheets = []
            for name in book.sheet_names:
                rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
                sheet = RawSheet(name, rows)
                part = parts.get(name)
                if part and part in zf.namelist():
                    _scan_marks(zf.read(part), styles, sheet)
                sheets.append(sheet)
            return sheets
    except (python_calamine.CalamineError, etree.XMLSyntaxError, SafeET.ParseError, KeyError,
            zipfile.BadZipFile, ValueError) as exc:
        raise Unreadable(f"the workbook could not be read ({type(exc).__name__}); open it in Excel, save it "
                         "as .xlsx and drop it again") from exc
    except Exception as exc:  # defusedxml's DTD/entity refusals and anything else a hostile file triggers
        if type(exc).__module__.startswith("defusedxml"):
            raise Unreadable("the workbook contains unsafe XML; save a fresh copy from Excel") from exc
        raise
