"""`billing-batch schedule` (issue 7) driven by an injected clock: no real sleeping.

Acceptance 1: the nightly run at the configured local time across a spring-forward and a fall-back
night, exactly once each; a machine off for three nights runs once on start, for today; a run in
progress blocks a second (and two schedulers never run at once). Acceptance 2: a failing night is
reported and the next night still runs. Acceptance 3: the inbox check writes a "ready" receipt for a
good file and a problems workbook for a bad one, and does not re-check an unchanged file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select

from billing_batch.cli import config_option, main
from billing_batch.cli_schedule import schedule
from billing_batch.ledger.db import open_ledger
from billing_batch.ledger.schema import invoices, runs
from billing_batch.pipeline import IntegrityFailure, RunResult, check_files, run_batch, run_lock
from billing_batch.scheduler import NightlyTime, Scheduler, SchedulerAlreadyRunning, office_logging
from tests.office import Office
from tests.test_end_to_end import CLIENTS, LOG, LOG_HEADERS, drop_office

D = dt.date
UTC = timezone.utc
NY = ZoneInfo("America/New_York")


def ny(*args, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=NY, fold=fold)


class FakeClock:
    def __init__(self, start: datetime):
        self.now = start.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float | timedelta) -> None:
        self.now += seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)


class FakeNight:
    """A nightly job that records (business date, when) and can be told to fail on some dates."""

    def __init__(self, clock: FakeClock, fail_on: dict | None = None):
        self.clock, self.fail_on, self.calls = clock, fail_on or {}, []

    def __call__(self, settings, day: dt.date) -> RunResult:
        self.calls.append((day, self.clock()))
        if day in self.fail_on:
            raise self.fail_on[day]
        report = {"files": [], "waiting": [], "totals": {"rows_read": 0, "posted": 0, "already_posted": 0,
                                                         "rejected": 0}}
        return RunResult(day, False, report, settings.output / "runs" / f"run-{day}.json", None)

    @property
    def days(self) -> list[dt.date]:
        return [d for d, _ in self.calls]


def walk(sched: Scheduler, clock: FakeClock, until: datetime, step=timedelta(minutes=1)) -> None:
    while clock() < until:
        clock.advance(step)
        sched.tick()


def ledger_runs(office: Office) -> list[tuple]:
    engine = open_ledger(office.settings.database_url)
    try:
        with engine.connect() as c:
            return [tuple(r) for r in c.execute(select(runs.c.business_date, runs.c.status).order_by(runs.c.id))]
    finally:
        engine.dispose()


# -- when: the nightly time across daylight saving ------------------------------------------------------

@pytest.mark.parametrize("at, day, expected_utc, note", [
    ("02:30", D(2026, 3, 8), datetime(2026, 3, 8, 7, 0, tzinfo=UTC), "02:30 does not exist: 03:00 EDT"),
    ("02:00", D(2026, 3, 8), datetime(2026, 3, 8, 7, 0, tzinfo=UTC), "02:00 does not exist: 03:00 EDT"),
    ("02:30", D(2026, 3, 9), datetime(2026, 3, 9, 6, 30, tzinfo=UTC), "the next night: 02:30 EDT"),
    ("01:30", D(2026, 11, 1), datetime(2026, 11, 1, 5, 30, tzinfo=UTC), "01:30 twice: the first (EDT)"),
    ("01:30", D(2026, 11, 2), datetime(2026, 11, 2, 6, 30, tzinfo=UTC), "the next night: 01:30 EST"),
    ("03:00", D(2026, 3, 8), datetime(2026, 3, 8, 7, 0, tzinfo=UTC), "03:00 EDT exists"),
])
def test_nightly_moment_in_the_zone(at, day, expected_utc, note):
    t = NightlyTime(dt.time.fromisoformat(at), NY)
    assert t.moment(day) == expected_utc, note
    assert t.moment(day).astimezone(NY).date() == day


def _dst_scheduler(tmp_path, at: str, start: datetime):
    office = Office.create(tmp_path / "office", f"sqlite:///{tmp_path / 'ledger.sqlite'}",
                           schedule__time=at, schedule__inbox_check_minutes=30)
    clock = FakeClock(start)
    night = FakeNight(clock)
    sched = Scheduler(office.settings, clock=clock, nightly=night)
    sched.start()
    return sched, clock, night


def test_spring_forward_night_runs_once_at_the_first_valid_moment_after_the_missing_time(tmp_path):
    # 2026-03-08 in New York the clocks jump from 02:00 EST to 03:00 EDT: 02:30 never happens.
    sched, clock, night = _dst_scheduler(tmp_path, "02:30", ny(2026, 3, 8, 0, 0))
    walk(sched, clock, ny(2026, 3, 9, 12, 0))
    assert night.days == [D(2026, 3, 8), D(2026, 3, 9)]
    assert [w.astimezone(NY).strftime("%Y-%m-%d %H:%M %Z") for _, w in night.calls] == [
        "2026-03-08 03:00 EDT", "2026-03-09 02:30 EDT"]


def test_fall_back_night_runs_once_although_the_time_happens_twice(tmp_path):
    # 2026-11-01 in New York 01:00-02:00 happens twice (EDT, then EST): 01:30 comes round twice.
    sched, clock, night = _dst_scheduler(tmp_path, "01:30", ny(2026, 11, 1, 0, 0))
    walk(sched, clock, ny(2026, 11, 2, 12, 0), step=timedelta(minutes=7))  # any step: still once
    assert night.days == [D(2026, 11, 1), D(2026, 11, 2)]
    first, second = (w for _, w in night.calls)  # each at the first 7-minute tick at or after 01:30
    assert datetime(2026, 11, 1, 5, 30, tzinfo=UTC) <= first < datetime(2026, 11, 1, 5, 37, tzinfo=UTC)
    assert first.astimezone(NY).tzname() == "EDT"  # the first 01:30, not the repeated one
    assert datetime(2026, 11, 2, 6, 30, tzinfo=UTC) <= second < datetime(2026, 11, 2, 6, 37, tzinfo=UTC)


def test_fall_back_exactly_at_the_minute_and_a_restart_in_the_repeated_hour(tmp_path):
    sched, clock, night = _dst_scheduler(tmp_path, "01:30", ny(2026, 11, 1, 0, 0))
    walk(sched, clock, ny(2026, 11, 1, 1, 10, fold=1))  # 01:10 EST: the second pass of the hour
    assert [(d, w) for d, w in night.calls] == [(D(2026, 11, 1), datetime(2026, 11, 1, 5, 30, tzinfo=UTC))]
    # the service restarts at 01:10 EST; the ledger says tonight already ran (the fake night wrote
    # nothing there, so write what a real night would have)
    run_batch(sched.s, D(2026, 11, 1))
    restarted = Scheduler(sched.s, clock=clock, nightly=night)
    restarted.start()
    walk(restarted, clock, ny(2026, 11, 1, 6, 0))
    assert night.days == [D(2026, 11, 1)]


def test_business_date_is_the_schedule_zone_s_date_not_the_server_s(tmp_path):
    office = Office.create(tmp_path / "office", f"sqlite:///{tmp_path / 'ledger.sqlite'}",
                           schedule__time="01:00", schedule__timezone="Asia/Tokyo")
    clock = FakeClock(datetime(2026, 3, 14, 12, 0, tzinfo=UTC))  # 21:00 in Tokyo, 08:00 in New York
    night = FakeNight(clock)
    sched = Scheduler(office.settings, clock=clock, nightly=night)
    sched.start()
    walk(sched, clock, datetime(2026, 3, 14, 17, 0, tzinfo=UTC))
    # on start (an empty ledger) it catches up Tokyo's 14th; then 01:00 in Tokyo on the 15th is
    # 16:00 UTC on the 14th (noon in New York, the office's zone): business date the 15th
    assert night.calls == [(D(2026, 3, 14), datetime(2026, 3, 14, 12, 0, tzinfo=UTC)),
                           (D(2026, 3, 15), datetime(2026, 3, 14, 16, 0, tzinfo=UTC))]


# -- catch-up -------------------------------------------------------------------------------------------

def test_machine_off_for_three_nights_runs_once_on_start_for_today(sqlite_office: Office):
    settings = sqlite_office.settings
    run_batch(settings, D(2026, 3, 10))  # the last night the machine was on
    drop_office(sqlite_office)  # files dropped while it was off
    clock = FakeClock(ny(2026, 3, 14, 8, 15))  # 11th, 12th, 13th and today's 02:00 missed
    sched = Scheduler(settings, clock=clock)  # the real nightly job
    sched.start()
    walk(sched, clock, ny(2026, 3, 14, 9, 0))
    assert ledger_runs(sqlite_office) == [(D(2026, 3, 10), "ok"), (D(2026, 3, 14), "ok")]
    engine = create_engine(settings.database_url)
    with engine.connect() as c:
        assert {r.invoice_date for r in c.execute(select(invoices.c.invoice_date))} == {D(2026, 3, 14)}
    engine.dispose()
    # and the next night runs as usual
    walk(sched, clock, ny(2026, 3, 15, 2, 5))
    assert [d for d, _ in ledger_runs(sqlite_office)] == [D(2026, 3, 10), D(2026, 3, 14), D(2026, 3, 15)]


def test_no_catch_up_before_today_s_time_or_when_today_already_ran(tmp_path):
    office = Office.create(tmp_path / "office", f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    run_batch(office.settings, D(2026, 3, 10))
    clock = FakeClock(ny(2026, 3, 14, 1, 0))  # before 02:00: tonight's run will do it
    night = FakeNight(clock)
    sched = Scheduler(office.settings, clock=clock, nightly=night)
    sched.start()
    assert night.days == []
    walk(sched, clock, ny(2026, 3, 14, 3, 0))
    assert night.days == [D(2026, 3, 14)]
    run_batch(office.settings, D(2026, 3, 14))
    again = Scheduler(office.settings, clock=clock, nightly=night)  # restarted at 03:00: already done
    again.start()
    assert night.days == [D(2026, 3, 14)]


def test_waking_up_after_sleeping_through_the_night_runs_once_for_today(tmp_path):
    office = Office.create(tmp_path / "office", f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    clock = FakeClock(ny(2026, 3, 10, 23, 0))
    night = FakeNight(clock)
    sched = Scheduler(office.settings, clock=clock, nightly=night)
    sched.start()
    assert night.days == [D(2026, 3, 10)]  # an empty ledger: tonight's 02:00 had passed
    clock.advance(timedelta(days=3, hours=9))  # suspended: wakes 2026-03-14 08:00
    sched.tick()
    walk(sched, clock, ny(2026, 3, 14, 9, 0))
    assert night.days == [D(2026, 3, 10), D(2026, 3, 14)]


# -- one at a time ---------------------------------------------------------------------------------------

def test_a_run_in_progress_blocks_the_nightly_which_runs_when_it_has_finished(sqlite_office: Office):
    settings = sqlite_office.settings
    drop_office(sqlite_office)
    clock = FakeClock(ny(2026, 3, 14, 1, 55))
    checks = []
    sched = Scheduler(settings, clock=clock, check=lambda s, p, context=(): checks.append(p) or check_files(s, p, context=context))
    with run_lock(settings):  # a manual `billing-batch run` is going on
        sched.start()  # (its inbox check waits too)
        walk(sched, clock, ny(2026, 3, 14, 2, 3))
        assert ledger_runs(sqlite_office) == []
        [report] = (settings.output / "runs").glob("run-2026-03-14-*-not-started.json")
        data = json.loads(report.read_text())
        assert (data["status"], data["exit_status"], data["trigger"]) == ("not started", 1, "nightly")
        assert "already running" in data["error"]
        assert checks == []
    walk(sched, clock, ny(2026, 3, 14, 2, 30))  # the lock is free: the next round runs it, once
    assert ledger_runs(sqlite_office) == [(D(2026, 3, 14), "ok")]
    walk(sched, clock, ny(2026, 3, 14, 3, 30))
    assert ledger_runs(sqlite_office) == [(D(2026, 3, 14), "ok")]


def test_a_manual_run_during_the_scheduled_one_says_already_running(sqlite_office: Office):
    settings = sqlite_office.settings
    drop_office(sqlite_office)
    manual = []

    def nightly(s, day):
        def progress(stage, done, total):  # called while the scheduled run holds the lock
            if not manual:
                manual.append(CliRunner().invoke(main, ["run", "--config", str(sqlite_office.config)]))
        return run_batch(s, day, progress=progress)

    clock = FakeClock(ny(2026, 3, 14, 1, 59))
    sched = Scheduler(settings, clock=clock, nightly=nightly)
    sched.start()
    walk(sched, clock, ny(2026, 3, 14, 2, 1))
    assert manual[0].exit_code == 1 and "already running" in manual[0].output
    assert ledger_runs(sqlite_office) == [(D(2026, 3, 14), "ok")]


def test_a_second_scheduler_refuses_to_start(sqlite_office: Office):
    first = Scheduler(sqlite_office.settings, nightly=FakeNight(FakeClock(ny(2026, 3, 14, 1, 0))))
    second = Scheduler(sqlite_office.settings)
    with first.exclusive():
        with pytest.raises(SchedulerAlreadyRunning, match="already running"):
            second.serve(install_signals=False)
        result = CliRunner().invoke(schedule, ["--config", str(sqlite_office.config)])
        assert result.exit_code == 1
        assert "already running" in result.output


# -- a failing night -------------------------------------------------------------------------------------

@pytest.mark.parametrize("error, code", [
    (RuntimeError("disk full while writing output"), 1),
    (IntegrityFailure("the aging does not tie to the ledger"), 2),
])
def test_a_failing_night_is_logged_and_reported_and_the_next_night_runs(tmp_path, error, code):
    office = Office.create(tmp_path / "office", f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    settings = office.settings
    clock = FakeClock(ny(2026, 3, 14, 1, 0))
    night = FakeNight(clock, fail_on={D(2026, 3, 14): error})
    with office_logging(settings, to_stderr=False) as log_path:
        sched = Scheduler(settings, clock=clock, nightly=night)
        sched.start()
        walk(sched, clock, ny(2026, 3, 15, 3, 0), step=timedelta(minutes=5))
    assert night.days == [D(2026, 3, 14), D(2026, 3, 15)]  # failed once, not retried; next night ran
    [report] = (settings.output / "runs").glob("run-2026-03-14-*-failed.json")
    data = json.loads(report.read_text())
    assert (data["status"], data["exit_status"], data["business_date"]) == ("failed", code, "2026-03-14")
    assert data["error"] == f"{type(error).__name__}: {error}"
    log = log_path.read_text()
    assert log_path == settings.base_dir / "logs" / "billing-batch.log"
    assert "nightly run for 2026-03-14 failed" in log and "Traceback (most recent call last)" in log
    assert "nightly run for 2026-03-15 done (exit status 0)" in log


def test_an_exception_in_the_real_run_is_reported(sqlite_office: Office):
    settings = sqlite_office.settings
    drop_office(sqlite_office)
    clock = FakeClock(ny(2026, 3, 14, 1, 59))
    calls = []

    def broken_then_real(s, day):
        calls.append(day)
        if len(calls) == 1:
            return run_batch(s.model_copy(update={"database": "nosuchdb://"}), day)
        return run_batch(s, day)

    sched = Scheduler(settings, clock=clock, nightly=broken_then_real)
    sched.start()
    walk(sched, clock, ny(2026, 3, 15, 2, 1), step=timedelta(minutes=5))
    assert calls == [D(2026, 3, 14), D(2026, 3, 15)]
    [failed] = (settings.output / "runs").glob("run-2026-03-14-*-failed.json")
    assert "LedgerError" in json.loads(failed.read_text())["error"]
    assert ledger_runs(sqlite_office) == [(D(2026, 3, 15), "ok")]


# -- the inbox check -------------------------------------------------------------------------------------

GOOD_LOG = [LOG_HEADERS,  # services not posted yet
            [D(2026, 3, 12), "C001", "TH", 1, None, "K. Patel"],
            [D(2026, 3, 12), "00042", "TH", 2, None, "K. Patel"],
            [D(2026, 3, 13), "C003", "SUP", 4, None, "Dr. Lee"]]
BAD_LOG = [LOG_HEADERS,
           [D(2026, 3, 12), "C001", "OV", 1, None, "Dr. Lee"],
           [D(2026, 3, 12), "C001", "OV", -2, None, "Dr. Lee"],    # row 3: quantity must be more than 0
           [D(2026, 3, 12), "C001", "ZZZ", 1, None, "Dr. Lee"]]    # row 4: no such service code


def test_inbox_check_writes_receipts_and_rechecks_only_changed_files(sqlite_office: Office):
    settings = sqlite_office.settings
    drop_office(sqlite_office)
    run_batch(settings, D(2026, 3, 13))  # clients and the rate card are in the ledger
    good = sqlite_office.drop("march log 2.xlsx", {"Service Log": GOOD_LOG})
    bad = sqlite_office.drop("bad log.xlsx", {"Service Log": BAD_LOG})
    (sqlite_office.inbox / "~$bad log.xlsx").write_bytes(b"excel lock file")
    checked = []

    def counting_check(s, paths, context=()):
        checked.extend(p.name for p in paths)
        return check_files(s, paths)

    clock = FakeClock(ny(2026, 3, 13, 14, 0))  # the same afternoon: nothing to catch up
    with office_logging(settings, to_stderr=False) as log_path:
        sched = Scheduler(settings, clock=clock, check=counting_check)
        sched.start()
        checks = settings.output / "checks"
        assert sorted(checked) == ["bad log.xlsx", "march log 2.xlsx"]
        receipt = (checks / "march log 2.xlsx.receipt.txt").read_text()
        assert receipt.splitlines()[0] == "ready for tonight: 3 rows"
        assert "will post:       3" in receipt and "need fixing:     0" in receipt
        umask = os.umask(0)
        os.umask(umask)
        assert (checks / "march log 2.xlsx.receipt.txt").stat().st_mode & 0o777 == 0o666 & ~umask  # staff can read it
        assert (checks / "bad log.xlsx.problems.xlsx").exists()
        assert not (checks / "march log 2.xlsx.problems.xlsx").exists()
        bad_receipt = (checks / "bad log.xlsx.receipt.txt").read_text()
        assert bad_receipt.startswith("needs fixing: 2 rows with problems; ready for tonight: 1 row.")
        assert "bad log.xlsx.problems.xlsx" in bad_receipt

        walk(sched, clock, ny(2026, 3, 13, 15, 0))  # twelve more rounds: nothing changed
        assert len(checked) == 2

        os.utime(good, (time.time() + 60, time.time() + 60))  # touched, same bytes: not re-checked
        walk(sched, clock, ny(2026, 3, 13, 15, 10))
        assert len(checked) == 2

        sqlite_office.drop("bad log.xlsx", {"Service Log": [BAD_LOG[0], BAD_LOG[1]]})  # fixed
        walk(sched, clock, ny(2026, 3, 13, 15, 20))
        assert checked[2:] == ["bad log.xlsx"]
        assert (checks / "bad log.xlsx.receipt.txt").read_text().startswith("ready for tonight: 1 row\n")
        assert not (checks / "bad log.xlsx.problems.xlsx").exists()  # the stale one is gone

        bad.unlink()  # taken away and dropped again as it was: checked again
        walk(sched, clock, ny(2026, 3, 13, 15, 30))
        sqlite_office.drop("bad log.xlsx", {"Service Log": [BAD_LOG[0], BAD_LOG[1]]})
        walk(sched, clock, ny(2026, 3, 13, 15, 40))
        assert checked[3:] == ["bad log.xlsx"]
    assert ledger_runs(sqlite_office) == [(D(2026, 3, 13), "ok")]  # nothing posted by the checks
    log = log_path.read_text()
    assert "inbox check: march log 2.xlsx" in log and "3 will post" in log
    for client in CLIENTS:
        assert client[1] not in log  # IDs, files and counts; never a client's name


def test_receipt_for_rows_already_posted(sqlite_office: Office):
    settings = sqlite_office.settings
    drop_office(sqlite_office)
    run_batch(settings, D(2026, 3, 13))
    sqlite_office.drop("march log again.xlsx", {"Service Log": [LOG_HEADERS, *LOG]})
    sched = Scheduler(settings, clock=FakeClock(ny(2026, 3, 13, 14, 0)))
    sched.start()
    receipt = (settings.output / "checks" / "march log again.xlsx.receipt.txt").read_text()
    assert receipt.splitlines()[0] == "ready for tonight: 0 rows"
    assert "already posted:  7" in receipt


# -- the command and its signals ----------------------------------------------------------------------

def test_sigterm_stops_the_loop_cleanly(tmp_path):
    office = Office.create(tmp_path / "office", f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    clock = FakeClock(ny(2026, 3, 14, 1, 0))
    night = FakeNight(clock)
    waits = []

    def wait(seconds):
        waits.append(seconds)
        clock.advance(seconds)
        if clock() >= ny(2026, 3, 14, 2, 10):
            os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    with office_logging(office.settings, to_stderr=False) as log_path:
        Scheduler(office.settings, clock=clock, nightly=night, wait=wait).serve()
    assert night.days == [D(2026, 3, 14)]
    assert max(waits) <= 60
    assert signal.getsignal(signal.SIGTERM) == before
    log = log_path.read_text()
    assert "SIGTERM received: stopping" in log and log.rstrip().endswith("scheduler stopped")


def test_schedule_command_help_and_option():
    result = CliRunner().invoke(schedule, ["--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "Stay running and do the nightly job unattended" in text
    assert "ready for tonight: N rows" in text and "--config" in text

    @config_option
    def reference(config_path):
        pass

    ours = {p.name: p for p in schedule.params}["config_path"]
    theirs = reference.__click_params__[0]
    assert (ours.opts, ours.default, ours.help, ours.show_default) == \
           (theirs.opts, theirs.default, theirs.help, theirs.show_default)
    group = click.Group(commands={"schedule": schedule})
    assert CliRunner().invoke(group, ["schedule", "--help"]).exit_code == 0


def test_schedule_command_starts_and_stops_on_sigterm(sqlite_office: Office):
    """The real command in a process of its own: starts, checks, stops on SIGTERM with exit 0."""
    from billing_batch.pipeline import business_today

    run_batch(sqlite_office.settings, business_today(sqlite_office.settings))  # today ran: no catch-up
    sqlite_office.drop("march log.xlsx", {"Service Log": [LOG_HEADERS, *LOG]})
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", "from billing_batch.cli_schedule import schedule; schedule()",
                             "--config", str(sqlite_office.config)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log_path = sqlite_office.root / "logs" / "billing-batch.log"
    deadline = time.monotonic() + 60
    try:
        while "inbox check: march log.xlsx" not in (log_path.read_text() if log_path.exists() else ""):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    log = log_path.read_text()
    assert "scheduler started" in log and "SIGTERM received" in log and log.rstrip().endswith("scheduler stopped")
