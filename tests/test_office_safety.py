"""Settings and inputs that would make a run touch what is not the office's, or overflow its
ledger: refused up front, or a problem on one row (hostile review of issue 11)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import select

from billing_batch.billing.invoicing import draft_invoices
from billing_batch.billing.records import ClientTerms, RateVersion, ServiceLine
from billing_batch.cli import main
from billing_batch.config import ConfigError, load_settings
from billing_batch.ledger.db import open_ledger
from billing_batch.ledger.schema import invoices, service_lines
from billing_batch.pipeline import run_batch
from billing_batch.workspace import init_office
from tests.office import Office

D = dt.date


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def with_folders(office: Path, **folders) -> Path:
    config = office / "config.yaml"
    data = yaml.safe_load(config.read_text())
    data["folders"].update(folders)
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


@pytest.mark.parametrize("folders, key", [
    ({"inbox": "/etc"}, "folders.inbox"),
    ({"inbox": "/"}, "folders.inbox"),
    ({"processed": "/usr/share"}, "folders.processed"),
    ({"rejected": "/home"}, "folders.rejected"),
    ({"output": str(Path.home())}, "folders.output"),
])
def test_a_folder_setting_pointing_at_a_system_or_shared_folder_is_refused(tmp_path, folders, key):
    # Only the settings are loaded: a run with such a setting could move the system's files.
    init_office(tmp_path / "office")
    config = with_folders(tmp_path / "office", **folders)
    with pytest.raises(ConfigError) as refused:
        load_settings(config)
    [message] = refused.value.messages
    assert message.startswith(f"config.yaml line ") and f": {key} (" in message, message
    assert ("is a system or shared folder, not the office's own" in message
            or "is the office folder or a folder above it" in message), message


@pytest.mark.parametrize("folders, said", [
    ({"inbox": "."}, "folders.inbox ({office}) is the office folder or a folder above it"),
    ({"inbox": ".."}, "folders.inbox ({above}) is the office folder or a folder above it"),
    ({"output": "inbox"}, "folders.output is the same folder as folders.inbox ({office}/inbox)"),
    ({"processed": "rejected"}, "folders.rejected is the same folder as folders.processed ({office}/rejected)"),
    ({"inbox": "templates"}, "documents.templates is the same folder as folders.inbox ({office}/templates)"),
])
def test_a_run_with_an_unsafe_folder_setting_stops_before_moving_anything(tmp_path, folders, said):
    office = tmp_path / "office"
    init_office(office, demo=True)
    config = with_folders(office, **folders)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = cli("run", "--config", config)
    assert result.exit_code == 1
    assert said.format(office=office, above=tmp_path) in " ".join(result.output.split()), result.output
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing moved or made


def test_files_that_are_not_spreadsheets_stay_in_the_inbox(tmp_path):
    office = Office.create(tmp_path / "office", "sqlite:///" + str(tmp_path / "ledger.sqlite"))
    office.drop("clients.xlsx", {"Clients": [["Client ID", "Name", "Type", "Address Line 1", "City", "Postal Code"],
                                             ["C1", "A", "Individual", "1 Main St", "Springfield", "62701"]]})
    strangers = {"letter.pdf": b"%PDF-1.4 a scanned letter", "config.yaml": office.config.read_bytes(),
                 "ledger.sqlite": b"SQLite format 3\x00", "notes": b"no extension at all"}
    for name, data in strangers.items():
        (office.inbox / name).write_bytes(data)
    result = run_batch(office.settings, D(2026, 3, 31))
    assert sorted(p.name for p in office.inbox.iterdir()) == sorted(strangers)
    assert all((office.inbox / n).read_bytes() == d for n, d in strangers.items())
    assert not list((office.root / "rejected").iterdir())
    waiting = {w["name"]: w["reason"] for w in result.report["waiting"]}
    assert waiting == {n: "not a spreadsheet, so it is left where it is; billing-batch reads Excel workbooks "
                          "(.xlsx) — move it out of the inbox" for n in strangers}
    assert (office.root / "processed").rglob("clients.xlsx")  # the workbook itself was read and filed


LIMITS = {"intake__max_amount": "10000000000", "intake__max_quantity": "10000000"}  # the largest config allows


def test_a_service_coming_to_more_than_max_amount_is_a_problem_on_its_row_on_both_ledgers(tmp_path, database_url):
    """At the largest limits config.yaml accepts, quantity × price reached 10^17 dollars: PostgreSQL
    stopped the whole night (numeric out of range), SQLite raised OverflowError."""
    office = Office.create(tmp_path / "office", database_url, **LIMITS)
    office.drop("clients.xlsx", {"Clients": [["Client ID", "Name", "Type", "Address Line 1", "City", "Postal Code"],
                                             ["C1", "A", "Individual", "1 Main St", "Springfield", "62701"],
                                             ["C2", "B", "Individual", "2 Main St", "Springfield", "62701"]]})
    office.drop("rates.xlsx", {"Rates": [["Service Code", "Description", "Unit Price"],
                                         ["HUGE", "Something costly", Decimal("10000000000")],
                                         ["OV", "Office visit", Decimal("100.00")]]})
    office.drop("log.xlsx", {"Service Log": [
        ["Service Date", "Client ID", "Service Code", "Quantity", "Unit Price Override"],
        [D(2026, 3, 2), "C1", "HUGE", 10_000_000, None],     # 10^17: over the limit
        [D(2026, 3, 2), "C1", "OV", 10_000_000, Decimal("1000.01")],  # override: 10,000,100,000.00, over
        [D(2026, 3, 3), "C1", "HUGE", 1, None],              # exactly the limit: posts
        [D(2026, 3, 4), "C2", "OV", 3, None],
    ]})
    result = run_batch(office.settings, D(2026, 3, 31))
    got = {(p.where.row, p.where.column): p.message for p in result.problems if p.level == "error"}
    message = ("quantity × price comes to more than the office's limit for one amount (intake.max_amount, "
               "10,000,000,000); check the quantity and the price")
    assert got == {(2, "Quantity"): message, (3, "Quantity"): message}
    engine = open_ledger(office.settings.database_url)
    try:
        with engine.connect() as conn:
            assert sorted(conn.execute(select(invoices.c.client_id, invoices.c.total_cents)).all()) == [
                ("C1", 1_000_000_000_000), ("C2", 30_000)]
            assert conn.execute(select(service_lines.c.id)).all().__len__() == 2
    finally:
        engine.dispose()


def test_an_unbilled_service_a_lower_limit_makes_too_large_is_reported_not_billed(tmp_path):
    office = Office.create(tmp_path / "office", "sqlite:///" + str(tmp_path / "ledger.sqlite"),
                           invoicing__cycle="monthly:1")
    office.drop("clients.xlsx", {"Clients": [["Client ID", "Name", "Type", "Address Line 1", "City", "Postal Code"],
                                             ["C1", "A", "Individual", "1 Main St", "Springfield", "62701"]]})
    office.drop("rates.xlsx", {"Rates": [["Service Code", "Description", "Unit Price"], ["OV", "Visit", 100]]})
    run_batch(office.settings, D(2026, 3, 2))  # the first run bills (nothing yet); the next cycle day is 4/1
    office.drop("log.xlsx", {"Service Log": [["Service Date", "Client ID", "Service Code", "Quantity"],
                                             [D(2026, 3, 5), "C1", "OV", 5000]]})  # 500,000.00: posts
    run_batch(office.settings, D(2026, 3, 5))
    data = yaml.safe_load(office.config.read_text())
    data["intake"]["max_amount"] = "100000.00"
    office.config.write_text(yaml.safe_dump(data, sort_keys=False))
    result = run_batch(office.settings, D(2026, 4, 1))
    [problem] = [p for p in result.problems if p.level == "error"]
    assert (problem.where.file, problem.where.sheet, problem.where.row, problem.where.column) == \
        ("log.xlsx", "Service Log", 2, "Service Code")
    assert problem.message == ("this posted service of 2026-03-05 comes to more than intake.max_amount (100,000.00) "
                               "at the rate card's price, so it is not billed; correct the rate for its code on "
                               "the rate card")
    assert result.invoices == []


def test_draft_invoices_leaves_out_lines_over_the_line_limit():
    rates = {"OV": [RateVersion("OV", D(2026, 1, 1), None, "Visit", Decimal("100.00"), False, False)]}
    lines = [ServiceLine(1, "C1", D(2026, 3, 1), "OV", Decimal("10"), None, None),
             ServiceLine(2, "C1", D(2026, 3, 2), "OV", Decimal("10.01"), None, None)]
    terms = {"C1": ClientTerms("C1", 30, False)}
    (draft,), over = draft_invoices(lines, rates, terms, D(2026, 3, 31), Decimal("0"), Decimal("1000.00"))
    assert [l.service_line_id for l in draft.lines] == [1] and draft.subtotal == Decimal("1000.00")
    assert [l.id for l in over] == [2]


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev/zero are POSIX")
@pytest.mark.parametrize("make", ["fifo", "dev-zero", "huge"])
def test_a_config_that_is_a_pipe_a_device_or_huge_is_refused_without_hanging(tmp_path, make):
    config = tmp_path / "config.yaml"
    if make == "fifo":
        os.mkfifo(config)
    elif make == "dev-zero":
        config.symlink_to("/dev/zero")
    else:
        config.write_text("# " + "x" * 2_000_000 + "\n")
    done = subprocess.run([sys.executable, "-m", "billing_batch", "run", "--config", str(config)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    said = " ".join(done.stderr.split())
    assert "Traceback" not in said
    if make == "huge":
        assert "is 2,000,003 bytes, far larger than a config file" in said, said
    else:
        assert f"{config} is not a plain file; point --config at the office's config.yaml" in said, said


@pytest.mark.parametrize("folders, said", [
    ({"inbox": "output/reports"}, "folders.inbox ({office}/output/reports) and folders.output ({office}/output) "
                                  "are one inside the other"),
    ({"rejected": "inbox/rejected"}, "folders.inbox ({office}/inbox) and folders.rejected ({office}/inbox/rejected) "
                                     "are one inside the other"),
    ({"inbox": "a\0b"}, "folders.inbox is not a folder path billing-batch can use"),
    ({"inbox": "loop/x"}, "folders.inbox is not a folder path billing-batch can use"),
    ({"inbox": "/home/someone-else"}, "folders.inbox (/home/someone-else) is in a person's home folder outside the "
                                      "office folder"),
])
def test_nested_unusable_or_someone_elses_folders_are_refused(tmp_path, folders, said):
    """Hostile review: an inbox inside output/reports read the aging workbook back as a service log
    and billed its Review sheet; a NUL byte or a symlink loop was a traceback; /home/alice was moved."""
    office = tmp_path / "office"
    init_office(office)
    (office / "loop").symlink_to("loop")
    config = with_folders(office, **folders)
    with pytest.raises(ConfigError) as refused:
        load_settings(config)
    assert said.format(office=office) in " ".join(refused.value.messages), refused.value.messages
