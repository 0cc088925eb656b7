"""`billing-batch schedule` (SPEC §7): the nightly run at `schedule.time` in the schedule time zone,
a missed night caught up, and an inbox check every few minutes that leaves staff a receipt.

Built on the `schedule` library (its job registry, `every(...).do(...)` and `run_pending`), with the
clock injected. `schedule` reads `datetime.now()` itself and keeps its next runs as naive server-local
times, so only the *timing* of its jobs is replaced here: next runs are aware UTC instants taken from
`clock()`. That keeps tests free of real sleeping and makes the daylight-saving rules explicit.

For a nightly time T in the schedule zone (`schedule.timezone`, blank = the office's `timezone`):
- the business date of a run is the date, in that zone, of the scheduled moment — never the server's
  clock or zone;
- a night on which T does not exist (spring forward: 02:30 in New York on 2026-03-08) runs once, at
  the first valid moment after T: the instant the clocks jump (03:00 EDT);
- a night on which T happens twice (fall back: 01:30 on 2026-11-01) runs once, at the first one
  (01:30 EDT); the repeated hour is not a scheduled moment;
- one business date runs at most once per scheduler process whatever the clock does.

Catch-up: on start, on waking (the clock jumped more than `wake_gap` between two looks), and after a
night that found another run holding the lock, when today's scheduled time has passed and the last
successful business date in the ledger is before today, it runs once, for today. The state-based
rules of the run take care of the days in between.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from logging.handlers import RotatingFileHandler
from pathlib import Path
from zoneinfo import ZoneInfo

import schedule
from filelock import FileLock, Timeout
from sqlalchemy import func, select

from billing_batch.config import Settings
from billing_batch.documents.render import write_atomic
from billing_batch.intake.inbox import scan_inbox, sha256_of
from billing_batch.ledger.db import open_ledger
from billing_batch.ledger.schema import runs
from billing_batch.pipeline import AlreadyRunning, CheckResult, IntegrityFailure, RunResult, check_files, \
    run_batch, run_lock
from billing_batch.reports.problems_workbook import problems_name
from billing_batch.reports.run_report import write_run_report
from billing_batch.wording import counted

log = logging.getLogger("billing_batch.scheduler")

UTC = timezone.utc
Clock = Callable[[], datetime]  # returns an aware datetime
NightlyJob = Callable[[Settings, date], RunResult]
CheckJob = Callable[..., list[CheckResult]]  # (settings, paths, context=[other inbox files])
RECEIPT_SUFFIX = ".receipt.txt"
LOG_FILE = Path("logs") / "billing-batch.log"


class SchedulerAlreadyRunning(Exception):
    """Another `billing-batch schedule` holds this office's scheduler lock."""


def system_clock() -> datetime:
    return datetime.now(UTC)


# -- when ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NightlyTime:
    """A wall-clock time every day in a zone, turned into exact instants (UTC)."""

    at: time
    zone: ZoneInfo

    @classmethod
    def from_settings(cls, settings: Settings) -> "NightlyTime":
        hour, minute = (int(p) for p in settings.schedule.time.split(":"))
        return cls(time(hour, minute), settings.schedule_tz)

    def moment(self, day: date) -> datetime:
        """The instant of the run for business date `day`."""
        wall = datetime.combine(day, self.at)
        first = wall.replace(tzinfo=self.zone).astimezone(UTC)  # fold=0: the first of a repeated time
        if self._wall(first) == wall:
            return first
        # `wall` does not exist that day (the clocks jump over it): the first valid moment after it.
        # fold=1 reads it with the offset after the jump, an instant before the jump; walk to the jump.
        t = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        while self._wall(t) < wall:
            t += timedelta(minutes=1)
        return t

    def local_date(self, now: datetime) -> date:
        return now.astimezone(self.zone).date()

    def next_after(self, now: datetime) -> datetime:
        today = self.local_date(now)
        return next(m for m in (self.moment(today + timedelta(n)) for n in range(-1, 3)) if m > now)

    def last_at_or_before(self, now: datetime) -> tuple[date, datetime]:
        """The latest scheduled moment that has come, and its business date."""
        today = self.local_date(now)
        for n in (1, 0, -1, -2):
            day = today + timedelta(n)
            if (m := self.moment(day)) <= now:
                return day, m
        raise AssertionError("unreachable: yesterday's moment is always in the past")

    def _wall(self, instant: datetime) -> datetime:
        return instant.astimezone(self.zone).replace(tzinfo=None)


class _ClockedJob(schedule.Job):
    """A `schedule.Job` timed by an injected clock, its next run an aware UTC instant.

    Daily jobs with `.at(...)` follow `NightlyTime` in the zone; interval jobs run every `interval`
    units of elapsed time. The next run is computed even when the job raises, so a failing job is
    not retried in a tight loop (plain `schedule` leaves it overdue)."""

    def __init__(self, interval: int, scheduler: "_Jobs"):
        super().__init__(interval, scheduler)
        self._jobs = scheduler

    @property
    def should_run(self) -> bool:
        return self._jobs.now() >= self.next_run

    def run(self):
        try:
            return self.job_func()
        finally:
            self.last_run = self._jobs.now()
            self.reschedule()

    def reschedule(self) -> None:
        self._schedule_next_run()

    def _schedule_next_run(self) -> None:
        now = self._jobs.now()
        if self.unit == "days" and self.interval == 1 and self.at_time is not None:
            self.next_run = NightlyTime(self.at_time, self._jobs.zone).next_after(now)
        elif self.unit in ("seconds", "minutes", "hours") and self.at_time is None:
            self.next_run = now + timedelta(**{self.unit: self.interval})
        else:
            raise schedule.ScheduleValueError("only every().day.at(HH:MM) and every(n).minutes are supported here")


class _Jobs(schedule.Scheduler):
    def __init__(self, clock: Clock, zone: ZoneInfo):
        super().__init__()
        self.clock, self.zone = clock, zone

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)  # compare and add in UTC: aware wall-clock arithmetic lies

    def every(self, interval: int = 1) -> _ClockedJob:
        return _ClockedJob(interval, self)

    @property
    def idle_seconds(self) -> float | None:
        return None if not self.jobs else (self.next_run - self.now()).total_seconds()


# -- the ledger ----------------------------------------------------------------------------------------

def last_successful_business_date(settings: Settings) -> date | None:
    """The business date of the latest run that committed (`runs.status == 'ok'`)."""
    engine = open_ledger(settings.database_url, **settings.ledger_options)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.max(runs.c.business_date)).where(runs.c.status == "ok")).scalar()
    finally:
        engine.dispose()


# -- the inbox receipts ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Seen:
    size: int
    mtime_ns: int
    sha256: str


def receipt_text(r: CheckResult, sha256: str, checked_at: datetime, nightly: str) -> str:
    """What staff read in output/checks/<name>.receipt.txt: counts only, never a cell's content."""
    ready = f"ready for tonight: {_rows(r.would_post)}"
    if r.problems_workbook is not None and r.rows_read == 0:
        head = f"cannot be accepted as it is: {r.problems_workbook.name} (in this folder) says why and what to do"
    elif r.problems_workbook is not None:
        head = (f"needs fixing: {_rows(r.rejected)} with problems; {ready}. "
                f"Fix the rows in {r.problems_workbook.name} (in this folder) and drop it into the inbox")
    else:
        head = ready
    lines = [
        head,
        "",
        f"file:            {r.path.name}",
        f"checked:         {checked_at:%Y-%m-%d %H:%M} {checked_at.tzname()} (the nightly run is at {nightly})",
        f"rows read:       {r.rows_read}",
        f"will post:       {r.would_post}",
        f"already posted:  {r.already_posted}",
        f"need fixing:     {r.rejected}",
        f"sha256:          {sha256}",
        "",
        "Nothing has been posted yet. Change the file and it is checked again within minutes.",
    ]
    warnings = [p for p in r.problems if p.level == "warning"]
    if warnings:  # posted tonight all the same (e.g. a service dated ahead): where, never the value
        one = len(warnings) == 1
        lines[8:8] = [f"warnings:        {len(warnings)} ({'this row posts' if one else 'these rows post'} all the "
                      f"same; look at {'it' if one else 'them'})",
                      *(f"  - {p.text(values=False)}" for p in warnings)]
    return "\n".join(lines) + "\n"


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def _write_text(path: Path, text: str) -> None:
    """Complete or not there (temp file, fsync, rename), with the umask's permissions so that staff
    reading the office folder can open it."""
    write_atomic(path, text.encode("utf-8"))


# -- the scheduler -------------------------------------------------------------------------------------

class Scheduler:
    """Runs the nightly job and the inbox check for one office until stopped.

    `clock`, `nightly` (settings, business date) -> RunResult, `check` (settings, paths) ->
    [CheckResult] and `wait` (seconds) are injectable; by default they are the system clock,
    `run_batch`, `check_files` and an interruptible sleep."""

    def __init__(self, settings: Settings, *, clock: Clock = system_clock, nightly: NightlyJob = run_batch,
                 check: CheckJob = check_files, wait: Callable[[float], object] | None = None,
                 wake_gap: timedelta = timedelta(minutes=5)):
        self.s = settings
        self.nightly_time = NightlyTime.from_settings(settings)
        self._jobs = _Jobs(clock, settings.schedule_tz)
        self._nightly, self._check = nightly, check
        self._stop = threading.Event()
        self._wait = wait or self._stop.wait
        self.wake_gap = wake_gap
        self._attempted: set[date] = set()  # business dates run (or failed) by this process
        self._catch_up_pending = False
        self._seen: dict[str, _Seen] = {}
        self._last_tick: datetime | None = None

    # -- life cycle ---------------------------------------------------------------------------------
    def serve(self, install_signals: bool = True) -> None:
        """Stay running until SIGTERM/SIGINT (or `stop()`); refuses if another scheduler runs."""
        with self.exclusive():
            restore = self._install_signal_handlers() if install_signals else {}
            try:
                self.start()
                while not self._stop.is_set():
                    idle = self._jobs.idle_seconds
                    self._wait(60.0 if idle is None else min(max(idle, 0.0), 60.0))
                    if not self._stop.is_set():
                        self.tick()
            finally:
                for signum, handler in restore.items():
                    signal.signal(signum, handler)
                log.info("scheduler stopped")

    def stop(self) -> None:
        self._stop.set()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """One scheduler per office (a lock file of its own; runs have theirs)."""
        lock = FileLock(str(self.s.base_dir / ".billing-batch-schedule.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise SchedulerAlreadyRunning(
                f"billing-batch schedule is already running for the office in {self.s.base_dir}; "
                "stop that one first (one scheduler per office)") from None
        try:
            yield
        finally:
            lock.release()

    def start(self) -> None:
        """Register the jobs, catch up a missed night, check the inbox once."""
        self._jobs.clear()
        self._jobs.every().day.at(self.s.schedule.time).do(self._scheduled_night).tag("nightly")
        self._jobs.every(self.s.schedule.inbox_check_minutes).minutes.do(self._every_few_minutes).tag("inbox")
        nxt = self._local(self._jobs.get_jobs("nightly")[0].next_run)
        log.info("scheduler started for %s: nightly run at %s %s (next %s), inbox check every %d min",
                 self.s.base_dir, self.s.schedule.time, self.nightly_time.zone.key,
                 f"{nxt:%Y-%m-%d %H:%M %Z}", self.s.schedule.inbox_check_minutes)
        self._catch_up("start")
        self.check_inbox()
        self._last_tick = self._jobs.now()

    def tick(self) -> None:
        """One look at the clock: a wake-up is caught up, then every due job runs."""
        now = self._jobs.now()
        if self._last_tick is not None and now - self._last_tick > self.wake_gap:
            log.info("the clock moved %s since the last look (the machine slept or was off): checking "
                     "for a missed night", str(now - self._last_tick).split(".")[0])
            self._catch_up("wake")
            for job in self._jobs.get_jobs("nightly"):
                job.reschedule()  # the catch-up decided; do not also fire the overdue night
        self._jobs.run_pending()
        self._last_tick = self._jobs.now()

    def _install_signal_handlers(self) -> dict:
        def on_signal(signum, frame):
            if self._stop.is_set():
                raise KeyboardInterrupt  # a second signal stops at once (a run is all-or-nothing)
            log.info("%s received: stopping (after the job in progress, if any)", signal.Signals(signum).name)
            self._stop.set()

        return {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}

    # -- the night ----------------------------------------------------------------------------------
    def _scheduled_night(self) -> None:
        day, moment = self.nightly_time.last_at_or_before(self._jobs.now())
        self.run_night(day, "nightly", moment)

    def _catch_up(self, why: str) -> None:
        now = self._jobs.now()
        today = self.nightly_time.local_date(now)
        moment = self.nightly_time.moment(today)
        if now < moment or today in self._attempted:
            self._catch_up_pending = False  # the scheduled night will do it, or already did
            return
        if not self._lock_free():
            log.info("catch-up (%s) waits: another run holds the lock", why)
            self._catch_up_pending = True
            return
        try:
            last = last_successful_business_date(self.s)
        except Exception as exc:
            log.warning("catch-up (%s) waits: the ledger did not answer (%s)", why, exc)
            self._catch_up_pending = True
            return
        self._catch_up_pending = False
        if last is not None and last >= today:
            log.info("no catch-up needed (%s): the last successful run was for %s", why, last)
            return
        log.info("catch-up (%s): the last successful run was for %s and today's %s has passed; running for %s",
                 why, last or "no date yet", self.s.schedule.time, today)
        self.run_night(today, "catch-up", moment)

    def run_night(self, day: date, trigger: str, scheduled_for: datetime) -> RunResult | None:
        """The nightly job for business date `day`, caught and reported whatever happens."""
        if day in self._attempted:
            log.info("%s run for %s skipped: this business date has already run", trigger, day)
            return None
        started = self._jobs.now()
        log.info("%s run for business date %s started (scheduled for %s)", trigger, day,
                 f"{self._local(scheduled_for):%Y-%m-%d %H:%M %Z}")
        try:
            result = self._nightly(self.s, day)
        except AlreadyRunning as exc:
            log.warning("%s run for %s not started: %s; it starts when that run has finished", trigger, day, exc)
            self._report_failure(day, trigger, scheduled_for, started, exc, 1, "not started")
            self._catch_up_pending = True
            return None
        except Exception as exc:  # a failing night must not stop the scheduler: report, try tomorrow
            self._attempted.add(day)
            code = 2 if isinstance(exc, IntegrityFailure) else 1
            log.exception("%s run for %s failed (exit status %d); the next night runs as usual", trigger, day, code)
            path = self._report_failure(day, trigger, scheduled_for, started, exc, code, "failed")
            log.error("failure report: %s", path)
            return None
        self._attempted.add(day)
        r = result.report
        t = r.get("totals", {})
        log.info("%s run for %s done (exit status %d): %s, %d waiting; rows read %s, posted %s, "
                 "already posted %s, rejected %s; %s %s; report %s", trigger, day, result.exit_code,
                 counted(len(r.get("files", [])), "file"), len(r.get("waiting", [])), t.get("rows_read", 0),
                 t.get("posted", 0), t.get("already_posted", 0), t.get("rejected", 0),
                 counted(len(result.invoices), "invoice"),
                 " ".join(n for n, _ in result.invoices[:5]) + (" ..." if len(result.invoices) > 5 else ""),
                 result.report_path)
        for failure in result.document_failures:
            log.error("document not written (retried on the next run): %s", failure.split(":")[0])
        return result

    def _report_failure(self, day: date, trigger: str, scheduled_for: datetime, started: datetime,
                        exc: BaseException, code: int, status: str) -> Path:
        stamp = f"{self._local(started):%Y%m%dT%H%M%S}"
        path = self.s.output / "runs" / f"run-{day:%Y-%m-%d}-{stamp}-{status.replace(' ', '-')}.json"
        write_run_report(path, {
            "business_date": day, "status": status, "exit_status": code, "trigger": trigger,
            "scheduled_for": self._local(scheduled_for).isoformat(),
            "started": self._local(started).isoformat(), "finished": self._local(self._jobs.now()).isoformat(),
            "error": f"{type(exc).__name__}: {exc}",
            "log": str(LOG_FILE), "next_attempt": "when the other run has finished" if status == "not started"
            else "the next scheduled night",
        })
        return path

    # -- the inbox ----------------------------------------------------------------------------------
    def _every_few_minutes(self) -> None:
        if self._catch_up_pending:
            self._catch_up("retry")
        self.check_inbox()

    def check_inbox(self) -> list[Path]:
        """Check new and changed inbox files the way `billing-batch check` does (nothing posted) and
        write a receipt for each into output/checks/. Returns the receipts written."""
        if not self._lock_free():
            log.info("inbox check skipped: a run is in progress")
            return []
        try:
            scan = scan_inbox(self.s.inbox, float(self.s.intake.settle_seconds), sleep=self._wait)
        except OSError as exc:
            log.error("inbox check: cannot read the inbox %s (%s)", self.s.inbox, exc)
            return []
        present = {p.name for p in scan.ready} | {p.name for p, _ in scan.waiting}
        for gone in set(self._seen) - present:
            del self._seen[gone]  # dropped again later, it is checked again
        receipts = []
        for path in scan.ready:
            if self._stop.is_set():
                break
            try:
                seen = self._changed(path)
                others = [p for p in scan.ready if p != path]  # checked together, as tonight's run posts them
                if seen is not None and (receipt := self._check_one(path, seen, others)) is not None:
                    receipts.append(receipt)
            except Exception:
                log.exception("inbox check of %s failed; it is tried again in the next round", path.name)
        return receipts

    def _changed(self, path: Path) -> _Seen | None:
        """The file's new fingerprint when size, time or content changed since its last check, else None."""
        st = path.stat()
        old = self._seen.get(path.name)
        if old is not None and (old.size, old.mtime_ns) == (st.st_size, st.st_mtime_ns):
            return None
        new = _Seen(st.st_size, st.st_mtime_ns, sha256_of(path))
        if old is not None and old.sha256 == new.sha256:
            self._seen[path.name] = new  # touched, same bytes: nothing to say again
            return None
        return new

    def _check_one(self, path: Path, seen: _Seen, others: list[Path]) -> Path | None:
        [result] = self._check(self.s, [path], context=others)
        if result.waiting:
            log.info("inbox check: %s is not ready yet (%s)", path.name, result.waiting)
            return None
        checks = self.s.output / "checks"
        if result.problems_workbook is None:
            (checks / problems_name(path.name)).unlink(missing_ok=True)  # an older one for a now-clean file
        receipt = checks / f"{path.name}{RECEIPT_SUFFIX}"
        checked_at = self._jobs.now().astimezone(self.nightly_time.zone)
        _write_text(receipt, receipt_text(result, seen.sha256, checked_at, self.s.schedule.time))
        self._seen[path.name] = seen
        log.info("inbox check: %s (sha256 %s): %s read, %d will post, %d already posted, %d need fixing -> %s%s",
                 path.name, seen.sha256[:12], counted(result.rows_read, "row"), result.would_post, result.already_posted,
                 result.rejected, receipt.name,
                 f" + {result.problems_workbook.name}" if result.problems_workbook else "")
        return receipt

    # -- helpers ------------------------------------------------------------------------------------
    def _lock_free(self) -> bool:
        try:
            with run_lock(self.s):
                return True
        except AlreadyRunning:
            return False

    def _local(self, instant: datetime) -> datetime:
        return instant.astimezone(self.nightly_time.zone)


# -- logging -------------------------------------------------------------------------------------------

@contextmanager
def office_logging(settings: Settings, to_stderr: bool = True, level: int = logging.INFO) -> Iterator[Path]:
    """Log `billing_batch.*` to <office>/logs/billing-batch.log (rotating, 5 × 5 MB) and to stderr.

    What is logged is IDs, file names, dates and counts; never a client's name or a cell's value."""
    path = settings.base_dir / LOG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    handlers: list[logging.Handler] = [RotatingFileHandler(path, maxBytes=5_000_000, backupCount=5, encoding="utf-8")]
    if to_stderr:
        handlers.append(logging.StreamHandler())
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S%z")
    logger = logging.getLogger("billing_batch")
    saved = logger.level, logger.propagate
    for h in handlers:
        h.setFormatter(fmt)
        logger.addHandler(h)
    logger.setLevel(level)
    logger.propagate = False  # the CLI's root handler would print each line twice
    try:
        yield path
    finally:
        for h in handlers:
            logger.removeHandler(h)
            h.close()
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


__all__ = ["Scheduler", "SchedulerAlreadyRunning", "NightlyTime", "office_logging", "last_successful_business_date",
           "receipt_text", "system_clock"]
