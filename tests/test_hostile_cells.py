"""Cells no ledger should take: one such row is a problem on its row, never the night's end
(issue 11.7, 11.8), on both ledgers."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from billing_batch.ledger.db import open_ledger
from billing_batch.ledger.schema import clients, invoice_lines, invoices, payments, runs
from billing_batch.pipeline import run_batch
from tests.office import Office

D = dt.date
AS_OF = D(2026, 3, 31)
CLIENT_HEADERS = ["Client ID", "Name", "Type", "Address Line 1", "City", "Postal Code"]


def client(cid: str, name: str) -> list:
    return [cid, name, "Individual", "1 Main St", "Springfield", "62701"]


def drop_escaped(office: Office, name: str, sheets: dict) -> None:
    """Write a workbook whose cells hold control characters, as Excel stores them (`_x0000_`);
    openpyxl refuses to write them, so `@@0000` placeholders are turned into the escapes."""
    path = office.drop(name, sheets)
    packed = {i: zipfile.ZipFile(path).read(i) for i in zipfile.ZipFile(path).namelist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in packed.items():
            if member.startswith("xl/worksheets/"):
                data = re.sub(rb"@@([0-9A-F]{4})", rb"_x\1_", data)
            zf.writestr(member, data)


def problems(result) -> dict[tuple[str, int, str], str]:
    return {(p.where.sheet, p.where.row, p.where.column): p.message for p in result.problems if p.level == "error"}


def ledger_rows(office: Office, query):
    engine = open_ledger(office.settings.database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(query).all()
    finally:
        engine.dispose()


def test_text_longer_than_the_ledger_keeps_or_holding_control_characters_is_a_problem_on_its_row(office):
    drop_escaped(office, "clients.xlsx", {"Clients": [
        CLIENT_HEADERS,
        client("C1", "N" * 500),  # the longest name the ledger keeps: posts
        client("C2", "N" * 501),
        client("C3", "Nul@@0000Byte"),  # PostgreSQL refuses NUL: the whole run failed
        client("C4", "Bell@@0007"),  # no document or workbook can hold it
        client("C5", "Ordinary Name"),
        ["I" * 101, "Long Id", "Individual", "1 Main St", "Springfield", "62701"],
    ]})
    result = run_batch(office.settings, AS_OF)
    got = problems(result)
    assert got[("Clients", 3, "Name")] == "Name is 501 characters long, more than the 500 billing-batch keeps; shorten it"
    assert got[("Clients", 4, "Name")].startswith("Name holds a control character (such as NUL)")
    assert got[("Clients", 5, "Name")].startswith("Name holds a control character")
    assert got[("Clients", 7, "Client ID")].startswith("Client ID is 101 characters long, more than the 100")
    assert len(got) == 4
    assert sorted(r.client_id for r in ledger_rows(office, select(clients.c.client_id))) == ["C1", "C5"]
    # The problems workbook holds the rows as far as a workbook can (control characters dropped).
    wb = openpyxl.load_workbook(office.root / "rejected" / "clients.xlsx.problems.xlsx")
    names = [r[1] for r in wb["Clients"].iter_rows(min_row=2, values_only=True)]
    assert names == ["N" * 501, "NulByte", "Bell", "Long Id"]


def test_absurd_amounts_and_quantities_are_problems_and_the_limits_are_the_offices(tmp_path, database_url):
    office = Office.create(tmp_path / "office", database_url, intake__max_amount="50000000.00")
    office.drop("clients.xlsx", {"Clients": [CLIENT_HEADERS, client("C1", "A"), client("C2", "B")]})
    office.drop("rates.xlsx", {"Rates": [["Service Code", "Description", "Unit Price"],
                                         ["BIG", "Surgery, " + "described at length " * 20, Decimal("300000.00")],
                                         ["OV", "Office visit", Decimal("100.00")]]})
    office.drop("log.xlsx", {"Service Log": [
        ["Service Date", "Client ID", "Service Code", "Quantity"],
        [D(2026, 3, 2), "C1", "BIG", 100],  # 100 × 300,000.00 = 30,000,000.00: over 32-bit cents
        [D(2026, 3, 3), "C2", "OV", 10_000_000_000],  # the typing slip of issue 11.8
        [D(2026, 3, 4), "C2", "OV", 10_000],  # the limit itself is accepted
    ]})
    office.drop("payments.xlsx", {"Payments": [
        ["Payment Date", "Client ID", "Amount", "Reference"],
        [D(2026, 3, 31), "C1", Decimal("25000000.00"), "W1"],  # over $21,474,836.47, under the limit
        [D(2026, 3, 31), "C2", Decimal("50000000.01"), "W2"],  # over this office's limit
    ]})
    result = run_batch(office.settings, AS_OF)
    got = problems(result)
    assert got == {
        ("Service Log", 3, "Quantity"): "Quantity is more than 10,000, the largest quantity this office accepts "
                                        "(intake.max_quantity in config.yaml); check the quantity",
        ("Payments", 3, "Amount"): "Amount is more than 50,000,000.00, the largest amount this office accepts "
                                   "(intake.max_amount in config.yaml); check the amount",
    }
    assert sorted(ledger_rows(office, select(invoices.c.client_id, invoices.c.total_cents))) == [
        ("C1", 3_000_000_000), ("C2", 100_000_000)]  # 30,000,000.00 and 10,000 × 100.00 = 1,000,000.00
    assert ledger_rows(office, select(payments.c.amount_cents)) == [(2_500_000_000,)]
    [(description,)] = ledger_rows(office, select(invoice_lines.c.description).where(
        invoice_lines.c.service_code == "BIG"))
    assert len(description) == 9 + 20 * 20 - 1  # trailing space trimmed; invoice lines kept 300 characters


def test_database_errors_never_show_the_values_of_a_row(database_url):
    """hide_parameters: a refused statement's message names no cell value (issue 11.7)."""
    engine = open_ledger(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(runs).values(id=1, business_date=AS_OF, started_at=dt.datetime(2026, 3, 31),
                                             status="ok", billed=False))
            row = dict(client_id="C1", name="Secret Patient Name", type="Individual", address_line_1="12 Hidden Lane",
                       city="X", postal_code="1", delivery="Mail", tax_exempt=False, collections_hold=False, run_id=1)
            conn.execute(insert(clients).values(**row))
        with pytest.raises(IntegrityError) as refused, engine.begin() as conn:
            conn.execute(insert(clients).values(**row))
    finally:
        engine.dispose()
    assert "Secret Patient Name" not in str(refused.value) and "12 Hidden Lane" not in str(refused.value)
