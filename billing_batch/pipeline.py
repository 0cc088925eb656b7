"""The nightly run (SPEC §4), top to bottom: finish what earlier runs left → intake → post →
invoice → aging check → commit → documents → files and reports. The ledger changes in one
transaction; everything written to disk happens after it commits, from the outbox (publish.py),
or, for --dry-run, into output/dry-run/ before it is rolled back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from filelock import FileLock, Timeout
from sqlalchemy import Connection

from billing_batch import faults
from billing_batch.billing.aging import Aging
from billing_batch.billing.invoicing import billing_due, draft_invoices, share_line
from billing_batch.billing.pricing import line_amount, rate_on, unit_price
from billing_batch.billing.review import Finding, review_invoice
from billing_batch.config import Settings
from billing_batch.delivery.email import missing_address_findings
from billing_batch.documents.contexts import bill_to_snapshot
from billing_batch.files import remove_stale_temps
from billing_batch.intake.inbox import FileIntake, NotReady, read_file, scan_inbox
from billing_batch.ledger import balances, delivery, inputs, issued, numbering, plans, queue, runs
from billing_batch.ledger import claims as claim_ledger
from billing_batch.ledger.apply import apply_credit_to_new_invoices, apply_money
from billing_batch.ledger.db import ALREADY_RUNNING, AlreadyRunning, open_ledger, run_session, snapshot
from billing_batch.ledger.posting import Poster, SheetTally
from billing_batch.ledger.verify import Verification
from billing_batch.money import ZERO, to_cents
from billing_batch.problems import Problem, Where
from billing_batch.stages.collections import run_collections
from billing_batch.stages.insurance import policy as insurance_policy, run_insurance
from billing_batch.stages.plans import plan_policy, plan_sheet, run_plans
from billing_batch.publish import (
    Published, Publisher, RunOutputs, aging_as_of, calls_for_report, look_of, manager_view,
)
from billing_batch.reports.aging_workbook import Reconciliation, write_aging_workbook
from billing_batch.reports.problems_workbook import problems_name, write_problems_workbook
from billing_batch.reports.run_report import problem_entry

log = logging.getLogger("billing_batch")
Progress = Callable[[str, int, int], None]  # (stage, done, total)


class RunRefused(Exception):
    """The run would break an order the ledger keeps (exit 1); the message says what to do instead."""


class IntegrityFailure(Exception):
    """An integrity check failed; the run was rolled back (exit 2)."""


@dataclass
class RunResult:
    as_of: date
    dry_run: bool
    report: dict
    report_path: Path
    aging_path: Path | None
    invoices: list[tuple[str, Decimal]] = field(default_factory=list)  # (number, total)
    document_failures: list[str] = field(default_factory=list)  # and files and reports not written
    problems: list[Problem] = field(default_factory=list)
    finished: Published = field(default_factory=Published)  # what earlier runs had left, done first

    @property
    def exit_code(self) -> int:
        return 1 if self.document_failures else 0

    @property
    def invoice_total(self) -> Decimal:
        return sum((t for _, t in self.invoices), ZERO)


def business_today(settings: Settings) -> date:
    return datetime.now(settings.tz).date()


def integrity_message(recon: Reconciliation, proof: Verification) -> str:
    what = list(proof.failures) or [recon.line()]
    return ("the ledger does not prove itself: " + "; ".join(what) +
            ". Nothing was posted; report this to your administrator (see `billing-batch verify`).")


@contextmanager
def run_lock(settings: Settings):
    """One run at a time per office folder (SPEC §6.5); the PostgreSQL ledger adds its own lock."""
    lock = FileLock(str(settings.base_dir / ".billing-batch.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise AlreadyRunning(ALREADY_RUNNING) from None
    try:
        yield
    finally:
        lock.release()


def _noop(stage: str, done: int, total: int) -> None:
    pass


def run_batch(settings: Settings, as_of: date | None = None, dry_run: bool = False,
              progress: Progress = _noop) -> RunResult:
    as_of = as_of or business_today(settings)
    with run_lock(settings):
        return _Run(settings, as_of, dry_run, progress).execute()


def finish_batch(settings: Settings, progress: Progress = _noop) -> Published:
    """`billing-batch finish`: write what earlier runs left in the outbox (documents, inbox files,
    reports), nothing else; every run does this first anyway."""
    with run_lock(settings), run_session(settings.database_url, **settings.ledger_options) as engine:
        remove_stale_temps([settings.output, settings.rejected, settings.processed])
        with engine.connect() as conn:
            return Publisher(settings, progress=progress).publish(conn)


class _Run:
    def __init__(self, settings: Settings, as_of: date, dry_run: bool, progress: Progress):
        self.s, self.as_of, self.dry_run, self.progress = settings, as_of, dry_run, progress
        self.started = datetime.now()
        self.stamp = self.started.strftime("%Y%m%dT%H%M%S")
        self.out = settings.output / "dry-run" if dry_run else settings.output
        self.timings: dict[str, float] = {}
        self.findings: list[Finding] = []
        self.late_problems: list[Problem] = []  # found after intake: refused money, unpriced services

    @contextmanager
    def stage(self, name: str):
        t0 = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - t0, 3)
        log.info("stage %s done in %.2f s", name, self.timings[name])

    # -- the run ----------------------------------------------------------------------------------
    def execute(self) -> RunResult:
        with run_session(self.s.database_url, **self.s.ledger_options) as engine:
            publisher = Publisher(self.s, self.dry_run, self.progress, self.stage)
            remove_stale_temps([self.s.output, self.s.rejected, self.s.processed])
            earlier = Published()
            if not self.dry_run:  # first what earlier runs left (a crash, a failed document)
                with engine.connect() as c:
                    earlier = Publisher(self.s, progress=self.progress).publish(c)
            with self.stage("intake"):
                intakes, waiting, ignored = self.intake()
            conn = engine.connect()
            trans = conn.begin()
            try:
                last = runs.last_run_date(conn)
                if last and self.as_of < last and not self.dry_run:
                    raise RunRefused(
                        f"the last run was for {last:%Y-%m-%d}; a run for the earlier date {self.as_of:%Y-%m-%d} would "
                        "issue documents out of date order, so it was not started. For a past picture use "
                        f"`billing-batch report aging --as-of {self.as_of:%Y-%m-%d}` (or `run --dry-run`)")
                run_id = runs.start_run(conn, self.as_of, self.started)
                with self.stage("posting"):
                    file_ids = {f.name: runs.record_file(conn, run_id, f.sha256, f.name, self.started)
                                for f in intakes}
                    poster = Poster(conn, run_id, file_ids, self.as_of, self.s.intake.max_amount)
                    tallies = poster.post_all(intakes)
                    self.findings += [Finding("Possible duplicate", client, f"also in {other}", None, day, code)
                                      for client, day, code, _, other in inputs.possible_duplicates(conn, run_id)]
                    self.findings += [Finding("Possible duplicate payment", client, f"like a payment from {other}; if "
                                              "this row corrects that one, reverse the earlier payment", None, day)
                                      for client, day, other in inputs.possible_duplicate_payments(conn, run_id)]
                # Money first: everything it moves is dated on or before the business date, which is
                # the new invoices' date, so they take the credit that is left (engine.py).
                with self.stage("payments"):
                    money = apply_money(conn, run_id, self.as_of, self.s.invoicing.credit_note_prefix,
                                        plan_policy(self.s))
                    self.late_problems += [p for r in money.refused
                                           if (p := poster.refuse(r.kind, r.record, r.column, r.message))]
                with self.stage("insurance"):
                    insurance = run_insurance(conn, run_id, self.as_of)
                    self.findings += insurance.findings
                    self.late_problems += [p for r in insurance.refused
                                           if (p := poster.refuse(r.kind, r.record, r.column, r.message))]
                with self.stage("invoicing"):
                    billed, new_invoices = self.invoice(conn, run_id)
                with self.stage("plans"):
                    todays = apply_money(conn, run_id, self.as_of, self.s.invoicing.credit_note_prefix,
                                         plan_policy(self.s), todays_agreements=True)
                    money.plans += todays.plans
                    self.late_problems += [p for r in todays.refused
                                           if (p := poster.refuse(r.kind, r.record, r.column, r.message))]
                with self.stage("collections"):
                    collections = run_collections(conn, run_id, self.as_of, self.s)
                    self.findings += collections.findings
                    plan_run = run_plans(conn, run_id, self.as_of, self.s)
                with self.stage("aging"):
                    aging, recon, proof = aging_as_of(conn, self.as_of, self.s.aging.buckets)
                publisher.known_aging = (self.as_of, aging, recon)
                if not (recon.ties and proof.ok):
                    raise IntegrityFailure(integrity_message(recon, proof))
                self.findings += missing_address_findings(conn, self.s, run_id)  # every document is queued by now
                problems = self.all_problems(intakes) + self.late_problems
                report = self.report(run_id, intakes, waiting, ignored, tallies, new_invoices, aging, recon, problems)
                report["review"] = [f.as_dict() for f in self.findings]
                report["payments_applied"] = money.payments_applied
                report["adjustments_applied"] = money.adjustments_applied
                report["credit_notes"] = len(money.credit_notes)
                report["letters"] = [{"client_id": c, "level": lvl} for _, c, lvl in collections.letters]
                report["plans"] = {"agreed": money.plans, "by_status": plan_run.by_status, "cured": plan_run.cured,
                                   "letters": [{"client_id": c, "kind": k} for _, c, k in plan_run.letters]}
                report["held_back"] = [{"client_id": d.client_id, "reason": d.held_back}
                                       for d in collections.decisions if d.held_back]
                report["calls"] = calls_for_report(collections.calls)
                report["insurance"] = {"claims": insurance.claims, "coverage_notices": len(insurance.notices),
                                       "remittances_applied": insurance.remittances_applied,
                                       "claim_adjustments_applied": insurance.adjustments_applied}
                report["timings"] = dict(self.timings)
                runs.finish_run(conn, run_id, "ok", billed, report)
                # What is left to do after commit, for whichever run gets to it (issue 11.5).
                delivery.queue_run(conn, run_id, self.as_of, self.s.documents.pdf, self.s.documents.print_pack)
                queue.add_outboxes(conn, [("file", file_ids[f.name], self.destination(f)) for f in intakes]
                                   + [("email", run_id, "email")] * self.s.email.on
                                   + [("report", run_id, self.report_name(run_id))],
                                   run_id)
                read = {file_ids[f.name]: f for f in intakes}
                if self.dry_run:
                    published = publisher.publish(conn, run_id, read, self.timings)
                    trans.rollback()
                else:
                    faults.reach("commit")
                    trans.commit()
                    faults.reach("commit")
            except BaseException:
                if trans.is_active:
                    trans.rollback()
                raise
            finally:
                conn.close()
            if not self.dry_run:
                publisher.earlier = earlier
                with engine.connect() as c:
                    published = publisher.publish(c, run_id, read, self.timings)
            outputs = published.runs.get(run_id)
            if outputs is None:  # the run's reports could not be written: the next run retries
                outputs = RunOutputs(report, self.out / self.report_name(run_id), None)
            written = {k: outputs.report[k] for k in ("document_failures", "waiting", "timings", "email",
                                                       "email_earlier_runs", "delivery")
                       if k in outputs.report}
            return RunResult(self.as_of, self.dry_run, {**report, **written}, outputs.report_path, outputs.aging_path,
                             [(n, t) for n, t in new_invoices], earlier.failures + published.failures, problems,
                             earlier)

    def report_name(self, run_id: int) -> str:
        """runs/run-DATE-STAMP-ID.json: the run's id keeps two runs in the same second apart."""
        return f"runs/run-{self.as_of:%Y-%m-%d}-{self.stamp}-{run_id}.json"

    def destination(self, f: FileIntake) -> str:
        """Where an inbox file goes once the run has committed: `processed/YYYY-MM/<stamp>_<name>`, or
        `rejected/<name>` for a file that could not be read."""
        if not f.unreadable:
            return f"processed/{self.as_of:%Y-%m}/{self.stamp}_{f.name}"
        if f.name.endswith(".problems.xlsx"):  # do not overwrite the problems workbook written beside it
            return f"rejected/{self.stamp}_{f.name}"
        return f"rejected/{f.name}"

    # -- stages -------------------------------------------------------------------------------------
    def intake(self) -> tuple[list[FileIntake], list[tuple[Path, str]], list[Path]]:
        scan = scan_inbox(self.s.inbox, float(self.s.intake.settle_seconds))
        intakes, waiting = [], list(scan.waiting)
        for i, path in enumerate(scan.ready, start=1):
            self.progress("Reading inbox", i - 1, len(scan.ready))
            try:
                intakes.append(read_file(path, self.s))
            except NotReady as exc:
                waiting.append((path, str(exc)))
            log.info("read %s", path.name)
        self.progress("Reading inbox", len(scan.ready), len(scan.ready))
        return intakes, waiting, scan.ignored

    def unpriced(self, conn: Connection, lines: list, rates: dict) -> list[Problem]:
        """Posted service lines that cannot be billed — no rate covers their date (a later rate card ended
        their price), or a later rate makes them come to more than intake.max_amount: never billed
        silently, reported every run until a rate covers them."""
        limit = self.s.intake.max_amount
        problems, missing = [], []
        for line in lines:
            rate = rate_on(rates.get(line.service_code, []), line.service_date)
            if rate is None:
                missing.append((line, f"this posted service of {line.service_date:%Y-%m-%d} has no rate on that "
                                "date, so it cannot be billed; add a rate for its code covering the date to the "
                                "rate card (it is billed on the next billing run after)"))
            elif line_amount(line.quantity, unit_price(line.unit_price_override, rate)) > limit:
                missing.append((line, f"this posted service of {line.service_date:%Y-%m-%d} comes to more than "
                                f"intake.max_amount ({limit:,}) at the rate card's price, so it is not billed; "
                                "correct the rate for its code on the rate card"))
        sources = inputs.service_line_sources(conn, [l.id for l, _ in missing])
        for line, message in missing:
            problems.append(Problem(Where(*sources[line.id], "Service Code"), message, line.service_code))
        return problems

    def invoice(self, conn: Connection, run_id: int) -> tuple[bool, list[tuple[str, Decimal]]]:
        cfg, r = self.s.invoicing, self.s.review
        rates = inputs.rate_versions(conn)
        lines = inputs.unbilled_lines(conn, self.as_of)
        self.late_problems += self.unpriced(conn, lines, rates)
        if not billing_due(cfg.cycle, self.as_of, runs.last_billed_date(conn, self.as_of)):
            return False, []
        shares: dict[str, list] = {}
        for share in claim_ledger.unbilled_patient_shares(conn, self.as_of):
            shares.setdefault(share["client_id"], []).append(share_line(
                share["move_id"], share["claim_number"], share["payer"], share["service_date"], share["cents"],
                share["kind"]))
        drafts, _ = draft_invoices(lines, rates, inputs.client_terms(conn, cfg.terms_days), self.as_of, cfg.tax_rate,
                                   self.s.intake.max_amount, shares)
        if not drafts:
            return True, []
        clients = inputs.client_rows(conn)  # after the drafts: a quiet night need not read every client
        self.progress("Issuing invoices", 0, len(drafts))
        year = self.as_of.year  # every draft is dated the business date
        first = numbering.reserve_numbers(conn, cfg.invoice_prefix, year, len(drafts))
        batch = [(d, numbering.document_number(cfg.invoice_prefix, year, first + i),
                  bill_to_snapshot(clients[d.client_id])) for i, d in enumerate(drafts)]
        p = self.s.plans
        summaries = {c: plans.summary(b, st, self.as_of)
                     for c, (b, st) in plans.in_good_standing(conn, self.as_of, p.grace_days,
                                                              p.default_after_missed).items()}
        ids = issued.insert_invoices(conn, batch, run_id, summaries)
        apply_credit_to_new_invoices(conn, [(d.client_id, ids[n], n, d.invoice_date, d.due_date, to_cents(d.total))
                                            for d, n, _ in batch], run_id)
        for draft, number, _ in batch:
            self.findings += review_invoice(draft, number, rates, self.as_of, r.price_override_pct, r.max_quantity,
                                            r.late_entry_days, r.large_invoice)
        queue.add_outboxes(conn, [("invoice", ids[n], numbering.invoice_path(n, d.invoice_date, d.client_id)) for d, n, _ in batch],
                           run_id)
        self.progress("Issuing invoices", len(drafts), len(drafts))
        return True, [(n, d.total) for d, n, _ in batch]


    # -- the report ---------------------------------------------------------------------------------
    @staticmethod
    def all_problems(intakes: list[FileIntake]) -> list[Problem]:
        problems = []
        for f in intakes:
            problems.extend(f.problems)
            for s in f.sheets:
                problems.extend(sorted(s.problems, key=lambda p: (p.where.row or 0, p.where.col_index or 0)))
        return problems

    def report(self, run_id, intakes, waiting, ignored, tallies: list[SheetTally], invoices, aging: Aging,
               recon: Reconciliation, problems: list[Problem]) -> dict:
        by_file: dict[str, list[SheetTally]] = {}
        for t in tallies:
            by_file.setdefault(t.file, []).append(t)
        files = []
        for f in intakes:
            sheets = by_file.get(f.name, [])
            files.append({
                "name": f.name, "sha256": f.sha256,
                "status": "rejected" if f.unreadable else "processed",
                "problems_workbook": problems_name(f.name) if any(p.level == "error" for p in problems
                                                                  if p.where.file == f.name) else None,
                "sheets": [t.as_dict() | {"already_posted_from": [
                    {"business_date": d, "file": n, "rows": c} for (d, n), c in t.already_from.items()]}
                    for t in sheets]})
        totals = {k: sum(getattr(t, a) for t in tallies) for k, a in
                  (("rows_read", "read"), ("posted", "posted"), ("already_posted", "already"),
                   ("rejected", "rejected"))}
        invoice_total = sum((t for _, t in invoices), ZERO)
        return {
            "run_id": run_id, "business_date": self.as_of, "started": self.started, "dry_run": self.dry_run,
            "files": files,
            "waiting": [{"name": p.name, "reason": r} for p, r in waiting],
            "ignored": [p.name for p in ignored],
            "totals": totals,
            "invoices": {"count": len(invoices), "numbers": [n for n, _ in invoices],
                         "total": str(invoice_total)},
            "aging": {"as_of": aging.as_of, "buckets": {k: str(v) for k, v in aging.totals.items()},
                      "unapplied_credit": str(aging.unapplied_credit), "balance": str(aging.balance),
                      "reconciliation": recon.line(), "ties": recon.ties},
            "problems": [problem_entry(p) for p in problems],
        }


# -- commands that read without posting --------------------------------------------------------------

@dataclass
class CheckResult:
    path: Path
    rows_read: int
    would_post: int
    already_posted: int
    rejected: int
    problems: list[Problem]
    problems_workbook: Path | None
    waiting: str | None = None


def check_files(settings: Settings, paths: list[Path], out_dir: Path | None = None,
                context: list[Path] = ()) -> list[CheckResult]:
    """`billing-batch check`: every check of a run (cross-checks against the ledger included) inside a
    transaction that is rolled back, so nothing is posted; problems workbooks go to output/checks/.
    The files are checked together, as the run would post them (a new client list before the service
    log that uses it); `context` files (the rest of the inbox) take part without being reported."""
    out_dir = out_dir or settings.output / "checks"
    intakes: dict[Path, FileIntake] = {}
    results = {}
    for path in [*paths, *context]:
        try:
            intakes[path] = read_file(path, settings)
        except NotReady as exc:
            if path in paths:
                results[path] = CheckResult(path, 0, 0, 0, 0, [], None, str(exc))
    engine = open_ledger(settings.database_url, **settings.ledger_options)
    try:
        # A scratch copy of one consistent picture: a check beside a run in progress neither waits for
        # it nor holds it up (its rows and locks are its own), and is thrown away afterwards.
        with snapshot(engine, scratch=True) as conn:
            run_id = runs.start_run(conn, business_today(settings), datetime.now())
            file_ids = {f.name: runs.record_file(conn, run_id, f.sha256, f.name, datetime.now())
                        for f in intakes.values()}
            poster = Poster(conn, run_id, file_ids, business_today(settings), settings.intake.max_amount)
            tallies = poster.post_all(list(intakes.values()))
            # Remittances and claim adjustments are checked against their claims as the run would.
            for r in run_insurance(conn, run_id, business_today(settings)).refused:
                poster.refuse(r.kind, r.record, r.column, r.message)
    finally:
        engine.dispose()
    for path in paths:
        if path in results:
            continue
        intake = intakes[path]
        mine = [t for t in tallies if t.file == intake.name]
        target = out_dir / problems_name(intake.name)
        wrote = write_problems_workbook(intake, target)
        results[path] = CheckResult(
            path, intake.rows_read, sum(t.posted for t in mine), sum(t.already for t in mine),
            sum(t.rejected for t in mine), _Run.all_problems([intake]), target if wrote else None)
    return [results[p] for p in paths]


def verify_ledger(settings: Settings, as_of: date | None = None) -> tuple[Reconciliation, Verification]:
    """`billing-batch verify`: the ledger's proof of itself as of a date, read-only."""
    as_of = as_of or business_today(settings)
    engine = open_ledger(settings.database_url, **settings.ledger_options)
    try:
        with snapshot(engine) as conn:
            _, recon, proof = aging_as_of(conn, as_of, settings.aging.buckets)
    finally:
        engine.dispose()
    return recon, proof


def aging_report(settings: Settings, as_of: date | None = None) -> tuple[Path, Reconciliation]:
    """`billing-batch report aging`: the aging workbook for any date, from the ledger alone, written as
    reports/aging-report-DATE.xlsx."""
    as_of = as_of or business_today(settings)
    engine = open_ledger(settings.database_url, **settings.ledger_options)
    try:
        with snapshot(engine) as conn:  # one picture, even while a run is posting; never its lock
            aging, recon, _ = aging_as_of(conn, as_of, settings.aging.buckets)
            clients = inputs.client_rows(conn)
            last_payments = balances.last_payment_dates(conn, as_of)
            plan_rows = plan_sheet(conn, as_of, settings)
            claim_views = claim_ledger.views(conn, as_of, insurance_policy(settings))
            manager = manager_view(conn, aging)
    finally:
        engine.dispose()
    # Beside the nightly workbook, never over it: that one also holds the run's Review, Problems,
    # Collections and counts, which the ledger alone cannot give back.
    path = settings.output / "reports" / f"aging-report-{as_of:%Y-%m-%d}.xlsx"
    write_aging_workbook(path, aging, recon, clients, last_payments, {}, [], plans=plan_rows, claims=claim_views,
                         look=look_of(settings), manager=manager)
    return path, recon
