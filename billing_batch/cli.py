"""The `billing-batch` command. Thin: it turns library results and errors into plain messages
and exit codes (0 done, 1 could not run, 2 integrity check failed and rolled back)."""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import sys
import traceback
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import NoReturn

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from billing_batch.config import ConfigError, Settings, load_settings
from billing_batch.files import failure_lines
from billing_batch.ledger.db import LedgerError
from billing_batch.wording import counted

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def config_option(f):
    # A folder is accepted here so that load_settings can say what is wrong (exit 1, not click's 2).
    return click.option("--config", "config_path", type=click.Path(path_type=Path),
                        default=Path("config.yaml"), show_default=True,
                        help="The office's config.yaml; its folder is the office folder.")(f)


def as_of_option(f):
    return click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
                        help="Business date YYYY-MM-DD (default: today in the configured time zone).")(f)


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]billing-batch:[/] {message}")
    sys.exit(code)


def settings_from(path: Path) -> Settings:
    try:
        return load_settings(path)
    except ConfigError as exc:
        fail("the configuration has problems:\n  " + "\n  ".join(exc.messages))


@contextmanager
def plainly(settings: Settings):
    """Whatever stops a command reaches staff as one sentence (the path, what to do) and exit 1
    (2 for a failed integrity check), never a traceback or a cell's value (SPEC §7, issue 11.9).
    An unexpected error's details go to the office's log for the administrator."""
    from sqlalchemy.exc import SQLAlchemyError

    from billing_batch.ledger.db import driver_message
    from billing_batch.pipeline import IntegrityFailure, RunRefused

    try:
        yield
    except (LedgerError, RunRefused) as exc:  # already running, cannot open the ledger, an earlier date ...
        fail(str(exc))
    except IntegrityFailure as exc:
        fail(str(exc), code=2)
    except SQLAlchemyError as exc:
        fail(f"the ledger stopped this run ({driver_message(exc)}). A run is all or nothing: what it had not "
             "committed is not posted, and the next run finishes what it had. Check that the database is reachable, "
             "writable and has room, then run again")
    except OSError as exc:
        what = f"{exc.filename}: " if exc.filename else ""
        fail(f"could not read or write {what}{exc.strerror or exc}. Check that the folder exists, is writable and "
             "the disk has room, then run again; the next run (or `billing-batch finish`) finishes what this one "
             "could not")
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - a bug: a sentence here, the details in the log
        fail(f"stopped by an unexpected error ({type(exc).__name__}); what had not been committed is not posted. "
             f"Details for your administrator are in {_log_unexpected(settings, exc)}")


def _log_unexpected(settings: Settings, exc: BaseException) -> Path:
    """Append where the error happened to the office's log: the exception type and the code lines,
    not its message (which could hold a value from a cell)."""
    path = settings.base_dir / "logs" / "billing-batch.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"{datetime.now():%Y-%m-%d %H:%M:%S} ERROR billing_batch: unexpected {type(exc).__name__}\n")
            fh.write("".join(traceback.format_tb(exc.__traceback__)))
    except OSError:
        pass
    return path


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="billing-batch")
def main() -> None:
    """billing-batch: the nightly billing run of a medical or services office.

    Staff drop Excel workbooks (clients, rate card, service logs) into the inbox; `run` checks
    them, posts them to the ledger, issues numbered Word invoices and writes the aging workbook
    that managers read the next morning. Start with `billing-batch init OFFICE --demo`.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--demo", is_flag=True, help="Also fill the inbox with a realistic sample office.")
def init(directory: Path, demo: bool) -> None:
    """Create an office folder: inbox, output folders, a commented config.yaml, the Word templates
    and blank input workbooks. With --demo, the inbox gets a sample office's workbooks."""
    from billing_batch.workspace import init_office

    try:
        result = init_office(directory, demo=demo)
    except OSError as exc:
        fail(f"could not create the office folder {directory}: {exc.strerror or exc}. Check that the "
             "folder above it exists and is writable, then run again")
    console.print(f"Office folder ready: {result.office}", markup=False)
    console.print(f"  settings:        {result.config}", markup=False)  # a folder may be named "[2026]"
    console.print(f"  blank workbooks: {result.office / 'blank-workbooks'}", markup=False)
    if result.demo_files:
        console.print(f"  demo inbox:      {len(result.demo_files)} workbooks in {result.office / 'inbox'}", markup=False)
    # As this command was called, with absolute paths, so that pasting it works from any folder (a new
    # terminal, or after `cd` into the office): ".venv/bin/billing-batch" typed is printed as its full path.
    console.print(f"Next: {program()} run --config {shlex.quote(os.path.abspath(result.config))}", markup=False)


def program() -> str:
    """The command that runs billing-batch the way this process was started: `billing-batch` when
    that name on PATH is this program, else its full path, or `python -m billing_batch`."""
    argv0 = sys.argv[0] if sys.argv else ""
    on_path = shutil.which("billing-batch")
    if Path(argv0).name == "billing-batch":  # the installed command
        if on_path and os.path.abspath(on_path) == os.path.abspath(argv0):
            return "billing-batch"
        return shlex.quote(os.path.abspath(argv0))
    if Path(argv0).name == "__main__.py" and Path(argv0).parent.name == "billing_batch":  # python -m billing_batch
        python = next((name for name in ("python", "python3") if (found := shutil.which(name))
                       and os.path.abspath(found) == os.path.abspath(sys.executable)), shlex.quote(sys.executable))
        return f"{python} -m billing_batch"
    return "billing-batch"


def _progress_callback(progress: Progress):
    tasks: dict[str, int] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=max(total, 1))
        progress.update(tasks[stage], completed=done if total else 1, total=max(total, 1))

    return update


@main.command()
@config_option
@as_of_option
@click.option("--dry-run", is_flag=True,
              help="Compute everything and write documents and reports into output/dry-run/ without "
                   "changing the ledger or the inbox.")
def run(config_path: Path, as_of, dry_run: bool) -> None:
    """Run the nightly job: read the inbox, post to the ledger, issue invoices, write the aging
    workbook and the run report. Rejected rows are reported, not failures (exit 0)."""
    from billing_batch.pipeline import run_batch

    settings = settings_from(config_path)
    day: date | None = as_of.date() if as_of else None
    interactive = console.is_terminal
    with plainly(settings):
        if interactive:
            with Progress(TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=console, transient=True) as progress:
                result = run_batch(settings, day, dry_run, _progress_callback(progress))
        else:
            result = run_batch(settings, day, dry_run)
    _print_summary(settings, result)
    sys.exit(result.exit_code)


def _print_summary(settings: Settings, result) -> None:
    from billing_batch.money import fmt_money

    r = result.report
    t = r["totals"]
    title = "Dry run (nothing was posted or moved)" if result.dry_run else "Run complete"
    console.print(f"[bold]{title}[/] — business date {result.as_of:%Y-%m-%d}")
    console.print(f"  files read: {len(r['files'])}   waiting: {len(r['waiting'])}   "
                  f"rejected files: {sum(1 for f in r['files'] if f['status'] == 'rejected')}")
    would = "would be " if result.dry_run else ""  # a dry run posts and issues nothing
    console.print(f"  rows read: {t['rows_read']}   {'would post' if result.dry_run else 'posted'}: {t['posted']}   "
                  f"already posted: {t['already_posted']}   {would}rejected: {t['rejected']}")
    that = "that would be " if result.dry_run else ""
    console.print(f"  invoices {'that would be issued' if result.dry_run else 'issued'}: {len(result.invoices)}   total: "
                  f"{fmt_money(result.invoice_total, settings.currency_symbol)}   credit notes {that}issued: "
                  f"{r['credit_notes']}   payments {that}applied: {r['payments_applied']}")
    by_level: dict[str, int] = {}
    for letter in r["letters"]:
        by_level[letter["level"]] = by_level.get(letter["level"], 0) + 1
    console.print(f"  letters {'that would be sent' if result.dry_run else 'sent'}: {len(r['letters'])}" + "".join(f"   {k}: {v}" for k, v in by_level.items())
                  + (f"   held back: {len(r['held_back'])}" if r["held_back"] else "")
                  + (f"   review warnings: {len(r['review'])}" if r["review"] else ""))
    plans = r.get("plans")
    if plans and (plans["agreed"] or plans["by_status"] or plans["letters"]):
        console.print(f"  payment plans {'that would be agreed' if result.dry_run else 'agreed'}: "
                      f"{len(plans['agreed'])}" + "".join(f"   {k.lower()}: {v}" for k, v in plans["by_status"].items())
                      + (f"   plan letters: {len(plans['letters'])}" if plans["letters"] else "")
                      + (f"   cured: {len(plans['cured'])}" if plans["cured"] else ""))
    ins = r.get("insurance")
    if ins and (ins["claims"] or ins["coverage_notices"] or ins["remittances_applied"] or ins["claim_adjustments_applied"]):
        would = "that would be " if result.dry_run else ""
        console.print(f"  claims {would}made: {len(ins['claims'])}"
                      f"   remittances {would}posted: {ins['remittances_applied']}"
                      f"   claim adjustments {would}applied: {ins['claim_adjustments_applied']}"
                      f"   coverage notices {'that would be ' if result.dry_run else ''}sent: {ins['coverage_notices']}")
    _print_email(r.get("email") or {}, result)
    dl = r.get("delivery") or {"printed": 0, "print_packs": [], "print_packs_waiting": [], "pdfs_missing": []}
    if dl["printed"] or dl["print_packs_waiting"] or dl["pdfs_missing"]:
        console.print(f"  documents {'in the draft print pack' if result.dry_run else 'printed'}: {dl['printed']}"
                      f"   PDFs missing: {len(dl['pdfs_missing'])}")
    for w in r["waiting"]:
        console.print(f"  [yellow]waiting[/] {w['name']}: {w['reason']}")
    # A PDF LibreOffice could not make is a warning (exit 0): the Word file is there, the next run retries.
    for line in failure_lines([f"{m['path']}: {m['reason']}" for m in dl["pdfs_missing"]]):
        console.print(f"[yellow]PDF missing[/] {line} (the Word file is there; retried on the next run)")
    for w in dl["print_packs_waiting"]:
        console.print(f"[yellow]print pack not made yet[/] {w['path']} ({counted(w['documents'], 'document')}): "
                      f"{w['reason']}; the next run (or `billing-batch finish`) makes it")
    errors = [p for p in result.problems if p.level == "error"]
    if errors:
        console.print(f"[yellow]{counted(len(errors), 'problem')}[/] — fix the rows in the problems workbooks in "
                      f"{settings.rejected if not result.dry_run else result.report_path.parent.parent / 'rejected'}"
                      " and drop them back in the inbox:")
        for p in errors[:15]:  # the cell, never its value (the console may go to a log)
            console.print(f"  - {escape(p.text(values=False))}", soft_wrap=True)  # a file may be "log [Oct].xlsx"
        if len(errors) > 15:
            console.print(f"  ... and {len(errors) - 15} more (see the Problems sheet of the aging workbook)")
    warnings = [p for p in result.problems if p.level == "warning"]
    if warnings:  # posted all the same, but staff should look (e.g. a service dated after the business date)
        one = len(warnings) == 1
        posted = "would be posted" if result.dry_run else ("was posted" if one else "were posted")
        console.print(f"[yellow]{counted(len(warnings), 'warning')}[/] — {'this row' if one else 'these rows'} "
                      f"{posted} all the same; look at {'it' if one else 'them'}:")
        for p in warnings[:15]:
            console.print(f"  - {escape(p.text(values=False))}", soft_wrap=True)
        if len(warnings) > 15:
            console.print(f"  ... and {len(warnings) - 15} more (see the Problems sheet of the aging workbook)")
    if result.finished.anything:
        console.print(_finished_line(result.finished, "  first finished what an earlier run had left: "))
    for line in failure_lines(result.document_failures):
        console.print(f"[red]not written[/] {line} (retried on the next run)")
    if result.document_failures:
        console.print(f"Check that {settings.output} is writable and has room (and that the templates open in "
                      "Word); the next run, or `billing-batch finish`, writes what is missing.")
    out = result.report_path.parent.parent
    if result.invoices or r["credit_notes"]:
        console.print(f"Invoices:        {out / 'invoices'}")
    if r["letters"]:
        console.print(f"Letters:         {out / 'letters' / f'{result.as_of:%Y-%m-%d}'}")
    written = "not written (see above); the next run writes it"
    console.print(f"Aging workbook:  {result.aging_path if result.aging_path else written}")
    console.print(f"Run report:      {result.report_path if result.report_path.exists() else written}")
    for pack in dl["print_packs"]:
        console.print(f"Print pack:      {out / pack['path']} (mailing list beside it)")
    claims_file = result.aging_path.parent / f"claims-{result.as_of:%Y-%m-%d}.xlsx" if result.aging_path else None
    if r.get("insurance", {}).get("claims") and claims_file and claims_file.exists():
        console.print(f"Claims to submit: {claims_file}")
    # The referral stage sends no letter: this line is how staff learn there are referrals to approve.
    referrals_file = result.aging_path.parent / f"referrals-{result.as_of:%Y-%m-%d}.xlsx" if result.aging_path else None
    if referrals_file and referrals_file.exists():
        console.print(f"Referrals:       {referrals_file} (for a person to approve or review; no letter is sent)")


def _print_email(e: dict, result) -> None:
    """E-mail counts and why a message failed: message and client IDs, never an address."""
    if not e.get("enabled"):
        if e.get("note"):
            console.print(f"  [yellow]{e['note']}[/]")
        return
    if result.dry_run:
        if result.finished.emailed or e["waiting"]:
            console.print(f"  e-mails that would be sent: {e['waiting']} (see {result.report_path.parent.parent / 'email'})")
        return
    if not any(e[k] for k in ("sent", "failed", "waiting", "paper")) and not e["still_open"]:
        return
    console.print(f"  e-mails sent: {e['sent']}   failed: {e['failed']}   waiting: {e['waiting']}   "
                  f"moved to paper: {e['paper']}" + (f"   still to send (all runs): {e['still_open']}"
                                                      if e["still_open"] else ""))
    for f in [*e["failures"], *e.get("earlier_failures", [])]:
        console.print(f"  [red]e-mail not sent[/] {f['message']} (client {f['client_id']}, try {f['attempts']}): "
                      f"{f['reason']} (retried on the next run)")
    if e["paper"]:
        n = len(e["paper_documents"])
        console.print(f"  [yellow]{counted(n, 'document')} {'goes' if n == 1 else 'go'} on paper instead of e-mail[/] "
                      "(see the run report)")


def _finished_line(done, prefix: str) -> str:
    emailed = (f", {counted(done.emailed, 'e-mail')} sent" + (f", {done.to_paper} moved to paper" if done.to_paper else "")
               if done.emailed or done.email_failures else "")
    line = (f"{prefix}{counted(done.documents, 'document')} written, "
            + (f"{counted(done.pdfs, 'PDF')} made, " if done.pdfs else "")
            + (f"{counted(done.printed, 'document')} printed, " if done.printed else "")
            + f"{counted(done.files, 'inbox file')} filed, "
            f"{counted(done.reports, 'run report')} written{emailed}")
    return "\n".join([line, *(f"  [red]not sent[/] {r}" for r in done.email_failures)])


@main.command()
@config_option
def finish(config_path: Path) -> None:
    """Write what earlier runs left unfinished (after a crash, or a document that failed): their
    documents, their inbox files and their reports. Nothing is posted. Every run does this first."""
    from billing_batch.pipeline import finish_batch

    settings = settings_from(config_path)
    with plainly(settings):
        done = finish_batch(settings)
    if not done.anything:
        console.print("Nothing was left to finish.")
    else:
        console.print(_finished_line(done, "Finished: "))
    for line in failure_lines(done.pdfs_missing):
        console.print(f"[yellow]PDF missing[/] {line} (the Word file is there; retried on the next run)")
    for line in done.packs_waiting:
        console.print(f"[yellow]print pack not made yet[/] {line}; the next run makes it")
    for line in failure_lines(done.failures):
        console.print(f"[red]not written[/] {line} (retried on the next run)")
    sys.exit(1 if done.failures else 0)


@main.command()
@config_option
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def check(config_path: Path, files: tuple[Path, ...]) -> None:
    """Check workbooks the way the nightly run would, without posting anything: prints every
    problem and writes a problems workbook for each file into output/checks/."""
    from billing_batch.pipeline import check_files

    settings = settings_from(config_path)
    with plainly(settings):
        results = check_files(settings, list(files))
    for r in results:
        if r.waiting:
            console.print(f"[yellow]{r.path.name}[/]: {r.waiting}; check it again in a moment")
            continue
        errors = [p for p in r.problems if p.level == "error"]
        warnings = [p for p in r.problems if p.level == "warning"]
        status = "[green]ready[/]" if not errors else f"[yellow]{counted(len(errors), 'problem')}[/]"
        if warnings:
            status += f", [yellow]{counted(len(warnings), 'warning')}[/]"
        console.print(f"{escape(r.path.name)}: {status} — {counted(r.rows_read, 'row')}, {r.would_post} would post, "
                      f"{r.already_posted} already posted, {r.rejected} would be rejected")
        for p in r.problems:  # the values are in the problems workbook
            label = "" if p.level == "error" else f"{p.level}: "
            console.print(f"  - {label}{escape(p.text(values=False))}", soft_wrap=True)
        if r.problems_workbook:
            console.print(f"  problems workbook: {r.problems_workbook}")


@main.group()
def report() -> None:
    """Rebuild reports from the ledger."""


@report.command("aging")
@config_option
@as_of_option
def report_aging(config_path: Path, as_of) -> None:
    """Write the aging workbook as of any date (default today) from the ledger alone."""
    from billing_batch.pipeline import aging_report

    settings = settings_from(config_path)
    with plainly(settings):
        path, recon = aging_report(settings, as_of.date() if as_of else None)
    console.print(f"Aging workbook: {path}")
    console.print(f"Reconciliation: {recon.line()}")
    if not recon.ties:
        sys.exit(2)


@main.command("verify")
@config_option
@as_of_option
def verify_command(config_path: Path, as_of) -> None:
    """Prove the ledger from its inputs (every run does this too): each client's invoices, credits,
    write-offs, payments and refunds against the aging, allocations within their money, gapless
    numbers, one queued document per issued one. Exit 0 when it proves, 2 when it does not."""
    from billing_batch.pipeline import integrity_message, verify_ledger

    settings = settings_from(config_path)
    with plainly(settings):
        recon, proof = verify_ledger(settings, as_of.date() if as_of else None)
    if recon.ties and proof.ok:
        console.print(f"The ledger proves itself as of {proof.as_of:%Y-%m-%d}: {recon.line()}")
        return
    fail(integrity_message(recon, proof), code=2)


@main.command()
@config_option
@as_of_option
@click.argument("client_id")
def statement(config_path: Path, as_of, client_id: str) -> None:
    """Write a Word statement of account for one client: the period's opening balance, charges, payments,
    credits and closing balance (the previous month on the 1st, else the month to date), open items, the
    aging of the balance, balance due, how to pay and a remittance slip (into output/statements/DATE/)."""
    from billing_batch.statements import UnknownClient, write_statement
    from billing_batch.pipeline import business_today

    settings = settings_from(config_path)
    with plainly(settings):
        try:
            path = write_statement(settings, client_id, as_of.date() if as_of else business_today(settings))
        except UnknownClient as exc:
            fail(str(exc))
    console.print(f"Statement: {path}")


@main.command()
@as_of_option
@click.option("--output", "output_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="The folder to write portfolio-YYYY-MM-DD.xlsx into.")
@click.argument("configs", nargs=-1, required=True, type=click.Path(path_type=Path))
def portfolio(as_of, output_dir: Path, configs: tuple[Path, ...]) -> None:
    """One workbook across offices: give each office's config.yaml. A row per office (receivables by
    bucket, % over 90 days, DSO, invoices and letters this month, problems waiting in rejected/, the
    last successful run), a chart, and a sheet per office linking to its aging workbook. Each ledger
    is only read, never changed; an office's run may be in progress meanwhile."""
    from billing_batch.pipeline import business_today
    from billing_batch.reports.portfolio_workbook import Unread, portfolio as figures_of, write_portfolio

    offices = []
    for c in configs:  # every office's file is called config.yaml: say which one
        try:
            offices.append(load_settings(c))
        except ConfigError as exc:
            fail(f"the configuration {c.resolve()} has problems:\n  " + "\n  ".join(exc.messages))
    day: date = as_of.date() if as_of else business_today(offices[0])
    with plainly(offices[0]):
        rows = figures_of(offices, day)
        unread = [r for r in rows if isinstance(r, Unread)]
        if len(unread) == len(rows):  # nothing to show: say why, office by office, and write nothing
            fail("no office could be read:\n  " + "\n  ".join(f"office {u.name!r} ({u.folder}): {u.why}"
                                                              for u in unread))
        path = write_portfolio(output_dir / f"portfolio-{day:%Y-%m-%d}.xlsx", rows, day, offices[0].aging.buckets)
    for u in unread:
        console.print(f"Office {u.name!r} ({u.folder}): {u.why}; its row says so")
    console.print(f"Portfolio of {counted(len(rows) - len(unread), 'office')} as of {day:%Y-%m-%d}"
                  + (f" ({counted(len(unread), 'office')} not read)" if unread else "") + f": {path}")


@main.command()
@config_option
@as_of_option
@click.option("--min-balance", default="0", show_default=True, metavar="AMOUNT",
              help="Skip clients whose balance (owed or in credit) is below this amount, e.g. 5.00.")
def statements(config_path: Path, as_of, min_balance: str) -> None:
    """Write a statement of account for every client with a balance (previous month when run on the 1st,
    otherwise month to date) into output/statements/DATE/, and a print pack of the mailed ones."""
    from decimal import Decimal, InvalidOperation

    from billing_batch.pipeline import business_today
    from billing_batch.statements import statement_period, write_statements

    try:  # money is never a float
        minimum = Decimal(min_balance.replace("$", "").replace(",", "").strip() or "0")
    except InvalidOperation:
        minimum = Decimal(-1)
    if not minimum.is_finite() or minimum < 0:
        fail(f"--min-balance {min_balance!r} is not an amount: give one like 5.00 (or leave it out)")
    settings = settings_from(config_path)
    day = as_of.date() if as_of else business_today(settings)
    with plainly(settings):
        batch = write_statements(settings, day, minimum)
    start, end = statement_period(day)
    n = len(batch.written)
    console.print(f"Statements for {start:%Y-%m-%d} to {end:%Y-%m-%d}: {n} written"
                  f"{f' to {settings.output / batch.written[0].parent.relative_to(settings.output)}' if n else ''}"
                  f"; {batch.skipped} client{'s' if batch.skipped != 1 else ''} with no balance or below the minimum")
    if batch.pack:
        console.print(f"Print pack: {batch.pack}")
    if batch.pack_problem:
        console.print(f"Print pack not made: {batch.pack_problem}. The Word files are written; "
                      "install LibreOffice or print them from Word.")


@main.group()
def templates() -> None:
    """The Word templates in the office's templates folder."""


def _no_libreoffice(settings: Settings) -> str:
    from billing_batch.documents import pdf

    configured = settings.documents.libreoffice
    return f"LibreOffice was not found at {configured} (documents.libreoffice)" if configured else pdf.NOT_INSTALLED


@templates.command("check")
@config_option
def templates_check(config_path: Path) -> None:
    """Render every template the run uses (invoices, credit note, statement, letters, coverage notices) with
    sample data and report any that fails, e.g. after editing one in Word. Each one that renders is left in
    output/checks/templates/ filled in, as a Word file and (where LibreOffice is installed) a PDF.
    Exit 1 if one fails."""
    from billing_batch.documents.samples import check_templates, preview_pdfs

    settings = settings_from(config_path)
    previews = settings.output / "checks" / "templates"
    with plainly(settings):
        try:
            checks = check_templates(settings, previews)
        except OSError as exc:  # not plainly's "the next run finishes it": a check has nothing to finish
            fail(f"could not write the previews into {previews}: {exc.strerror or exc}. Check that the folder "
                 "is a folder, writable, and the disk has room, then run templates check again")
        pdfs = preview_pdfs(settings, [previews / c.name for c in checks if not c.error])
    failed = [c for c in checks if c.error]
    for c in checks:
        where = "office copy" if c.own else "built-in (no office copy)"
        if c.error:
            console.print(f"[red]FAILED[/] {c.name} ({where}): {c.error}")
        else:
            console.print(f"[green]ok[/]     {c.name} ({where})")
    made = [p for p, why in pdfs.items() if why is None]
    console.print(f"Previews with sample data: {previews}", markup=False)
    console.print(f"  {counted(len(checks) - len(failed), 'Word file')} to open in Word"
                  + (f", {counted(len(made), 'PDF')} beside {'it' if len(made) == 1 else 'them'}" if made else
                     "" if pdfs else f" (no PDFs: {_no_libreoffice(settings)})"), markup=False)
    for line in failure_lines([f"{p.name}: {why}" for p, why in pdfs.items() if why]):
        console.print(f"[yellow]PDF preview missing[/] {line}")
    if failed:
        fresh = settings.output / "checks" / "fresh-copy"
        names = ", ".join(c.name for c in failed)
        own = [c.name for c in failed if c.own]
        fail(f"{counted(len(failed), 'template')} cannot be used ({names}); fix {'it' if len(failed) == 1 else 'them'} "
             f"in Word, or start again from a fresh copy of the built-in {'one' if len(failed) == 1 else 'ones'}: "
             f"`{program()} init {shlex.quote(str(fresh))}` writes every built-in template into {fresh / 'templates'}; copy "
             f"{'it' if len(failed) == 1 else 'them'} from there into {settings.templates}"
             + (f" (or delete the office's {'copy' if len(own) == 1 else 'copies'} of {', '.join(own)} to use the "
                f"built-in {'one' if len(own) == 1 else 'ones'})" if own else ""))


from billing_batch.cli_schedule import schedule  # noqa: E402 (it imports from this module when run)

main.add_command(schedule)
