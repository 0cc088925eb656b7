"""Benchmark the nightly run on a synthetic office (issue 6).

    python -m benchmarks.run --size M [--skip-baselines] [--skip-replay]

1. Generates a fresh office of the size in `benchmarks/out/<size>/` (a separate process, so the
   generator's memory does not count; not timed as part of the run).
2. Runs the real pipeline (`run_batch`) on it with the business date after the last service:
   every file new, every invoice issued. Prints wall time and peak memory per stage and in total.
3. Runs it again the next business day with nothing new in the inbox.
4. Baselines, in the same process and the same minutes (the machine is shared and noisy, so only
   ratios within one run mean much):
   - reading one monthly service log with `pandas.read_excel(engine="openpyxl")` against the
     project's reader (`intake.inbox.read_file`: zip checks, calamine, header detection, cell
     parsing and validation — strictly more work than pandas does);
   - rendering the same 500 invoices (contexts from the ledger, as the run built them) with one
     `DocxTemplate` per document written with `write_atomic` — how documents were rendered before —
     against the project's renderer (`render_many`, all cores; and in one process).
   - making PDFs of N of those invoices (--pdf-docs, default 500) with LibreOffice: one
     `soffice --convert-to pdf` call per document against the project's one batch
     (`documents.pdf.convert`), each with a profile of its own (skipped without LibreOffice);
5. Replays the documents stage alone (the pipeline's own `render_outbox`, on a copy of the first
   run's ledger with every document pending) for a second, quieter measure of that stage.
6. Writes everything to `benchmarks/out/bench-<size>-<time>.json` and `bench-<size>-latest.json`.

How memory is measured: a thread samples the resident set size (VmRSS in /proc/<pid>/status) of
this process and of all its descendants (the forked render workers), summed, every 20 ms and at
every stage boundary; a stage's peak is the highest sample taken while it ran. That sum counts the
pages the workers share copy-on-write with this process once per process, so it errs high; the
proportional set size (Pss in /proc/<pid>/smaps_rollup: each shared page divided among its
sharers), summed over the same processes, is the machine's real cost. PSS is read every 250 ms
while workers are alive (it costs ~10 ms a read) and at stage boundaries; with no worker alive
it equals this process's RSS. The kernel's own high-water mark of this process (VmHWM, reset
before each run through /proc/self/clear_refs) is reported beside them as a check. Stage boundaries come from wrapping the
pipeline's `_Run.stage` timer, so a stage's wall time has the same boundaries as the run report's
"timings".

"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.generate import OUT, SIZES
from billing_batch import pipeline
from billing_batch.config import load_settings
from billing_batch.pipeline import run_batch

console = Console()
SAMPLE_SECONDS = 0.02
# Issue 17's targets (the benchmark measures them; no test times anything).
TARGETS = {"render_ratio": 30.0, "first_run_s": 15.0, "peak_mb": 600.0, "second_run_s": 1.5, "l_over_m": 2.1,
           "documents_ms": 1.2}
PDF_SAMPLE = 20  # one-soffice-call-each PDFs timed on this many documents, then extrapolated


# ------------------------------------------------------------------------------------------ memory

def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/children") as fh:
                    kids = [int(k) for k in fh.read().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def tree_memory_mb(with_pss: bool) -> tuple[float, float | None]:
    """(sum of RSS, sum of PSS or None) over this process and its descendants. PSS shares each page
    among the processes mapping it, so forked workers' copy-on-write pages count once; reading it
    costs ~10 ms for a 300 MB process, so it is sampled less often, and only with workers alive
    (alone, this process's PSS is its RSS)."""
    pids = [os.getpid(), *_descendants(os.getpid())]
    rss = sum(_rss_kb(p) for p in pids) / 1024
    if len(pids) == 1:
        return rss, rss
    return rss, (sum(_pss_kb(p) for p in pids) / 1024 if with_pss else None)


def reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def hwm_mb() -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class RssMonitor(threading.Thread):
    """Peak memory of the process tree per label (the stage running): the RSS sum every 20 ms, the
    PSS sum every 250 ms while workers are alive (and at stage boundaries)."""

    PSS_EVERY = 0.25

    def __init__(self):
        super().__init__(daemon=True)
        self.lock = threading.Lock()
        self.label: str | None = None
        self.peaks: dict[str | None, float] = {}
        self.pss_peaks: dict[str | None, float] = {}
        self.overall = 0.0
        self.overall_pss = 0.0
        self.samples = 0
        self._last_pss = 0.0
        self._halt = threading.Event()

    def reset(self) -> None:
        with self.lock:
            self.peaks, self.pss_peaks, self.overall, self.overall_pss, self.label = {}, {}, 0.0, 0.0, None

    def sample(self, force_pss: bool = False) -> None:
        now = time.monotonic()
        want_pss = force_pss or now - self._last_pss >= self.PSS_EVERY
        rss, pss = tree_memory_mb(want_pss)
        if want_pss:
            self._last_pss = now
        with self.lock:
            self.samples += 1
            self.peaks[self.label] = max(self.peaks.get(self.label, 0.0), rss)
            self.overall = max(self.overall, rss)
            if pss is not None:
                self.pss_peaks[self.label] = max(self.pss_peaks.get(self.label, 0.0), pss)
                self.overall_pss = max(self.overall_pss, pss)

    def enter(self, label: str) -> None:
        self.sample(force_pss=True)
        with self.lock:
            self.label = label
        self.sample(force_pss=True)

    def leave(self) -> None:
        self.sample(force_pss=True)
        with self.lock:
            self.label = None

    def run(self) -> None:
        while not self._halt.wait(SAMPLE_SECONDS):
            self.sample()

    def stop(self) -> None:
        self._halt.set()


# ------------------------------------------------------------------------------------------ runs

@dataclass
class StageMark:
    name: str
    seconds: float
    peak_mb: float | None  # RSS summed over the process tree (counts shared pages once per process)
    peak_pss_mb: float | None = None  # PSS summed over the process tree (shared pages shared out)


@dataclass
class RunMeasure:
    label: str
    as_of: str
    total_seconds: float
    peak_mb: float
    peak_pss_mb: float
    main_hwm_mb: float | None
    stages: list[StageMark] = field(default_factory=list)
    pipeline_timings: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    load_before: tuple = ()
    load_after: tuple = ()


@contextmanager
def traced_stages(monitor: RssMonitor, marks: list[tuple[str, float, float]]):
    """Wrap the pipeline's stage timer so the monitor knows which stage is running."""
    cls = getattr(pipeline, "_Run", None)
    original = getattr(cls, "stage", None)
    if original is None:
        yield False
        return

    @contextmanager
    def stage(self, name):
        t0 = time.perf_counter()
        monitor.enter(name)
        try:
            with original(self, name):
                yield
        finally:
            monitor.leave()
            t1 = time.perf_counter()
            marks.append((name, t0, t1))
            console.print(f"    [dim]{name:<12} {t1 - t0:7.2f} s[/dim]")

    cls.stage = stage
    try:
        yield True
    finally:
        cls.stage = original


def measure_run(label: str, config: Path, as_of: date, monitor: RssMonitor) -> RunMeasure:
    settings = load_settings(config)
    marks: list[tuple[str, float, float]] = []
    reset_hwm()
    monitor.reset()
    load_before = os.getloadavg()
    docs_before = _documents_written(settings)
    console.print(f"[bold]{label}[/bold] (as of {as_of})")
    t0 = time.perf_counter()
    with traced_stages(monitor, marks):
        result = run_batch(settings, as_of)
    total = time.perf_counter() - t0
    monitor.sample()
    report = result.report
    by_stage: dict[str, StageMark] = {}
    for name, a, b in marks:
        mark = by_stage.setdefault(name, StageMark(name, 0.0, 0.0))
        mark.seconds += b - a
    for name, mark in by_stage.items():
        mark.seconds = round(mark.seconds, 3)
        mark.peak_mb = round(monitor.peaks.get(name, 0.0), 1)
        mark.peak_pss_mb = round(monitor.pss_peaks.get(name, 0.0), 1)
    if not by_stage:  # the stage timer could not be wrapped: the pipeline's own timings, no memory
        by_stage = {k: StageMark(k, v, None) for k, v in report.get("timings", {}).items()}
    counts = {"rows_read": report["totals"]["rows_read"], "rows_posted": report["totals"]["posted"],
              "rows_already_posted": report["totals"]["already_posted"], "rows_rejected": report["totals"]["rejected"],
              "invoices": report["invoices"]["count"], "payments_applied": report.get("payments_applied"),
              "problems": len(report.get("problems", [])), "document_failures": len(result.document_failures),
              "documents_written": _documents_written(settings) - docs_before}
    return RunMeasure(label, as_of.isoformat(), round(total, 3), round(monitor.overall, 1),
                      round(monitor.overall_pss, 1), _round(hwm_mb()),
                      list(by_stage.values()), dict(report.get("timings", {})), counts, load_before,
                      os.getloadavg())


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def _documents_written(settings) -> int:
    """Word documents under output/ (invoices, credit notes, letters)."""
    return sum(1 for p in settings.output.rglob("*.docx") if "dry-run" not in p.parts)


# ------------------------------------------------------------------------------------------ baselines

def best_of(n: int, fn) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(n):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def read_baseline(path: Path, config: Path, repeat: int) -> dict:
    import pandas as pd

    from billing_batch.intake.inbox import read_file
    from billing_batch.intake.workbook import read_sheets

    settings = load_settings(config)
    console.print(f"[bold]Baseline: reading[/bold] {path.name}")
    t_pandas, frames = best_of(repeat, lambda: pd.read_excel(path, sheet_name=None, engine="openpyxl"))
    rows = sum(len(df) for df in frames.values())
    t_raw, _ = best_of(repeat, lambda: read_sheets(path))
    t_project, intake = best_of(repeat, lambda: read_file(path, settings))
    return {"file": path.name, "rows": rows, "pandas_openpyxl_s": round(t_pandas, 3),
            "project_read_sheets_s": round(t_raw, 3), "project_read_parse_validate_s": round(t_project, 3),
            "project_rows": intake.rows_read, "ratio": round(t_pandas / t_project, 2),
            "ratio_read_only": round(t_pandas / t_raw, 2)}


def invoice_jobs(config: Path, as_of: date, n: int, out: Path) -> list[tuple[Path, dict, Path]]:
    """The first n invoices the run issued: template and context exactly as the run builds them."""
    import inspect

    from sqlalchemy import select

    from billing_batch.ledger import issued
    from billing_batch.ledger.db import open_ledger
    from billing_batch.ledger.schema import outbox

    from billing_batch.publish import Publisher

    settings = load_settings(config)
    run = Publisher(settings)
    engine = open_ledger(settings.database_url)
    jobs = []
    try:
        with engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(
                select(outbox).where(outbox.c.kind == "invoice").order_by(outbox.c.id).limit(n))]
            extra = ()
            if "invoices" in inspect.signature(run.document).parameters:  # contexts from one bulk read
                extra = (issued.invoices_for_documents(conn, [j["ref_id"] for j in rows]),)
            for job in rows:
                template, ctx = run.document(conn, job, *extra)
                jobs.append((run.template(template), ctx, out / Path(job["path"]).name))
    finally:
        engine.dispose()
    return jobs


def render_baseline(config: Path, as_of: date, n: int, workers: int | None) -> dict:
    from docxtpl import DocxTemplate

    from billing_batch.documents.fast_render import (
        render_bytes,
        strict_env,
        usable_cpus,
    )
    from billing_batch.documents.render import render_many, write_atomic

    base = OUT / "render-baseline"
    shutil.rmtree(base, ignore_errors=True)
    jobs = invoice_jobs(config, as_of, n, base / "x")
    lines = sorted(len(c["lines"]) for _, c, _ in jobs)
    console.print(f"[bold]Baseline: rendering[/bold] {len(jobs)} invoices "
                  f"({lines[0]}-{lines[-1]} lines, median {lines[len(lines) // 2]})")

    def docxtpl_each(dest: Path):
        for template, ctx, out in jobs:
            doc = DocxTemplate(str(template))
            doc.render(ctx, jinja_env=strict_env())
            buf = io.BytesIO()
            doc.save(buf)
            write_atomic(dest / out.name, buf.getvalue())

    def project(dest: Path, w: int | None):
        results = render_many([(t, c, dest / o.name) for t, c, o in jobs], workers=w)
        bad = [r for r in results if not r.ok]
        if bad:
            raise RuntimeError(f"{len(bad)} documents failed, e.g. {bad[0].error}")

    def docxtpl_bytes():
        for template, ctx, _ in jobs:
            doc = DocxTemplate(str(template))
            doc.render(ctx, jinja_env=strict_env())
            doc.save(io.BytesIO())

    def fast_bytes():
        for template, ctx, _ in jobs:
            render_bytes(template, ctx)

    t_base = _timed(lambda: docxtpl_each(base / "docxtpl"))
    fast_bytes()  # prepare the templates in this process once, as any run does on its first document
    t_all = _timed(lambda: project(base / "render_many", workers))
    t_one = _timed(lambda: project(base / "render_many_1", 1))
    t_base_bytes = _timed(docxtpl_bytes)
    t_fast_bytes = _timed(fast_bytes)
    same = _same_documents(base / "docxtpl", base / "render_many", [o.name for _, _, o in jobs[:50]])
    shutil.rmtree(base, ignore_errors=True)
    return {"documents": len(jobs), "lines_min": lines[0], "lines_median": lines[len(lines) // 2],
            "lines_max": lines[-1], "workers": workers or usable_cpus(),
            "docxtpl_per_document_s": round(t_base, 3), "render_many_all_cores_s": round(t_all, 3),
            "render_many_one_process_s": round(t_one, 3), "ratio": round(t_base / t_all, 2),
            "ratio_one_process": round(t_base / t_one, 2),
            "render_only_docxtpl_s": round(t_base_bytes, 3), "render_only_fast_s": round(t_fast_bytes, 3),
            "ratio_render_only": round(t_base_bytes / t_fast_bytes, 2),
            "ms_per_document": {"docxtpl": round(t_base / len(jobs) * 1000, 2),
                                "render_many": round(t_all / len(jobs) * 1000, 2)},
            "first_50_identical_parts": same}


def pdf_baseline(config: Path, n: int, sample: int = PDF_SAMPLE) -> dict:
    """PDFs of the first n invoices the run wrote: one soffice call per document (how a script
    would do it) against the one batch the run makes (`documents.pdf.convert`, which splits it into
    calls of at most pdf.MAX_FILES). One call each costs ~1.2 s a document, so it is timed on the
    first `sample` documents only and extrapolated to n (the JSON says so); the batch does all n."""
    from sqlalchemy import select

    from billing_batch.documents import pdf
    from billing_batch.ledger.db import open_ledger
    from billing_batch.ledger.schema import outbox

    if pdf.soffice() is None:
        return {"skipped": pdf.NOT_INSTALLED}
    settings = load_settings(config)
    engine = open_ledger(settings.database_url)
    try:
        with engine.connect() as conn:
            paths = list(conn.execute(select(outbox.c.path).where(outbox.c.kind == "invoice")
                                      .order_by(outbox.c.id).limit(n)).scalars())
    finally:
        engine.dispose()
    sources = [settings.output / p for p in paths]
    base = OUT / "pdf-baseline"
    shutil.rmtree(base, ignore_errors=True)
    limits = pdf.Limits(600, 5)
    console.print(f"[bold]Baseline: PDFs[/bold] of {len(sources)} invoices, one soffice call each vs one batch")
    each = sources[:sample] if 0 < sample < len(sources) else sources
    t_each_sample = _timed(lambda: [pdf.convert([(s, base / "each" / f"{s.stem}.pdf")], limits) for s in each])
    t_each = t_each_sample / max(len(each), 1) * len(sources)
    batch: dict = {}
    t_batch = _timed(lambda: batch.update(pdf.convert([(s, base / "batch" / f"{s.stem}.pdf") for s in sources],
                                                      limits)))
    made = {"each": len(list((base / "each").glob("*.pdf"))), "batch": sum(1 for e in batch.values() if e is None)}
    shutil.rmtree(base, ignore_errors=True)
    return {"documents": len(sources), "one_call_each_s": round(t_each, 3), "one_batch_s": round(t_batch, 3),
            "one_call_each_sample": len(each), "one_call_each_sample_s": round(t_each_sample, 3),
            "one_call_each_extrapolated": len(each) < len(sources), "batch_calls": len(pdf.chunks(sources)),
            "ratio": round(t_each / t_batch, 2), "made": made,
            "ms_per_document": {"one_call_each": round(t_each / max(len(sources), 1) * 1000, 1),
                                "one_batch": round(t_batch / max(len(sources), 1) * 1000, 1)}}


def documents_replay(config: Path, as_of: date) -> dict:
    """The documents stage alone, timed again: the pipeline's own `Publisher.render_outbox` on a copy of
    the first run's ledger with every outbox row set back to pending, writing into a scratch
    folder. A second, quieter measure of the stage (nothing else of the run around it)."""
    from sqlalchemy import make_url

    from billing_batch.ledger.db import open_ledger
    from billing_batch.ledger.schema import outbox

    settings = load_settings(config)
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        return {"skipped": "the replay copies a SQLite ledger"}
    base = OUT / "documents-replay"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    shutil.copyfile(url.database, base / "ledger.sqlite")
    from billing_batch.ledger import queue
    from billing_batch.publish import Publisher

    engine = open_ledger(f"sqlite:///{base / 'ledger.sqlite'}")
    run = Publisher(settings)
    run.out = base / "output"
    console.print("[bold]Replay: documents stage alone[/bold]")
    try:
        with engine.begin() as conn:
            documents = conn.execute(outbox.update().where(outbox.c.kind.in_(("invoice", "credit_note", "letter")))
                                     .values(status="pending")).rowcount
        with engine.connect() as conn:
            t0 = time.perf_counter()
            failures = run.render_outbox(conn, [r for r in queue.pending_outbox(conn)
                                                if r["kind"] in ("invoice", "credit_note", "letter")])
            total = time.perf_counter() - t0
    finally:
        engine.dispose()
        shutil.rmtree(base, ignore_errors=True)
    return {"documents": documents, "failures": len(failures), "seconds": round(total, 3)}


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _same_documents(a: Path, b: Path, names: list[str]) -> bool:
    import zipfile

    for name in names:
        with zipfile.ZipFile(a / name) as za, zipfile.ZipFile(b / name) as zb:
            if za.namelist() != zb.namelist() or any(za.read(n) != zb.read(n) for n in za.namelist()):
                return False
    return True


# ------------------------------------------------------------------------------------------ quiet night, aging workbook
# (issue 17.3 and 17.6: kept apart from the measures above)

REPO = Path(__file__).resolve().parents[1]
HEAVY_MODULES = ("pandas", "pandera", "alembic", "psycopg", "docxtpl", "docx", "pypdf", "openpyxl", "xlsxwriter",
                 "jinja2", "lxml", "sqlalchemy")


def _child_run(config: Path, as_of: date, *python_flags: str) -> dict:
    """`python -m billing_batch run` of this tree as a whole process, as the scheduler starts it:
    wall time from just before the start to its exit (start-up and imports included), and the
    kernel's own accounting of the child (CPU seconds, peak RSS)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, *python_flags, "-m", "billing_batch", "run", "--config", str(config),
           "--as-of", as_of.isoformat()]
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with child.stderr or io.BytesIO() as pipe:
        stderr = pipe.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    child.returncode = os.waitstatus_to_exitcode(status)
    return {"as_of": as_of.isoformat(), "exit_code": child.returncode, "wall_s": round(wall, 3),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 3), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "stderr": stderr.decode("utf-8", "replace")}


def _import_times(stderr: str) -> tuple[float, list[str]]:
    """Seconds spent importing (the top-level entries of `-X importtime`) and which of the heavy
    libraries were imported at all."""
    total_us, seen = 0, set()
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if not cumulative.strip().isdigit():
            continue  # the header line
        if name.startswith(" ") and not name.startswith("  "):
            total_us += int(cumulative)
        top = name.strip().split(".")[0]
        if top in HEAVY_MODULES:
            seen.add(top)
    return total_us / 1e6, sorted(seen)


def quiet_nights(config: Path, first_day: date, runs: int = 3) -> dict:
    """Quiet nights as whole processes (issue 17.3): after the second run, `runs` more nights with
    nothing new, one business day apart (each a new date, so each writes that date's aging
    workbook, as a real quiet night does), plus one first with `-X importtime` (not counted in the
    wall times: it slows imports) for the import time and the heavy libraries a quiet night loads."""
    console.print(f"[bold]Quiet nights as whole processes[/bold] ({runs} + 1 with -X importtime)")
    traced = _child_run(config, first_day, "-X", "importtime")
    import_s, heavy = _import_times(traced.pop("stderr"))
    timed = []
    for i in range(1, runs + 1):
        run = _child_run(config, first_day + timedelta(days=i))
        run.pop("stderr")
        timed.append(run)
        console.print(f"    [dim]{run['as_of']}  {run['wall_s']:6.2f} s wall  {run['cpu_s']:6.2f} s CPU  "
                      f"exit {run['exit_code']}[/dim]")
    walls = sorted(r["wall_s"] for r in timed)
    cpus = sorted(r["cpu_s"] for r in timed)
    return {"runs": timed, "wall_s_min": walls[0], "wall_s_median": walls[len(walls) // 2],
            "cpu_s_median": cpus[len(cpus) // 2], "import_s": round(import_s, 3), "heavy_modules_imported": heavy,
            "importtime_run": traced, "load": os.getloadavg()}


def aging_workbook_timing(config: Path) -> dict:
    """The aging workbook's writer alone (issue 17.6), on the ledger as the last run left it: the
    pipeline's own `Publisher.write_reports` into a scratch folder, with the writer function it
    calls (`publish.write_aging_workbook`, whichever it is at the time) timed on its own."""
    from sqlalchemy import func, select

    from billing_batch import publish
    from billing_batch.ledger import finishing
    from billing_batch.ledger.db import open_ledger
    from billing_batch.ledger.schema import runs

    settings = load_settings(config)
    base = OUT / "aging-workbook"
    shutil.rmtree(base, ignore_errors=True)
    run = publish.Publisher(settings)
    run.out = base
    writer = publish.write_aging_workbook
    timed: dict = {}

    def timed_writer(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return writer(*args, **kwargs)
        finally:
            timed["writer_s"] = time.perf_counter() - t0

    console.print("[bold]Aging workbook[/bold] written alone")
    engine = open_ledger(settings.database_url)
    publish.write_aging_workbook = timed_writer
    try:
        with engine.connect() as conn:
            run_id = conn.execute(select(func.max(runs.c.id))).scalar_one()
            as_of, report = finishing.run_report(conn, run_id)
            t0 = time.perf_counter()
            path = run.write_reports(conn, as_of, report, latest=False)
            total = time.perf_counter() - t0
        size = path.stat().st_size
    finally:
        publish.write_aging_workbook = writer
        engine.dispose()
        shutil.rmtree(base, ignore_errors=True)
    return {"as_of": as_of.isoformat(), "writer": f"{writer.__module__}.{writer.__name__}",
            "writer_s": round(timed.get("writer_s", float("nan")), 3), "write_reports_s": round(total, 3),
            "bytes": size}


def provenance() -> dict:
    """What was measured, so runs can be compared (issue 17.5): the commit ("unknown" outside a git
    checkout), its date, the files that differed from it, and when the benchmark ran."""
    info = {"commit": "unknown", "commit_date": None, "uncommitted": [],
            "date": datetime.now().astimezone().isoformat(timespec="seconds")}
    try:
        head = subprocess.run(["git", "log", "-1", "--format=%H %cI"], capture_output=True, text=True, check=True,
                              cwd=REPO).stdout.split()
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, check=True,
                               cwd=REPO).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return info
    if len(head) == 2:
        info.update(commit=head[0], commit_date=head[1], uncommitted=[line[3:] for line in dirty])
    return info


def quiet_targets(size: str, quiet: dict | None) -> list[dict]:
    if size != "M" or not quiet:
        return []
    return [{"target": f"second run of M with nothing new <= {TARGETS['second_run_s']} s as a whole process "
                       "(median wall, start-up included)",
             "measured": f"{quiet['wall_s_median']:.2f} s ({quiet['cpu_s_median']:.2f} s CPU)",
             "ok": quiet["wall_s_median"] <= TARGETS["second_run_s"]}]


def quiet_table(quiet: dict | None, aging_write: dict | None) -> Table:
    t = Table(title="Quiet night and aging workbook (same run)", title_justify="left")
    t.add_column("measure")
    t.add_column("seconds", justify="right")
    if quiet:
        load = ", ".join(f"{x:.1f}" for x in quiet["load"])
        t.add_row(f"quiet night, whole process (`python -m billing_batch run`), median of {len(quiet['runs'])} "
                  f"(min {quiet['wall_s_min']:.2f}; load {load})", f"[bold]{quiet['wall_s_median']:.2f}[/bold]")
        t.add_row("  its CPU time (user + sys), median", f"{quiet['cpu_s_median']:.2f}")
        t.add_row("  importing, one run under -X importtime (heavy libraries loaded: "
                  f"{', '.join(quiet['heavy_modules_imported']) or 'none'})", f"{quiet['import_s']:.2f}")
    if aging_write:
        t.add_row(f"aging workbook writer alone ({aging_write['writer']}, {aging_write['bytes'] / 1e6:.1f} MB)",
                  f"[bold]{aging_write['writer_s']:.2f}[/bold]")
        t.add_row("  all the reports of a night (write_reports: ledger reads + workbooks)",
                  f"{aging_write['write_reports_s']:.2f}")
    return t


# ------------------------------------------------------------------------------------------ output

def run_table(m: RunMeasure) -> Table:
    t = Table(title=f"{m.label} — as of {m.as_of}", title_justify="left")
    t.add_column("stage")
    t.add_column("wall s", justify="right")
    t.add_column("share", justify="right")
    t.add_column("peak PSS MB", justify="right")
    t.add_column("peak RSS-sum MB", justify="right")
    for s in m.stages:
        t.add_row(s.name, f"{s.seconds:.2f}", f"{s.seconds / m.total_seconds:.0%}",
                  "-" if s.peak_pss_mb is None else f"{s.peak_pss_mb:.0f}",
                  "-" if s.peak_mb is None else f"{s.peak_mb:.0f}")
    between = m.total_seconds - sum(s.seconds for s in m.stages)
    t.add_row("[dim]between stages[/dim]", f"{between:.2f}", f"{between / m.total_seconds:.0%}", "", "")
    t.add_row("[bold]total[/bold]", f"[bold]{m.total_seconds:.2f}[/bold]", "100%", f"[bold]{m.peak_pss_mb:.0f}[/bold]",
              f"{m.peak_mb:.0f}" + (f" (main HWM {m.main_hwm_mb:.0f})" if m.main_hwm_mb else ""))
    return t


def baseline_table(read: dict | None, render: dict | None, pdfs: dict | None = None) -> Table:
    t = Table(title="Baselines (same run)", title_justify="left")
    for col in ("measure", "baseline s", "project s", "ratio"):
        t.add_column(col, justify="left" if col == "measure" else "right")
    if read:
        t.add_row(f"read {read['file']} ({read['rows']:,} rows): pandas.read_excel(openpyxl) vs read_file "
                  "(read + parse + validate)", f"{read['pandas_openpyxl_s']:.2f}",
                  f"{read['project_read_parse_validate_s']:.2f}", f"[bold]{read['ratio']:.1f}x[/bold]")
        t.add_row("  same, against the project's raw read (read_sheets)", f"{read['pandas_openpyxl_s']:.2f}",
                  f"{read['project_read_sheets_s']:.2f}", f"{read['ratio_read_only']:.1f}x")
    if render:
        n = render["documents"]
        t.add_row(f"render + write {n} invoices: one DocxTemplate each vs render_many "
                  f"({render['workers']} processes)", f"{render['docxtpl_per_document_s']:.2f}",
                  f"{render['render_many_all_cores_s']:.2f}", f"[bold]{render['ratio']:.1f}x[/bold]")
        t.add_row("  same, render_many in one process", f"{render['docxtpl_per_document_s']:.2f}",
                  f"{render['render_many_one_process_s']:.2f}", f"{render['ratio_one_process']:.1f}x")
        t.add_row("  rendering only, in memory, one process", f"{render['render_only_docxtpl_s']:.2f}",
                  f"{render['render_only_fast_s']:.2f}", f"{render['ratio_render_only']:.1f}x")
    if pdfs and "ratio" in pdfs:
        each = (f"one soffice call each (timed on {pdfs['one_call_each_sample']}, extrapolated)"
                if pdfs.get("one_call_each_extrapolated") else "one soffice call each")
        t.add_row(f"PDF {pdfs['documents']} invoices with LibreOffice: {each} vs one batch "
                  f"({pdfs.get('batch_calls', 1)} calls; made {pdfs['made']['each']} / {pdfs['made']['batch']})",
                  f"{pdfs['one_call_each_s']:.2f}", f"{pdfs['one_batch_s']:.2f}", f"[bold]{pdfs['ratio']:.1f}x[/bold]")
    elif pdfs:
        t.add_row(f"PDF: skipped ({pdfs['skipped']})", "-", "-", "-")
    return t


def targets(size: str, first: RunMeasure, second: RunMeasure, render: dict | None, m_latest: dict | None) -> list[dict]:
    rows = []
    if render:
        rows.append({"target": f"rendering >= {TARGETS['render_ratio']:.0f}x the one-DocxTemplate-per-document baseline",
                     "measured": f"{render['ratio']:.1f}x", "ok": render["ratio"] >= TARGETS["render_ratio"]})
    if size == "M":
        rows.append({"target": f"first run of M <= {TARGETS['first_run_s']:.0f} s", "measured": f"{first.total_seconds:.1f} s",
                     "ok": first.total_seconds <= TARGETS["first_run_s"]})
        rows.append({"target": f"peak memory of M's first run <= {TARGETS['peak_mb']:.0f} MB PSS (RSS summed over processes)",
                     "measured": f"{first.peak_pss_mb:.0f} MB ({first.peak_mb:.0f} MB)",
                     "ok": first.peak_pss_mb <= TARGETS["peak_mb"]})
    if size == "L" and m_latest:
        ratio = first.total_seconds / m_latest["first_run"]["total_seconds"]
        rows.append({"target": f"L <= {TARGETS['l_over_m']}x M (M measured {m_latest['finished']})", "measured": f"{ratio:.2f}x",
                     "ok": ratio <= TARGETS["l_over_m"]})
    return rows


def targets_table(rows: list[dict]) -> Table:
    t = Table(title="Targets", title_justify="left")
    t.add_column("target")
    t.add_column("measured", justify="right")
    t.add_column("", justify="center")
    for r in rows:
        t.add_row(r["target"], r["measured"], "[green]met[/green]" if r["ok"] else "[red]missed[/red]")
    return t


# ------------------------------------------------------------------------------------------ main

def generate_office(size: str) -> dict:
    console.print(f"[bold]Generating[/bold] office {size} {SIZES[size]}")
    out = subprocess.run([sys.executable, "-m", "benchmarks.generate", "--size", size, "--out", str(OUT)],
                         check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    manifest = json.loads(out.stdout.strip().splitlines()[-1])
    console.print(f"    [dim]{len(manifest['files'])} workbooks in {manifest['seconds']} s[/dim]")
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Benchmark the nightly run on a synthetic office.")
    ap.add_argument("--size", choices=sorted(SIZES), default="M")
    ap.add_argument("--skip-baselines", action="store_true")
    ap.add_argument("--workers", type=int, default=None, help="render processes for the baseline (default: cores)")
    ap.add_argument("--render-docs", type=int, default=500)
    ap.add_argument("--pdf-docs", type=int, default=500,
                    help="invoices for the PDF baseline (one soffice call each takes ~1.2 s a document); 0 = skip")
    ap.add_argument("--skip-replay", action="store_true",
                    help="do not time the documents stage again on its own")
    ap.add_argument("--quiet-runs", type=int, default=3,
                    help="quiet nights timed as whole processes after the second run; 0 = skip")
    args = ap.parse_args(argv)

    started = datetime.now()
    git = provenance()
    manifest = generate_office(args.size)
    config, as_of = Path(manifest["config"]), date.fromisoformat(manifest["as_of"])

    monitor = RssMonitor()
    monitor.start()
    first = measure_run(f"First run, size {args.size}: everything new", config, as_of, monitor)
    second = measure_run(f"Second run, size {args.size}: nothing new", config, as_of + timedelta(days=1), monitor)
    monitor.stop()
    quiet = quiet_nights(config, as_of + timedelta(days=2), args.quiet_runs) if args.quiet_runs > 0 else None
    aging_write = aging_workbook_timing(config)

    read = render = replay = pdfs = None
    if not args.skip_baselines:
        repeat = 1 if args.size == "L" else 2
        read = read_baseline(Path(manifest["service_logs"][0]), config, repeat)
        render = render_baseline(config, as_of, args.render_docs, args.workers)
        if args.pdf_docs:
            pdfs = pdf_baseline(config, args.pdf_docs)
    if not args.skip_replay:
        replay = documents_replay(config, as_of)

    latest_m = OUT / "bench-M-latest.json"
    m_latest = json.loads(latest_m.read_text()) if args.size == "L" and latest_m.exists() else None
    goal_rows = targets(args.size, first, second, render, m_latest) + quiet_targets(args.size, quiet)

    console.print()
    console.print(run_table(first))
    console.print(run_table(second))
    if read or render or pdfs:
        console.print(baseline_table(read, render, pdfs))
    if replay and "seconds" in replay:
        stage = sum(x.seconds for x in first.stages if x.name == "documents")
        console.print(f"Documents stage: {stage:.1f} s in the first run; replayed alone on a copy of the ledger: "
                      f"[bold]{replay['seconds']:.1f} s[/bold] for {replay['documents']:,} documents "
                      f"({replay['seconds'] / max(replay['documents'], 1) * 1000:.2f} ms each)")
    console.print(quiet_table(quiet, aging_write))
    if goal_rows:
        console.print(targets_table(goal_rows))

    result = {"size": args.size, "spec": SIZES[args.size].__dict__, "started": started.isoformat(timespec="seconds"),
              "finished": datetime.now().isoformat(timespec="seconds"), "cpus": os.cpu_count(),
              "python": sys.version.split()[0], "manifest": manifest,
              "memory_method": "peak_mb: sum of VmRSS of this process and its descendants, sampled every 20 ms "
                               "and at stage boundaries (counts copy-on-write pages once per process); "
                               "peak_pss_mb: sum of Pss (smaps_rollup) over the same processes, every 250 ms "
                               "while workers are alive and at stage boundaries; main_hwm_mb: VmHWM of this "
                               "process, reset before each run",
              "first_run": _measure_dict(first), "second_run": _measure_dict(second),
              "baselines": {"read": read, "render": render, "pdf": pdfs}, "documents_replay": replay,
              "quiet_nights": quiet, "aging_workbook": aging_write,
              "commit": git["commit"], "date": git["date"], "git": git, "targets": goal_rows}
    stamp = started.strftime("%Y%m%dT%H%M%S")
    tag = args.size
    for name in (f"bench-{tag}-{stamp}.json", f"bench-{tag}-latest.json"):
        (OUT / name).write_text(json.dumps(result, indent=2, default=str))
    console.print(f"[dim]written {OUT / f'bench-{tag}-{stamp}.json'}[/dim]")
    return 0


def _measure_dict(m: RunMeasure) -> dict:
    d = m.__dict__.copy()
    d["stages"] = [s.__dict__ for s in m.stages]
    return d


if __name__ == "__main__":
    sys.exit(main())
