"""Posting (SPEC §3.3, §4.2): each transaction once by identity, conflicts, cumulative logs, the
problems workbook dropped back, cross-checks, and payments applied the right way round."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import openpyxl
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import create_engine, func, select

from billing_batch.cli import main
from billing_batch.ledger.schema import contacts, payment_plans, payments, service_lines
from billing_batch.pipeline import aging_report, run_batch
from tests.office import Office
from tests.test_end_to_end import CLIENT_HEADERS, CLIENTS, LOG_HEADERS, RATE_HEADERS, RATES, drop_office

D = dt.date
PAY_HEADERS = ["Payment Date", "Client ID", "Amount", "Method", "Reference", "Invoice Number"]


def count(office: Office, table) -> int:
    engine = create_engine(office.settings.database_url)
    with engine.connect() as c:
        n = c.execute(select(func.count()).select_from(table)).scalar()
    engine.dispose()
    return n


def problems_of(result, file: str) -> list[tuple]:
    return [(p.where.sheet, p.where.row, p.where.column, p.message) for p in result.problems
            if p.where.file == file and p.level == "error"]


def test_every_transaction_kind_posts_once_and_conflicts_point_to_the_posted_row(office: Office):
    drop_office(office)
    run_batch(office.settings, D(2026, 3, 31))
    sheets = {
        "Payments": [PAY_HEADERS, [D(2026, 4, 2), "C001", Decimal("50.00"), "Check", "1001", "INV-2026-00002"]],
        "Contact Log": [["Contact Date", "Client ID", "Outcome", "Promise Date", "Promise Amount"],
                        [D(2026, 4, 3), "C003", "Promise to pay", D(2026, 4, 20), Decimal("33.50")]],
        "Adjustments": [["Date", "Client ID", "Kind", "Amount", "Invoice Number", "Reason"],
                        [D(2026, 4, 3), "00042", "Write-off", Decimal("3.99"), "INV-2026-00001", "Goodwill"]],
        "Payment Plans": [["Client ID", "Agreement Date", "Installment Amount", "Frequency", "First Due Date"],
                          ["C001", D(2026, 4, 4), Decimal("50.00"), "Monthly", D(2026, 5, 1)]],
        "Service Log": [LOG_HEADERS, [D(2026, 4, 1), "C001", "TH", 1, None, "K. Patel"]],
    }
    office.drop("april.xlsx", sheets)
    first = run_batch(office.settings, D(2026, 4, 5))
    assert problems_of(first, "april.xlsx") == []
    assert {s["kind"]: s["posted"] for f in first.report["files"] for s in f["sheets"]} == {
        "Payments": 1, "Contact Log": 1, "Adjustments": 1, "Payment Plans": 1, "Service Log": 1}
    # Re-dropped: nothing new; every row reported as already posted.
    office.drop("april again.xlsx", sheets)
    again = run_batch(office.settings, D(2026, 4, 5))
    t = again.report["totals"]
    assert (t["rows_read"], t["posted"], t["already_posted"], t["rejected"]) == (5, 0, 5, 0)
    assert (count(office, payments), count(office, contacts), count(office, payment_plans)) == (1, 1, 1)
    # The same payment identity without its invoice number: a conflict, pointing to the posted row.
    changed = {"Payments": [PAY_HEADERS, [D(2026, 4, 2), "C001", Decimal("50.00"), "Check", "1001", None]]}
    office.drop("april changed.xlsx", changed)
    conflict = run_batch(office.settings, D(2026, 4, 5))
    [(sheet, row, column, message)] = problems_of(conflict, "april changed.xlsx")
    assert (sheet, row) == ("Payments", 2)
    assert message.startswith("conflicts with the same Payments row posted on 2026-04-05 from april.xlsx (row 2)")
    assert count(office, payments) == 1


def test_cumulative_log_posts_only_new_rows_and_identical_rows_are_separate_services(sqlite_office: Office):
    office = sqlite_office
    office.drop("clients.xlsx", {"Clients": [CLIENT_HEADERS, *CLIENTS]})
    office.drop("rates.xlsx", {"Rates": [RATE_HEADERS, *RATES]})
    day1 = [[D(2026, 3, 2), "C001", "OV", 1, None, "Dr. Lee"],
            [D(2026, 3, 2), "C001", "OV", 1, None, "Dr. Lee"],  # a second, identical visit: two services
            [D(2026, 3, 3), "00042", "TH", 1, None, "K. Patel"]]
    office.drop("log.xlsx", {"Service Log": [LOG_HEADERS, *day1]})
    r1 = run_batch(office.settings, D(2026, 3, 3))
    assert r1.report["totals"]["posted"] == 3 + 4 + 3  # clients, rate card, services
    day2 = day1 + [[D(2026, 3, 2), "C001", "OV", 1, None, "Dr. Lee"],  # a third identical visit
                   [D(2026, 3, 4), "C003", "SUP", 2, None, "Dr. Lee"]]
    office.drop("log.xlsx", {"Service Log": [LOG_HEADERS, *day2]})
    r2 = run_batch(office.settings, D(2026, 3, 4))
    sheet = r2.report["files"][0]["sheets"][0]
    assert (sheet["rows_read"], sheet["posted"], sheet["already_posted"]) == (5, 2, 3)
    assert count(office, service_lines) == 5


_ROWS = st.lists(st.tuples(st.sampled_from(["C001", "00042", "C003"]), st.integers(1, 5),
                           st.sampled_from(["OV", "TH", "SUP"]), st.integers(1, 3)), min_size=1, max_size=12)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=_ROWS, cuts=st.lists(st.integers(0, 12), max_size=3))
def test_growing_log_dropped_and_redropped_posts_each_row_once(tmp_path_factory, rows, cuts):
    """A log that grows by appending, dropped after each growth (and once more re-saved): in the end
    the ledger holds exactly the rows of the full log, each once (identical rows as separate services)."""
    root = tmp_path_factory.mktemp("office")
    office = Office.create(root / "office", f"sqlite:///{root / 'ledger.sqlite'}")
    office.drop("clients.xlsx", {"Clients": [CLIENT_HEADERS, *CLIENTS]})
    office.drop("rates.xlsx", {"Rates": [RATE_HEADERS, *RATES]})
    log = [[D(2026, 3, day), client, code, qty, None, "Dr. Lee"] for client, day, code, qty in rows]
    prefixes = sorted({min(c, len(log)) for c in cuts} | {len(log)})
    for n in prefixes + [len(log)]:  # the last drop repeats the full log
        office.drop("log.xlsx", {"Service Log": [LOG_HEADERS, *log[:n]]})
        run_batch(office.settings, D(2026, 3, 31))
    engine = create_engine(office.settings.database_url)
    with engine.connect() as c:
        got = sorted((r.client_id, r.service_date.day, r.service_code, int(r.quantity))
                     for r in c.execute(select(service_lines)))
    engine.dispose()
    assert got == sorted((client, day, code, qty) for client, day, code, qty in rows)


def test_problems_workbook_fixed_and_dropped_back_posts_exactly_the_fixed_rows(sqlite_office: Office):
    office = sqlite_office
    office.drop("clients.xlsx", {"Clients": [CLIENT_HEADERS, *CLIENTS]})
    office.drop("rates.xlsx", {"Rates": [RATE_HEADERS, *RATES]})
    log = [[D(2026, 3, 2), "C001", "OV", 1, None, "Dr. Lee"],
           [D(2026, 3, 2), "C001", "OV", -1, None, "Dr. Lee"],   # twin of row 2 with a bad quantity
           [D(2026, 3, 5), "C009", "TH", 1, None, "K. Patel"],   # unknown client
           [D(2026, 3, 6), "00042", "SUP", 2, None, "K. Patel"]]
    office.drop("log.xlsx", {"Service Log": [LOG_HEADERS, *log]})
    first = run_batch(office.settings, D(2026, 3, 31))
    assert problems_of(first, "log.xlsx") == [
        ("Service Log", 3, "Quantity", "Quantity must be more than 0"),
        ("Service Log", 4, "Client ID", "is not in the client list; add the client (or fix the ID) and drop the "
                                         "file again")]
    assert count(office, service_lines) == 2
    path = office.root / "rejected" / "log.xlsx.problems.xlsx"
    wb = openpyxl.load_workbook(path)
    ws = wb["Service Log"]
    headers = [c.value for c in ws[1]]
    assert headers == LOG_HEADERS + ["Problems", "Occurrence"]
    assert [c.value for c in ws[2]][:6] == [dt.datetime(2026, 3, 2), "C001", "OV", -1, None, "Dr. Lee"]
    assert ws["D2"].comment.text == "Quantity must be more than 0" and ws["D2"].fill.fgColor.rgb.endswith("FFC7CE")
    assert ws["G2"].value == "Quantity must be more than 0"
    assert ws["G3"].value == "Client ID: is not in the client list; add the client (or fix the ID) and drop the file again"
    assert ws["H2"].value == 2  # the second of two identical visits
    # Staff fix the two cells and drop the workbook back as it is.
    ws["D2"] = 1
    ws["B3"] = "C003"
    wb.save(office.inbox / path.name)
    second = run_batch(office.settings, D(2026, 3, 31))
    assert problems_of(second, path.name) == []
    assert second.report["totals"]["posted"] == 2
    assert count(office, service_lines) == 4
    assert not path.exists()  # nothing left to fix: the old problems workbook is gone
    assert not (office.inbox / path.name).exists()


def test_master_data_is_processed_before_transactions_in_the_same_run(sqlite_office: Office):
    office = sqlite_office
    # "a log" sorts before "z clients": the log still finds the clients posted in this run.
    office.drop("a log.xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 3, 2), "C001", "OV", 1, None, None]]})
    office.drop("z clients and rates.xlsx", {"Clients": [CLIENT_HEADERS, *CLIENTS], "Rates": [RATE_HEADERS, *RATES]})
    r = run_batch(office.settings, D(2026, 3, 31))
    assert [p for p in r.problems if p.level == "error"] == []
    assert [n for n, _ in r.invoices] == ["INV-2026-00001"]


def test_overlapping_rate_versions_are_a_problem(sqlite_office: Office):
    office = sqlite_office
    rates = [["OV", "Office visit", Decimal("100.00"), "N", None, D(2026, 3, 20)],
             ["OV", "Office visit", Decimal("110.00"), "N", D(2026, 3, 15), None]]
    office.drop("rates.xlsx", {"Rates": [RATE_HEADERS, *rates]})
    r = run_batch(office.settings, D(2026, 3, 31))
    assert problems_of(r, "rates.xlsx") == [
        ("Rates", 3, "Effective From", "this version of OV overlaps the one effective from always; set Effective "
                                        "To the day before the later version starts")]


def test_cross_checks_name_the_row_and_what_to_do(sqlite_office: Office):
    office = sqlite_office
    drop_office(office)
    run_batch(office.settings, D(2026, 3, 31))
    office.drop("payments.xlsx", {"Payments": [
        PAY_HEADERS,
        [D(2026, 4, 2), "C001", Decimal("10.00"), "Check", "1", "INV-2026-99999"],   # unknown invoice
        [D(2026, 4, 2), "C001", Decimal("10.00"), "Check", "2", "INV-2026-00001"],   # another client's invoice
        [D(2026, 4, 2), "C777", Decimal("10.00"), "Check", "3", None],               # unknown client
        [D(2026, 4, 3), "C001", Decimal("-10.00"), "Check", "4", None],              # reverses nothing
        [D(2026, 4, 2), "C001", Decimal("25.00"), "Check", "5", None],
        [D(2026, 4, 4), "C001", Decimal("-25.00"), "Check", "5", None],              # reverses row 6: fine
    ]})
    office.drop("fees.xlsx", {"Payer Fees": [["Payer", "Service Code", "Allowed Amount"], ["Aetna", "OV", Decimal("80.00")]]})
    office.drop("remit.xlsx", {"Remittances": [["Claim Number", "Payer", "Paid Date", "Paid"],
                                               ["CLM-1", "aetna", D(2026, 4, 2), Decimal("10.00")],   # no such claim
                                               ["CLM-2", "Cigna", D(2026, 4, 2), Decimal("10.00")]]})  # unknown payer
    r = run_batch(office.settings, D(2026, 4, 5))
    assert [(row, col) for _, row, col, _ in problems_of(r, "payments.xlsx")] == [
        (2, "Invoice Number"), (3, "Invoice Number"), (4, "Client ID"), (5, "Reference")]
    assert problems_of(r, "payments.xlsx")[1][3].startswith("belongs to another client, not C001")
    assert problems_of(r, "remit.xlsx") == [
        ("Remittances", 2, "Claim Number", "is not a claim billing-batch has issued; check the claim number on the "
                                           "remittance"),
        ("Remittances", 3, "Payer", "is not a payer on the Payer Fees sheet; check the spelling or add the payer's "
                                    "fees to the rate card")]
    engine = create_engine(office.settings.database_url)
    with engine.connect() as c:
        rows = c.execute(select(payments.c.reference, payments.c.amount_cents, payments.c.reverses_payment_id)
                         .order_by(payments.c.id)).all()
    engine.dispose()
    assert [(ref, cents) for ref, cents, _ in rows] == [("5", 2500), ("5", -2500)]
    assert rows[1][2] is not None  # the reversal points at the payment it reverses


def test_payments_named_invoice_first_then_oldest_credit_carried_and_reversal(office: Office):
    """Hand-computed, tax 0. Run 1 (03-31): INV-1 00042 123.99 due 04-15; INV-2 C001 330.05 due 04-30;
    INV-3 C003 33.50 due 04-30."""
    drop_office(office)
    run_batch(office.settings, D(2026, 3, 31))
    office.drop("payments.xlsx", {"Payments": [
        PAY_HEADERS,
        [D(2026, 4, 5), "C001", Decimal("100.00"), "Check", "CHK1", "INV-2026-00002"],  # INV-2 → 230.05
        [D(2026, 4, 6), "00042", Decimal("200.00"), "Card", "CHK2", None],  # INV-1 paid, 76.01 credit
        [D(2026, 4, 7), "C003", Decimal("33.50"), "Check", "CHK3", None],   # oldest: INV-3 (due 04-30)
        [D(2026, 4, 9), "C003", Decimal("-33.50"), "Check", "CHK3", None],  # bounced: INV-3 open again
    ]})
    # Run 2 (04-10) also bills C003's 04-05 visit: INV-4 110.00 due 05-10, before payments apply.
    r2 = run_batch(office.settings, D(2026, 4, 10))
    assert [n for n, _ in r2.invoices] == ["INV-2026-00004"]
    assert r2.report["aging"]["buckets"]["Not Yet Due"] == "373.55"  # 230.05 + 33.50 + 110.00
    assert r2.report["aging"]["unapplied_credit"] == "76.01"
    assert r2.report["aging"]["balance"] == "297.54"  # 597.54 invoiced − 300.00 paid
    # Run 3 (05-20): 00042's new visit (80.00) takes the 76.01 credit; 3.99 left to pay.
    office.drop("may.xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 5, 18), "00042", "TH", 1, None, "K. Patel"]]})
    r3 = run_batch(office.settings, D(2026, 5, 20))
    assert [n for n, _ in r3.invoices] == ["INV-2026-00005"]
    # INV-2 230.05, INV-3 33.50 (due 04-30, 20 days) and INV-4 110.00 (due 05-10, 10 days) are 1-30.
    assert r3.report["aging"]["buckets"] == {"Not Yet Due": "3.99", "1-30": "373.55", "31-60": "0.00",
                                             "61-90": "0.00", "91-120": "0.00", "Over 120": "0.00"}
    assert r3.report["aging"]["unapplied_credit"] == "0.00"
    from tests.test_end_to_end import docx_paragraphs
    inv5 = "\n".join(docx_paragraphs(next((office.root / "output/invoices/2026-05").glob("*-INV-2026-00005.docx"))))
    assert "Credit applied" in inv5 and "-$76.01" in inv5 and "$3.99" in inv5
    # Aging as of 04-10, rebuilt after later runs: the credit applied on 05-20 does not count yet.
    path, recon = aging_report(office.settings, D(2026, 4, 10))
    wb = openpyxl.load_workbook(path)
    by_client = {r[0]: r for r in wb["Aging by Client"].iter_rows(min_row=2, values_only=True)}
    assert Decimal(str(by_client["00042"][9])) == Decimal("76.01")  # Unapplied Credit column
    assert recon.ties and recon.aging_balance == Decimal("297.54")


def test_check_command_posts_nothing_and_writes_a_problems_workbook(sqlite_office: Office, tmp_path):
    office = sqlite_office
    drop_office(office)
    run_batch(office.settings, D(2026, 3, 31))
    from tests.office import write_workbook
    f = write_workbook(tmp_path / "new log.xlsx", {"Service Log": [
        LOG_HEADERS, [D(2026, 4, 1), "C001", "OV", 1, None, None], [D(2026, 4, 1), "C001", "ZZ", 1, None, None]]})
    result = CliRunner().invoke(main, ["check", "--config", str(office.config), str(f)])
    assert result.exit_code == 0
    assert "new log.xlsx: 1 problem — 2 rows, 1 would post, 0 already posted, 1 would be rejected" in result.output
    # The console names the cell, never its value (issue 11.10): the value is in the problems workbook.
    assert "Service Log, row 3, Service Code (C3): is not on the rate card" in " ".join(result.output.split())
    assert '"ZZ"' not in result.output
    assert (office.root / "output" / "checks" / "new log.xlsx.problems.xlsx").exists()
    assert count(office, service_lines) == 7  # nothing posted


def test_check_looks_at_files_together_as_the_run_would_post_them(sqlite_office: Office, tmp_path):
    from billing_batch.pipeline import check_files
    from tests.office import write_workbook

    office = sqlite_office
    drop_office(office)
    run_batch(office.settings, D(2026, 3, 31))
    clients = write_workbook(tmp_path / "new client.xlsx", {"Clients": [
        CLIENT_HEADERS, ["C009", "New Person", "Individual", None, "5 Oak St", "Springfield", "IL", "62701", 30, None]]})
    log = write_workbook(tmp_path / "log.xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 4, 1), "C009", "OV", 1, None, None]]})
    [alone] = check_files(office.settings, [log])
    assert [p.where.column for p in alone.problems] == ["Client ID"] and alone.would_post == 0
    together = check_files(office.settings, [clients, log])
    assert [(r.rows_read, r.would_post, r.problems) for r in together] == [(1, 1, []), (1, 1, [])]
    [with_context] = check_files(office.settings, [log], context=[clients])
    assert (with_context.would_post, with_context.problems) == (1, [])
    assert count(office, service_lines) == 7  # nothing was posted


def test_bounced_payment_and_its_replacement_in_the_same_run(sqlite_office: Office):
    """00042's INV-1 (123.99) is paid in full on 04-01; in the next drop the cheque bounces and a new
    payment of 100.00 comes in: INV-1, paid in full before this run, is re-opened and takes the 100.00,
    leaving 23.99 open and no credit."""
    office = sqlite_office
    drop_office(office)
    run_batch(office.settings, D(2026, 3, 31))
    office.drop("pay.xlsx", {"Payments": [PAY_HEADERS, [D(2026, 4, 1), "00042", Decimal("123.99"), "Check", "77", None]]})
    run_batch(office.settings, D(2026, 4, 2))
    office.drop("bounce.xlsx", {"Payments": [
        PAY_HEADERS,
        # The new payment first: a bulk insert whose first row lacks a column would drop the reversal's link.
        [D(2026, 4, 4), "00042", Decimal("100.00"), "Card", "78", None],
        [D(2026, 4, 3), "00042", Decimal("-123.99"), "Check", "77", None]]})
    r = run_batch(office.settings, D(2026, 4, 5))
    assert r.report["payments_applied"] == 2
    wb = openpyxl.load_workbook(r.aging_path)
    header = [c.value for c in wb["Open Items"][1]]
    rows = {row[0]: dict(zip(header, row)) for row in wb["Open Items"].iter_rows(min_row=2, values_only=True)}
    assert Decimal(str(rows["INV-2026-00001"]["Balance"])).quantize(Decimal("0.01")) == Decimal("23.99")
    assert r.report["aging"]["unapplied_credit"] == "0.00" and r.report["aging"]["ties"]


def test_the_same_new_client_twice_in_one_sheet_the_later_row_wins(sqlite_office: Office):
    office = sqlite_office
    office.drop("clients.xlsx", {"Clients": [
        CLIENT_HEADERS,
        ["C001", "Old Name", "Individual", None, "1 Mill Lane", "Springfield", "IL", "62701", 30, "N"],
        ["C001", "New Name", "Individual", None, "2 Mill Lane", "Springfield", "IL", "62701", 15, "N"]]})
    run_batch(office.settings, D(2026, 3, 31))
    engine = create_engine(office.settings.database_url)
    from billing_batch.ledger.schema import clients
    with engine.connect() as c:
        rows = c.execute(select(clients.c.name, clients.c.address_line_1, clients.c.terms_days, clients.c.source_row)).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("New Name", "2 Mill Lane", 15, 3)]


def test_service_dated_after_the_run_is_posted_with_a_note_and_billed_once_its_day_comes(sqlite_office: Office):
    office = sqlite_office
    drop_office(office)
    office.drop("april log.xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 4, 9), "C003", "TH", 1, None, "Dr. Lee"]]})
    r = run_batch(office.settings, D(2026, 3, 31))
    notes = [p for p in r.problems if p.where.file == "april log.xlsx"]
    assert [(p.level, p.where.row, p.where.column, p.where.cell) for p in notes] == [("warning", 2, "Service Date", "A2")]
    assert notes[0].message.startswith("is after today's business date (2026-03-31); the service is posted")
    assert count(office, service_lines) == 8  # the seven of drop_office's log and this one
    assert r.invoice_total == Decimal("487.54")  # 123.99 + 330.05 + 33.50 (no tax here): no April service
    later = run_batch(office.settings, D(2026, 4, 30))
    assert [p for p in later.problems if p.where.file == "april log.xlsx"] == []  # said once, when posted
    assert len(later.invoices) == 1  # C003: drop_office's April 5 visit 110.00 + this therapy 80.00
    assert later.invoice_total == Decimal("190.00")


def test_cpt_or_hcpcs_header_reads_as_the_service_code_unless_the_sheet_has_one(sqlite_office: Office):
    office = sqlite_office
    drop_office(office)
    run_batch(office.settings, D(2026, 3, 31))
    office.drop("cpt log.xlsx", {"Service Log": [["Date of Service", "Patient ID", "CPT", "Units"],
                                                 [D(2026, 4, 2), "C003", "TH", 2]]})
    office.drop("both log.xlsx", {"Service Log": [["CPT", "Service Date", "Client ID", "Service Code"],
                                                  ["99213", D(2026, 4, 3), "C003", "OV"]]})
    r = run_batch(office.settings, D(2026, 4, 30))
    assert [p.message for p in r.problems if p.level == "error"] == []
    ignored = [p for p in r.problems if p.where.file == "both log.xlsx"]
    assert [(p.where.column, p.message) for p in ignored] == [
        ("CPT", "is another name for Service Code, which is read from column D (Service Code); this column is "
                "ignored (a code keyed only here is not read)")]
    assert r.invoice_total == Decimal("380.00")  # C003 (tax exempt): 110.00 (drop_office, April 5) + 2 × 80.00 + 110.00


def test_service_dated_more_than_a_year_ahead_is_a_typing_mistake_not_posted(sqlite_office: Office):
    office = sqlite_office
    drop_office(office)
    office.drop("typo log.xlsx", {"Service Log": [LOG_HEADERS, [D(2027, 4, 2), "C003", "TH", 1, None, "Dr. Lee"],
                                                  [D(2027, 3, 31), "C003", "TH", 1, None, "Dr. Lee"]]})
    r = run_batch(office.settings, D(2026, 3, 31))
    mine = [(p.level, p.where.cell) for p in r.problems if p.where.file == "typo log.xlsx"]
    # 2027-04-02 is 367 days after 2026-03-31: refused; 2027-03-31 (365 days) is a booking, a warning.
    assert mine == [("error", "A2"), ("warning", "A3")]
    assert count(office, service_lines) == 8
