"""Delivery (SPEC §4.7, issue 14): PDFs from one LibreOffice batch, the print pack in postal-code order
with every document on an odd page, the mailing list, and what happens without LibreOffice.

Each test that needs LibreOffice makes one batch of a few documents (it skips where none is
installed); the pack's own rules are checked on PDFs made by pypdf.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import time
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from pypdf import PdfReader, PdfWriter

from billing_batch.cli import main
from billing_batch.pipeline import run_batch
from billing_batch.print_pack import Piece, envelopes, write_pack
from tests.office import Office
from tests.test_email import smtp  # noqa: F401  (the in-process SMTP server fixture)
from tests.test_end_to_end import LOG_HEADERS, RATE_HEADERS, RATES

D = dt.date
HEADERS = ["Client ID", "Name", "Type", "Address Line 1", "City", "Region", "Postal Code", "Email", "Delivery"]
# Client ID order A1 < B2 < C3 < D4 (invoice numbers 1..4); postal order D4 < C3 < A1; B2 is e-mail only.
CLIENTS = [
    ["A1", "Ann Archer", "Individual", "1 Oak St", "Springfield", "IL", "62799", None, "Mail"],
    ["B2", "Bob Baker", "Individual", "2 Elm St", "Springfield", "IL", "62701", "bob@example.com", "Email"],
    ["C3", "Cole & Co <Ltd>", "Business", "3 Pine St", "Springfield", "IL", "62702", "c@example.com", "Both"],
    ["D4", "Dee Dunn", "Individual", "4 Ash St", "New York", "NY", "10001", None, "Mail"],
]
LOG = [[D(2026, 3, 10), c[0], "TH", 1 + i, None, "K. Patel"] for i, c in enumerate(CLIENTS)]
INVOICE_OF = {"A1": "INV-2026-00001", "B2": "INV-2026-00002", "C3": "INV-2026-00003", "D4": "INV-2026-00004"}
# Files are named client ID first (ledger/numbering.py).
FILE_OF = {c: f"{c}-{n}" for c, n in INVOICE_OF.items()}
MAILED_IN_ORDER = ["D4", "C3", "A1"]
needs_soffice = pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed")


def office_with_clients(tmp_path: Path, **overrides) -> Office:
    office = Office.create(tmp_path / "office", f"sqlite:///{tmp_path / 'ledger.sqlite'}",
                           documents__print_pack=True, **overrides)
    office.drop("clients.xlsx", {"Clients": [HEADERS, *CLIENTS]})
    office.drop("rates.xlsx", {"Rates": [RATE_HEADERS, *RATES]})
    office.drop("log.xlsx", {"Service Log": [LOG_HEADERS, *LOG]})
    return office


def mailing_rows(path: Path) -> list[dict]:
    ws = openpyxl.load_workbook(path)["Mailing List"]
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def pages_of(path: Path) -> int:
    return len(PdfReader(path).pages)


def padded(n: int) -> int:
    return n + n % 2


@needs_soffice
def test_a_run_prints_mailed_documents_in_postal_order_once(tmp_path):
    office = office_with_clients(tmp_path)
    out = office.root / "output"
    first = run_batch(office.settings, D(2026, 3, 31))
    assert first.exit_code == 0 and not first.document_failures
    invoices = out / "invoices" / "2026-03"
    # A PDF beside each mailed document's Word file; none for the e-mail-only client (documents.pdf is off).
    for client, name in FILE_OF.items():
        assert (invoices / f"{name}.pdf").exists() == (client != "B2")
    pack, listing = out / "print" / "print-2026-03-31.pdf", out / "print" / "mailing-list-2026-03-31.xlsx"
    rows = mailing_rows(listing)
    assert [r["Client ID"] for r in rows] == MAILED_IN_ORDER
    assert [r["Postal Code"] for r in rows] == ["10001", "62702", "62799"]  # text, as typed
    assert [r["Sequence"] for r in rows] == [1, 2, 3]
    assert rows[1]["Name"] == "Cole & Co <Ltd>" and rows[1]["Address Line 1"] == "3 Pine St"
    assert [r["Documents"] for r in rows] == [INVOICE_OF[c] for c in MAILED_IN_ORDER]
    # The pack: each document padded to an even count, in the mailing list's order, each starting on
    # an odd page (1-based) with its own invoice number on it; a padding page is blank.
    reader = PdfReader(pack)
    expected = [padded(pages_of(invoices / f"{FILE_OF[c]}.pdf")) for c in MAILED_IN_ORDER]
    assert len(reader.pages) == sum(expected) == sum(r["Pages"] for r in rows)
    assert [r["Pages"] for r in rows] == expected and [r["Sheets"] for r in rows] == [p // 2 for p in expected]
    start = 0
    for client, count in zip(MAILED_IN_ORDER, expected):
        assert start % 2 == 0  # page start + 1 is odd
        assert INVOICE_OF[client] in reader.pages[start].extract_text()
        own = pages_of(invoices / f"{FILE_OF[client]}.pdf")
        for blank in range(start + own, start + count):
            assert reader.pages[blank].extract_text().strip() == ""
            assert "/Contents" not in reader.pages[blank]
        start += count
    text = "".join(p.extract_text() for p in reader.pages)
    assert INVOICE_OF["B2"] not in text
    delivery = first.report["delivery"]
    assert delivery["printed"] == 3 and delivery["pdfs_missing"] == []
    assert delivery["print_packs"] == [{"path": "print/print-2026-03-31.pdf", "documents": 3}]
    summary = {r[0]: r[1] for r in openpyxl.load_workbook(first.aging_path)["Summary"].iter_rows(
        max_col=2, values_only=True) if r[0]}
    assert summary["Documents printed"] == 3

    # The same date again, nothing new: no second pack, nothing printed, the first pack untouched.
    before = pack.read_bytes()
    second = run_batch(office.settings, D(2026, 3, 31))
    assert second.report["delivery"]["printed"] == 0 and second.finished.printed == 0
    assert sorted(p.name for p in (out / "print").iterdir()) == [listing.name, pack.name]
    assert pack.read_bytes() == before


def test_the_pack_pads_each_document_to_an_even_page_count_and_keeps_a_clients_documents_together(tmp_path):
    def pdf(pages: int) -> Path:
        writer = PdfWriter()
        for _ in range(pages):
            writer.add_blank_page(width=612, height=792)
        path = tmp_path / f"{pages}-{len(list(tmp_path.iterdir()))}.pdf"
        buf = io.BytesIO()
        writer.write(buf)
        path.write_bytes(buf.getvalue())
        return path

    def bill_to(client: str, postal: str) -> dict:
        return {"client_id": client, "name": f"Name {client}", "attention": "", "postal_code": postal,
                "address_lines": ["1 Road", "Town, ST " + postal], "delivery": "Mail", "type": "Individual"}

    hostile = {**bill_to("A1", "99999"), "name": '=HYPERLINK("http://x")'}
    pieces = [Piece(5, "letter", "letters/2026-05-20/Z9-reminder-000001.docx", pdf(1), bill_to("Z9", "00100")),
              Piece(2, "invoice", "invoices/2026-05/Z9-INV-2026-00002.docx", pdf(3), bill_to("Z9", "00100")),
              Piece(1, "invoice", "invoices/2026-05/INV-2026-00001.docx", pdf(2), hostile),
              Piece(3, "coverage_notice", "letters/2026-05-20/B1-coverage_notice-N000003.docx", pdf(1),
                    bill_to("B1", "00100"))]
    assert [e.client_id for e in envelopes(pieces)] == ["B1", "Z9", "A1"]  # postal code, then client ID
    ordered = write_pack(pieces, tmp_path / "print" / "print-2026-05-20.pdf", tmp_path / "print" / "list.xlsx")
    assert [p.outbox_id for p in ordered[1].pieces] == [2, 5]  # the invoice before the letter
    assert [e.pages for e in ordered] == [2, 4 + 2, 2]
    assert pages_of(tmp_path / "print" / "print-2026-05-20.pdf") == 10
    rows = mailing_rows(tmp_path / "print" / "list.xlsx")
    assert [(r["Client ID"], r["Documents"], r["Pages"], r["Sheets"]) for r in rows] == [
        ("B1", "Coverage notice N000003", 2, 1), ("Z9", "INV-2026-00002, Reminder letter 000001", 6, 3),
        ("A1", "INV-2026-00001", 2, 1)]
    assert rows[0]["Address Line 2"] == "Town, ST 00100" and rows[0]["Address Line 3"] is None
    name = openpyxl.load_workbook(tmp_path / "print" / "list.xlsx")["Mailing List"]["C4"]
    assert name.value == '=HYPERLINK("http://x")' and name.data_type == "s"  # text, never a formula


@needs_soffice
def test_without_libreoffice_the_run_succeeds_reports_missing_pdfs_and_the_next_run_makes_them(tmp_path, monkeypatch):
    office = office_with_clients(tmp_path)
    out = office.root / "output"
    real_path = os.environ["PATH"]
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = CliRunner().invoke(main, ["run", "--config", str(office.config), "--as-of", "2026-03-31"])
    assert result.exit_code == 0, result.output  # a missing PDF is a warning: the Word files are there
    assert "PDF missing" in result.output and "LibreOffice is not installed" in result.output
    assert "print pack not made yet" in result.output
    assert len(list((out / "invoices" / "2026-03").glob("*.docx"))) == 4
    assert not list((out / "invoices" / "2026-03").glob("*.pdf")) and not list((out / "print").iterdir())
    report = next((out / "runs").glob("*.json")).read_text()
    assert "LibreOffice is not installed" in report and "print/print-2026-03-31.pdf" in report

    monkeypatch.setenv("PATH", real_path)
    result = CliRunner().invoke(main, ["finish", "--config", str(office.config)])
    assert result.exit_code == 0, result.output
    assert "3 PDFs made" in result.output and "3 documents printed" in result.output
    assert len(list((out / "invoices" / "2026-03").glob("*.pdf"))) == 3
    assert [r["Client ID"] for r in mailing_rows(out / "print" / "mailing-list-2026-03-31.xlsx")] == MAILED_IN_ORDER


@needs_soffice
def test_a_hanging_libreoffice_is_stopped_in_time_and_the_next_run_makes_the_pdfs(tmp_path, monkeypatch):
    office = office_with_clients(tmp_path, documents__pdf_timeout_seconds=2, documents__pdf_seconds_per_document=0,
                                 documents__pdf=True)
    out = office.root / "output"
    fake = tmp_path / "fake-bin"
    fake.mkdir()
    (fake / "soffice").write_text(f"#!/bin/sh\nsleep 60 &\necho $! > {tmp_path / 'child.pid'}\nwait\n")
    (fake / "soffice").chmod(0o755)
    real_path = os.environ["PATH"]
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{real_path}")
    t0 = time.monotonic()
    first = run_batch(office.settings, D(2026, 3, 31))
    assert time.monotonic() - t0 < 20
    assert first.exit_code == 0
    missing = first.report["delivery"]["pdfs_missing"]
    assert len(missing) == 4  # documents.pdf: the e-mail-only client's too
    assert all("did not finish within 2 s" in m["reason"] for m in missing)
    # The whole process group was stopped: the fake's own child (sleep) is gone too (or a zombie).
    child = Path(f"/proc/{int((tmp_path / 'child.pid').read_text())}/stat")
    for _ in range(50):
        if not child.exists() or child.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.1)
    else:
        pytest.fail("the hung soffice's child process was left running")

    monkeypatch.setenv("PATH", real_path)
    office_settings = office.settings.model_copy(update={"documents": office.settings.documents.model_copy(
        update={"pdf_timeout_seconds": 120})})
    second = run_batch(office_settings, D(2026, 3, 31))
    assert second.finished.pdfs == 4 and second.finished.printed == 3
    assert second.report["delivery"]["pdfs_missing"] == []
    assert len(list((out / "invoices" / "2026-03").glob("*.pdf"))) == 4
    assert pages_of(out / "print" / "print-2026-03-31.pdf") == sum(
        padded(pages_of(out / "invoices" / "2026-03" / f"{FILE_OF[c]}.pdf")) for c in MAILED_IN_ORDER)


@needs_soffice
def test_a_dry_run_writes_its_print_pack_under_dry_run(tmp_path):
    office = office_with_clients(tmp_path)
    out = office.root / "output"
    result = run_batch(office.settings, D(2026, 3, 31), dry_run=True)
    assert result.report["delivery"]["printed"] == 3
    assert (out / "dry-run" / "print" / "print-2026-03-31.pdf").exists()
    assert [r["Client ID"] for r in mailing_rows(out / "dry-run" / "print" / "mailing-list-2026-03-31.xlsx")] \
        == MAILED_IN_ORDER
    assert not list((out / "print").iterdir())


def test_a_big_batch_is_split_where_libreoffice_would_drop_files():
    from billing_batch.documents.pdf import MAX_FILES, chunks

    many = [Path(f"/o/invoices/2026-03/INV-2026-{i:05d}.docx") for i in range(450)]
    assert [len(c) for c in chunks(many)] == [MAX_FILES, MAX_FILES, 50]
    # Two files with one name would both become <name>.pdf in the call's folder: never in one call.
    same = [Path("/o/a/X.docx"), Path("/o/b/X.docx"), Path("/o/b/Y.docx")]
    assert [[p.parent.name + "/" + p.name for p in c] for c in chunks(same)] == [["a/X.docx"], ["b/X.docx", "b/Y.docx"]]
    assert [len(c) for c in chunks(many[:10], budget=100)] == [2] * 5  # the command line's length


@needs_soffice
def test_an_email_that_goes_on_paper_is_printed_in_the_run_once(tmp_path):
    """B2 asked for e-mail, but the server never answers and it has one try (email.max_attempts: 1):
    its invoice goes on paper and into the run's own pack, in postal order with the others; a second
    run prints it again nowhere."""
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    office = office_with_clients(tmp_path, email__host="127.0.0.1", email__port=port, email__security="none",
                                 email__from_address="billing@office.example", email__max_attempts=1,
                                 email__timeout=2)
    first = run_batch(office.settings, D(2026, 3, 31))
    assert first.report["email"]["paper"] == 2  # B2, and C3 (Both: printed already, not twice)
    listing = office.root / "output" / "print" / "mailing-list-2026-03-31.xlsx"
    assert [r["Client ID"] for r in mailing_rows(listing)] == ["D4", "B2", "C3", "A1"]  # by postal code
    pack = office.root / "output" / "print" / "print-2026-03-31.pdf"
    assert INVOICE_OF["B2"] in "".join(p.extract_text() for p in PdfReader(pack).pages)
    second = run_batch(office.settings, D(2026, 3, 31))
    assert second.report["delivery"]["printed"] == 0 and second.finished.printed == 0
    assert sorted(p.name for p in (office.root / "output" / "print").iterdir()) == [listing.name, pack.name]


@needs_soffice
def test_one_night_mail_email_and_both_pdfs_attached_and_printed_once(tmp_path, smtp):
    """documents.pdf: true. The e-mail and Both clients' messages carry their invoices as the PDFs on
    disk; the pack holds the Mail and Both clients' invoices; a second run sends and prints nothing."""
    from tests.test_email import Handler

    handler = Handler()
    office = office_with_clients(tmp_path, documents__pdf=True, email__host="127.0.0.1", email__port=smtp(handler),
                                 email__security="none", email__from_address="billing@office.example",
                                 email__timeout=5)
    first = run_batch(office.settings, D(2026, 3, 31))
    invoices = office.root / "output" / "invoices" / "2026-03"
    got = {tuple(to): [(a.get_filename(), a.get_content()) for a in msg.iter_attachments()] for to, msg in handler.got}
    assert got == {("bob@example.com",): [("B2-INV-2026-00002.pdf", (invoices / "B2-INV-2026-00002.pdf").read_bytes())],
                   ("c@example.com",): [("C3-INV-2026-00003.pdf", (invoices / "C3-INV-2026-00003.pdf").read_bytes())]}
    listing = office.root / "output" / "print" / "mailing-list-2026-03-31.xlsx"
    assert [r["Client ID"] for r in mailing_rows(listing)] == MAILED_IN_ORDER
    assert (first.report["email"]["sent"], first.report["delivery"]["printed"]) == (2, 3)
    second = run_batch(office.settings, D(2026, 3, 31))
    assert len(handler.got) == 2 and second.report["delivery"]["printed"] == 0


@needs_soffice
def test_paper_for_a_client_without_an_address_is_in_the_one_pack_after_a_crash_and_in_the_dry_run(tmp_path):
    """E5 asked for e-mail and has no address: paper at once. The dry run's draft pack shows it; a run
    killed once its PDFs are made (before e-mail) is finished by the next run into one pack, E5 in it."""
    from tests.crashkit import KILL_AT, run_exec

    office = office_with_clients(tmp_path, email__host="127.0.0.1", email__port=9, email__security="none",
                                 email__from_address="billing@office.example", email__timeout=2)
    office.drop("more.xlsx", {"Clients": [HEADERS, ["E5", "Eve Ng", "Individual", "5 Fir St", "Springfield", "IL",
                                                    "62700", None, "Email"]],
                              "Service Log": [LOG_HEADERS, [D(2026, 3, 10), "E5", "TH", 1, None, "K. Patel"]]})
    dry = run_batch(office.settings, D(2026, 3, 31), dry_run=True)
    draft = office.root / "output" / "dry-run" / "print" / "mailing-list-2026-03-31.xlsx"
    assert [r["Client ID"] for r in mailing_rows(draft)] == ["D4", "E5", "C3", "A1"] and dry.exit_code == 0
    killed = run_exec(["run", "--config", str(office.config), "--as-of", "2026-03-31"], env={KILL_AT: "pdf:1"})
    assert killed.killed
    run_batch(office.settings, D(2026, 3, 31))
    packs = sorted(p.name for p in (office.root / "output" / "print").glob("print-*.pdf"))
    assert packs == ["print-2026-03-31.pdf"]
    listing = office.root / "output" / "print" / "mailing-list-2026-03-31.xlsx"
    assert [r["Client ID"] for r in mailing_rows(listing)] == ["D4", "E5", "C3", "A1"]
