"""Documents an office would mail (issue 15): the remittance slip, the totals a patient reads, previous
balance, a business's PO and provider per line, statements of a hand-built month, a credit balance's
wording, DRAFT on a dry run's documents, file names, and the envelope window. Every document is
re-opened (python-docx; LibreOffice's PDF text where installed) and compared with sums done by hand."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from decimal import Decimal

import pytest
from click.testing import CliRunner
from docx import Document
from docx.enum.table import WD_ROW_HEIGHT_RULE
from docx.oxml.ns import qn
from docx.shared import Cm, Inches

from billing_batch.cli import main
from billing_batch.documents import pdf
from billing_batch.documents.render import render_docx
from billing_batch.documents.samples import sample_contexts
from billing_batch.documents.template_build import (
    ADDRESS_INDENT,
    LETTERHEAD_HEIGHT,
    MARGIN,
    TEMPLATE_BUILDERS,
    default_output_dir,
)
from billing_batch.ledger import numbering
from billing_batch.pipeline import run_batch
from billing_batch.print_pack import document_name
from billing_batch.publish import draft_context
from billing_batch.statements import statement_period
from tests.office import Office
from tests.test_posting import PAY_HEADERS

D = dt.date
CLIENT_HEADERS = ["Client ID", "Name", "Type", "Attention", "Address Line 1", "City", "Region", "Postal Code",
                  "Country", "Terms Days"]
CLIENTS = [
    ["B-100", "Northwind Clinics Ltd", "Business", "Ann Lee", "5 Harbor Way", "Springfield", "IL", "62701", "USA", 30],
    ["P7", "Tom Baker", "Individual", None, "22 Elm St", "Springfield", "IL", "62702", "United States", 30],
    ["P8", "Ruth Ames", "Individual", None, "8 Oak Ave", "Springfield", "IL", "62703", None, 30],
]
RATES = [["Service Code", "Description", "Unit Price", "Taxable"],
         ["OV", "Office visit", Decimal("100.00"), "N"],
         ["PROD-SKIN", "Skin cream", Decimal("12.50"), "Y"]]
LOG_HEADERS = ["Service Date", "Client ID", "Service Code", "Quantity", "Provider", "Description", "Reference"]
MARCH = [
    [D(2026, 3, 10), "B-100", "OV", 1, "Dr. Lee", "Follow-up, left knee", "PO-7781"],
    [D(2026, 3, 12), "B-100", "PROD-SKIN", 2, "Dr. Lee", None, "AUTH-0042"],
    [D(2026, 3, 15), "P7", "OV", 1, "K. Patel", None, None],
    [D(2026, 3, 16), "P8", "OV", 1, None, None, None],
]
# Run 03-31, tax 8 %: INV-1 B-100 100.00 + 2 × 12.50 = 125.00, tax 8 % of 25.00 = 2.00, total 127.00;
# INV-2 P7 100.00 (nothing taxable: no tax row); INV-3 P8 100.00. All due 04-30.
APRIL_PAYMENTS = [PAY_HEADERS,
                  [D(2026, 4, 5), "P7", Decimal("40.00"), "Check", "501", "INV-2026-00002"],  # INV-2 → 60.00
                  [D(2026, 4, 6), "P8", Decimal("118.00"), "Card", "502", None]]  # INV-3 paid, 18.00 credit
APRIL_ADJUSTMENTS = [["Date", "Client ID", "Kind", "Amount", "Invoice Number", "Reason"],
                     [D(2026, 4, 10), "B-100", "Credit", Decimal("7.00"), "INV-2026-00001", "Goodwill"]]  # 120.00
APRIL_LOG = [LOG_HEADERS, [D(2026, 4, 20), "P7", "OV", 1, "K. Patel", None, None]]
# Run 04-30: INV-4 P7 100.00; P7 owed 60.00 on INV-2 then: previous balance 60.00, account balance 160.00.
# Statements run on 05-01 cover April 1-30:
#   P7:    opening 100.00 + charges 100.00 - payments 40.00 - credits 0 = closing 160.00
#   B-100: opening 127.00 + 0 - 0 - credit note 7.00 = closing 120.00
#   P8:    opening 100.00 + 0 - payment 118.00 = closing -18.00: "Credit balance — no payment due"


def make_office(root, database_url: str) -> Office:
    return Office.create(root, database_url, invoicing__tax_rate=8)


def words(path) -> str:
    """Every paragraph of a .docx (tables included), one a line."""
    body = Document(str(path)).element.body
    return "\n".join("".join(t.text or "" for t in p.iter(qn("w:t"))) for p in body.iter(qn("w:p")))


def tables_rows(path) -> list[list[str]]:
    """Every table row of a .docx, nested tables included, as its cells' texts."""
    body = Document(str(path)).element.body
    rows = []
    for tr in body.iter(qn("w:tr")):
        cells = [tc for tc in tr if tc.tag == qn("w:tc")]
        rows.append(["".join(t.text or "" for t in tc.iter(qn("w:t"))) for tc in cells])
    return rows


def run_march(office: Office):
    office.drop("clients.xlsx", {"Clients": [CLIENT_HEADERS, *CLIENTS]})
    office.drop("rates.xlsx", {"Rates": RATES})
    office.drop("march.xlsx", {"Service Log": [LOG_HEADERS, *MARCH]})
    return run_batch(office.settings, D(2026, 3, 31))


def run_april(office: Office, dry_run: bool = False):
    if not dry_run:
        office.drop("april.xlsx", {"Payments": APRIL_PAYMENTS, "Adjustments": APRIL_ADJUSTMENTS,
                                   "Service Log": APRIL_LOG})
    return run_batch(office.settings, D(2026, 4, 30), dry_run=dry_run)


def invoice_file(office: Office, month: str, client: str, number: str):
    path = office.root / "output" / "invoices" / month / f"{client}-{number}.docx"
    assert path.is_file(), f"{path} is not written"
    return path


def test_invoices_statements_and_file_names_over_two_months(tmp_path, database_url):
    office = make_office(tmp_path / "office", database_url)
    first = run_march(office)
    assert [(n, str(t)) for n, t in first.invoices] == [
        ("INV-2026-00001", "127.00"), ("INV-2026-00002", "100.00"), ("INV-2026-00003", "100.00")]

    # The business invoice: PO/authorisation in its own column, the provider with the description, the
    # description override beside the service's name, the taxed line marked T, the tax row saying so.
    business = invoice_file(office, "2026-03", "B-100", "INV-2026-00001")
    rows = tables_rows(business)
    assert ["Date", "Code", "Description", "Reference", "Qty", "Unit Price", "Amount"] in rows
    assert ["03/10/2026", "OV", "Office visit — Follow-up, left knee · Provider: Dr. Lee", "PO-7781", "1",
            "$100.00", "$100.00"] in rows
    assert ["03/12/2026", "PROD-SKIN", "Skin cream · Provider: Dr. Lee", "AUTH-0042", "2", "$12.50",
            "$25.00 T"] in rows
    assert ["Tax (8% on lines marked T)", "$2.00"] in rows
    assert ["Subtotal", "$125.00"] in rows and ["Invoice total", "$127.00"] in rows
    assert ["Amount due", "$127.00"] in rows
    text = words(business)
    assert "Previous balance" not in text and "Balance Due" not in text  # owes nothing older
    assert "USA" not in text  # a domestic address has no country line
    # The remittance slip: cut line, remit-to, client, number, due date, amount, the box to fill in.
    assert "Please detach and return this portion with your payment" in text
    for row in (["Client ID", "B-100"], ["Name", "Northwind Clinics Ltd"], ["Invoice Number", "INV-2026-00001"],
                ["Due Date", "April 30, 2026"], ["Amount due", "$127.00"], ["Amount enclosed", "$"]):
        assert row in rows, row
    assert "Make payable to and mail to" in text

    # The individual invoice: nothing taxable, so no tax row and no T; no Reference column.
    p7 = invoice_file(office, "2026-03", "P7", "INV-2026-00002")
    rows = tables_rows(p7)
    assert ["Date", "Code", "Description", "Qty", "Unit Price", "Amount"] in rows
    assert not any(r and r[0].startswith("Tax") for r in rows)
    assert "United States" not in words(p7)

    second = run_april(office)
    assert [(n, str(t)) for n, t in second.invoices] == [("INV-2026-00004", "100.00")]
    p7_april = invoice_file(office, "2026-04", "P7", "INV-2026-00004")
    rows = tables_rows(p7_april)
    assert ["Invoice total", "$100.00"] in rows and ["Amount due", "$100.00"] in rows
    assert ["Previous balance (earlier invoices)", "$60.00"] in rows  # INV-2: 100.00 - 40.00
    assert ["Total account balance", "$160.00"] in rows
    assert (office.root / "output" / "invoices" / "2026-04" / "B-100-CN-2026-00001.docx").is_file()

    # Statements on 05-01: April, with its movement; the credit balance says no payment is due.
    result = CliRunner().invoke(main, ["statements", "--config", str(office.config), "--as-of", "2026-05-01"])
    assert result.exit_code == 0, result.output
    assert "Statements for 2026-04-01 to 2026-04-30: 3 written" in result.output
    folder = office.root / "output" / "statements" / "2026-05-01"
    assert sorted(p.name for p in folder.iterdir()) == [
        "B-100-statement.docx", "P7-statement.docx", "P8-statement.docx"]
    rows = tables_rows(folder / "P7-statement.docx")
    for row in (["Opening balance April 1, 2026", "$100.00"], ["New charges (invoices)", "$100.00"],
                ["Payments", "-$40.00"], ["Credits and adjustments", "$0.00"],
                ["Closing balance April 30, 2026", "$160.00"], ["Balance due", "$160.00"]):
        assert row in rows, row
    assert "Please detach and return this portion with your payment" in words(folder / "P7-statement.docx")
    rows = tables_rows(folder / "B-100-statement.docx")
    assert ["Opening balance April 1, 2026", "$127.00"] in rows and ["Credits and adjustments", "-$7.00"] in rows
    assert ["Closing balance April 30, 2026", "$120.00"] in rows
    p8 = words(folder / "P8-statement.docx")
    assert "Credit balance — no payment due: $18.00 is yours on account" in p8
    assert "Closing balance April 30, 2026\n$18.00 credit" in p8
    # Only the credit line itself reads as a deduction; no balance is ever "-$18.00".
    assert "Unapplied credit\n-$18.00" in p8
    rest = p8.replace("Unapplied credit\n-$18.00", "")
    assert "-$18.00" not in rest and "−$18.00" not in rest and "Balance due" not in rest
    assert "Please detach" not in p8  # nothing to send

    # --min-balance: only P7's 160.00 is at least 150.00.
    shutil.rmtree(folder)
    result = CliRunner().invoke(main, ["statements", "--config", str(office.config), "--as-of", "2026-05-01",
                                       "--min-balance", "150"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in folder.iterdir()) == ["P7-statement.docx"]
    bad = CliRunner().invoke(main, ["statements", "--config", str(office.config), "--min-balance", "lots"])
    assert bad.exit_code == 1 and "is not an amount" in bad.output and "Traceback" not in bad.output


def test_a_dry_runs_documents_say_draft_with_provisional_numbers(sqlite_office: Office):
    run_march(sqlite_office)
    sqlite_office.drop("april.xlsx", {"Payments": APRIL_PAYMENTS, "Adjustments": APRIL_ADJUSTMENTS,
                                      "Service Log": APRIL_LOG})
    run_april(sqlite_office, dry_run=True)
    dry = sqlite_office.root / "output" / "dry-run"
    written = sorted(dry.rglob("*.docx"))
    assert [p.name for p in written] == ["B-100-CN-2026-00001.docx", "P7-INV-2026-00004.docx"]
    for path in written:
        doc = Document(str(path))
        assert "".join(p.text for p in doc.sections[0].first_page_header.paragraphs) == "DRAFT — NOT ISSUED (dry run)"
        assert doc.sections[0].header.paragraphs[0].text.startswith("DRAFT — NOT ISSUED (dry run) · ")
    assert "INV-2026-00004 (draft)" in words(dry / "invoices" / "2026-04" / "P7-INV-2026-00004.docx")
    assert "CN-2026-00001 (draft)" in words(dry / "invoices" / "2026-04" / "B-100-CN-2026-00001.docx")
    result = CliRunner().invoke(main, ["run", "--config", str(sqlite_office.config), "--as-of", "2026-04-30",
                                       "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would post" in result.output and "invoices that would be issued: 1" in result.output
    assert "credit notes that would be issued: 1" in result.output, result.output


def test_every_template_carries_the_draft_mark_in_a_dry_run(sqlite_office: Office, tmp_path):
    """Every document kind (invoices, credit note, statement, each letter and notice) says DRAFT on page 1
    and on later pages when rendered for a dry run, and nothing of it otherwise."""
    contexts = sample_contexts(sqlite_office.settings)
    assert set(contexts) == set(TEMPLATE_BUILDERS)
    for name, ctx in contexts.items():
        for draft in (False, True):
            out = tmp_path / f"{draft}-{name}"
            out.write_bytes(render_docx(default_output_dir() / name, draft_context(ctx) if draft else ctx))
            section = Document(str(out)).sections[0]
            first = "".join(p.text for p in section.first_page_header.paragraphs)
            later = section.header.paragraphs[0].text
            assert ("DRAFT — NOT ISSUED (dry run)" in first) == draft, name
            assert later.startswith("DRAFT — NOT ISSUED (dry run) · ") == draft, name


def test_file_names_start_with_the_sanitised_client_id_and_never_collide():
    day = D(2026, 12, 1)
    assert numbering.invoice_path("INV-2026-00001", day, "C1003") == "invoices/2026-12/C1003-INV-2026-00001.docx"
    assert numbering.credit_note_path("CN-2026-00002", day, "C1003") == "invoices/2026-12/C1003-CN-2026-00002.docx"
    assert numbering.letter_path(12, "reminder_individual", day, "C1003") == \
        "letters/2026-12-01/C1003-reminder-000012.docx"
    # Same client, same day, two letters: their ids differ, so do their names; a plan letter has its series.
    assert numbering.letter_path(13, "reminder_business", day, "C1003") != numbering.letter_path(
        12, "reminder_business", day, "C1003")
    assert numbering.letter_path(12, "plan_missed_individual", day, "C1003", "P") == \
        "letters/2026-12-01/C1003-plan_missed-P000012.docx"
    # An ID is made safe for a file name; it never climbs out of its folder.
    assert numbering.invoice_path("INV-2026-00001", day, "../x y/é") == \
        f"invoices/2026-12/___x_y__.{hashlib.sha256('../x y/é'.encode()).hexdigest()[:8]}-INV-2026-00001.docx"
    assert numbering.statement_path("B-100", day) == "statements/2026-12-01/B-100-statement.docx"
    # The mailing list still names each document as staff know it, hyphenated client IDs included.
    assert document_name("invoices/2026-12/B-100-INV-2026-00001.docx") == "INV-2026-00001"
    assert document_name("invoices/2026-12/B-100-CN-2026-00002.docx") == "CN-2026-00002"
    assert document_name("letters/2026-12-01/B-100-final_notice-000012.docx") == "Final notice 000012"
    assert document_name("letters/2026-12-01/B-1-coverage_notice-N000003.docx") == "Coverage notice N000003"
    assert document_name("statements/2026-12-01/B-100-statement.docx") == "Statement"


def test_statement_period_is_last_month_on_the_first_else_month_to_date():
    assert statement_period(D(2026, 12, 1)) == (D(2026, 11, 1), D(2026, 11, 30))
    assert statement_period(D(2026, 3, 1)) == (D(2026, 2, 1), D(2026, 2, 28))
    assert statement_period(D(2026, 1, 1)) == (D(2025, 12, 1), D(2025, 12, 31))
    assert statement_period(D(2026, 12, 15)) == (D(2026, 12, 1), D(2026, 12, 15))


@pytest.mark.parametrize("name", [n for n in TEMPLATE_BUILDERS])
def test_the_address_sits_in_a_10_envelopes_window(name):
    """#10 double-window envelope: the recipient's first line at least 2.125 in from the top and 0.875 in
    from the left; fold marks at the thirds of the page in the first page's header."""
    doc = Document(str(default_output_dir() / name))
    section = doc.sections[0]
    letterhead = doc.tables[0].rows[0]
    assert abs(letterhead.height - LETTERHEAD_HEIGHT) < Cm(0.01) and letterhead.height_rule == WD_ROW_HEIGHT_RULE.EXACTLY
    assert section.top_margin + letterhead.height >= Inches(2.125)
    address = doc.styles["Address"]
    assert section.left_margin + address.paragraph_format.left_indent >= Inches(0.875)
    assert abs(address.paragraph_format.left_indent - ADDRESS_INDENT) < Cm(0.01) and abs(section.left_margin - MARGIN) < Cm(0.01)
    frames = [p for p in section.first_page_header._element.iter(qn("w:framePr"))]
    ys = sorted(int(f.get(qn("w:y"))) for f in frames)
    assert len(ys) == 2 and abs(ys[0] - Cm(27.94 / 3).twips) <= 1 and abs(ys[1] - Cm(2 * 27.94 / 3).twips) <= 1


def test_line_table_is_10_pt_and_codes_do_not_wrap():
    for kind in ("individual", "business"):
        doc = Document(str(default_output_dir() / f"invoice_{kind}.docx"))
        for style in ("Line Text", "Line Number", "Line Header", "Line Header Number"):
            assert doc.styles[style].font.size.pt >= 10
        table = next(t for t in doc.tables if t.rows[0].cells[0].text == "Date")
        for row in (table.rows[0], table.rows[2]):
            assert row.cells[1]._tc.tcPr.find(qn("w:noWrap")) is not None


@pytest.mark.skipif(pdf.soffice() is None, reason="LibreOffice (soffice) is not installed")
def test_the_printed_invoice_has_its_slip_and_unbroken_codes(tmp_path):
    from pypdf import PdfReader

    office = make_office(tmp_path / "office", f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    run_march(office)
    docx = invoice_file(office, "2026-03", "B-100", "INV-2026-00001")
    target = tmp_path / "invoice.pdf"
    made = pdf.convert([(docx, target)], pdf.Limits(120, 30.0))
    assert made == {target: None}
    pages = [p.extract_text() for p in PdfReader(target).pages]
    last = pages[-1]
    assert "Please detach and return this portion with your payment" in last
    assert "Amount enclosed" in last and "$127.00" in last and "INV-2026-00001" in last
    assert "PROD-SKIN" in "".join(pages)  # on one line: not "PROD-\nSKIN"
    assert "PO-7781" in pages[0] and "USA" not in "".join(pages)


@pytest.mark.skipif(pdf.soffice() is None, reason="LibreOffice (soffice) is not installed")
def test_statements_of_mailed_clients_go_into_a_print_pack(tmp_path):
    import openpyxl
    from pypdf import PdfReader

    office = Office.create(tmp_path / "office", f"sqlite:///{tmp_path / 'ledger.sqlite'}", invoicing__tax_rate=8)
    run_march(office)
    run_april(office)
    config = office.config.read_text().replace("print_pack: false", "print_pack: true")
    office.config.write_text(config)
    result = CliRunner().invoke(main, ["statements", "--config", str(office.config), "--as-of", "2026-05-01"])
    assert result.exit_code == 0, result.output
    printed = office.root / "output" / "print"
    assert "Print pack:" in result.output
    pages = [p.extract_text() for p in PdfReader(printed / "statements-2026-05-01.pdf").pages]
    assert [n for n, text in enumerate(pages) if "STATEMENT OF ACCOUNT" in text] == [0, 2, 4]  # each on an odd page
    rows = list(openpyxl.load_workbook(printed / "statements-mailing-list-2026-05-01.xlsx").active.iter_rows(
        min_row=2, values_only=True))
    assert [(r[1], r[9]) for r in rows] == [("B-100", "Statement"), ("P7", "Statement"), ("P8", "Statement")]
    assert all("USA" not in r and "United States" not in r for r in rows)
