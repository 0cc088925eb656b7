"""After commit: documents, inbox files and reports come from the outbox and are finished by
whichever run gets to them (issues 11.2-11.5, 10.5, 10.11), on both ledgers."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from billing_batch.cli import main
from billing_batch.documents import fast_render
from billing_batch.pipeline import IntegrityFailure, run_batch
from billing_batch.reports.aging_workbook import Reconciliation
from tests.crashkit import fork_call, live_processes, reap, run_child
from tests.office import Office
from tests.test_end_to_end import drop_office
from tests.test_letter_templates import make_context

AS_OF = dt.date(2026, 3, 31)
TEMPLATES = fast_render.Path(__file__).resolve().parent.parent / "letter_templates"
INVOICES = ["00042-INV-2026-00001.docx", "C001-INV-2026-00002.docx", "C003-INV-2026-00003.docx"]


def invoices_on_disk(office: Office) -> list[str]:
    return sorted(p.name for p in (office.root / "output" / "invoices").rglob("*-INV-*.docx"))


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _kill_at_first_document(parent: int):
    """For a child run: SIGKILL itself when it starts rendering documents (after the commit), in
    whichever version of the code: rendering goes through fast_render.render_bytes."""
    real = fast_render.render_bytes

    def render_bytes(template, context):
        if os.getpid() == parent:
            os.kill(parent, signal.SIGKILL)
        return real(template, context)

    fast_render.render_bytes = render_bytes


def test_a_crash_after_commit_is_finished_with_the_committed_runs_report_and_workbook(office, tmp_path):
    """Issue 11.5: killed after the commit, the run's JSON report was never written and the next
    run's aging workbook showed zero counts. Whoever finishes writes them from the stored report."""
    drop_office(office)
    killed = run_child(["run", "--config", office.config, "--as-of", AS_OF],
                       before=lambda: _kill_at_first_document(os.getpid()), log=tmp_path / "run.log")
    assert killed.killed
    assert invoices_on_disk(office) == [] and not list((office.root / "output" / "runs").glob("*.json"))
    assert len(list(office.inbox.iterdir())) == 3  # committed, not yet filed

    after = run_batch(office.settings, AS_OF)  # the same night, run again (nothing new of its own)
    assert after.invoices == [] and after.finished.documents == 3 and after.finished.reports == 1
    assert invoices_on_disk(office) == INVOICES
    assert list(office.inbox.iterdir()) == [] and len(list((office.root / "processed" / "2026-03").iterdir())) == 3
    reports = sorted((office.root / "output" / "runs").glob("run-2026-03-31-*.json"))
    assert len(reports) == 2
    committed = json.loads(reports[0].read_text())
    assert committed["invoices"]["numbers"] == [n[:-5].split("-", 1)[1] for n in INVOICES]
    assert committed["totals"]["posted"] == 14 and committed["document_failures"] == []
    # The day's workbook shows what the committed run found, not the second run's nothing.
    summary = {r[0]: r[1] for r in openpyxl.load_workbook(after.aging_path)["Summary"].iter_rows(values_only=True)
               if r[0]}
    assert (summary["Invoices issued"], summary["Rows posted"], summary["Files read"]) == (3, 14, 3)
    assert after.aging_path.name == "aging-2026-03-31.xlsx"
    latest = openpyxl.load_workbook(office.root / "output" / "reports" / "aging-latest.xlsx")["Summary"]
    assert {r[0]: r[1] for r in latest.iter_rows(values_only=True) if r[0]}["Invoices issued"] == 3


def test_documents_a_failed_run_left_are_written_first_by_the_next_run_or_by_finish(office, monkeypatch):
    """Issue 10.11: documents left pending were written only after a later *successful* run."""
    drop_office(office)
    template = office.root / "templates" / "invoice_individual.docx"
    good = template.read_bytes()
    template.write_bytes(b"not a Word file")  # an office edit gone wrong: those invoices fail
    first = run_batch(office.settings, AS_OF)
    assert first.exit_code == 1 and len(first.document_failures) == 1
    assert invoices_on_disk(office) == ["C001-INV-2026-00002.docx", "C003-INV-2026-00003.docx"]
    template.write_bytes(good)
    with monkeypatch.context() as m:  # the next run stops at its integrity check (exit 2) ...
        m.setattr(Reconciliation, "ties", property(lambda self: False))
        with pytest.raises(IntegrityFailure):
            run_batch(office.settings, dt.date(2026, 4, 1))
    assert invoices_on_disk(office) == INVOICES  # ... but first wrote what the failed one left
    result = cli("finish", "--config", office.config)
    assert result.exit_code == 0 and "Nothing was left to finish." in result.output


def test_finish_writes_what_is_left_and_nothing_else(office, tmp_path):
    drop_office(office)
    run_child(["run", "--config", office.config, "--as-of", AS_OF],
              before=lambda: _kill_at_first_document(os.getpid()), log=tmp_path / "run.log")
    office.drop("later.xlsx", {"Clients": [["Client ID", "Name", "Type", "Address Line 1", "City", "Postal Code"],
                                          ["C9", "New", "Individual", "1 St", "X", "1"]]})
    result = cli("finish", "--config", office.config)
    assert result.exit_code == 0, result.output
    assert "Finished: 3 documents written, 3 inbox files filed, 1 run report written" in result.output
    assert invoices_on_disk(office) == INVOICES
    assert [p.name for p in office.inbox.iterdir()] == ["later.xlsx"]  # not read: finish posts nothing
    assert len(list((office.root / "output" / "runs").glob("*.json"))) == 1


def test_a_file_saved_again_while_the_run_reads_it_stays_in_the_inbox(office):
    """Issue 10.5: a file saved again during the run was moved to processed/ with its new rows unread."""
    drop_office(office)
    log = office.inbox / "march log.xlsx"
    wb = openpyxl.load_workbook(log)
    wb["Service Log"].append([dt.datetime(2026, 3, 30), "C003", "SUP", 2, None, "Dr. Lee"])

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "Reading inbox" and done == total:  # read already; staff save a new row now
            wb.save(log)

    first = run_batch(office.settings, AS_OF, progress=progress)
    assert sorted(p.name for p in office.inbox.iterdir()) == ["march log.xlsx"]
    assert {"name": "march log.xlsx", "reason": "it changed while the run was reading it; it is read again on "
                                                "the next run"} in first.report["waiting"]
    second = run_batch(office.settings, AS_OF)
    t = second.report["totals"]
    assert (t["posted"], t["already_posted"]) == (1, 7)  # the new row, and the 7 read the first time
    assert list(office.inbox.iterdir()) == []


def test_temporary_files_of_earlier_runs_are_removed(office):
    """Issue 11.3: temporary copies of invoices stayed on the share after a kill."""
    drop_office(office)
    folder = office.root / "output" / "invoices" / "2026-03"
    folder.mkdir(parents=True)
    dead = fork_call(lambda: 0).pgid  # a pid that has exited
    zombie = os.fork()  # a killed run's render worker that nobody has reaped yet
    if zombie == 0:
        os._exit(0)
    while Path(f"/proc/{zombie}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.01)
    host = fast_render.temp_prefix().split("@")[1].rstrip("-")
    stale = [folder / f".tmp-{dead}@{host}-abcd.docx", office.root / "rejected" / f".tmp-{dead}@{host}-x.xlsx",
             folder / f".tmp-{zombie}@{host}-w1.docx",
             folder / ".tmp-k3j4h5.docx"]  # the last: an older version's name, from hours ago
    fresh = folder / ".tmp-1@another_machine-zz.docx"  # someone else's, writing now
    for path in [*stale, fresh]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"PK half an invoice")
    os.utime(stale[3], (time.time() - 7200, time.time() - 7200))
    run_batch(office.settings, AS_OF)
    os.waitpid(zombie, 0)
    assert [p for p in stale if p.exists()] == [] and fresh.exists()
    assert sorted(p.name for p in folder.iterdir()) == [fresh.name, *INVOICES]


def test_aging_latest_is_written_like_every_file_with_a_final_name(office, monkeypatch):
    """Issue 11.4: aging-latest.xlsx was copied in place, so a kill left half a workbook under it.
    Every final name is now the target of a rename from a complete temporary file."""
    renamed = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (renamed.append((Path(src).name, Path(dst).name)),
                                                         real(src, dst)))
    drop_office(office)
    run_batch(office.settings, AS_OF)
    targets = {dst: src for src, dst in renamed}
    assert {"aging-2026-03-31.xlsx", "aging-latest.xlsx", *INVOICES} <= set(targets)
    assert all(src.startswith(".tmp-") for src in targets.values())


def test_render_workers_die_with_their_run(tmp_path):
    """Issue 11.2: after kill -9 of the run its workers stayed, blocked, holding the ledger, the lock
    file and the console."""
    jobs = []
    for i in range(fast_render.PARALLEL_MIN_JOBS + 64):
        ctx = make_context(n_lines=2)
        ctx["invoice"]["number"] = f"INV-2026-{i:05d}"
        jobs.append((TEMPLATES / "invoice_individual.docx", ctx, tmp_path / "out" / f"{i:03d}.docx"))

    def render_then_die() -> int:
        for n, _ in enumerate(fast_render.iter_render_many(jobs, workers=2)):
            if n == 40:
                os.kill(os.getpid(), signal.SIGKILL)
        return 0

    outcome = fork_call(render_then_die, log=tmp_path / "child.log")
    try:
        assert outcome.killed
        assert live_processes(outcome.pgid) == []
    finally:
        reap(outcome.pgid)
