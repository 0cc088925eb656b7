"""The coordinator's portfolio, `portfolio-YYYY-MM-DD.xlsx` (`billing-batch portfolio CONFIG...`,
issue 16): one row per office with its receivables by bucket, % over 90 days, DSO, this month's
invoices and letters, problems waiting in rejected/ and its last successful run; a chart; and a
sheet per office linking to its aging workbook.

An office that cannot be read (never run, a ledger that does not open) is a row saying why, and
the others are still written. Patient buckets are labelled so; "Total A/R" is the aging Summary's
(patient A/R + insurance A/R + patients' shares still to invoice).

Each ledger is read read-only (no migration; the database refuses writes) in one consistent
snapshot, so the portfolio can be made while any office's run is in progress. Every office is aged
with the first office's buckets, so the columns mean the same on every row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from billing_batch.billing.aging import bucket_names
from billing_batch.billing.dso import DSO_DAYS, days_sales_outstanding, over_days, percent_of
from billing_batch.config import Settings
from billing_batch.files import is_temp
from billing_batch.ledger import runs
from billing_batch.ledger.db import LedgerError, NotRunYet, read_ledger, schema_words, snapshot, where
from billing_batch.publish import aging_as_of
from billing_batch.reports.xlsx import DATE_FORMAT, fit_width, landscape, put, save_atomic, table_sheet
from billing_batch.reports.xlsx_stream import fits_one_page_wide, header_text


@dataclass(frozen=True)
class OfficeFigures:
    name: str
    folder: Path
    ledger: str  # where, without a password
    buckets: dict[str, Decimal]
    unapplied_credit: Decimal
    receivable: Decimal  # Σ patient buckets
    patient_ar: Decimal  # Σ buckets − unapplied credit (the aging Summary's "Patient A/R")
    insurance_ar: Decimal  # open claim balances with the insurers
    awaiting: Decimal  # patients' shares of claims not on an invoice yet
    over_90: Decimal
    invoiced_recently: Decimal  # in the DSO window
    invoices_this_month: int
    letters_this_month: int
    problems_waiting: int  # problems workbooks in rejected/
    last_run_at: datetime | None
    last_run_date: date | None
    aging_workbook: Path  # output/reports/aging-<as-of>.xlsx, else aging-latest.xlsx
    aging_is_latest: bool  # no workbook of the as-of date: the link is to the latest

    @property
    def total_ar(self) -> Decimal:
        return self.patient_ar + self.insurance_ar + self.awaiting

    @property
    def over_90_percent(self) -> Decimal | None:
        return percent_of(self.over_90, self.receivable)

    @property
    def dso(self) -> Decimal | None:
        return days_sales_outstanding(self.receivable, self.invoiced_recently)


def problems_waiting(rejected: Path) -> int:
    """Files staff still have to fix: one problems workbook per rejected file."""
    try:
        return sum(1 for p in rejected.iterdir() if p.name.endswith(".problems.xlsx") and not is_temp(p.name))
    except OSError:
        return 0  # no rejected/ yet


def office_figures(settings: Settings, as_of: date, limits: list[int]) -> OfficeFigures:
    """One office's row, read from its ledger (read-only) and its folders."""
    engine = read_ledger(settings.database_url, **settings.ledger_options)
    try:
        with snapshot(engine) as conn:
            aging, recon, _ = aging_as_of(conn, as_of, limits)
            done = runs.activity(conn, as_of, DSO_DAYS)
        ledger = where(engine) + schema_words(engine, settings.database_schema)
    finally:
        engine.dispose()
    dated = settings.output / "reports" / f"aging-{as_of:%Y-%m-%d}.xlsx"
    workbook = dated if dated.exists() else settings.output / "reports" / "aging-latest.xlsx"
    return OfficeFigures(
        settings.office.name, settings.base_dir, ledger, dict(aging.totals), aging.unapplied_credit, aging.open_total,
        aging.balance, recon.insurance_open, recon.awaiting,
        over_days(aging.totals, limits), done.invoiced_recently, done.invoices_this_month, done.letters_this_month,
        problems_waiting(settings.rejected), done.last_run_at, done.last_run_date, workbook, workbook != dated)


@dataclass(frozen=True)
class Unread:
    """An office the portfolio could not read: a row saying why, no figures."""
    name: str
    folder: Path
    why: str  # "not run yet", or the ledger's message


Row = OfficeFigures | Unread


def portfolio(offices: list[Settings], as_of: date) -> list[Row]:
    """Every office's row; one that cannot be read does not stop the others."""
    limits = offices[0].aging.buckets
    rows: list[Row] = []
    for s in offices:
        try:
            rows.append(office_figures(s, as_of, limits))
        except NotRunYet as exc:
            rows.append(Unread(s.office.name, s.base_dir, f"not run yet ({exc})"))
        except LedgerError as exc:
            rows.append(Unread(s.office.name, s.base_dir, f"cannot be read ({s.base_dir / 'config.yaml'}): {exc}"))
    return rows


def _sheet_title(name: str, taken: set[str]) -> str:
    """An Excel sheet name from the office's name: no []:*?/\\, at most 31 characters, unique."""
    base = "".join("_" if ch in '[]:*?/\\' else ch for ch in name).strip("' ") or "Office"
    base = base[:28]
    title, n = base, 2
    while title.lower() in taken or title.lower() == "portfolio":
        title, n = f"{base[:26]} {n}", n + 1
    taken.add(title.lower())
    return title


HEADERS_BEFORE = ["Office"]
HEADERS_AFTER = ["Unapplied Credit", "Patient A/R", "Insurance A/R", "Total A/R", "% Over 90", "DSO (days)", f"Invoiced Last {DSO_DAYS} Days",
                 "Invoices This Month", "Letters This Month", "Problems Waiting", "Last Successful Run",
                 "Last Run Business Date", "Aging Workbook"]


def _headers(limits: list[int], awaiting: bool) -> tuple[list[str], list[str]]:
    buckets = [f"Patient {n}" for n in bucket_names(limits)]  # not the insurers' part: labelled so
    after = list(HEADERS_AFTER)
    if awaiting:  # only where some office has claims' patient shares not invoiced yet
        after.insert(after.index("Total A/R"), "Patient Shares To Invoice")
    return [*HEADERS_BEFORE, *buckets, *after], buckets


def _figures_row(f: OfficeFigures, names: list[str], awaiting: bool) -> list:
    return [f.name, *(f.buckets.get(n, Decimal("0.00")) for n in names), f.unapplied_credit, f.patient_ar,
            f.insurance_ar, *([f.awaiting] if awaiting else []), f.total_ar, f.over_90_percent, f.dso,
            f.invoiced_recently, f.invoices_this_month, f.letters_this_month, f.problems_waiting, f.last_run_at,
            f.last_run_date, str(f.aging_workbook)]


def write_portfolio(path: Path, offices: list[Row], as_of: date, limits: list[int]) -> Path:
    names = bucket_names(limits)
    figures = [f for f in offices if isinstance(f, OfficeFigures)]
    awaiting = any(f.awaiting for f in figures)
    headers, bucket_headers = _headers(limits, awaiting)
    money = [*bucket_headers, "Unapplied Credit", "Patient A/R", "Insurance A/R", "Total A/R",
             f"Invoiced Last {DSO_DAYS} Days", *(["Patient Shares To Invoice"] if awaiting else [])]
    taken: set[str] = set()
    titles = [_sheet_title(f.name, taken) for f in figures]
    # Rows that could be read first (the chart covers them), then the offices that could not.
    rows = [_figures_row(f, names, awaiting) for f in figures]
    rows += [[u.name, u.why, *[None] * (len(headers) - 2)] for u in offices if isinstance(u, Unread)]
    widths = {"Office": fit_width([o.name for o in offices], 18, 40), "Aging Workbook": 50, "Last Successful Run": 20}
    wb = Workbook()
    ws = table_sheet(wb, "Portfolio", headers, rows, money_cols=money, first=True, widths=widths)
    last_run = headers.index("Last Successful Run") + 1
    tenths = [headers.index("% Over 90") + 1, headers.index("DSO (days)") + 1]
    for r, (f, title) in enumerate(zip(figures, titles), start=2):
        ws.cell(r, 1).hyperlink = "#'" + title.replace("'", "''") + "'!A1"  # the office's own sheet
        ws.cell(r, last_run).number_format = "yyyy-mm-dd hh:mm"
        for c in tenths:
            ws.cell(r, c).number_format = "0.0"
        _link(ws.cell(r, len(headers)), f.aging_workbook)
    total_row = len(rows) + 2
    put(ws, total_row, 1, "All offices read").font = Font(bold=True)
    for h in money:
        c = headers.index(h) + 1
        put(ws, total_row, c, sum((row[c - 1] for row in rows[:len(figures)]), Decimal("0.00")),
            money=True).font = Font(bold=True)
    if figures:
        _chart(ws, len(figures), len(names), len(rows))
    _print_legibly(ws, [ws.column_dimensions[get_column_letter(c)].width or 8.43 for c in range(1, len(headers) + 1)],
                   "Portfolio", as_of)
    for f, title in zip(figures, titles):
        _office_sheet(wb.create_sheet(title), f, names, as_of)
    save_atomic(wb, path)
    return path


def _print_legibly(ws: Worksheet, widths: list[float], title: str, as_of: date) -> None:
    """As the aging workbook prints (reports/xlsx_stream.py): landscape, the header row on every
    page; one page wide only where the text stays at 8 pt or more, else several pages wide with the
    office column repeated; header and footer with the sheet, the date and Page N of M."""
    landscape(ws)
    if not fits_one_page_wide(widths):
        ws.sheet_properties.pageSetUpPr.fitToPage = False
        ws.page_setup.fitToWidth = ws.page_setup.fitToHeight = None
        ws.print_title_cols = "A:A"
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.oddHeader.left.text = "Portfolio of offices"
    ws.oddHeader.center.text = "&B" + header_text(title)
    ws.oddHeader.right.text = f"As of {as_of:%Y-%m-%d}"
    ws.oddFooter.left.text = f"Portfolio of offices — {header_text(title)}"
    ws.oddFooter.right.text = "Page &P of &N"


def _link(cell, target: Path) -> None:
    cell.hyperlink = target.resolve().as_uri()
    cell.style = "Hyperlink"


def _chart(ws: Worksheet, offices: int, buckets: int, rows: int) -> None:
    """A/R by bucket, one stacked bar per office."""
    chart = BarChart()
    chart.type, chart.grouping, chart.overlap = "bar", "stacked", 100
    chart.title, chart.y_axis.title = "Receivables by office and bucket", "Amount"
    data = Reference(ws, min_col=2, max_col=1 + buckets, min_row=1, max_row=1 + offices)
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=1 + offices))
    chart.width, chart.height = 24, max(7.5, 2 + 1.2 * offices)
    ws.add_chart(chart, f"A{rows + 5}")


def _office_sheet(ws: Worksheet, f: OfficeFigures, names: list[str], as_of: date) -> None:
    put(ws, 1, 1, f.name).font = Font(bold=True, size=14)
    lines: list[tuple[str, object, bool]] = [
        ("As of", as_of, False), ("Office folder", str(f.folder), False), ("Ledger", f.ledger, False),
        *((f"Patient {n}", f.buckets.get(n, Decimal("0.00")), True) for n in names),
        ("Unapplied credit", f.unapplied_credit, True), ("Patient A/R", f.patient_ar, True),
        ("Insurance A/R", f.insurance_ar, True),
        *([("Patient shares to invoice", f.awaiting, True)] if f.awaiting else []),
        ("Total A/R", f.total_ar, True),
        ("% over 90 days", f.over_90_percent, False), ("DSO (days)", f.dso, False),
        (f"Invoiced last {DSO_DAYS} days", f.invoiced_recently, True),
        ("Invoices this month", f.invoices_this_month, False), ("Letters this month", f.letters_this_month, False),
        ("Problems waiting in rejected/", f.problems_waiting, False),
        ("Last successful run", f.last_run_at, False), ("Its business date", f.last_run_date, False)]
    for r, (label, value, money) in enumerate(lines, start=3):
        put(ws, r, 1, label).font = Font(bold=True)
        cell = put(ws, r, 2, value, money=money)
        if label in ("% over 90 days", "DSO (days)"):
            cell.number_format = "0.0"
        elif isinstance(value, datetime):
            cell.number_format = "yyyy-mm-dd hh:mm"
        elif isinstance(value, date):
            cell.number_format = DATE_FORMAT
    r = 3 + len(lines) + 1
    put(ws, r, 1, "Aging workbook").font = Font(bold=True)
    _link(put(ws, r, 2, str(f.aging_workbook)), f.aging_workbook)
    if not f.aging_workbook.exists():
        put(ws, r + 1, 2, "not written yet: the office's next run writes it")
    elif f.aging_is_latest:
        put(ws, r + 1, 2, f"the latest one: no aging workbook of {as_of:%Y-%m-%d} in the office's reports folder")
    else:
        put(ws, r + 1, 2, f"as of {as_of:%Y-%m-%d}")
    ws.column_dimensions["A"].width = 30
    ws.column_dimensions["B"].width = fit_width([str(f.folder), f.ledger, str(f.aging_workbook)], 20, 80)
    landscape(ws)
