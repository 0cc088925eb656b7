"""Work after commit, from the ledger's outbox (DESIGN §7): the documents, the inbox files a run
read, and the run's reports.

Whichever run gets to an outbox row writes it: the run that queued it or, after a crash, the next
one; every run first finishes what earlier runs left, and `billing-batch finish` does only that.
Everything is written from what the ledger holds — the report the run stored when it committed
included — so the files are the same whoever writes them. Each row is marked done (committed) as
soon as its file is in place, so a crash never repeats finished work and never skips unfinished
work. Rows: documents first, then e-mail (delivery/email.py), then files, then reports (a report
lists what could not be written, and what was e-mailed).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from jinja2 import TemplateError
from sqlalchemy import Connection

from billing_batch import faults
from billing_batch.documents import pdf
from billing_batch.billing.aging import (
    DSO_DAYS, Aging, age, buckets_from_due_dates, month_ends, over_amount, same_day_last_month,
)
from billing_batch.billing.claims import CLOSED, PAID
from billing_batch.billing.review import Finding
from billing_batch.config import Settings
from billing_batch.documents.contexts import (
    coverage_notice_context, credit_note_context, invoice_context, letter_context, plan_letter_context,
)
from billing_batch.delivery.email import TEMPLATE as EMAIL_TEMPLATE, Mailer
from billing_batch.files import cannot_write, failure_lines, move_durably
from billing_batch.intake.inbox import FileIntake, NotReady, read_file, sha256_of
from billing_batch.ledger import balances, delivery, dunning, emails, finishing, inputs, issued, plans as plan_ledger, queue
from billing_batch.ledger import claims as claim_ledger
from billing_batch.billing.collections import CallEntry
from billing_batch.money import ZERO, from_cents
from billing_batch.ledger.verify import Verification, insurer_open, read_as_of, source_balances, verify
from billing_batch.stages.collections import CollectionsResult, hardship_cases, held_cases, levels_of
from billing_batch.stages.plans import plan_sheet
from billing_batch.ledger.finishing import DOCUMENTS
from billing_batch.problems import Problem, Where
from billing_batch.reports.aging_workbook import (
    CarriedProblem, ManagerView, Reconciliation, RunCounts, Snapshot, limits_of, write_aging_workbook, write_referrals,
)
from billing_batch.reports.xlsx_stream import Look
from billing_batch.stages.insurance import policy as insurance_policy
from billing_batch.reports.problems_workbook import problems_name, write_problems_workbook
from billing_batch.reports.run_report import write_run_report
from billing_batch.resources import data_path
from billing_batch.wording import counted

log = logging.getLogger("billing_batch")
Progress = Callable[[str, int, int], None]  # (stage, done, total)
Stage = Callable[[str], AbstractContextManager]


def aging_as_of(conn: Connection, as_of: date, buckets: list[int]) -> tuple[Aging, Reconciliation, Verification]:
    """The aging from ledger entries dated on or before `as_of`, its reconciliation with the balance the
    inputs give, and the ledger's proof of itself (SPEC §4.3, ledger/verify.py)."""
    read = read_as_of(conn, as_of)  # read once: the aging, the proof and the reconciliation share it
    aging = age(read.items, read.credits, as_of, buckets)
    proof = verify(conn, as_of, read)
    return aging, Reconciliation(aging.balance, proof.source_balance, from_cents(sum(read.insurer.values())),
                                 from_cents(sum(read.awaiting.values()))), proof


def _insurance_balances(conn: Connection, as_of: date) -> tuple[Decimal, Decimal]:
    """What insurers have open on claims, and the patients' shares still to invoice, as of the date."""
    return (from_cents(sum(insurer_open(conn, as_of).values())),
            from_cents(sum(claim_ledger.awaiting_invoice_cents(conn, as_of).values())))


def aging_with_reconciliation(conn: Connection, as_of: date, buckets: list[int]) -> tuple[Aging, Reconciliation]:
    """The aging and its reconciliation line, for reports written after the run proved the ledger."""
    aging = age(balances.open_items(conn, as_of), balances.unapplied_credits(conn, as_of), as_of, buckets)
    return aging, Reconciliation(aging.balance, from_cents(sum(source_balances(conn, as_of).values())),
                                 *_insurance_balances(conn, as_of))


@dataclass(frozen=True)
class RunOutputs:
    report: dict  # the run report as written
    report_path: Path
    aging_path: Path | None


@dataclass
class Published:
    documents: int = 0  # written
    pdfs: int = 0  # made
    printed: int = 0  # documents in the print packs written
    packs: list[Path] = field(default_factory=list)
    pdfs_missing: list[str] = field(default_factory=list)  # "path: why", retried by the next run (a warning)
    packs_waiting: list[str] = field(default_factory=list)  # print packs waiting for their PDFs, likewise
    files: int = 0  # inbox files filed (moved, or left because they changed)
    reports: int = 0
    emailed: int = 0  # messages the server accepted (a dry run: written as .eml)
    email_failures: list[str] = field(default_factory=list)  # "e-mail N (client ID): why", retried or on paper
    to_paper: int = 0  # messages out of tries: their documents go on paper
    paper_documents: list[str] = field(default_factory=list)  # theirs (.docx paths)
    failures: list[str] = field(default_factory=list)  # "path: what went wrong", retried by the next run
    runs: dict[int, RunOutputs] = field(default_factory=dict)

    @property
    def anything(self) -> bool:
        return bool(self.documents or self.pdfs or self.printed or self.files or self.reports or self.failures
                    or self.emailed or self.email_failures)


def _noop(stage: str, done: int, total: int) -> None:
    pass


def draft_context(ctx: dict) -> dict:
    """A dry run's document: marked DRAFT on every page, its number marked provisional (the number
    the real run gives may differ, e.g. when another file arrives first)."""
    out = {**ctx, "draft": True}
    for key in ("invoice", "credit_note"):
        if key in out and "number" in out[key]:
            out[key] = {**out[key], "number": f"{out[key]['number']} (draft)"}
    return out


class Publisher:
    def __init__(self, settings: Settings, dry_run: bool = False, progress: Progress = _noop,
                 stage: Stage | None = None):
        self.s, self.dry_run, self.progress = settings, dry_run, progress
        self.out = settings.output / "dry-run" if dry_run else settings.output
        self.rejected_dir = self.out / "rejected" if dry_run else settings.rejected
        self.stage = stage or (lambda name: nullcontext())
        self._reports: dict[int, tuple[date, dict]] = {}
        self._timings: tuple[int | None, dict] = (None, {})
        self.earlier: Published | None = None  # what the run first finished for earlier runs, for its report
        # The aging the run computed (and proved) as of its date: nothing written after it moves money,
        # so its reports reuse it instead of reading the ledger's balances again.
        self.known_aging: tuple[date, Aging, Reconciliation] | None = None

    def publish(self, conn: Connection, run_id: int | None = None,
                intakes: dict[int, FileIntake] | None = None, timings: dict | None = None) -> Published:
        """Everything pending in the outbox (only `run_id`'s rows when given). `intakes`: the files
        the run has just read, by source file id (else a file still in the inbox is read again);
        `timings`: the run's stage timings, for its report."""
        self._timings = (run_id, timings or {})
        rows = [r for r in queue.pending_outbox(conn) if run_id is None or r["run_id"] == run_id]
        done = Published()
        with self.stage("documents"):
            self.render_outbox(conn, [r for r in rows if r["kind"] in DOCUMENTS], done)
        with self.stage("pdf"):
            self.make_pdfs(conn, [r for r in rows if r["kind"] == "pdf"], done)
        with self.stage("email"):
            self.send_email(conn, run_id, [r for r in rows if r["kind"] == "email"], done)
        with self.stage("print"):
            if self.s.documents.print_pack and self.paper_to_print(conn, run_id, done):
                rows = [r for r in queue.pending_outbox(conn) if run_id is None or r["run_id"] == run_id]
            self.print_packs(conn, [r for r in rows if r["kind"] == "print"], done)
        with self.stage("files"):
            for row in rows:
                if row["kind"] == "file":
                    self.file(conn, row, intakes or {}, done)
        with self.stage("reports"):
            for row in rows:
                if row["kind"] == "report":
                    self.report(conn, row, done)
        return done

    # -- documents -----------------------------------------------------------------------------------
    def template(self, name: str) -> Path:
        own = self.s.templates / name
        return own if own.exists() else data_path("letter_templates") / name

    def document(self, conn: Connection, job: dict, invoices: dict) -> tuple[str, dict]:
        """The template and context of an outbox job, from the ledger alone (re-rendering is exact)."""
        if job["kind"] == "letter":
            content = json.loads(dunning.letter(conn, job["ref_id"])["content"])
            kind = "business" if content["bill_to"]["type"] == "Business" else "individual"
            return f"{content['template']}_{kind}.docx", letter_context(self.s, content)
        if job["kind"] == "plan_letter":
            content = json.loads(plan_ledger.letter(conn, job["ref_id"])["content"])
            kind = "business" if content["bill_to"]["type"] == "Business" else "individual"
            return f"{content['template']}_{kind}.docx", plan_letter_context(self.s, content)
        if job["kind"] == "coverage_notice":
            content = json.loads(claim_ledger.coverage_notice(conn, job["ref_id"])["content"])
            kind = "business" if content["bill_to"]["type"] == "Business" else "individual"
            return f"{content['template']}_{kind}.docx", coverage_notice_context(self.s, content)
        if job["kind"] == "credit_note":
            cn, invoice = issued.credit_note_with_invoice(conn, job["ref_id"])
            balance = balances.invoice_balance_cents(conn, invoice["id"], through_credit_note=cn["id"])
            return "credit_note.docx", credit_note_context(self.s, cn, invoice, balance)
        invoice, lines, credit = invoices[job["ref_id"]]
        kind = "business" if json.loads(invoice["bill_to"])["type"] == "Business" else "individual"
        plan = json.loads(invoice["plan_summary"]) if invoice.get("plan_summary") else None
        return f"invoice_{kind}.docx", invoice_context(self.s, invoice, lines, credit, plan=plan)

    def render_outbox(self, conn: Connection, pending: list[dict], done: Published | None = None) -> list[str]:
        """Write the pending documents, over all cores; each chunk done is marked in the ledger, so a
        crash never repeats a finished document and the next run finishes the rest. A document that
        cannot be prepared or rendered is that document's failure: the others are written."""
        done = done if done is not None else Published()
        if not pending:
            return []
        from billing_batch.documents.render import iter_render_many  # python-docx: only with documents to write

        invoices = issued.invoices_for_documents(conn, [j["ref_id"] for j in pending if j["kind"] == "invoice"])
        jobs, by_path, failures = [], {}, []
        batch: list[tuple[int, str | None]] = []
        paths = {job["id"]: job["path"] for job in pending}
        for job in pending:
            try:
                template, ctx = self.document(conn, job, invoices)
                if self.dry_run:
                    ctx = draft_context(ctx)
            except Exception as exc:  # a document that cannot be prepared must not stop the others
                batch.append((job["id"], f"{type(exc).__name__}: {exc}"))
                continue
            out = self.out / job["path"]
            jobs.append((self.template(template), ctx, out))
            by_path[out] = job
        for n, rendered in enumerate(iter_render_many(jobs), start=1):
            batch.append((by_path[Path(rendered.path)]["id"], rendered.error))
            done.documents += rendered.ok
            faults.reach("documents")  # a crash here: on disk, not yet marked; rewritten identically
            if n % 200 == 0 or n == len(jobs):
                self.progress("Writing documents", n, len(jobs))
                self._mark(conn, batch)
                failures += [f"{paths[i]}: {e}" for i, e in batch if e]
                batch = []
        self._mark(conn, batch)
        failures += [f"{paths[i]}: {e}" for i, e in batch if e]
        for line in failure_lines(failures):
            log.info("not written (retried by the next run): %s", line)  # the console says it once
        done.failures += failures
        return failures

    def _mark(self, conn: Connection, outcomes: list[tuple[int, str | None]]) -> None:
        if outcomes and not self.dry_run:
            queue.mark_outboxes(conn, outcomes)
            conn.commit()

    # -- e-mail ----------------------------------------------------------------------------------------
    def send_email(self, conn: Connection, run_id: int | None, rows: list[dict], done: Published) -> None:
        """Each run's e-mail row records its messages once its documents are written; then every open
        message (of `run_id`, or of every run) is sent. A dry run writes them as .eml, sends nothing."""
        mailer = Mailer(self.s, self.out, self.template(EMAIL_TEMPLATE), self.dry_run)
        for row in rows:
            try:
                if self.dry_run:
                    done.emailed += mailer.write_drafts(conn, row["ref_id"])
                    continue
                mailer.plan(conn, row["ref_id"])
            except (TemplateError, OSError, UnicodeDecodeError) as exc:
                self._failed(conn, row, f"{EMAIL_TEMPLATE}: the e-mail template cannot be used ({exc})", done)
                continue
            # Done once every document of the run is written: one written later joins a message then.
            if all(d["status"] == "done" for d in emails.run_documents(conn, row["ref_id"], written_only=False)):
                finishing.mark(conn, row["id"], "done")
        if self.dry_run or not self.s.email.on:
            return  # e-mail off: recorded messages wait until it is configured again
        sent = mailer.send(conn, run_id)
        done.emailed += sent.sent
        done.to_paper += sent.paper
        done.email_failures += sent.reasons
        done.paper_documents += sent.paper_documents

    def _email_report(self, conn: Connection, run_id: int) -> dict:
        if not self.s.email.on:
            waiting = sum(len(d) for *_, d in Mailer(self.s, self.out, Path(), True).planned(conn, run_id, False))
            return {"enabled": False, "note": f"e-mail is off (no email.host in config.yaml): {counted(waiting, 'document')} "
                    "for clients whose Delivery is Email or Both "
                    f"{'was' if waiting == 1 else 'were'} not e-mailed" if waiting else None}
        return {"enabled": True, **emails.run_summary(conn, run_id), "still_open": emails.still_open(conn)}

    def paper_to_print(self, conn: Connection, run_id: int | None, done: Published) -> bool:
        """Documents whose e-mail went on paper (out of tries, or no address) and that are in no print
        pack yet join their own run's pack (the one not written yet, else a new one of its date), their
        PDFs made first: each is printed once, and a rerun after a crash makes the same pack. Returns
        whether any joined."""
        joined = False
        for run, keys in sorted(emails.paper_by_run(conn).items()):
            todo = delivery.unprinted(conn, keys)
            if not todo or (run_id is not None and run != run_id):
                continue
            as_of, _ = self._report_of(conn, run)
            unwritten = {r["path"] for r in queue.pending_outbox(conn) if r["kind"] == "print" and r["run_id"] == run}
            delivery.queue_print(conn, run, as_of, todo, min(unwritten) if unwritten else None)
            if not self.dry_run:
                conn.commit()
            joined = True
            if done.pdfs_missing:  # LibreOffice failed this pass already: never wait out its time limit twice
                continue
            ids = {d["id"] for d in todo}
            self.make_pdfs(conn, [r for r in queue.pending_outbox(conn) if r["kind"] == "pdf" and r["ref_id"] in ids],
                           done)
        return joined

    def _mark_delivery(self, conn: Connection, outcomes: list[tuple[int, str | None]]) -> None:
        """Like _mark, but a dry run records them too, inside its transaction that is rolled back,
        so its report says what was printed and which PDFs are missing."""
        if outcomes:
            queue.mark_outboxes(conn, outcomes)
            if not self.dry_run:
                conn.commit()

    # -- PDFs and the print pack ---------------------------------------------------------------------
    def make_pdfs(self, conn: Connection, pending: list[dict], done: Published) -> None:
        """Every pending PDF in one LibreOffice batch; a PDF whose Word file is not written yet waits
        for it. A PDF not made is a warning, not a failure: the Word file is there."""
        if not pending:
            return
        docs = delivery.documents_by_id(conn, [r["ref_id"] for r in pending])
        outcomes: list[tuple[int, str | None]] = []
        pairs, row_of = [], {}
        for row in pending:
            source = self.out / docs[row["ref_id"]]["path"]
            if source.is_file():
                pairs.append((source, self.out / row["path"]))
                row_of[self.out / row["path"]] = row["id"]
            else:
                outcomes.append((row["id"], "its Word file is not written yet"))
        self.progress("Making PDFs", 0, len(pairs))
        d = self.s.documents
        made = pdf.convert(pairs, pdf.Limits(d.pdf_timeout_seconds, float(d.pdf_seconds_per_document)),
                           self.s.documents.libreoffice)
        faults.reach("pdf")  # a crash here: PDFs in place, not marked; the next run makes them again
        outcomes += [(row_of[target], error) for target, error in made.items()]
        self.progress("Making PDFs", len(pairs), len(pairs))
        self._mark_delivery(conn, outcomes)
        done.pdfs += sum(1 for _, e in outcomes if e is None)
        path_of = {r["id"]: r["path"] for r in pending}
        missing = [f"{path_of[i]}: {e}" for i, e in outcomes if e]
        for line in failure_lines(missing):
            log.info("PDF not made (retried by the next run): %s", line)
        done.pdfs_missing += missing

    def print_packs(self, conn: Connection, pending: list[dict], done: Published) -> None:
        """Each pending pack whose PDFs are all there; one still missing some waits whole (a pack's
        documents are decided when its run commits, so it is the same whoever writes it)."""
        if not pending:
            return
        from billing_batch import print_pack  # pypdf and openpyxl: only with a pack to make

        packs: dict[str, list[dict]] = {}
        for row in pending:
            packs.setdefault(row["path"], []).append(row)
        for path, rows in sorted(packs.items()):
            docs = delivery.documents_by_id(conn, [r["ref_id"] for r in rows])
            snapshots = delivery.bill_tos(conn, list(docs.values()))
            pieces = [print_pack.Piece(d["id"], d["kind"], d["path"], self.out / delivery.pdf_path(d["path"]),
                                       snapshots.get(d["id"], {})) for d in docs.values()]
            absent = [p for p in pieces if not p.pdf.is_file()]
            if absent:
                why = f"waiting for {len(absent)} of its {len(pieces)} PDFs (see the PDFs missing)"
                self._mark_delivery(conn, [(r["id"], why) for r in rows])
                done.packs_waiting.append(f"{path}: {why}")
                continue
            target = self.out / path
            listing = target.with_name(target.name.replace("print-", "mailing-list-", 1)).with_suffix(".xlsx")
            try:
                print_pack.write_pack(pieces, target, listing)
                faults.reach("print")  # a crash here: the pack in place, not marked; written again
            except Exception as exc:  # the disk, or a PDF pypdf cannot read: that pack waits, the rest goes on
                error = (f"{path}: {cannot_write(exc, Path(exc.filename) if exc.filename else target)}"
                         if isinstance(exc, OSError) else f"{path}: could not be made ({type(exc).__name__}: {exc})")
                log.info("not written (retried by the next run): %s", error)
                done.failures.append(error)
                self._mark_delivery(conn, [(r["id"], error) for r in rows])
                continue
            self._mark_delivery(conn, [(r["id"], None) for r in rows])
            done.printed += len(pieces)
            done.packs.append(target)

    # -- inbox files ---------------------------------------------------------------------------------
    def file(self, conn: Connection, row: dict, intakes: dict[int, FileIntake], done: Published) -> None:
        """A file the run read: its problems workbook beside it in rejected/, then the file itself to
        processed/YYYY-MM/ (or rejected/ when it could not be read) — unless it changed since it was
        read: then it stays in the inbox for the next run (only what was read has been posted)."""
        name, sha256 = finishing.source_file(conn, row["ref_id"])
        inbox_file = self.s.inbox / name
        note = None
        try:
            present = inbox_file.is_file()
            if present and sha256_of(inbox_file) != sha256:
                note = "it changed while the run was reading it; it is read again on the next run"
                log.warning("%s changed after it was read; left in the inbox for the next run", name)
            elif present or row["ref_id"] in intakes:
                intake = intakes.get(row["ref_id"]) or read_file(inbox_file, self.s)
                self._problems_workbook(conn, row["run_id"], intake)
                if present and not self.dry_run:
                    area, _, relative = row["path"].partition("/")
                    move_durably(inbox_file, _free_name(
                        (self.s.rejected if area == "rejected" else self.s.processed) / relative))
                    faults.reach("files")
            # else: filed before a crash, or taken away by staff: nothing left to do
        except NotReady:
            note = "it changed while the run was reading it; it is read again on the next run"
        except OSError as exc:
            self._failed(conn, row, f"{name}: could not be filed from the inbox ({exc.strerror or exc})", done)
            return
        done.files += 1
        if not self.dry_run:
            finishing.mark(conn, row["id"], "done", note)

    def _problems_workbook(self, conn: Connection, run_id: int, intake: FileIntake) -> None:
        target = self.rejected_dir / problems_name(intake.name)
        wrote = write_problems_workbook(_as_reported(intake, self._report_of(conn, run_id)[1]["problems"]), target)
        if not wrote and not self.dry_run:
            target.unlink(missing_ok=True)  # an older problems workbook for a now-clean file

    # -- reports -------------------------------------------------------------------------------------
    def report(self, conn: Connection, row: dict, done: Published) -> None:
        """The run's aging workbook (and aging-latest.xlsx, referrals) and its JSON report, from the
        report it stored. A run that found nothing new for a business date already reported keeps
        that date's workbook: it shows what the run that did the work found."""
        run_id = row["ref_id"]
        as_of, report = self._report_of(conn, run_id)
        if self._timings[0] == run_id:
            report["timings"] = {**report.get("timings", {}), **self._timings[1]}
            if self.earlier is not None and (self.earlier.emailed or self.earlier.email_failures):
                report["email_earlier_runs"] = {"sent": self.earlier.emailed, "paper": self.earlier.to_paper,
                                                "failures": self.earlier.email_failures,
                                                "paper_documents": self.earlier.paper_documents}
        report = {**report, "document_failures": finishing.failed_documents(conn, run_id),
                  "email": self._email_report(conn, run_id),
                  "delivery": delivery.summary(conn, run_id),
                  "waiting": report["waiting"] + [{"name": n, "reason": why}
                                                  for n, why in finishing.files_left(conn, run_id)]}
        aging_path = self.out / "reports" / f"aging-{as_of:%Y-%m-%d}.xlsx"
        report_path = self.out / row["path"]
        try:
            if self.dry_run or not (found_nothing(report) and finishing.day_already_reported(conn, run_id, as_of)):
                self.write_reports(conn, as_of, report, latest=self.dry_run or finishing.is_latest_run(conn, run_id))
            faults.reach("reports")
            write_run_report(report_path, report)
        except OSError as exc:
            target = Path(exc.filename) if exc.filename else report_path
            self._failed(conn, row, f"{target.relative_to(self.out) if target.is_relative_to(self.out) else target}: "
                         f"{cannot_write(exc, target)}", done)
            return
        done.reports += 1
        done.runs[run_id] = RunOutputs(report, report_path, aging_path)
        if not self.dry_run:
            finishing.mark(conn, row["id"], "done")

    def write_reports(self, conn: Connection, as_of: date, report: dict, latest: bool) -> Path:
        if self.known_aging is not None and self.known_aging[0] == as_of:
            aging, recon = self.known_aging[1:]
        else:
            aging, recon = aging_with_reconciliation(conn, as_of, self.s.aging.buckets)
        clients = inputs.client_rows(conn)
        last_payments = balances.last_payment_dates(conn, as_of)
        # The business date's workbook lists what every run of the date found, not only the last one's.
        # An earlier run's stored report lacks what its publishing added (printed, e-mailed): read back here.
        day = [(i, {**r, "delivery": delivery.summary(conn, i), "email": self._email_report(conn, i)})
               for i, r in finishing.day_reports(conn, as_of, report["run_id"]) if i != report["run_id"]]
        day = [*day, (report["run_id"], report)]
        findings = list(dict.fromkeys(_finding(f) for _, r in day for f in r["review"]))
        collections = self._collections(conn, report, clients)
        reports = self.out / "reports"
        path = reports / f"aging-{as_of:%Y-%m-%d}.xlsx"
        counts = run_counts(report) | {"Review warnings (the day's)": len(findings)}
        ins = report.get("insurance", {})
        claim_views = claim_ledger.views(conn, as_of, insurance_policy(self.s))
        if claim_views or ins.get("coverage_notices"):
            counts |= {"Claims submitted": len(ins.get("claims", [])),
                       "Remittances posted": ins.get("remittances_applied", 0),
                       "Coverage notices sent": ins.get("coverage_notices", 0)}
        submitted = claim_ledger.submission_lines(conn, as_of)
        if submitted:  # every claim made on the business date, for staff to key into the payers' portals
            from billing_batch.reports.claims_workbook import write_claims_workbook  # openpyxl: only then

            write_claims_workbook(reports / f"claims-{as_of:%Y-%m-%d}.xlsx", submitted, as_of)
        # Never referred without a person's look: a hardship case, or a client whose insurer still owes.
        hardship = {f.client_id for f in findings if f.check == "Hardship"}
        if collections.referrals:  # still a hardship case on a later run
            hardship |= hardship_cases(conn, as_of, self.s, collections.referrals)
        review = {c: "Hardship: the monthly budget cannot clear the balance in time" for c in sorted(hardship)}
        if collections.referrals:  # held since it reached the referral (a hold, a dispute, a promise)
            for c, why in held_cases(conn, as_of, self.s, collections.referrals).items():
                review.setdefault(c, why)
        for v in claim_views:
            if v.status not in (PAID, CLOSED):
                review.setdefault(v.claim.client_id, f"Insurance claim {v.claim.number} still open with the payer ({v.status})")
        held = [(h["client_id"], h["reason"]) for h in report.get("held_back", [])]
        held += [(cid, f"Not referred: {why}", "until the payer has answered" if why.startswith("Insurance")
                  else "until a person has reviewed it") for cid, why in sorted(review.items())
                 if cid in collections.referrals]
        # A hold, a dispute or a promise keeps an overdue client in view even on a day no letter was due.
        named = {h[0] for h in held}
        overdue = [c.client_id for c in aging.clients
                   if c.client_id not in named and any(c.buckets[n] > 0 for n in aging.names[1:])]
        held += sorted(held_cases(conn, as_of, self.s, overdue).items())
        problems, carried = self._day_problems(conn, as_of, day)
        write_aging_workbook(path, aging, recon, clients, last_payments, counts, problems, findings, collections,
                             also=reports / "aging-latest.xlsx" if latest else None,
                             plans=plan_sheet(conn, as_of, self.s), held_back=held, claims=claim_views,
                             look=look_of(self.s), manager=manager_view(conn, aging),
                             runs=[RunCounts(f"Run {n}", run_counts(r)) for n, (_, r) in enumerate(
                                 [(i, r) for i, r in day if not found_nothing(r)], start=1)],
                             carried=carried)
        if collections.referrals:
            write_referrals(reports / f"referrals-{as_of:%Y-%m-%d}.xlsx", collections.referrals, clients, aging,
                            dunning.last_letters(conn), review)
        return path

    def _day_problems(self, conn: Connection, as_of: date, day: list[tuple[int, dict]]
                      ) -> tuple[list[Problem], list[CarriedProblem]]:
        """The problems every run of the date reported, each once; then, from earlier dates, the problems of
        each problems workbook still waiting in rejected/ (staff have not fixed it yet), as last reported."""
        problems = list(dict.fromkeys(_problem(p) for _, r in day for p in r["problems"]))
        today = {f["problems_workbook"] for _, r in day for f in r["files"] if f.get("problems_workbook")}
        carried: list[CarriedProblem] = []
        # The office's rejected/ even in a dry run (whose own workbooks go apart): what staff have not fixed.
        rejected = self.s.rejected
        waiting = sorted(p.name for p in rejected.glob("*.problems.xlsx")) if rejected.is_dir() else []
        for name in waiting:
            if name in today:
                continue
            found = finishing.last_report_with_workbook(conn, name, as_of)
            if found is None:
                continue
            day_of, earlier = found
            files = {f["name"] for f in earlier["files"] if f.get("problems_workbook") == name}
            carried += [CarriedProblem(day_of, name, _problem(p)) for p in earlier["problems"]
                        if p["file"] in files and p["level"] == "error"]
        return problems, carried

    def _collections(self, conn: Connection, report: dict, clients: dict[str, dict]) -> CollectionsResult:
        """Levels and referrals from the ledger's collection state (what the run left), the call
        list from the report (it is decided once, by the run)."""
        levels = levels_of(self.s)
        result = CollectionsResult()
        for client_id, state in sorted(dunning.collection_states(conn).items()):
            if state["level"]:
                result.levels[client_id] = levels[min(state["level"], len(levels)) - 1].name
                if state["level"] >= len(levels):
                    result.referrals.append(client_id)
        result.calls = [_call(c, clients) for c in report.get("calls", [])]
        return result

    # -- helpers ---------------------------------------------------------------------------------------
    def _report_of(self, conn: Connection, run_id: int) -> tuple[date, dict]:
        if run_id not in self._reports:
            self._reports[run_id] = finishing.run_report(conn, run_id)
        return self._reports[run_id]

    def _failed(self, conn: Connection, row: dict, error: str, done: Published) -> None:
        log.info("not written (retried by the next run): %s", error)  # the console says it once
        done.failures.append(error)
        if not self.dry_run:
            finishing.mark(conn, row["id"], "failed", error)


def run_counts(report: dict) -> dict[str, int]:
    """A run's counts as the Summary and the Runs sheet show them, from its report."""
    t = report["totals"]
    counts = {"Files read": len(report["files"]), "Rows read": t["rows_read"], "Rows posted": t["posted"],
              "Rows already posted": t["already_posted"], "Rows rejected": t["rejected"],
              "Invoices issued": report["invoices"]["count"], "Credit notes issued": report["credit_notes"],
              "Payments applied": report["payments_applied"], "Letters sent": len(report["letters"])}
    if "delivery" in report:
        counts["Documents printed"] = report["delivery"]["printed"]
    ran = report.get("plans", {})
    counts |= {"Plans agreed": len(ran.get("agreed", [])), "Plan letters sent": len(ran.get("letters", [])),
               "Plans cured": len(ran.get("cured", []))}
    if report.get("email", {}).get("enabled"):
        e, earlier = report["email"], report.get("email_earlier_runs", {})
        counts |= {"E-mails sent": e["sent"] + earlier.get("sent", 0), "E-mails failed (retried)": e["failed"],
                   "E-mails waiting": e["waiting"], "E-mails moved to paper": e["paper"] + earlier.get("paper", 0)}
    return counts


def look_of(settings: Settings) -> Look:
    return Look(settings.office.name, settings.currency_symbol, settings.date_format)


def manager_view(conn: Connection, aging: Aging) -> ManagerView:
    """What the Summary compares the aging with: DSO's credit sales, the previous run of an earlier date
    (as it reported itself), the same day last month and the last 12 month-ends (from the ledger as of
    each date)."""
    as_of, limits = aging.as_of, limits_of(aging.names)
    month_before = same_day_last_month(as_of)
    on = balances.balances_on(conn, [*month_ends(as_of), month_before])  # all 13 dates in one pass

    def from_ledger(day: date) -> Snapshot:
        by_due, credit = on[day]
        return Snapshot(day, buckets_from_due_dates(by_due, day, limits), credit)

    before = finishing.previous_report(conn, as_of)
    prev = None
    if before is not None and before[1].get("aging"):
        a = before[1]["aging"]
        prev = Snapshot(before[0], {k: Decimal(v) for k, v in a["buckets"].items()}, Decimal(a["unapplied_credit"]))
    trend = []
    for day in month_ends(as_of):
        snap = from_ledger(day)
        trend.append((day, snap.balance, over_amount(snap.totals, limits)))
    return ManagerView(balances.credit_sales(conn, as_of - timedelta(days=DSO_DAYS - 1), as_of), prev,
                       from_ledger(month_before), tuple(trend))


def found_nothing(report: dict) -> bool:
    """A run that read no file and changed nothing (a second run the same day, say)."""
    return (not report["files"] and not any(report["totals"].values()) and not report["invoices"]["count"]
            and not report["credit_notes"] and not report["payments_applied"]
            and not report["adjustments_applied"] and not report["letters"])


def calls_for_report(calls: list[CallEntry]) -> list[dict]:
    """The call list as the run report keeps it: IDs, amounts, dates; the phone stays in the ledger."""
    return [{"client_id": c.client_id, "balance_cents": c.balance_cents, "days_past_due": c.days_past_due,
             "level": c.level_name, "last_letter": c.last_letter, "last_contact": c.last_contact,
             "promise_date": c.promise_date, "action": c.action} for c in calls]


def _day(value) -> date | None:
    return date.fromisoformat(value) if value else None


def _call(c: dict, clients: dict[str, dict]) -> CallEntry:
    contact = c["last_contact"]
    return CallEntry(c["client_id"], clients.get(c["client_id"], {}).get("phone") or "", c["balance_cents"],
                     c["days_past_due"], c["level"], _day(c["last_letter"]),
                     (date.fromisoformat(contact[0]), contact[1]) if contact else None, _day(c["promise_date"]),
                     c["action"])


def _finding(f: dict) -> Finding:
    return Finding(f["check"], f["client_id"], f["detail"], f["invoice"], _day(f["service_date"]), f["service_code"])


def _problem(p: dict) -> Problem:
    from openpyxl.utils import column_index_from_string  # openpyxl only once there is a problem to show

    column = re.match(r"[A-Z]+", p["cell"] or "")
    return Problem(Where(p["file"], p["sheet"], p["row"], p["column"],
                         column_index_from_string(column.group(0)) if column else None),
                   p["message"], level=p["level"])


def _as_reported(intake: FileIntake, entries: list[dict]) -> FileIntake:
    """The file as read, with the problems the run reported for it (posting's included), so its
    problems workbook is the same whether written by the run or by the one that finishes it."""
    sheets = [replace(s, problems=[]) for s in intake.sheets]
    by_name = {s.sheet: s for s in sheets}
    general: list[Problem] = []
    for entry in entries:
        if entry["file"] == intake.name:
            p = _problem(entry)
            (by_name[p.where.sheet].problems if p.where.sheet in by_name else general).append(p)
    return replace(intake, sheets=sheets, problems=general)


def _free_name(dest: Path) -> Path:
    n, original = 1, dest
    while dest.exists():
        dest, n = original.with_name(f"{original.stem}-{n}{original.suffix}"), n + 1
    return dest
