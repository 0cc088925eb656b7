"""The nightly run end to end on a small office built by hand, on SQLite and PostgreSQL.

Every expected number below is computed by hand in the comments, not by the code under test.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import openpyxl
import pytest
from docx import Document
from docx.oxml.ns import qn
from sqlalchemy import create_engine, func, select

from billing_batch.ledger.schema import invoices, service_lines
from billing_batch.pipeline import run_batch
from tests.office import Office

D = dt.date
CLIENT_HEADERS = ["Client ID", "Name", "Type", "Attention", "Address Line 1", "City", "Region",
                  "Postal Code", "Terms Days", "Tax Exempt"]
CLIENTS = [
    ["C001", 'Smith & Sons <Ltd> "Trading"', "Business", "Jane Roe", "1 Mill Lane", "Springfield", "IL", "62701", 30, "N"],
    ["00042", "Zoë O'Brien", "Individual", None, "22 Elm St", "Springfield", "IL", "62702", 15, None],
    ["C003", "Acme Tax-Free Co", "Business", None, "9 Dock Rd", "Shelbyville", "IL", "62565", None, "Y"],
]
RATE_HEADERS = ["Service Code", "Description", "Unit Price", "Taxable", "Effective From", "Effective To"]
RATES = [
    ["OV", "Office visit", Decimal("100.00"), "N", None, D(2026, 3, 14)],
    ["OV", "Office visit", Decimal("110.00"), "N", D(2026, 3, 15), None],
    ["SUP", "Supplies", Decimal("3.35"), "Y", None, None],
    ["TH", "Therapy, per hour", Decimal("80.00"), "N", None, None],
]
LOG_HEADERS = ["Service Date", "Client ID", "Service Code", "Quantity", "Unit Price Override", "Provider"]
LOG = [
    [D(2026, 3, 2), "C001", "OV", 1, None, "Dr. Lee"],        # 100.00 (old price)
    [D(2026, 3, 20), "C001", "OV", 2, None, "Dr. Lee"],       # 2 × 110.00 = 220.00 (new price)
    [D(2026, 3, 20), "C001", "SUP", 3, None, "Dr. Lee"],      # 3 × 3.35 = 10.05 taxable
    [D(2026, 3, 10), "00042", "TH", Decimal("1.5"), None, "K. Patel"],  # 1.5 × 80 = 120.00
    [D(2026, 3, 10), "00042", "SUP", 1, Decimal("3.99"), "K. Patel"],   # override 3.99 taxable
    [D(2026, 3, 16), "C003", "SUP", 10, None, "Dr. Lee"],     # 33.50 taxable, but tax exempt
    [D(2026, 4, 5), "C003", "OV", 1, None, "Dr. Lee"],        # after the first as-of: billed later
]
# Tax 8.25 %, once per invoice, half-up:
#   00042: 3.99 × 8.25 % = 0.329175 → 0.33; total 120.00 + 3.99 + 0.33 = 124.32, due 03-31 + 15 = 04-15
#   C001: 10.05 × 8.25 % = 0.829125 → 0.83; total 100 + 220 + 10.05 + 0.83 = 330.88, due 04-30
#   C003: exempt; total 33.50, due 04-30 (default terms 30)
# Numbers go in client ID order: 00042 < C001 < C003.
FIRST = {"INV-2026-00001": ("Zoë O'Brien", "$124.32"),
         "INV-2026-00002": ('Smith & Sons <Ltd> "Trading"', "$330.88"),
         "INV-2026-00003": ("Acme Tax-Free Co", "$33.50")}


def drop_office(office: Office) -> None:
    office.drop("clients.xlsx", {"Clients": [CLIENT_HEADERS, *CLIENTS]})
    office.drop("rates.xlsx", {"Rates": [RATE_HEADERS, *RATES]})
    office.drop("march log.xlsx", {"Service Log": [LOG_HEADERS, *LOG]})


def docx_paragraphs(path) -> list[str]:
    body = Document(str(path)).element.body
    return ["".join(t.text or "" for t in p.iter(qn("w:t"))) for p in body.iter(qn("w:p"))]


def test_nightly_run_end_to_end(office: Office):
    settings = office.settings.model_copy(update={"invoicing": office.settings.invoicing.model_copy(
        update={"tax_rate": Decimal("8.25")})})
    drop_office(office)

    first = run_batch(settings, D(2026, 3, 31))

    assert [(n, str(t)) for n, t in first.invoices] == [
        ("INV-2026-00001", "124.32"), ("INV-2026-00002", "330.88"), ("INV-2026-00003", "33.50")]
    t = first.report["totals"]
    assert (t["rows_read"], t["posted"], t["already_posted"], t["rejected"]) == (3 + 4 + 7, 14, 0, 0)
    # Every invoice re-opened: its number, the client's name exactly as written, its total.
    for number, (name, total) in FIRST.items():
        path = next((office.root / "output" / "invoices" / "2026-03").glob(f"*-{number}.docx"))
        text = docx_paragraphs(path)
        joined = "\n".join(text)
        assert number in joined and name in text and total in joined
    # C001's invoice lists its three lines and the tax computed once on the taxable line.
    c001 = "\n".join(docx_paragraphs(next((office.root / "output/invoices/2026-03").glob("*-INV-2026-00002.docx"))))
    for amount in ("$100.00", "$220.00", "$10.05", "$330.05", "$0.83"):
        assert amount in c001
    # Aging as of 03-31: everything is not yet due.
    aging = openpyxl.load_workbook(first.aging_path)
    summary = {r[0]: r[1] for r in aging["Summary"].iter_rows(max_col=2, values_only=True) if r[0]}
    assert Decimal(str(summary["Not Yet Due"])) == Decimal("488.70")  # 124.32 + 330.88 + 33.50
    assert Decimal(str(summary["Balance"])) == Decimal("488.70")
    assert summary["Reconciliation"] == "Ties"
    assert summary["Invoices issued"] == 3
    # Files moved to processed/, inbox empty.
    assert not list(office.inbox.iterdir())
    assert len(list((office.root / "processed" / "2026-03").iterdir())) == 3

    # Second run over the same inbox: re-dropped, re-saved so the bytes differ.
    for done in (office.root / "processed" / "2026-03").iterdir():
        wb = openpyxl.load_workbook(done)
        wb.properties.title = "re-saved by staff"
        target = office.inbox / done.name.split("_", 1)[1]
        wb.save(target)
        assert target.read_bytes() != done.read_bytes()
    second = run_batch(settings, D(2026, 3, 31))
    assert second.invoices == []
    t = second.report["totals"]
    assert (t["rows_read"], t["posted"], t["already_posted"], t["rejected"]) == (14, 0, 14, 0)
    log_sheet = next(s for f in second.report["files"] if f["name"] == "march log.xlsx" for s in f["sheets"])
    assert log_sheet["already_posted_from"] == [{"business_date": D(2026, 3, 31), "file": "march log.xlsx", "rows": 7}]

    # Third run, 05-20, empty inbox: the April visit is billed (110.00, due 06-19) and the rest ages:
    #   00042 due 04-15 → 35 days → 31-60: 124.32; C001 due 04-30 → 20 days → 1-30: 330.88;
    #   C003 33.50 due 04-30 → 1-30, and 110.00 not yet due.
    third = run_batch(settings, D(2026, 5, 20))
    assert [(n, str(t)) for n, t in third.invoices] == [("INV-2026-00004", "110.00")]
    assert third.report["aging"]["buckets"] == {
        "Not Yet Due": "110.00", "1-30": "364.38", "31-60": "124.32", "61-90": "0.00", "91-120": "0.00",
        "Over 120": "0.00"}
    assert third.report["aging"]["ties"] is True
    wb = openpyxl.load_workbook(third.aging_path)
    by_client = {r[0]: r for r in wb["Aging by Client"].iter_rows(min_row=2, values_only=True)}
    assert by_client["00042"][1] == "Zoë O'Brien"
    assert [Decimal(str(v)) for v in by_client["C003"][3:9]] == [
        Decimal("110.00"), Decimal("33.50"), 0, 0, 0, 0]
    open_items = {r[0]: r for r in wb["Open Items"].iter_rows(min_row=2, values_only=True)}
    assert open_items["INV-2026-00001"][5:7] == (35, "31-60")
    assert open_items["INV-2026-00001"][2] == "Zoë O'Brien"  # the name beside the ID, for a manager
    # Largest balance first: C001 330.88, C003 143.50, 00042 124.32.
    # A totals row below them (outside the filter): 330.88 + 143.50 + 124.32 = 598.70.
    rows = list(wb["Aging by Client"].iter_rows(min_row=2, values_only=True))
    assert [r[0] for r in rows] == ["C001", "C003", "00042", "Total (3 clients)"]
    assert Decimal(str(rows[-1][10])) == Decimal("598.70") and wb["Aging by Client"].auto_filter.ref == "A1:O4"
    # Each bucket as a share of the 598.70 open: 110.00 → 18.4 %, 364.38 → 60.9 %, 124.32 → 20.8 %; none over 90.
    ws = wb["Summary"]
    shares = {r[0].value: r[2].value for r in ws.iter_rows(min_row=5, max_row=10, max_col=3)}
    assert [Decimal(str(shares[k])) for k in ("Not Yet Due", "1-30", "31-60", "61-90")] == [
        Decimal("0.1837"), Decimal("0.6086"), Decimal("0.2076"), 0]
    assert ws["C5"].number_format == "0.0%" and ws.auto_filter.ref is None
    summary = {r[0]: r[1] for r in ws.iter_rows(max_col=2, values_only=True) if r[0]}
    assert summary["% over 90 days"] == 0

    # The ledger holds each service once and four invoices.
    engine = create_engine(settings.database_url)
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(service_lines)).scalar() == 7
        assert c.execute(select(func.count()).select_from(invoices)).scalar() == 4
    engine.dispose()


def test_run_report_has_no_client_names(office: Office):
    drop_office(office)
    office.drop("bad.xlsx", {"Clients": [CLIENT_HEADERS, ["C009", "Secret Name", "Alien", None, "x", "y", None, "1", None, None]]})
    result = run_batch(office.settings, D(2026, 3, 31))
    text = result.report_path.read_text()
    assert "Secret Name" not in text and "Smith" not in text and "O'Brien" not in text
    problems = json.loads(text)["problems"]
    assert {"file": "bad.xlsx", "sheet": "Clients", "row": 2, "column": "Type", "cell": "C2"}.items() <= \
        next(p for p in problems if p["file"] == "bad.xlsx").items()


def test_dry_run_changes_nothing(office: Office):
    drop_office(office)
    result = run_batch(office.settings, D(2026, 3, 31), dry_run=True)
    assert len(result.invoices) == 3
    dry = office.root / "output" / "dry-run"
    assert (next((dry / "invoices" / "2026-03").glob("*-INV-2026-00001.docx"))).exists()
    assert (dry / "reports" / "aging-2026-03-31.xlsx").exists()
    assert len(list(office.inbox.iterdir())) == 3  # nothing moved
    assert not (office.root / "output" / "invoices" / "2026-03").exists()
    # Every page of a dry run's document says it was never issued; its number is provisional.
    draft = Document(str(next((dry / "invoices" / "2026-03").glob("*-INV-2026-00001.docx"))))
    section = draft.sections[0]
    # (the header's other paragraphs are the empty fold marks)
    assert "".join(p.text for p in section.first_page_header.paragraphs) == "DRAFT — NOT ISSUED (dry run)"
    assert section.header.paragraphs[0].text.startswith("DRAFT — NOT ISSUED (dry run) · ")
    words = "".join(t.text or "" for t in draft.element.body.iter(qn("w:t")))
    assert words.count("INV-2026-00001 (draft)") == words.count("INV-2026-00001") == 3  # facts, how to pay, slip
    real = run_batch(office.settings, D(2026, 3, 31))  # the real run issues the same numbers
    assert [n for n, _ in real.invoices] == ["INV-2026-00001", "INV-2026-00002", "INV-2026-00003"]
    issued = Document(str(next((office.root / "output" / "invoices" / "2026-03").glob("*-INV-2026-00001.docx"))))
    assert "".join(p.text for p in issued.sections[0].first_page_header.paragraphs) == ""
    assert not issued.sections[0].header.paragraphs[0].text.startswith("DRAFT")
    words = "".join(t.text or "" for t in issued.element.body.iter(qn("w:t")))
    assert words.count("INV-2026-00001") == 3 and "draft" not in words.lower()


def test_weekly_cycle_waits_for_its_day_and_catches_up_a_missed_one(sqlite_office: Office):
    office = sqlite_office
    settings = office.settings.model_copy(update={"invoicing": office.settings.invoicing.model_copy(
        update={"cycle": "weekly:friday"})})
    drop_office(office)
    first = run_batch(settings, D(2026, 3, 20))  # a Friday: bills every line up to 03-20
    assert [n for n, _ in first.invoices] == ["INV-2026-00001", "INV-2026-00002", "INV-2026-00003"]
    office.drop("monday.xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 3, 23), "C001", "OV", 1, None, "Dr. Lee"]]})
    assert run_batch(settings, D(2026, 3, 26)).invoices == []  # Thursday: no billing day yet
    # Friday 03-27 was missed; the Saturday run catches it up (the 04-05 line is still in the future).
    assert [(n, str(t)) for n, t in run_batch(settings, D(2026, 3, 28)).invoices] == [("INV-2026-00004", "110.00")]


def test_outputs_are_readable_by_the_office_like_any_saved_file(sqlite_office: Office):
    """Temp-file-and-rename must not leave documents private to the user who ran the job."""
    import os
    import stat

    drop_office(sqlite_office)
    office = sqlite_office
    office.drop("bad.xlsx", {"Clients": [CLIENT_HEADERS, ["C9", "X", "Alien"]]})
    old = os.umask(0o022)
    try:
        run_batch(office.settings, D(2026, 3, 31))
    finally:
        os.umask(old)
    written = [*(office.root / "output").rglob("*.docx"), *(office.root / "output").rglob("*.xlsx"),
               *(office.root / "output").rglob("*.json"), *(office.root / "rejected").rglob("*.xlsx")]
    assert len(written) >= 7
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
