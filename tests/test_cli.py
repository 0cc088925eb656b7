"""The command line: help texts, exit codes, the lock, and the demo office accounted for row by row."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from filelock import FileLock

from billing_batch.cli import main
from billing_batch.config import load_settings
from billing_batch.demo import write_demo_inbox
from billing_batch.pipeline import business_today
from tests.office import Office

COMMANDS = [["init"], ["run"], ["finish"], ["check"], ["report"], ["report", "aging"]]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_top_level_help_lists_every_command():
    result = invoke("--help")
    assert result.exit_code == 0
    assert "nightly billing run" in result.output
    for name in ("init", "run", "finish", "check", "report"):
        assert f"  {name}" in result.output


@pytest.mark.parametrize("command, words", [
    (["init"], "Create an office folder"),
    (["run"], "Run the nightly job"),
    (["finish"], "Write what earlier runs left unfinished"),
    (["check"], "without posting anything"),
    (["report", "aging"], "aging workbook as of any date"),
])
def test_each_command_describes_itself(command, words):
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert words in " ".join(result.output.split())
    if command != ["init"]:
        assert "--config" in result.output


def test_bad_config_is_reported_with_key_and_line_and_exit_1(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("office:\n  name: X\ninvoicing:\n  terms_dayz: 30\n")
    result = CliRunner().invoke(main, ["run", "--config", str(config)])
    assert result.exit_code == 1
    assert "config.yaml line 4: invoicing.terms_dayz" in result.output
    assert "Traceback" not in result.output


def test_second_run_while_one_is_running_exits_1(sqlite_office: Office):
    with FileLock(str(sqlite_office.root / ".billing-batch.lock")):
        result = CliRunner().invoke(main, ["run", "--config", str(sqlite_office.config)])
    assert result.exit_code == 1
    assert "already running" in result.output


def test_integrity_failure_rolls_back_and_exits_2(sqlite_office: Office, monkeypatch):
    from billing_batch import pipeline
    from billing_batch.ledger.verify import Verification
    from tests.test_end_to_end import drop_office

    drop_office(sqlite_office)
    from billing_batch import publish
    monkeypatch.setattr(publish, "verify", lambda conn, as_of, read=None: Verification(as_of, pipeline.ZERO, ("something off",)))
    result = CliRunner().invoke(main, ["run", "--config", str(sqlite_office.config), "--as-of", "2026-03-31"])
    assert result.exit_code == 2
    assert "does not prove itself: something off" in result.output
    monkeypatch.undo()
    assert len(list(sqlite_office.inbox.iterdir())) == 3  # nothing moved
    again = CliRunner().invoke(main, ["run", "--config", str(sqlite_office.config), "--as-of", "2026-03-31"])
    assert again.exit_code == 0
    assert "invoices issued: 3" in again.output  # nothing had been posted: number 1 is still free
    assert "INV-2026-00001" in json.dumps(json.loads(next((sqlite_office.root / "output" / "runs").glob("*.json"))
                                                     .read_text())["invoices"])


def test_demo_office_every_row_accounted_for(tmp_path):
    office = tmp_path / "demo"
    assert invoke("init", office, "--demo").exit_code == 0
    config = office / "config.yaml"
    today = business_today(load_settings(config))
    info_rows = write_demo_inbox(tmp_path / "expected", today).rows_by_file()
    config.write_text(config.read_text().replace("settle_seconds: 2", "settle_seconds: 0"))
    result = invoke("run", "--config", config)
    assert result.exit_code == 0, result.output
    report = json.loads(next((office / "output" / "runs").glob("*.json")).read_text())
    t = report["totals"]
    assert t["rows_read"] == sum(info_rows.values())  # every data row the demo wrote was read
    assert t["posted"] + t["rejected"] + t["already_posted"] == t["rows_read"]
    assert t["rejected"] == 7  # the demo's seven deliberate mistakes, each holding back its row
    assert report["invoices"]["count"] > 40
    assert len(list((office / "output" / "invoices").rglob("*-INV-*.docx"))) == report["invoices"]["count"]
    assert (office / "output" / "reports" / f"aging-{today:%Y-%m-%d}.xlsx").exists()
    # The demo's two plan agreements, made today, cover today's invoices: the Payment Plans sheet is filled.
    assert report["plans"]["agreed"] == [f"PLN-{today.year}-00001", f"PLN-{today.year}-00002"]
    assert "payment plans agreed: 2   on track: 2" in result.output
    import openpyxl
    ws = openpyxl.load_workbook(office / "output" / "reports" / f"aging-{today:%Y-%m-%d}.xlsx")["Payment Plans"]
    assert [r[11] for r in ws.iter_rows(min_row=2, max_row=3, values_only=True)] == ["On Track", "On Track"]
    # The insurers' remittances name the claims the run made: all posted, and the Insurance sheet shows
    # claims paid, underpaid and denied, with the negotiation list below.
    remitted = info_rows["remittances.xlsx"]
    assert remitted >= 6 and report["insurance"]["remittances_applied"] == remitted
    assert report["insurance"]["claims"] and report["insurance"]["coverage_notices"] > 0
    statuses = [r[9] for r in openpyxl.load_workbook(office / "output" / "reports" / f"aging-{today:%Y-%m-%d}.xlsx")[
        "Insurance"].iter_rows(min_row=2, values_only=True) if r[0] and str(r[0]).startswith("CLM-")]
    assert {"Paid", "Underpaid", "Denied", "Submitted"} <= set(statuses)
    assert (office / "output" / "reports" / f"claims-{today:%Y-%m-%d}.xlsx").exists()
    # The run again over the same (moved-back) files posts nothing new.
    for f in (office / "processed").rglob("*.xlsx"):
        f.rename(office / "inbox" / f.name.split("_", 1)[1])
    again = invoke("run", "--config", config)
    report2 = json.loads(sorted((office / "output" / "runs").glob("*.json"))[-1].read_text())
    assert report2["totals"]["posted"] == 0 and report2["invoices"]["count"] == 0, again.output
    assert report2["totals"]["already_posted"] == t["posted"]


def test_templates_check_passes_on_the_built_ins_and_names_a_broken_template(sqlite_office: Office, tmp_path):
    from tests.fake_soffice import fake_soffice_program  # PDF previews are not the point here (test_smaller_items)

    import yaml

    data = yaml.safe_load(sqlite_office.config.read_text())
    data["documents"]["libreoffice"] = str(fake_soffice_program(tmp_path / "fake"))
    sqlite_office.config.write_text(yaml.safe_dump(data, sort_keys=False))
    ok = invoke("templates", "check", "--config", sqlite_office.config)
    assert ok.exit_code == 0
    assert ok.output.count("ok ") == 16  # 2 invoices, credit note, statement, 6 letters, 4 plan letters, 2 notices
    assert "referral" not in ok.output  # the last level sends no letter: no template to check
    # Break the office's reminder: a variable the run does not provide.
    from docx import Document
    from docx.oxml.ns import qn

    path = sqlite_office.root / "templates" / "reminder_individual.docx"
    doc = Document(str(path))
    doc.add_paragraph("{{ client.shoe_size }}")
    doc.save(str(path))
    bad = invoke("templates", "check", "--config", sqlite_office.config)
    assert bad.exit_code == 1
    assert "FAILED reminder_individual.docx (office copy): {{ client.shoe_size }} is not a field of client; the " \
           "fields of client are: " in bad.output
    assert "start again from a fresh copy of the built-in one: `billing-batch init " in " ".join(bad.output.split())
    # A previous pass wrote a preview of each template that renders, sample data filled in.
    preview = sqlite_office.root / "output" / "checks" / "templates" / "invoice_individual.docx"
    # Every text of the document, nested tables included (the number is in the facts and on the slip).
    text = "".join(t.text or "" for t in Document(str(preview)).element.body.iter(qn("w:t")))
    assert "Sample & Sons <Ltd>" in text and "INV-2026-00042" in text
    doc = Document(str(path))
    doc.add_paragraph("{{ nme }}")
    doc.save(str(path))
    bad = invoke("templates", "check", "--config", sqlite_office.config)
    assert "{{ client.shoe_size }} is not a field of client" in bad.output  # the first unknown one is named
    path.write_bytes(b"PK\x03\x04 not really a Word file")  # e.g. a spreadsheet saved under the name
    bad = invoke("templates", "check", "--config", sqlite_office.config)
    assert bad.exit_code == 1
    assert "FAILED reminder_individual.docx (office copy): the file is damaged or is not a Word document; save it " \
           "again from Word as .docx" in bad.output
    assert "Traceback" not in bad.output and "BadZipFile" not in bad.output


def test_init_prints_a_next_command_that_works_as_shown_in_a_folder_with_spaces(tmp_path):
    import shlex

    folder = tmp_path / "North Clinic's office"
    result = invoke("init", str(folder))
    assert result.exit_code == 0
    line = next(l for l in result.output.splitlines() if l.startswith("Next: "))
    assert shlex.split(line[len("Next: "):]) == ["billing-batch", "run", "--config", str(folder / "config.yaml")]
