"""What is in the inbox and what each file holds (SPEC §3): read-only, nothing posted here."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from billing_batch.config import Settings
from billing_batch.intake.sheets import ParsedSheet, detect, parse_sheet
from billing_batch.intake.validate import Sanity, validate
from billing_batch.intake.workbook import Limits, NotReady, Unreadable, check_zip, read_sheets
from billing_batch.problems import Problem, Where

# Excel and LibreOffice lock files, partial downloads and editor temp files: never ours to touch.
_IGNORED_PREFIXES = ("~$", ".~lock", ".")
_IGNORED_SUFFIXES = (".tmp", ".temp", ".part", ".crdownload", ".download", "#")
# What staff may drop meaning a workbook: these are read (and, when not a real .xlsx, moved to
# rejected/ with the reason). Anything else (a PDF, a config file, a ledger) is not ours: it is left
# where it is and listed as waiting with what to do, never moved.
_SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xltx", ".xltm", ".xls", ".xlsb", ".csv", ".tsv", ".ods", ".numbers")
NOT_A_WORKBOOK = ("not a spreadsheet, so it is left where it is; billing-batch reads Excel workbooks (.xlsx) — "
                  "move it out of the inbox")


@dataclass
class FileIntake:
    path: Path
    sha256: str = ""
    sheets: list[ParsedSheet] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # file-level problems and sheet notes
    unreadable: bool = False

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def rows_read(self) -> int:
        return sum(len(s.rows) for s in self.sheets)


@dataclass
class InboxScan:
    ready: list[Path]
    waiting: list[tuple[Path, str]]  # left for a later run, with the reason
    ignored: list[Path]


def is_ignored(path: Path) -> bool:
    name = path.name
    return (not path.is_file() or name.startswith(_IGNORED_PREFIXES)
            or name.lower().endswith(_IGNORED_SUFFIXES))


def scan_inbox(inbox: Path, settle_seconds: float, sleep=time.sleep) -> InboxScan:
    """Files ready to read. A file whose size or modification time changes between two looks
    `settle_seconds` apart is still being copied and waits for the next run."""
    candidates, ignored, waiting = [], [], []
    for path in sorted(inbox.iterdir()) if inbox.exists() else []:
        if is_ignored(path):
            ignored.append(path)
        elif not path.name.lower().endswith(_SPREADSHEET_SUFFIXES):
            waiting.append((path, NOT_A_WORKBOOK))
        else:
            candidates.append(path)
    first = {p: _look(p) for p in candidates}
    if candidates and settle_seconds > 0:
        sleep(settle_seconds)
    ready = []
    for p in candidates:
        if _look(p) != first[p] or first[p] is None:
            waiting.append((p, "still being copied (its size or time changed)"))
        else:
            ready.append(p)
    return InboxScan(ready, waiting, ignored)


def _look(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def limits_from(settings: Settings) -> Limits:
    i = settings.intake
    return Limits(i.max_file_mb * 1_000_000, i.max_entries, i.max_uncompressed_mb * 1_000_000, i.max_ratio,
                  float(i.settle_seconds))


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_file(path: Path, settings: Settings) -> FileIntake:
    """Check, read, parse and validate one file. Raises NotReady when it should wait."""
    intake = FileIntake(path)
    name = path.name
    before = _look(path)
    try:
        check_zip(path, limits_from(settings))
        intake.sha256 = sha256_of(path)
        raw_sheets = read_sheets(path)
    except Unreadable as exc:
        intake.unreadable = True
        intake.sha256 = intake.sha256 or sha256_of(path)  # what is moved to rejected/ is what was judged
        intake.problems.append(Problem(Where(name), str(exc)))
        return intake
    if _look(path) != before:  # saved again while being read: what was read is not what is there
        raise NotReady("it changed while it was being read (saved again?)")
    missing_columns = []
    for raw in raw_sheets:
        found = detect(raw)
        if found.kind is None:
            where = Where(name, raw.name, found.header_row)
            if found.fits:
                missing_columns.append(Problem(where, f"the headers fit both {found.fits[0]} and {found.fits[1]}; "
                                               "use the exact header names of the blank workbook"))
            elif found.missing:
                missing_columns.append(Problem(
                    where, "this sheet looks like an input sheet but is missing the required "
                    + ("column " if len(found.missing) == 1 else "columns ") + ", ".join(found.missing)
                    + "; add " + ("it" if len(found.missing) == 1 else "them") + " to the header row and drop the "
                    "file again"))
            else:
                intake.problems.append(Problem(Where(name, raw.name),
                                               "matches no input kind; the sheet is ignored", level="note"))
            continue
        parsed = parse_sheet(name, raw, found.kind, found.header_row, found.columns, settings.date_format)
        parsed.problems.extend(validate(parsed, Sanity(settings.intake.max_amount, settings.intake.max_quantity)))
        intake.sheets.append(parsed)
    intake.problems.extend(missing_columns)
    if not intake.sheets:
        intake.unreadable = True
        if not missing_columns:
            intake.problems.append(Problem(Where(name), "no sheet has the headers of an input kind (Clients, "
                                           "Rates, Service Log, ...); use a blank workbook from the templates"))
    return intake


__all__ = ["FileIntake", "InboxScan", "NotReady", "read_file", "scan_inbox", "is_ignored"]
