"""A silent database, a read-only folder or ledger, a full disk, a broken config: one sentence that
names the path and says what to do, exit 1; never a traceback, never a hang (issues 11.6, 11.9,
11.10)."""

from __future__ import annotations

import errno
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from billing_batch.cli import main
from billing_batch.ledger.db import open_ledger
from tests.crashkit import run_child
from tests.office import Office
from tests.test_end_to_end import drop_office

AS_OF = "2026-03-31"


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def one_sentence(result) -> str:
    assert "Traceback" not in result.output and "File \"" not in result.output, result.output
    line = result.output.strip().splitlines()
    return " ".join(line)


def set_config(office: Office, **values) -> None:
    data = yaml.safe_load(office.config.read_text())
    for dotted, value in values.items():
        section, _, key = dotted.partition("__")
        if key:
            data.setdefault(section, {})[key] = value
        else:
            data[section] = value
    office.config.write_text(yaml.safe_dump(data, sort_keys=False))


@contextmanager
def silent_server():
    """A 'database server' that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()


def test_a_database_that_accepts_and_never_answers_stops_the_run_with_one_line(sqlite_office, tmp_path):
    """Issue 11.6: the run hung forever."""
    office = sqlite_office
    drop_office(office)
    with silent_server() as port:
        set_config(office, database=f"postgresql+psycopg://billing@127.0.0.1:{port}/ledger",
                   database_timeouts__connect_seconds=1)
        log = tmp_path / "run.log"
        started = time.monotonic()
        outcome = run_child(["run", "--config", office.config, "--as-of", AS_OF], log=log, timeout=30)
        elapsed = time.monotonic() - started
    assert outcome.exit_code == 1 and elapsed < 15
    output = log.read_text()
    assert "Traceback" not in output
    assert re.search(rf"cannot open the ledger at postgresql\+psycopg://billing@127\.0\.0\.1:{port}/ledger: "
                     r"\w+: connection timeout expired", output), output
    assert len(list(office.inbox.iterdir())) == 3  # nothing touched


@pytest.mark.postgres
def test_a_statement_the_database_never_finishes_stops_the_run_with_one_line(tmp_path):
    """A server that answers the connection but sits on a statement (here: a table another session
    keeps locked) is given `database_timeouts.statement_seconds`, then the run stops, exit 1."""
    from tests.conftest import _postgres_database

    url, drop = _postgres_database()
    try:
        office = Office.create(tmp_path / "office", url)
        set_config(office, database_timeouts__statement_seconds=1)
        drop_office(office)
        open_ledger(url).dispose()
        blocker = create_engine(url).connect()
        blocker.execute(text("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE"))  # held until rollback
        try:
            started = time.monotonic()
            result = CliRunner().invoke(main, ["run", "--config", str(office.config), "--as-of", AS_OF])
            elapsed = time.monotonic() - started
        finally:
            blocker.rollback()
            blocker.close()
            blocker.engine.dispose()
        assert result.exit_code == 1 and elapsed < 20
        said = one_sentence(result)
        assert "the ledger stopped this run (QueryCanceled: canceling statement due to statement timeout)" in said
        assert "A run is all or nothing" in said
    finally:
        drop()


def _immutable(path: Path) -> bool:
    """Make `path` read-only even for root (who ignores permissions): chattr +i where it works."""
    if os.geteuid() != 0:
        path.chmod(0o555 if path.is_dir() else 0o444)
        return True
    return shutil.which("chattr") is not None and subprocess.run(["chattr", "+i", str(path)],
                                                                capture_output=True).returncode == 0


def _writable_again(path: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)
    path.chmod(0o755 if path.is_dir() else 0o644)


@pytest.fixture
def read_only():
    made: list[Path] = []

    def make(path: Path) -> None:
        if not _immutable(path):
            pytest.skip("cannot make a file read-only here (root without chattr)")
        made.append(path)

    yield make
    for path in reversed(made):
        _writable_again(path)


def test_a_read_only_output_folder_is_one_sentence_per_file_and_the_next_run_finishes(sqlite_office, read_only):
    office = sqlite_office
    drop_office(office)
    output = office.root / "output"
    for folder in sorted(p for p in [output, *output.rglob("*")] if p.is_dir()):
        read_only(folder)
    result = cli("run", "--config", office.config, "--as-of", AS_OF)
    assert result.exit_code == 1
    said = one_sentence(result)
    reason = "(Operation not permitted)" if os.geteuid() == 0 else "(Permission denied)"
    assert f"not written invoices/2026-03/00042-INV-2026-00001.docx: cannot write in {output / 'invoices' / '2026-03'} " \
           f"{reason}" in said, said
    assert said.count("00042-INV-2026-00001.docx") == 1, said  # once, not once from the log and once from the console
    assert f"not written reports/aging-2026-03-31.xlsx: cannot write in {output / 'reports'} {reason}" in said, said
    assert ".tmp-" not in said  # our temporary names mean nothing to staff
    assert f"Check that {output} is writable and has room" in said
    for folder in output.rglob("*"):
        _writable_again(folder)
    _writable_again(output)
    again = cli("run", "--config", office.config, "--as-of", AS_OF)
    assert again.exit_code == 0, again.output
    assert "first finished what an earlier run had left: 3 documents written" in again.output
    assert len(list((output / "invoices" / "2026-03").glob("*-INV-*.docx"))) == 3


def test_a_read_only_ledger_is_one_sentence(sqlite_office, read_only):
    office = sqlite_office
    open_ledger(office.settings.database_url).dispose()
    drop_office(office)
    ledger = Path(office.settings.database_url[len("sqlite:///"):])
    read_only(ledger)
    result = cli("run", "--config", office.config, "--as-of", AS_OF)
    assert result.exit_code == 1
    said = one_sentence(result)
    assert "the ledger stopped this run (OperationalError: attempt to write a readonly database)" in said, said


def test_a_full_disk_is_one_sentence(sqlite_office, monkeypatch):
    office = sqlite_office
    drop_office(office)
    assert cli("finish", "--config", office.config).exit_code == 0  # the office's identity, before the disk fills
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    result = cli("run", "--config", office.config, "--as-of", AS_OF)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert result.exit_code == 1
    said = one_sentence(result)
    assert "No space left on device" in said and "INV-2026-00001.docx" in said
    assert "aging-2026-03-31.xlsx" in said or "run-2026-03-31" in said
    again = cli("run", "--config", office.config, "--as-of", AS_OF)
    assert again.exit_code == 0, again.output
    assert "first finished what an earlier run had left: 3 documents written, 0 inbox files filed, 1 run " \
           "report written" in again.output  # the inbox files were filed: a rename needs no room


def test_a_config_that_is_not_utf8_is_one_sentence(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_bytes("office:\n  name: Caf\xe9 Clinic\n".encode("latin-1"))
    result = cli("run", "--config", config)
    assert result.exit_code == 1
    assert "config.yaml line 2: not UTF-8 text (saved in another encoding?); save it as UTF-8" in one_sentence(result)


def test_a_config_that_is_a_folder_is_one_sentence_and_exit_1(tmp_path):
    """It exited 2, which is reserved for integrity failures."""
    (tmp_path / "config.yaml").mkdir()
    result = cli("run", "--config", tmp_path / "config.yaml")
    assert result.exit_code == 1
    assert "is a folder, not a config file; point --config at the office's config.yaml" in one_sentence(result)


def test_problems_on_the_console_name_the_cell_never_its_value(sqlite_office):
    """Issue 11.10: with shifted columns, names and addresses reached the console (and the log the
    documented cron line appends it to)."""
    office = sqlite_office
    office.drop("clients.xlsx", {"Clients": [
        ["Client ID", "Name", "Type", "Address Line 1", "City", "Postal Code", "Terms Days"],
        ["C1", "Maria Secretname", "Individual", "12 Hidden Lane", "Springfield", "62701", "Maria Secretname"],
    ]})
    result = cli("run", "--config", office.config, "--as-of", AS_OF)
    assert result.exit_code == 0
    assert "clients.xlsx: Clients, row 2, Terms Days (G2): Terms Days is not a whole number" in result.output
    assert "Secretname" not in result.output and "Hidden Lane" not in result.output
    check = cli("check", "--config", office.config, office.root / "processed" / "2026-03" / next(
        p.name for p in (office.root / "processed" / "2026-03").iterdir()))
    assert "Terms Days (G2)" in check.output and "Secretname" not in check.output
