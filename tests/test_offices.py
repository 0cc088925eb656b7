"""Several offices on one PostgreSQL server, and two coordinators on one office (SPEC §8, issue 16).

North and South share the database `test`, each in a schema of its own (unique names per test,
dropped afterwards); `public` is left as it was. A ledger belongs to one office: a folder pointed at
another office's ledger is refused before anything is touched. One run at a time per office across
folders; `check` and `report aging` beside a run in progress neither wait for it nor hold it up.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import uuid
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import yaml
from click.testing import CliRunner
from docx import Document
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import OperationalError

from billing_batch.cli import main
from billing_batch.config import ConfigError, load_settings
from billing_batch.ledger.db import ALREADY_RUNNING, AlreadyRunning
from billing_batch.ledger.office import OtherOffice
from billing_batch.pipeline import aging_report, check_files, run_batch
from tests.conftest import PG_ADMIN, no_postgres
from tests.office import Office

D = dt.date
CLIENT_HEADERS = ["Client ID", "Name", "Type", "Address Line 1", "City", "Postal Code"]
RATES = [["Service Code", "Description", "Unit Price", "Taxable", "Effective From", "Effective To"],
         ["OV", "Office visit", Decimal("100.00"), "N", None, None]]
LOG_HEADERS = ["Service Date", "Client ID", "Service Code", "Quantity", "Unit Price Override", "Provider"]


@pytest.fixture
def pg():
    """The database `test` itself (offices in schemas of their own); schemas made are dropped after."""
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect():
            pass
    except OperationalError as exc:
        admin.dispose()
        no_postgres(exc)
    made: list[str] = []

    def schema(prefix: str) -> str:
        made.append(f"bb_{prefix}_{uuid.uuid4().hex[:10]}")
        return made[-1]

    schema.admin = admin  # type: ignore[attr-defined]
    yield schema
    with admin.connect() as c:
        for name in made:
            c.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    admin.dispose()


def set_keys(office: Office, **keys) -> Office:
    data = yaml.safe_load(office.config.read_text())
    data.update(keys)
    office.config.write_text(yaml.safe_dump(data, sort_keys=False))
    return office


def make_office(root: Path, name: str, city: str, schema: str, **overrides) -> Office:
    office = Office.create(root, PG_ADMIN, office__name=name, office__address_lines=[f"1 {city} Road", city],
                           **overrides)
    return set_keys(office, database_schema=schema)


def drop_work(office: Office, clients: list[tuple[str, str]], log: list[list]) -> None:
    office.drop("clients.xlsx", {"Clients": [CLIENT_HEADERS, *[[c, n, "Individual", "2 Elm St", "Springfield", "62701"]
                                                                for c, n in clients]]})
    office.drop("rates.xlsx", {"Rates": RATES})
    office.drop("log.xlsx", {"Service Log": [LOG_HEADERS, *log]})


def docx_text(path: Path) -> str:
    doc = Document(str(path))
    parts = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        parts += [cell.text for row in table.rows for cell in row.cells]
    for section in doc.sections:
        parts += [p.text for p in section.header.paragraphs] + [p.text for p in section.first_page_header.paragraphs]
    return "\n".join(parts)


def counts(admin, schema: str, tables=("clients", "invoices", "letters", "runs", "office_identity")) -> dict:
    with admin.connect() as c:
        return {t: c.execute(text(f'SELECT count(*) FROM "{schema}"."{t}"')).scalar() for t in tables}


def public_picture(admin) -> dict:
    """Every table of `public` in `test` and its row count: an office in its own schema leaves it alone."""
    with admin.connect() as c:
        names = inspect(c).get_table_names(schema="public")
        return {n: c.execute(text(f'SELECT count(*) FROM public."{n}"')).scalar() for n in names}


NORTH_CLIENTS = [("N001", "Nora Northcott"), ("N002", "Ned Northam")]
SOUTH_CLIENTS = [("S001", "Sally Southwell")]


@pytest.mark.postgres
def test_two_offices_on_one_database_keep_to_their_own_schemas_folders_and_letterheads(tmp_path, pg):
    before = public_picture(pg.admin)
    north = make_office(tmp_path / "north", "North Clinic", "Northtown", pg("north"))
    south = make_office(tmp_path / "south", "South Clinic", "Southville", pg("south"))
    drop_work(north, NORTH_CLIENTS, [[D(2026, 3, 2), "N001", "OV", 1, None, "Dr. N"],
                                     [D(2026, 3, 3), "N002", "OV", 2, None, "Dr. N"]])
    drop_work(south, SOUTH_CLIENTS, [[D(2026, 3, 4), "S001", "OV", 3, None, "Dr. S"]])

    # Interleaved: North, South, then (a month and a half later, letters due) South before North.
    n1 = run_batch(north.settings, D(2026, 3, 31))
    s1 = run_batch(south.settings, D(2026, 3, 31))
    south.drop("april.xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 5, 1), "S001", "OV", 1, None, "Dr. S"]]})
    s2 = run_batch(south.settings, D(2026, 5, 15))
    n2 = run_batch(north.settings, D(2026, 5, 15))

    # Each office numbers its own invoices from 1: nothing of the other's counters or lines.
    assert [(n, str(t)) for n, t in n1.invoices] == [("INV-2026-00001", "100.00"), ("INV-2026-00002", "200.00")]
    assert [(n, str(t)) for n, t in s1.invoices] == [("INV-2026-00001", "300.00")]
    assert [(n, str(t)) for n, t in s2.invoices] == [("INV-2026-00002", "100.00")]
    assert n2.invoices == []
    assert sorted(x["client_id"] for x in n2.report["letters"]) == ["N001", "N002"]  # 15 days past due
    assert [x["client_id"] for x in s2.report["letters"]] == ["S001"]

    # Every document lands in its own office's folder with its own letterhead and its own clients.
    for office, mine, theirs, clients, others in (
            (north, "North Clinic", "South Clinic", NORTH_CLIENTS, SOUTH_CLIENTS),
            (south, "South Clinic", "North Clinic", SOUTH_CLIENTS, NORTH_CLIENTS)):
        documents = sorted((office.root / "output").rglob("*.docx"))
        kinds = {p.parent.parent.name for p in documents}
        assert {"invoices", "letters"} <= kinds
        for path in documents:
            words = docx_text(path)
            assert mine in words, path
            assert theirs not in words and not any(n in words for _, n in others), path
            assert any(n in words for _, n in clients), path
        identity = json.loads((office.root / "office-id.json").read_text())
        assert identity["name"] == mine

    # Row by row, each schema holds only its own office; `public` is as it was.
    ns, ss = north.settings.database_schema, south.settings.database_schema
    assert counts(pg.admin, ns) == {"clients": 2, "invoices": 2, "letters": 2, "runs": 2, "office_identity": 1}
    assert counts(pg.admin, ss) == {"clients": 1, "invoices": 2, "letters": 1, "runs": 2, "office_identity": 1}
    with pg.admin.connect() as c:
        for office, schema in ((north, ns), (south, ss)):
            recorded = c.execute(text(f'SELECT office_id, name FROM "{schema}".office_identity')).one()
            assert recorded.office_id == json.loads((office.root / "office-id.json").read_text())["office_id"]
            assert c.execute(text(f'SELECT version_num FROM "{schema}".alembic_version')).scalar() == "0006"
        for schema, clients in ((ns, NORTH_CLIENTS), (ss, SOUTH_CLIENTS)):
            assert c.execute(text(f'SELECT client_id, name FROM "{schema}".clients ORDER BY 1')).all() == clients
    assert public_picture(pg.admin) == before


@pytest.mark.postgres
def test_a_folder_pointed_at_another_office_s_schema_is_refused_before_anything_is_touched(tmp_path, pg):
    north = make_office(tmp_path / "north", "North Clinic", "Northtown", pg("north"))
    drop_work(north, NORTH_CLIENTS, [[D(2026, 3, 2), "N001", "OV", 1, None, "Dr. N"]])
    run_batch(north.settings, D(2026, 3, 31))
    # South's folder, misconfigured with North's schema.
    south = make_office(tmp_path / "south", "South Clinic", "Southville", north.settings.database_schema)
    drop_work(south, SOUTH_CLIENTS, [[D(2026, 3, 4), "S001", "OV", 3, None, "Dr. S"]])
    before = counts(pg.admin, north.settings.database_schema)

    with pytest.raises(OtherOffice) as refused:
        run_batch(south.settings, D(2026, 3, 31))
    message = str(refused.value)
    assert "belongs to the office 'North Clinic'" in message
    assert "database_schema:" in message and "office-id.json" in message
    with pytest.raises(OtherOffice):
        aging_report(south.settings, D(2026, 3, 31))
    with pytest.raises(OtherOffice):
        check_files(south.settings, [south.inbox / "log.xlsx"])

    # From the command line: one sentence, exit 1, no traceback.
    for args in (["run", "--as-of", "2026-03-31"], ["report", "aging"], ["check", str(south.inbox / "log.xlsx")]):
        result = CliRunner().invoke(main, [*args, "--config", str(south.config)])
        assert result.exit_code == 1, result.output
        assert "belongs to the office 'North Clinic'" in result.output
        assert "Traceback" not in result.output
    assert counts(pg.admin, north.settings.database_schema) == before
    assert sorted(p.name for p in south.inbox.iterdir()) == ["clients.xlsx", "log.xlsx", "rates.xlsx"]
    assert not (south.root / "output" / "invoices").exists() or not any((south.root / "output" / "invoices").rglob("*"))
    assert not (south.root / "office-id.json").exists()


@pytest.mark.postgres
def test_two_folders_of_one_office_run_one_at_a_time_and_another_office_is_not_held_up(tmp_path, pg):
    """Two coordinators (two machines, two copies of North's folder, one ledger): while one runs the
    other is told it is already running. South, in its own schema, runs meanwhile (its own lock)."""
    north = make_office(tmp_path / "north", "North Clinic", "Northtown", pg("north"))
    south = make_office(tmp_path / "south", "South Clinic", "Southville", pg("south"))
    drop_work(north, NORTH_CLIENTS, [[D(2026, 3, 2), "N001", "OV", 1, None, "Dr. N"]])
    drop_work(south, SOUTH_CLIENTS, [[D(2026, 3, 4), "S001", "OV", 3, None, "Dr. S"]])
    run_batch(north.settings, D(2026, 3, 30))  # North's identity, for the second coordinator's copy
    second = make_office(tmp_path / "north-second", "North Clinic", "Northtown", north.settings.database_schema)
    shutil.copy(north.root / "office-id.json", second.root / "office-id.json")
    north.drop("more.xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 3, 31), "N002", "OV", 1, None, "Dr. N"],
                                             [D(2026, 3, 31), "N001", "OV", 1, None, "Dr. N"]]})
    north.drop("clients2.xlsx", {"Clients": [CLIENT_HEADERS, ["N002", "Ned Northam", "Individual", "2 Elm St",
                                                              "Springfield", "62701"]]})
    attempts: list[str] = []
    south_result = []

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "Issuing invoices" and done == total and not attempts:  # mid-transaction
            try:
                run_batch(second.settings, D(2026, 3, 31))
                attempts.append("ran")
            except AlreadyRunning as exc:
                attempts.append(str(exc))
            south_result.append(run_batch(south.settings, D(2026, 3, 31)))

    result = run_batch(north.settings, D(2026, 3, 31), progress=progress)
    assert attempts == [ALREADY_RUNNING]
    assert [n for n, _ in result.invoices] == ["INV-2026-00002", "INV-2026-00003"]
    assert [n for n, _ in south_result[0].invoices] == ["INV-2026-00001"]
    # Free again once North's run has finished: the second coordinator's run has nothing left to bill.
    again = run_batch(second.settings, D(2026, 3, 31))
    assert again.invoices == []


@pytest.mark.postgres
def test_report_aging_and_check_during_a_run_finish_without_waiting_for_it(tmp_path, pg):
    """The run is inside its transaction (invoices inserted, not committed, its lock held) when
    `report aging` and `check` run; they finish (a wait would be a deadlock here: the run cannot go
    on until they return) and see the ledger as it was before the run."""
    north = make_office(tmp_path / "north", "North Clinic", "Northtown", pg("north"),
                        database_timeouts__statement_seconds=60)
    drop_work(north, NORTH_CLIENTS, [[D(2026, 3, 2), "N001", "OV", 1, None, "Dr. N"]])
    run_batch(north.settings, D(2026, 3, 30))
    north.drop("more.xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 3, 31), "N001", "OV", 2, None, "Dr. N"]]})
    checkme = tmp_path / "check" / "april.xlsx"
    checkme.parent.mkdir()
    shutil.copy(north.inbox / "more.xlsx", checkme)
    seen: dict = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "Issuing invoices" and done == total and not seen:
            path, recon = aging_report(north.settings, D(2026, 3, 31))
            summary = {r[0]: r[1] for r in openpyxl.load_workbook(path)["Summary"].iter_rows(max_col=2, values_only=True)
                       if r[0]}
            seen["balance"] = Decimal(str(summary["Balance"]))
            seen["ties"] = recon.ties
            [checked] = check_files(north.settings, [checkme])
            seen["check"] = (checked.rows_read, checked.would_post, checked.already_posted, checked.rejected)

    result = run_batch(north.settings, D(2026, 3, 31), progress=progress)
    assert seen == {"balance": Decimal("100.00"), "ties": True, "check": (1, 1, 0, 0)}  # before this run's 200
    assert [(n, str(t)) for n, t in result.invoices] == [("INV-2026-00002", "200.00")]
    # The check left nothing behind: one run's lines, one run's invoice, and the next check says so.
    assert counts(pg.admin, north.settings.database_schema)["runs"] == 2
    [after] = check_files(north.settings, [checkme])
    assert (after.would_post, after.already_posted) == (0, 1)


def test_report_aging_and_check_beside_a_sqlite_run_s_write_lock_see_the_last_commit(tmp_path):
    """A SQLite ledger with a run's uncommitted writes under an exclusive lock (a big run's pages
    spilled to the file): `report aging` and `check` finish promptly with the pre-run figures
    (WAL journal), instead of waiting 30 s behind the lock and failing with the wrong advice."""
    import sqlite3

    office = Office.create(tmp_path / "office", f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    drop_work(office, NORTH_CLIENTS, [[D(2026, 3, 2), "N001", "OV", 1, None, "Dr. N"]])
    run_batch(office.settings, D(2026, 3, 30))
    office.drop("more.xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 3, 31), "N001", "OV", 2, None, "Dr. N"]]})
    checkme = tmp_path / "check" / "april.xlsx"
    checkme.parent.mkdir()
    shutil.copy(office.inbox / "more.xlsx", checkme)
    run = sqlite3.connect(tmp_path / "ledger.sqlite", isolation_level=None, timeout=0)
    try:
        run.execute("BEGIN EXCLUSIVE")
        run.execute("UPDATE invoices SET total_cents = total_cents + 99900")  # not committed
        path, recon = aging_report(office.settings, D(2026, 3, 31))
        [checked] = check_files(office.settings, [checkme])
    finally:
        run.rollback()
        run.close()
    summary = {r[0]: r[1] for r in openpyxl.load_workbook(path)["Summary"].iter_rows(max_col=2, values_only=True)
               if r[0]}
    assert Decimal(str(summary["Balance"])) == Decimal("100.00") and recon.ties
    assert (checked.rows_read, checked.would_post, checked.already_posted, checked.rejected) == (1, 1, 0, 0)


def test_a_sqlite_ledger_still_locked_after_the_wait_says_a_run_is_in_progress(tmp_path):
    """Where WAL could not be switched on, a reader that waited out the busy timeout is told a run is
    in progress, not to check that the folder is writable."""
    import sqlite3

    from sqlalchemy.exc import OperationalError as SAOperationalError

    from billing_batch.ledger.db import cannot_open, create_ledger_engine
    engine = create_ledger_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    message = str(cannot_open(engine, SAOperationalError("SELECT 1", {}, sqlite3.OperationalError(
        "database is locked"))))
    engine.dispose()
    assert "a billing-batch run is in progress" in message and "try again when it has finished" in message
    assert "writable" not in message


@pytest.mark.parametrize("damage", [None, "", 42])
def test_an_office_id_json_without_an_office_id_is_called_damaged(tmp_path, damage):
    office = Office.create(tmp_path / "office", f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    drop_work(office, NORTH_CLIENTS, [[D(2026, 3, 2), "N001", "OV", 1, None, "Dr. N"]])
    run_batch(office.settings, D(2026, 3, 30))
    id_file = office.root / "office-id.json"
    data = json.loads(id_file.read_text())
    id_file.write_text(json.dumps({**data, "office_id": damage}))
    result = CliRunner().invoke(main, ["run", "--config", str(office.config), "--as-of", "2026-03-31"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    words = " ".join(result.output.split())
    assert "office-id.json cannot be read" in words and "Restore it from a backup" in words
    assert "None" not in words and "office ID 42" not in words


def test_database_schema_must_be_a_plain_name(tmp_path):
    office = Office.create(tmp_path / "office", f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    for bad in ("North", "north; drop table runs", "pg_catalog", "information_schema", "1north", ""):
        set_keys(office, database_schema=bad)
        with pytest.raises(ConfigError) as err:
            load_settings(office.config)
        [message] = err.value.messages
        assert message.startswith("config.yaml line ") and "database_schema" in message and "lower-case" in message


def test_sqlite_ignores_database_schema_and_records_the_office(tmp_path):
    office = set_keys(Office.create(tmp_path / "office", f"sqlite:///{tmp_path / 'ledger.sqlite'}",
                                    office__name="North Clinic"), database_schema="north")
    drop_work(office, NORTH_CLIENTS, [[D(2026, 3, 2), "N001", "OV", 1, None, "Dr. N"]])
    assert [n for n, _ in run_batch(office.settings, D(2026, 3, 31)).invoices] == ["INV-2026-00001"]
    identity = json.loads((office.root / "office-id.json").read_text())
    engine = create_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    with engine.connect() as c:
        assert c.execute(text("SELECT office_id, name FROM office_identity")).one() == (identity["office_id"],
                                                                                       "North Clinic")
    engine.dispose()
    # Another folder on the same SQLite file is refused too.
    other = Office.create(tmp_path / "other", f"sqlite:///{tmp_path / 'ledger.sqlite'}", office__name="South Clinic")
    with pytest.raises(OtherOffice, match="belongs to the office 'North Clinic'"):
        run_batch(other.settings, D(2026, 3, 31))


# -- the portfolio ------------------------------------------------------------------------------------

def _cells(ws) -> dict[str, object]:
    return {r[0]: r[1] for r in ws.iter_rows(min_col=1, max_col=2, values_only=True) if r[0]}


@pytest.mark.postgres
def test_the_portfolio_reads_back_two_hand_built_offices(tmp_path, pg):
    """North: N001 100.00 invoiced 01-31 (due 03-02), N002 200.00 invoiced 03-31 (due 04-30). South:
    S001 300.00 on 03-31 and 100.00 on 06-15, and one file waiting in rejected/. As of 06-15:
      North: 91-120 = 100 (105 days), 31-60 = 200 (46 days); A/R 300; over 90 = 100/300 = 33.3 %;
             invoiced in the 90 days after 03-17 = 200, DSO = 300 / 200 × 90 = 135.0
      South: 31-60 = 300, Not Yet Due = 100; A/R 400; over 90 0.0 %; DSO = 400 / 400 × 90 = 90.0;
             1 invoice in June."""
    north = make_office(tmp_path / "north", "North Clinic", "Northtown", pg("north"))
    south = make_office(tmp_path / "south", "=South Clinic", "Southville", pg("south"))  # stays text
    drop_work(north, NORTH_CLIENTS, [[D(2026, 1, 5), "N001", "OV", 1, None, "Dr. N"]])
    run_batch(north.settings, D(2026, 1, 31))
    north.drop("march.xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 3, 3), "N002", "OV", 2, None, "Dr. N"]]})
    run_batch(north.settings, D(2026, 3, 31))
    north_last = run_batch(north.settings, D(2026, 6, 15))
    drop_work(south, SOUTH_CLIENTS, [[D(2026, 3, 4), "S001", "OV", 3, None, "Dr. S"]])
    run_batch(south.settings, D(2026, 3, 31))
    south.drop("june.xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 6, 1), "S001", "OV", 1, None, "Dr. S"],
                                             [D(2026, 6, 1), "NOBODY", "OV", 1, None, "Dr. S"]]})
    south_last = run_batch(south.settings, D(2026, 6, 15))
    assert [str(t) for _, t in south_last.invoices] == ["100.00"]
    letters = {"north": len(north_last.report["letters"]), "south": len(south_last.report["letters"])}
    before = {s: counts(pg.admin, s) for s in (north.settings.database_schema, south.settings.database_schema)}

    out = tmp_path / "coordinator"
    result = CliRunner().invoke(main, ["portfolio", "--as-of", "2026-06-15", "--output", str(out),
                                       str(north.config), str(south.config)])
    assert result.exit_code == 0, result.output
    path = out / "portfolio-2026-06-15.xlsx"
    assert str(path) in result.output.replace("\n", "")

    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Portfolio", "North Clinic", "=South Clinic"]
    ws = wb["Portfolio"]
    header = [c.value for c in ws[1]]
    rows = {r[0]: dict(zip(header, r)) for r in ws.iter_rows(min_row=2, max_row=3, values_only=True)}
    n, s = rows["North Clinic"], rows["=South Clinic"]
    money = lambda v: Decimal(str(v)).quantize(Decimal("0.01"))  # noqa: E731
    p = "Patient "  # the buckets are the patients' part, labelled so
    assert {k: money(n[k]) for k in (p + "Not Yet Due", p + "1-30", p + "31-60", p + "61-90", p + "91-120",
                                     p + "Over 120", "Patient A/R", "Insurance A/R", "Total A/R")} == {
        p + "Not Yet Due": Decimal("0.00"), p + "1-30": Decimal("0.00"), p + "31-60": Decimal("200.00"),
        p + "61-90": Decimal("0.00"), p + "91-120": Decimal("100.00"), p + "Over 120": Decimal("0.00"),
        "Patient A/R": Decimal("300.00"), "Insurance A/R": Decimal("0.00"), "Total A/R": Decimal("300.00")}
    assert {k: money(s[k]) for k in (p + "Not Yet Due", p + "31-60", p + "91-120", "Total A/R")} == {
        p + "Not Yet Due": Decimal("100.00"), p + "31-60": Decimal("300.00"), p + "91-120": Decimal("0.00"),
        "Total A/R": Decimal("400.00")}
    assert (Decimal(str(n["% Over 90"])), Decimal(str(n["DSO (days)"]))) == (Decimal("33.3"), Decimal("135.0"))
    assert (Decimal(str(s["% Over 90"])), Decimal(str(s["DSO (days)"]))) == (Decimal("0.0"), Decimal("90.0"))
    assert (n["Invoices This Month"], s["Invoices This Month"]) == (0, 1)
    assert (n["Letters This Month"], s["Letters This Month"]) == (letters["north"], letters["south"])
    assert letters["north"] >= 1  # N001, 105 days past due, was written to on 06-15
    assert (n["Problems Waiting"], s["Problems Waiting"]) == (0, 1)
    assert n["Last Run Business Date"].date() == s["Last Run Business Date"].date() == D(2026, 6, 15)
    assert isinstance(n["Last Successful Run"], dt.datetime)
    assert ws.cell(3, 1).data_type == "s" and ws.cell(3, 1).value == "=South Clinic"  # a name, not a formula
    assert ws.cell(2, 1).hyperlink.location == "'North Clinic'!A1" or ws.cell(2, 1).hyperlink.target.endswith(
        "'North Clinic'!A1")
    total = [c.value for c in ws[4]]
    assert money(total[header.index("Total A/R")]) == Decimal("700.00")
    assert len(ws._charts) == 1
    # A sheet per office, linking to its aging workbook.
    sheet = wb["North Clinic"]
    link_row = next(r for r in sheet.iter_rows(min_col=1, max_col=2) if r[0].value == "Aging workbook")
    aging_path = north.root / "output" / "reports" / "aging-2026-06-15.xlsx"  # the as-of date's, not latest
    assert link_row[1].value == str(aging_path) and link_row[1].hyperlink.target == aging_path.resolve().as_uri()
    assert money(_cells(sheet)["Total A/R"]) == Decimal("300.00")
    # Read-only: the ledgers are as they were.
    assert {s: counts(pg.admin, s) for s in before} == before


def test_portfolio_dso_and_over_90_are_pure():
    from billing_batch.billing.dso import days_sales_outstanding, over_days, percent_of
    assert days_sales_outstanding(Decimal("300"), Decimal("200")) == Decimal("135.0")
    assert days_sales_outstanding(Decimal("300"), Decimal("0")) is None
    totals = {"Not Yet Due": Decimal(1), "1-30": Decimal(2), "31-60": Decimal(4), "61-90": Decimal(8),
              "91-120": Decimal(16), "Over 120": Decimal(32)}
    assert over_days(totals, [30, 60, 90, 120]) == Decimal(48)
    assert over_days({"61-120": Decimal(5), "Over 120": Decimal(7)}, [60, 120]) == Decimal(7)
    assert percent_of(Decimal(1), Decimal(3)) == Decimal("33.3") and percent_of(Decimal(1), Decimal(0)) is None


def test_portfolio_of_an_office_without_a_ledger_says_so(tmp_path):
    office = Office.create(tmp_path / "office", f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    result = CliRunner().invoke(main, ["portfolio", "--output", str(tmp_path), str(office.config)])
    assert result.exit_code == 1 and "no office could be read" in result.output and "Traceback" not in result.output
    assert "not run yet" in result.output and "no ledger" in result.output
    assert not (tmp_path / "ledger.sqlite").exists()


def test_portfolio_lists_an_office_not_run_yet_and_one_that_cannot_be_read_and_goes_on(tmp_path):
    """Three offices: one run (N001 100.00 on 03-30), one never run, one whose ledger is not a
    database. The workbook has all three rows; the other two say why and carry no figures."""
    ran = Office.create(tmp_path / "ran", f"sqlite:///{tmp_path / 'ran.sqlite'}", office__name="Ran Clinic")
    drop_work(ran, NORTH_CLIENTS, [[D(2026, 3, 2), "N001", "OV", 1, None, "Dr. N"]])
    run_batch(ran.settings, D(2026, 3, 30))
    never = Office.create(tmp_path / "never", f"sqlite:///{tmp_path / 'never.sqlite'}", office__name="New Clinic")
    (tmp_path / "broken.sqlite").write_bytes(b"this is not a database" * 100)
    broken = Office.create(tmp_path / "broken", f"sqlite:///{tmp_path / 'broken.sqlite'}",
                           office__name="Broken Clinic")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["portfolio", "--as-of", "2026-03-31", "--output", str(out),
                                       str(ran.config), str(never.config), str(broken.config)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "2 offices not read" in " ".join(result.output.split())
    ws = openpyxl.load_workbook(out / "portfolio-2026-03-31.xlsx")["Portfolio"]
    header = [c.value for c in ws[1]]
    rows = {r[0]: r for r in ws.iter_rows(min_row=2, max_row=4, values_only=True)}
    assert set(rows) == {"Ran Clinic", "New Clinic", "Broken Clinic"}
    assert Decimal(str(rows["Ran Clinic"][header.index("Total A/R")])) == Decimal("100")
    assert rows["New Clinic"][1].startswith("not run yet") and set(rows["New Clinic"][2:]) == {None}
    assert rows["Broken Clinic"][1].startswith("cannot be read") and set(rows["Broken Clinic"][2:]) == {None}
    total = [c.value for c in ws[5]]
    assert Decimal(str(total[header.index("Total A/R")])) == Decimal("100")
    assert not (tmp_path / "never.sqlite").exists()


def _figures(name: str, folder: Path, patient: str, insurance: str, workbook: Path, latest: bool):
    from billing_batch.reports.portfolio_workbook import OfficeFigures
    zero = Decimal("0.00")
    buckets = {"Not Yet Due": Decimal(patient), "1-30": zero, "31-60": zero, "61-90": zero, "91-120": zero,
               "Over 120": zero}
    return OfficeFigures(name, folder, "sqlite:///x", buckets, zero, Decimal(patient), Decimal(patient),
                         Decimal(insurance), zero, zero, Decimal(patient), 1, 0, 0, None, None, workbook, latest)


def test_portfolio_shows_patient_insurance_and_total_ar_like_the_aging_summary(tmp_path):
    """Hand-built: A has patient 300.00 and insurance 325.00 (total 625.00), B patient 50.00 and no
    insurance; the totals row: patient 350.00, insurance 325.00, total 675.00."""
    from billing_batch.reports.portfolio_workbook import write_portfolio
    a = _figures("A", tmp_path, "300.00", "325.00", tmp_path / "aging-latest.xlsx", True)
    b = _figures("B", tmp_path, "50.00", "0.00", tmp_path / "aging-latest.xlsx", True)
    path = write_portfolio(tmp_path / "p.xlsx", [a, b], D(2026, 3, 31), [30, 60, 90, 120])
    ws = openpyxl.load_workbook(path)["Portfolio"]
    header = [c.value for c in ws[1]]
    assert "A/R" not in header and header[1] == "Patient Not Yet Due"
    got = [[Decimal(str(r[header.index(h)])) for h in ("Patient A/R", "Insurance A/R", "Total A/R")]
           for r in ws.iter_rows(min_row=2, max_row=4, values_only=True)]
    assert got == [[Decimal(300), Decimal(325), Decimal(625)], [Decimal(50), Decimal(0), Decimal(50)],
                   [Decimal(350), Decimal(325), Decimal(675)]]


def test_the_portfolio_prints_legibly_several_pages_wide(tmp_path):
    """18+ columns do not fit one landscape page at 8 pt: no fit-to-width, the office column and the
    header row repeat on every page, and the header/footer name the sheet, the date and the page."""
    from billing_batch.reports.portfolio_workbook import write_portfolio
    a = _figures("A", tmp_path, "300.00", "325.00", tmp_path / "aging-latest.xlsx", True)
    path = write_portfolio(tmp_path / "p.xlsx", [a], D(2026, 3, 31), [30, 60, 90, 120])
    ws = openpyxl.load_workbook(path)["Portfolio"]
    assert ws.page_setup.orientation == "landscape"
    assert not ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.print_title_cols.replace("$", "") == "A:A" and ws.print_title_rows.replace("$", "") == "1:1"
    assert "2026-03-31" in ws.oddHeader.right.text and "Portfolio" in ws.oddHeader.center.text
    assert ws.oddFooter.right.text == "Page &P of &N"


def test_the_portfolio_links_to_the_aging_workbook_of_its_date_when_there_is_one(tmp_path):
    office = Office.create(tmp_path / "office", f"sqlite:///{tmp_path / 'ledger.sqlite'}", office__name="North")
    drop_work(office, NORTH_CLIENTS, [[D(2026, 3, 2), "N001", "OV", 1, None, "Dr. N"]])
    run_batch(office.settings, D(2026, 3, 30))
    run_batch(office.settings, D(2026, 3, 31))
    reports = office.settings.output / "reports"
    assert (reports / "aging-2026-03-30.xlsx").exists()
    out = tmp_path / "out"
    for day, expected, words in (("2026-03-30", "aging-2026-03-30.xlsx", "as of 2026-03-30"),
                                 ("2026-03-29", "aging-latest.xlsx", "the latest one")):
        result = CliRunner().invoke(main, ["portfolio", "--as-of", day, "--output", str(out), str(office.config)])
        assert result.exit_code == 0, result.output
        ws = openpyxl.load_workbook(out / f"portfolio-{day}.xlsx")["North"]
        values = [c.value for row in ws.iter_rows(min_col=2, max_col=2) for c in row]
        link = next(v for v in values if isinstance(v, str) and v.endswith(".xlsx") and "aging" in v)
        assert Path(link).name == expected
        assert any(isinstance(v, str) and v.startswith(words) for v in values)


def test_a_ledger_records_one_office_only(tmp_path):
    """Two folders recording themselves on one new ledger at once (no run lock between two folders on
    SQLite): the ledger keeps one row, and the second folder is told whose ledger it is."""
    from billing_batch.ledger.db import open_ledger
    from billing_batch.ledger.office import OfficeFolder

    class LookedBeforeNorthWrote(OfficeFolder):
        looks: list = []

        def _recorded(self, engine):
            self.looks.append(1)
            return None if len(self.looks) == 1 else super()._recorded(engine)

    engine = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    try:
        (tmp_path / "north").mkdir()
        (tmp_path / "south").mkdir()
        OfficeFolder(tmp_path / "north", "North").claim(engine)
        with pytest.raises(OtherOffice, match="belongs to the office 'North'"):
            LookedBeforeNorthWrote(tmp_path / "south", "South").claim(engine)
        with engine.connect() as c:
            assert c.execute(text("SELECT name FROM office_identity")).scalars().all() == ["North"]
    finally:
        engine.dispose()


def test_a_full_disk_before_the_first_run_names_office_id_json(sqlite_office, monkeypatch):
    def full(fd):
        raise OSError(28, os.strerror(28))

    monkeypatch.setattr(os, "fsync", full)
    result = CliRunner().invoke(main, ["run", "--config", str(sqlite_office.config), "--as-of", "2026-03-31"])
    assert result.exit_code == 1
    assert f"could not read or write {sqlite_office.root / 'office-id.json'}: No space left on device" in result.output
    assert [p.name for p in sqlite_office.root.iterdir() if "office-id" in p.name] == []


def test_a_changed_database_setting_does_not_start_a_second_ledger_for_the_office(tmp_path):
    """An office that has run, then a typo in `database:` (or `database_schema:`): the run must not
    create a fresh ledger there and bill the office again under invoice numbers already issued."""
    office = Office.create(tmp_path / "office", f"sqlite:///{tmp_path / 'ledger.sqlite'}", office__name="North")
    drop_work(office, NORTH_CLIENTS, [[D(2026, 3, 2), "N001", "OV", 1, None, "Dr. N"]])
    assert [n for n, _ in run_batch(office.settings, D(2026, 3, 31)).invoices] == ["INV-2026-00001"]
    set_keys(office, database=f"sqlite:///{tmp_path / 'ledgr.sqlite'}")
    drop_work(office, NORTH_CLIENTS, [[D(2026, 4, 2), "N002", "OV", 1, None, "Dr. N"]])
    result = CliRunner().invoke(main, ["run", "--config", str(office.config), "--as-of", "2026-04-30"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    message = " ".join(result.output.split())
    assert f"keeps its ledger at sqlite:///{tmp_path / 'ledger.sqlite'}" in message and "set it back" in message
    assert "Ned" not in message and "Northam" not in message
    assert not list((office.root / "output" / "invoices").glob("2026-04/*.docx"))
    assert sorted(p.name for p in office.inbox.iterdir()) == ["clients.xlsx", "log.xlsx", "rates.xlsx"]
    # Set back: the office's own ledger carries on with the next number.
    set_keys(office, database=f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    assert [n for n, _ in run_batch(office.settings, D(2026, 4, 30)).invoices] == ["INV-2026-00002"]


def test_portfolio_names_which_office_s_config_yaml_is_broken(tmp_path):
    good = Office.create(tmp_path / "north", f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    (tmp_path / "south").mkdir()
    (tmp_path / "south" / "config.yaml").write_text("office:\n  name: [unclosed\n")
    result = CliRunner().invoke(main, ["portfolio", "--output", str(tmp_path), str(good.config),
                                       str(tmp_path / "south" / "config.yaml")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"configuration {tmp_path / 'south' / 'config.yaml'} has problems" in result.output.replace("\n", "")
    assert "line 3" in result.output


@pytest.mark.postgres
def test_a_schema_named_like_the_database_user_is_refused(tmp_path, pg):
    """PostgreSQL's default search_path is "$user", public: a schema named like the user the offices
    connect as would be found first by every office left in public."""
    from sqlalchemy.engine import make_url

    user = make_url(PG_ADMIN).username
    with pg.admin.connect() as c:
        if c.execute(text("SELECT count(*) FROM pg_namespace WHERE nspname = :n"), {"n": user}).scalar():
            pytest.skip(f"a schema {user} exists already")
    pg("unused")  # the fixture's clean-up list
    office = make_office(tmp_path / "office", "User Clinic", "Userton", user)
    drop_work(office, NORTH_CLIENTS, [[D(2026, 3, 2), "N001", "OV", 1, None, "Dr. N"]])
    try:
        result = CliRunner().invoke(main, ["run", "--config", str(office.config), "--as-of", "2026-03-31"])
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert "is the name of the database user" in " ".join(result.output.split())
        with pg.admin.connect() as c:
            assert not c.execute(text("SELECT count(*) FROM pg_namespace WHERE nspname = :n"), {"n": user}).scalar()
    finally:
        with pg.admin.connect() as c:
            c.execute(text(f'DROP SCHEMA IF EXISTS "{user}" CASCADE'))
