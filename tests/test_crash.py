"""Killed at any moment, the next run finishes the job with the same result (SPEC §6.4).

Real runs in processes of their own (tests/crashkit.py) are killed with SIGKILL at named points
(`billing_batch.faults`), then the office runs again; what it ends with is compared with an
uninterrupted run of the same office.
"""

from __future__ import annotations

import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from billing_batch import faults
from billing_batch.documents import fast_render
from billing_batch.ledger.db import open_ledger
from billing_batch.ledger.schema import metadata
from billing_batch.pipeline import run_batch
from tests.conftest import PG_ADMIN, _postgres_database
from tests.crash_office import SECOND_NIGHT, Snapshot, build_base, clone, numbering_gaps, snapshot
from tests.crashkit import KILL_AT, live_processes, reap, run_child
from tests.office import Office
from tests.test_end_to_end import drop_office

pytestmark = pytest.mark.crash


def _schema_statements(url: str, tmp_path) -> int:
    """How many statements creating a ledger takes, counted on a scratch ledger of the same kind."""
    drop = None
    if url.startswith("sqlite"):
        scratch = f"sqlite:///{tmp_path / 'count.sqlite'}"
    else:
        scratch, drop = _postgres_database()
    faults._passed.clear()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KILL_AT, "schema:0")  # counts, never kills
        open_ledger(scratch).dispose()
    n = faults._passed["schema"]
    faults._passed.clear()
    if drop:
        drop()
    return n


def _tables(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        return inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_a_first_run_killed_while_creating_the_schema_is_finished_by_the_next(office, tmp_path):
    """Issue 11.1: a kill during a new office's first run left half a schema and an empty
    alembic_version, and every later run failed with "table counters already exists"."""
    drop_office(office)
    url = office.settings.database_url
    n = _schema_statements(url, tmp_path)
    assert n > 20
    run = ["run", "--config", str(office.config), "--as-of", "2026-03-31"]
    for point in sorted({1, 2, 3, n // 4, n // 2, 3 * n // 4, n - 1, n}):
        outcome = run_child(run, {KILL_AT: f"schema:{point}"}, log=tmp_path / "child.log")
        assert outcome.killed, f"schema statement {point} of {n} was not reached"
        assert _tables(url) == [], f"killed at schema statement {point}, the ledger kept part of a schema"
    finished = run_child(run, log=tmp_path / "child.log")
    assert finished.exit_code == 0, (tmp_path / "child.log").read_text()[-3000:]
    engine = open_ledger(url)
    try:
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata) == []
            assert [r[0] for r in conn.exec_driver_sql("SELECT number FROM invoices ORDER BY number")] == [
                "INV-2026-00001", "INV-2026-00002", "INV-2026-00003"]
    finally:
        engine.dispose()


# -- a whole night killed at points across its stages -------------------------------------------------

FIXED_POINT_CLIENTS = 12  # 8 new invoices, 8 letters, a credit note: every stage, and fast


@dataclass
class Base:
    office: Office
    root: Path
    url: str
    backend: str
    reference: Snapshot
    counts: dict[str, int]
    seconds: float  # an uninterrupted second night, in a process of its own
    _n: int = 0

    def trial_office(self) -> Office:
        """A copy of the base office (first night done, second night's inbox dropped) and its ledger."""
        self._n += 1
        name = f"t{self._n:03d}"
        if self.backend == "sqlite":
            office = clone(self.office, self.root / name, f"sqlite:///{self.root / name / 'ledger.sqlite'}")
        else:
            office = clone(self.office, self.root / name, _pg_copy(self.url, f"{_pg_name(self.url)}_{name}"))
        return office


def _pg_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _pg_copy(url: str, name: str) -> str:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{_pg_name(url)}"'))
    finally:
        admin.dispose()
    return url.rsplit("/", 1)[0] + "/" + name


def _pg_drop_all(prefix: str) -> None:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            for (name,) in c.execute(text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                                     {"p": prefix + "%"}).all():
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _one_process_rendering() -> None:
    """For a child run: render in the run's own process, so every point is passed in the same order
    each time (with workers, which process writes which chunk depends on timing)."""
    faults._passed.clear()
    fast_render.usable_cpus = lambda: 1


def _worker_rendering() -> None:
    """For a child run: a small office's documents still go to render workers."""
    faults._passed.clear()
    fast_render.PARALLEL_MIN_JOBS = 8


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def base(request, tmp_path_factory) -> Base:
    soak = request.config.getoption("--crash-iterations") > 0
    clients = request.config.getoption("--crash-clients") or (300 if soak else FIXED_POINT_CLIENTS)
    root = tmp_path_factory.mktemp(f"crash-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{root / 'base' / 'ledger.sqlite'}"
    else:
        url, drop = _postgres_database()
        request.addfinalizer(drop)
        request.addfinalizer(lambda: _pg_drop_all(_pg_name(url) + "_t"))
    office = build_base(root / "base", url, clients)
    b = Base(office, root, url, request.param, None, {}, 0.0)  # type: ignore[arg-type]
    # The reference: the second night uninterrupted, then the same night again (what every trial
    # ends with: the killed night, then a run that finishes it). Points counted on the way.
    ref = b.trial_office()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KILL_AT, "count:0")
        mp.setattr(fast_render, "usable_cpus", lambda: 1)
        faults._passed.clear()
        run_batch(ref.settings, SECOND_NIGHT)
        b.counts = dict(faults._passed)
        faults._passed.clear()
    run_batch(ref.settings, SECOND_NIGHT)
    b.reference = snapshot(ref)
    timed = b.trial_office()
    started = time.monotonic()
    assert run_child(["run", "--config", timed.config, "--as-of", SECOND_NIGHT]).exit_code == 0
    b.seconds = time.monotonic() - started
    return b


def kill_points(counts: dict[str, int]) -> list[tuple[str, int, bool]]:
    """(point, n, with render workers): statements spread over the whole night, both sides of the
    commit, documents on disk but not yet marked (with and without workers), temporary files
    written but not renamed, the PDFs and the print pack, each inbox file filed, the reports."""
    sql, docs, temp, files = counts["sql"], counts["documents"], counts["temp"], counts["files"]
    points = [("sql", max(1, round(sql * i / 17)), False) for i in range(1, 17)]
    points += [("commit", 1, False), ("commit", 2, False)]
    points += [("documents", n, False) for n in sorted({1, docs // 2, docs})]
    points += [("documents", n, True) for n in sorted({2, docs - 1})]
    points += [("temp", n, False) for n in sorted({1, temp // 2, temp})]
    points += [("pdf", 1, False), ("print", 1, False)]  # PDFs and the print pack in place, not yet marked
    points += [("files", n, False) for n in range(1, files + 1)]
    points += [("reports", 1, False)]
    return points


@dataclass
class Trial:
    what: str
    killed: bool
    orphans: list[int]
    differences: list[str]
    gaps: int
    extra_rows: int
    temp_files: list[str]


def _trial(b: Base, env: dict | None = None, kill_after: float | None = None, pool: bool = False,
           what: str = "") -> Trial:
    office = b.trial_office()
    log = office.root / "killed-run.log"
    outcome = run_child(["run", "--config", office.config, "--as-of", SECOND_NIGHT], env, kill_after, log,
                        before=_worker_rendering if pool or kill_after is not None else _one_process_rendering)
    orphans = live_processes(outcome.pgid)
    reap(outcome.pgid)
    finisher = run_batch(office.settings, SECOND_NIGHT)  # the night run again: it finishes the job
    assert finisher.exit_code == 0, finisher.document_failures
    got = snapshot(office)
    extra = sum(max(0, len(rows) - len(b.reference.ledger.get(t, []))) for t, rows in got.ledger.items())
    trial = Trial(what, outcome.killed, orphans, got.differences(b.reference),
                  numbering_gaps(office.settings.database_url), extra, got.temp_files)
    if not trial.killed and outcome.exit_code not in (0, None):
        trial.differences.append(f"the run exited {outcome.exit_code}: {log.read_text()[-2000:]}")
    return trial


def test_a_night_killed_at_any_point_is_finished_by_the_next_run_with_the_same_result(base):
    """SPEC §6.4, issue 11: killed with SIGKILL at each point, then run again, the office ends
    exactly as after an uninterrupted night: ledger rows, documents, workbooks, folders, reports;
    no temporary file, no render worker left."""
    points = kill_points(base.counts)
    assert len(points) >= 30
    failures = []
    for point, n, pool in points:
        t = _trial(base, {KILL_AT: f"{point}:{n}"}, pool=pool, what=f"{point}:{n}{' (workers)' if pool else ''}")
        if not t.killed:
            failures.append(f"{t.what}: never reached")
        if t.orphans or t.differences or t.gaps or t.temp_files:
            failures.append(f"{t.what}: orphans {t.orphans}, gaps {t.gaps}, temp files {t.temp_files}, "
                            f"{t.differences}")
    assert not failures, "\n".join(failures)


def test_a_soak_of_random_kills(base, request, capsys):
    """`pytest tests/test_crash.py --crash-iterations 200`: the night killed at random moments
    (the whole run's duration, render workers on, as in production), each finished by a run."""
    iterations = request.config.getoption("--crash-iterations")
    if not iterations:
        pytest.skip("a soak: give --crash-iterations N")
    rng = random.Random(request.config.getoption("--crash-seed"))
    tally = {"trials": 0, "killed": 0, "converged": 0, "duplicates": 0, "gaps": 0, "temp files": 0, "orphans": 0}
    diverged = []
    for i in range(iterations):
        t = _trial(base, kill_after=rng.uniform(0, base.seconds * 1.1), what=f"random #{i}")
        tally["trials"] += 1
        tally["killed"] += t.killed
        tally["converged"] += not t.differences
        tally["duplicates"] += t.extra_rows
        tally["gaps"] += t.gaps
        tally["temp files"] += len(t.temp_files)
        tally["orphans"] += len(t.orphans)
        if t.differences:
            diverged.append((t.what, t.differences))
        shutil.rmtree(base.root / f"t{base._n:03d}", ignore_errors=True)
    with capsys.disabled():
        print(f"\nsoak on {base.backend}, {base.office.settings.database_url.split(':')[0]}, "
              f"an uninterrupted night {base.seconds:.1f} s: {tally}")
    assert diverged == [] and tally["orphans"] == tally["gaps"] == tally["temp files"] == tally["duplicates"] == 0
