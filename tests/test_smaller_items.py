"""Issue 15's smaller items, each read back from what staff see: counts in words ("1 problem",
"2 problems"), a service dated after the business date as a warning with its cell, CPT/HCPCS
headers as the Service Code, `templates check` (plain words, a fresh-copy command that works,
Word and PDF previews), init's next command run as printed, and the demo office in one region."""

from __future__ import annotations

import ast
import datetime as dt
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from docx import Document
from docx.oxml.ns import qn
from openpyxl import load_workbook
from sqlalchemy import create_engine, select

from billing_batch import cli
from billing_batch.cli import main
from billing_batch.demo import write_demo_inbox
from billing_batch.ledger.schema import service_lines
from billing_batch.pipeline import business_today, check_files, run_batch
from billing_batch.wording import counted
from tests.fake_soffice import fake_soffice_program
from tests.office import Office, write_workbook
from tests.test_end_to_end import LOG_HEADERS, drop_office

D = dt.date
REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def flat(text: str) -> str:
    return " ".join(text.split())


def set_config(office: Office, section: str, key: str, value) -> None:
    data = yaml.safe_load(office.config.read_text())
    data[section][key] = value
    office.config.write_text(yaml.safe_dump(data, sort_keys=False))


# --------------------------------------------------------------------------- 1. counts in words


def test_counted_says_one_and_many_as_staff_do():
    assert [counted(n, "problem") for n in (0, 1, 2, 1234)] == ["0 problems", "1 problem", "2 problems",
                                                               "1,234 problems"]
    assert counted(1, "inbox file") == "1 inbox file" and counted(3, "inbox file") == "3 inbox files"


def _string_literals(tree: ast.AST):
    """Every str constant of a module but its docstrings (what may reach staff or a log)."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def test_no_message_counts_with_a_bracketed_plural():
    found = [f"{path.relative_to(REPO)}:{line}: {text!r}"
             for path in sorted((REPO / "billing_batch").rglob("*.py"))
             for line, text in _string_literals(ast.parse(path.read_text(encoding="utf-8")))
             if re.search(r"\w\(s\)|\(es\)", text)]
    assert found == []


def test_check_counts_one_problem_and_two_problems(sqlite_office: Office, tmp_path):
    office = sqlite_office
    drop_office(office)
    run_batch(office.settings, D(2026, 3, 31))
    one = write_workbook(tmp_path / "one.xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 4, 1), "C001", "ZZ", 1, None, None]]})
    two = write_workbook(tmp_path / "two.xlsx", {"Service Log": [
        LOG_HEADERS, [D(2026, 4, 1), "C001", "ZZ", 1, None, None], [D(2026, 4, 1), "NOBODY", "OV", 1, None, None],
        [D(2026, 4, 2), "C001", "OV", 1, None, None]]})
    result = invoke("check", "--config", office.config, one, two)
    assert result.exit_code == 0
    out = flat(result.output)
    assert "one.xlsx: 1 problem — 1 row, 0 would post, 0 already posted, 1 would be rejected" in out
    assert "two.xlsx: 2 problems — 3 rows, 1 would post, 0 already posted, 2 would be rejected" in out
    assert "(s)" not in result.output


def test_run_counts_problems_and_documents_not_emailed_in_words(tmp_path):
    from tests.test_email import client, make_office

    office = make_office(tmp_path / "one", 25, [client("E1", "Email")], host="")
    result = invoke("run", "--config", office.config, "--as-of", "2026-03-31")
    assert "e-mail is off (no email.host in config.yaml): 1 document for clients whose Delivery is Email or " \
           "Both was not e-mailed" in flat(result.output)
    office = make_office(tmp_path / "two", 25, [client("E1", "Email"), client("E2", "Both")], host="")
    office.drop("bad.xlsx", {"Service Log": [["Service Date", "Client ID", "Service Code", "Quantity"],
                                             [D(2026, 3, 10), "E1", "ZZ", 1], [D(2026, 3, 11), "E2", "OV", -1]]})
    result = invoke("run", "--config", office.config, "--as-of", "2026-03-31")
    out = flat(result.output)
    assert "2 documents for clients whose Delivery is Email or Both were not e-mailed" in out
    assert "2 problems — fix the rows in the problems workbooks" in out
    assert "(s)" not in result.output


# --------------------------------------------------------------------------- 2. a service after the run date


def test_a_service_after_the_business_date_is_a_warning_with_its_cell_posted_and_billed_on_its_day(
        sqlite_office: Office):
    office = sqlite_office
    drop_office(office)  # its log's 7th service (Excel row 8) is dated 2026-04-05, C003 OV 110.00
    result = invoke("run", "--config", office.config, "--as-of", "2026-03-31")
    assert result.exit_code == 0
    out = flat(result.output)
    assert "1 warning — this row was posted all the same; look at it:" in out
    assert "- march log.xlsx: Service Log, row 8, Service Date (A8): is after today's business date (2026-03-31); " \
           "the service is posted and billed on the first billing run on or after that date" in out
    assert "problems —" not in out  # nothing to fix: no problems line, no problems workbook
    assert not list((office.root / "rejected").glob("*.problems.xlsx"))
    assert list((office.root / "processed").rglob("*march log.xlsx"))  # accepted with the rest
    assert "invoices issued: 3 total: $487.54" in out  # 123.99 + 330.05 + 33.50: not the April visit
    # The run report keeps the warning with file, sheet, row, column and cell.
    import json
    report = json.loads(next((office.root / "output" / "runs").glob("*.json")).read_text())
    [w] = [p for p in report["problems"] if p["level"] == "warning"]
    assert (w["file"], w["sheet"], w["row"], w["column"], w["cell"]) == ("march log.xlsx", "Service Log", 8,
                                                                          "Service Date", "A8")
    later = invoke("run", "--config", office.config, "--as-of", "2026-04-05")
    assert "invoices issued: 1 total: $110.00" in flat(later.output)  # billed on its day, said once
    assert "look at it" not in later.output


def test_check_says_ready_with_a_warning_for_a_service_dated_ahead(sqlite_office: Office, tmp_path):
    office = sqlite_office
    drop_office(office)
    run_batch(office.settings, D(2026, 3, 31))
    today = business_today(office.settings)  # check reads as tonight's run would: for today
    ahead = write_workbook(tmp_path / "ahead.xlsx", {"Service Log": [
        LOG_HEADERS, [today, "C001", "OV", 1, None, None], [today + dt.timedelta(days=9), "C001", "TH", 1, None, None]]})
    result = invoke("check", "--config", office.config, ahead)
    out = flat(result.output)
    assert "ahead.xlsx: ready, 1 warning — 2 rows, 2 would post, 0 already posted, 0 would be rejected" in out
    assert "- warning: ahead.xlsx: Service Log, row 3, Service Date (A3): is after today's business date" in out
    assert not (office.root / "output" / "checks" / "ahead.xlsx.problems.xlsx").exists()


def test_dry_run_says_the_dated_ahead_row_would_be_posted(sqlite_office: Office):
    drop_office(sqlite_office)
    result = invoke("run", "--config", sqlite_office.config, "--as-of", "2026-03-31", "--dry-run")
    assert "1 warning — this row would be posted all the same; look at it:" in flat(result.output)


# --------------------------------------------------------------------------- 3. CPT / HCPCS


@pytest.mark.parametrize("header", ["CPT", "HCPCS", "CPT Code", "HCPCS Code", "hcpcs", "CPT/HCPCS", "HCPCS/CPT Code",
                                    "CPT-4"])
def test_cpt_or_hcpcs_is_the_service_code_of_a_log_without_one(sqlite_office: Office, header):
    office = sqlite_office
    drop_office(office)
    run_batch(office.settings, D(2026, 3, 31))
    office.drop("codes.xlsx", {"Service Log": [["Date of Service", "Patient ID", header, "Units"],
                                               [D(2026, 4, 2), "C003", "TH", 2], [D(2026, 4, 3), "C003", "XX", 1]]})
    [checked] = check_files(office.settings, [office.inbox / "codes.xlsx"])
    # The unknown code is named at the column as the sheet spells it.
    assert [(p.where.row, p.where.column, p.where.cell) for p in checked.problems] == [(3, header, "C3")]
    r = run_batch(office.settings, D(2026, 4, 30))
    assert r.invoice_total == 80 * 2 + 110  # C003 (tax exempt): 2 × TH 80.00 + drop_office's April 5 OV 110.00
    assert _posted_codes(office, "codes.xlsx") == ["TH"]


def test_a_log_with_both_keeps_its_service_code_and_ignores_cpt_with_a_note(sqlite_office: Office):
    office = sqlite_office
    drop_office(office)
    run_batch(office.settings, D(2026, 3, 31))
    office.drop("both.xlsx", {"Service Log": [["HCPCS", "Service Date", "Client ID", "Service Code", "CPT"],
                                              ["L3908", D(2026, 4, 3), "C003", "TH", "99213"]]})
    r = run_batch(office.settings, D(2026, 4, 30))
    mine = [(p.level, p.where.column, p.message) for p in r.problems if p.where.file == "both.xlsx"]
    # Not "not a column billing-batch uses": staff are told which column is read as the Service Code.
    also = "is another name for Service Code, which is read from column D (Service Code); this column is " \
           "ignored (a code keyed only here is not read)"
    assert mine == [("note", "HCPCS", also), ("note", "CPT", also)]
    assert _posted_codes(office, "both.xlsx") == ["TH"]


def test_a_cpt_code_keyed_in_the_log_names_the_service_code_it_is_billed_as(sqlite_office: Office):
    # A log keyed in CPT codes (99213) against a rate card whose Service Codes are the office's own (EXAM):
    # "is not on the rate card" would be false, since 99213 is on it, as EXAM's Billing Code.
    office = sqlite_office
    drop_office(office)
    office.drop("cpt rates.xlsx", {"Rates": [["Service Code", "Description", "Unit Price", "Billing Code"],
                                             ["EXAM", "Exam", 90, "99213"]]})
    run_batch(office.settings, D(2026, 3, 31))
    office.drop("codes.xlsx", {"Service Log": [["Date of Service", "Patient ID", "CPT", "Units"],
                                               [D(2026, 4, 2), "C003", "99213", 1]]})
    [checked] = check_files(office.settings, [office.inbox / "codes.xlsx"])
    assert [(p.where.cell, p.message) for p in checked.problems] == [
        ("C2", "is the Billing Code (CPT/HCPCS) of EXAM on the rate card, not a Service Code; the service log "
               "needs the rate card's Service Code: put EXAM in this cell and drop the file again")]


def _posted_codes(office: Office, file: str) -> list[str]:
    from billing_batch.ledger.schema import source_files

    engine = create_engine(office.settings.database_url)
    with engine.connect() as c:
        rows = c.execute(select(service_lines.c.service_code)
                         .join(source_files, source_files.c.id == service_lines.c.source_file_id)
                         .where(source_files.c.name == file)).scalars().all()
    engine.dispose()
    return list(rows)


# --------------------------------------------------------------------------- 4. templates check


def _add_paragraph(path: Path, text: str) -> None:
    doc = Document(str(path))
    doc.add_paragraph(text)
    doc.save(str(path))


def _all_text(path: Path) -> str:
    """Every paragraph's text, nested tables included (the remittance slip is a table in a table)."""
    body = Document(str(path)).element.body
    return "\n".join("".join(t.text or "" for t in p.iter(qn("w:t"))) for p in body.iter(qn("w:p")))


def test_templates_check_names_a_misspelt_field_in_plain_words_and_the_fresh_copy_command_works(tmp_path):
    office = Office.create(tmp_path / "office", f"sqlite:///{tmp_path / 'ledger.sqlite'}",
                           documents__libreoffice=str(fake_soffice_program(tmp_path / "fake")))
    _add_paragraph(office.root / "templates" / "reminder_individual.docx", "Dear {{ nme }},")
    _add_paragraph(office.root / "templates" / "invoice_business.docx",
                   "{% for line in lines %}{{ line.amout }}{% endfor %}")
    previews = office.root / "output" / "checks" / "templates"
    previews.mkdir(parents=True)
    (previews / "reminder_individual.docx").write_bytes(b"an earlier pass's preview")
    done = subprocess.run([sys.executable, "-m", "billing_batch", "templates", "check", "--config", str(office.config)],
                          env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    out, err = flat(done.stdout), flat(done.stderr)
    assert "FAILED reminder_individual.docx (office copy): {{ nme }} is not a field; the fields are: client, " \
           "insurance, items, letter, office, plan, plan_offer" in out  # the letters' contract (template_build)
    fields = re.search(r"FAILED invoice_business\.docx \(office copy\): \{\{ line\.amout \}\} is not a field of "
                       r"line; the fields of line are: ((?:[a-z_]+, )*[a-z_]+)", out)
    assert fields and {"amount", "code", "description", "quantity", "unit_price", "reference", "provider"} <= set(
        fields.group(1).split(", "))  # the invoice line's fields, as contexts.invoice_context gives them
    assert "Traceback" not in done.stdout + done.stderr
    assert "2 templates cannot be used (invoice_business.docx, reminder_individual.docx)" in err
    assert not (previews / "reminder_individual.docx").exists()  # no stale preview of what fails
    # The fresh copy: the command printed, run as printed, writes the built-ins; copied back, they pass.
    command = re.search(r"`([^`]*init[^`]*)`", err).group(1)
    subprocess.run(shlex.split(command), env=ENV, check=True, capture_output=True, timeout=120)
    fresh = Path(shlex.split(command)[-1]) / "templates"
    assert f"writes every built-in template into {fresh}; copy them from there into {office.root / 'templates'}" in err
    for name in ("reminder_individual.docx", "invoice_business.docx"):
        shutil.copyfile(fresh / name, office.root / "templates" / name)
    again = invoke("templates", "check", "--config", office.config)
    assert again.exit_code == 0 and again.output.count("ok ") == 16


def test_templates_check_names_a_misspelt_field_in_a_part_the_sample_does_not_print(sqlite_office: Office):
    # The sample business invoice has no credit applied and the office sets no financial assistance, so
    # both placeholders sit in a branch the sample render skips; the night that takes it would fail.
    templates = sqlite_office.root / "templates"
    _add_paragraph(templates / "invoice_business.docx",
                   "{% if invoice.has_credit %}Credit {{ invoice.credit_aplied }}{% endif %}")
    _add_paragraph(templates / "reminder_individual.docx",
                   "{% if office.financial_assistance %}{{ office.financial_asistance }}{% endif %}")
    result = invoke("templates", "check", "--config", sqlite_office.config)
    out = flat(result.output)
    assert result.exit_code == 1
    assert "FAILED invoice_business.docx (office copy): {{ invoice.credit_aplied }} is not a field of invoice; " \
           "the fields of invoice are: " in out and "credit_applied" in out
    assert "FAILED reminder_individual.docx (office copy): {{ office.financial_asistance }} is not a field of " \
           "office;" in out
    assert "the sample does not print that part, but a document that does would fail" in out
    assert not (sqlite_office.root / "output" / "checks" / "templates" / "invoice_business.docx").exists()


def test_templates_check_says_plainly_when_its_previews_folder_cannot_be_written(sqlite_office: Office):
    checks = sqlite_office.root / "output" / "checks"
    checks.mkdir(parents=True, exist_ok=True)
    (checks / "templates").write_text("a file where the previews folder goes")  # tests may run as root
    result = invoke("templates", "check", "--config", sqlite_office.config)
    out = flat(result.output)
    assert result.exit_code == 1 and "Traceback" not in out
    assert f"could not write the previews into {checks / 'templates'}: Not a directory." in out
    assert "finish" not in out  # a check leaves nothing for a run to finish


def test_templates_check_leaves_word_previews_and_says_when_there_are_no_pdfs(sqlite_office: Office):
    set_config(sqlite_office, "documents", "libreoffice", "no-such-soffice")
    result = invoke("templates", "check", "--config", sqlite_office.config)
    assert result.exit_code == 0
    previews = sqlite_office.root / "output" / "checks" / "templates"
    assert f"Previews with sample data: {previews}" in result.output
    assert "16 Word files to open in Word (no PDFs: LibreOffice was not found at no-such-soffice " \
           "(documents.libreoffice))" in flat(result.output)
    assert len(list(previews.glob("*.docx"))) == 16 and not list(previews.glob("*.pdf"))
    invoice = _all_text(previews / "invoice_individual.docx")
    assert "INV-2026-00042" in invoice and 'Sample & Sons <Ltd> "Zoë"' in invoice  # samples.py's data, escaped


@pytest.mark.skipif(shutil.which("soffice") is None and shutil.which("libreoffice") is None,
                    reason="LibreOffice is not installed")
def test_templates_check_writes_a_pdf_preview_of_each_template_with_libreoffice(sqlite_office: Office):
    from pypdf import PdfReader

    result = invoke("templates", "check", "--config", sqlite_office.config)
    assert result.exit_code == 0
    assert "16 Word files to open in Word, 16 PDFs beside them" in flat(result.output)
    previews = sqlite_office.root / "output" / "checks" / "templates"
    pdfs = sorted(previews.glob("*.pdf"))
    assert [p.stem for p in pdfs] == sorted(p.stem for p in previews.glob("*.docx"))
    invoice = " ".join(page.extract_text() for page in PdfReader(previews / "invoice_individual.pdf").pages)
    assert "INV-2026-00042" in invoice and "Sample & Sons" in invoice
    notice = " ".join(page.extract_text() for page in PdfReader(previews / "coverage_notice_individual.pdf").pages)
    assert "Acme Health" in notice and "Therapeutic exercise" in notice


# --------------------------------------------------------------------------- 5. init's next command


def _next_command(output: str) -> list[str]:
    line = next(l for l in output.splitlines() if l.startswith("Next: "))
    return shlex.split(line[len("Next: "):])


def test_init_next_command_runs_as_printed_with_python_m(tmp_path):
    done = subprocess.run([sys.executable, "-m", "billing_batch", "init", "North Clinic's [new] office"], cwd=tmp_path,
                          env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "  settings:        North Clinic's [new] office/config.yaml" in done.stdout  # not read as markup
    command = _next_command(done.stdout)
    office = tmp_path / "North Clinic's [new] office"
    assert command[-3:] == ["run", "--config", str(office / "config.yaml")]
    # Pasted after `cd` into the new office (or in a new terminal): it still finds its settings.
    ran = subprocess.run(command, cwd=office, env=ENV, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "Run complete" in ran.stdout


def test_init_next_command_runs_as_printed_with_the_installed_command(tmp_path):
    script = Path(sys.executable).parent / "billing-batch"
    if not script.exists():
        pytest.skip("billing-batch is not installed beside this Python")
    relative = os.path.relpath(script, tmp_path)  # as typed after the quick start: .venv/bin/billing-batch
    done = subprocess.run([relative, "init", "office"], cwd=tmp_path, env={**ENV, "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    command = _next_command(done.stdout)
    assert command == [os.path.abspath(tmp_path / relative), "run", "--config", str(tmp_path / "office" / "config.yaml")]
    ran = subprocess.run(command, cwd=tmp_path / "office", env={**ENV, "PATH": "/usr/bin:/bin"}, capture_output=True,
                         text=True, timeout=300)
    assert ran.returncode == 0 and "Run complete" in ran.stdout, ran.stdout + ran.stderr


def test_program_is_called_as_billing_batch_was(monkeypatch, tmp_path):
    script = tmp_path / "venv" / "bin" / "billing-batch"
    monkeypatch.setattr(sys, "argv", [str(script), "init", "x"])
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert cli.program() == shlex.quote(str(script))  # not on PATH: its full path
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["venv/bin/billing-batch", "init", "x"])
    assert cli.program() == shlex.quote(str(script))  # typed relative: still the full path, for any folder
    monkeypatch.setattr(sys, "argv", [str(script), "init", "x"])
    monkeypatch.setattr(shutil, "which", lambda name: str(script) if name == "billing-batch" else None)
    assert cli.program() == "billing-batch"  # on PATH (a venv activated, pipx): the short name
    monkeypatch.setattr(sys, "argv", [str(REPO / "billing_batch" / "__main__.py")])
    monkeypatch.setattr(shutil, "which", lambda name: sys.executable if name == "python" else None)
    assert cli.program() == "python -m billing_batch"


# --------------------------------------------------------------------------- 6. the demo office's region


# Real ZIP codes of the towns around Springfield, Illinois (area code 217), from USPS.
ILLINOIS_ZIPS = {"Springfield": {"62701", "62702", "62703", "62704", "62707", "62711", "62712"},
                 "Chatham": {"62629"}, "Rochester": {"62563"}, "Sherman": {"62684"}, "Riverton": {"62561"},
                 "Jacksonville": {"62650"}, "Petersburg": {"62675"}, "Auburn": {"62615"}}
BRITISH = re.compile(r"(?i)counsell|cancell|cheque|colour|organis|authoris|recognis|centre\b|licence|programme|"
                     r"instalment|favour|honour|behaviour|catalogue")


def test_demo_office_its_clients_and_payers_are_in_one_region(tmp_path):
    from billing_batch.config import load_settings

    invoke("init", tmp_path / "demo", "--demo")  # the inbox is written for today's date; the place is what counts
    settings = load_settings(tmp_path / "demo" / "config.yaml")
    assert settings.office.address_lines[-1] == "Springfield, IL 62704"
    assert settings.office.remit_to_lines[-1] == "Springfield, IL 62708"
    assert settings.office.phone.startswith("(217)")
    wb = load_workbook(tmp_path / "demo" / "inbox" / "clients.xlsx")
    ws = wb["Clients"]
    header = [c.value for c in ws[1]]
    rows = [dict(zip(header, r)) for r in ws.iter_rows(min_row=2, values_only=True)]
    assert len(rows) == 50
    for r in rows:
        assert r["Region"] == "IL", r["Client ID"]
        assert r["City"] is None or r["Postal Code"] in ILLINOIS_ZIPS[r["City"]], r["Client ID"]
        assert r["Phone"] is None or r["Phone"].startswith("(217) 555-01"), r["Client ID"]
    payers = {r["Payer"] for r in rows if r["Payer"]}
    assert payers == {"Blue Cross Blue Shield of Illinois", "Aetna Choice"}
    fees = load_workbook(tmp_path / "demo" / "inbox" / "rate card.xlsx")["Payer Fees"]
    assert {r[0] for r in fees.iter_rows(min_row=2, values_only=True)} == payers


def test_demo_data_is_in_us_spelling(tmp_path):
    info = write_demo_inbox(tmp_path / "inbox", D(2026, 11, 26))
    found = [(p.name, ws.title, c.coordinate, c.value) for p in info.files for ws in load_workbook(p).worksheets
             for row in ws.iter_rows() for c in row if isinstance(c.value, str) and BRITISH.search(c.value)]
    assert found == []
    from billing_batch.workspace import DEMO_OFFICE
    assert not BRITISH.search(DEMO_OFFICE)


def test_the_inbox_receipt_lists_a_warning_by_its_cell(sqlite_office: Office, tmp_path):
    from zoneinfo import ZoneInfo

    from billing_batch.scheduler import receipt_text

    office = sqlite_office
    drop_office(office)
    run_batch(office.settings, D(2026, 3, 31))
    today = business_today(office.settings)
    ahead = write_workbook(tmp_path / "ahead.xlsx", {"Service Log": [
        LOG_HEADERS, [today + dt.timedelta(days=3), "C001", "TH", 1, None, None]]})
    [checked] = check_files(office.settings, [ahead])
    text = receipt_text(checked, "0" * 64, dt.datetime(2026, 12, 1, 15, 0, tzinfo=ZoneInfo("UTC")), "02:00")
    lines = text.splitlines()
    assert lines[0] == "ready for tonight: 1 row"
    i = lines.index("warnings:        1 (this row posts all the same; look at it)")
    assert lines[i - 1] == "need fixing:     0"
    assert lines[i + 1].startswith("  - ahead.xlsx: Service Log, row 2, Service Date (A2): is after today's business date")


def test_check_names_a_file_with_brackets_in_its_name_as_it_is(sqlite_office: Office, tmp_path):
    drop_office(sqlite_office)
    run_batch(sqlite_office.settings, D(2026, 3, 31))
    log = write_workbook(tmp_path / "log [Oct].xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 4, 1), "C001", "ZZ", 1, None, None]]})
    out = flat(invoke("check", "--config", sqlite_office.config, log).output)
    assert "log [Oct].xlsx: 1 problem — 1 row" in out
    assert "- log [Oct].xlsx: Service Log, row 2, Service Code (C2): is not on the rate card" in out
