"""`claims-YYYY-MM-DD.xlsx` (SPEC §4.6): the run's new claims, one row per claim line, as staff key
them into a payer portal (an X12 837 file is a later step)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from billing_batch.billing.claims import SubmissionLine
from billing_batch.money import from_cents
from billing_batch.reports.xlsx import fit_width, put, save_atomic, table_sheet

CLAIMS_HEADERS = ["Claim Number", "Payer", "Member ID", "Client ID", "Patient Name", "Service Date", "Service Code",
                  "Billing Code", "Quantity", "Billed", "Expected Allowed"]


def write_claims_workbook(path: Path, lines: list[SubmissionLine], as_of: date) -> None:
    """The lines in the order given, a totals row below them (outside the filter, so sorting leaves it last)."""
    wb = Workbook()
    ws = table_sheet(
        wb, "Claims", CLAIMS_HEADERS,
        ([ln.claim_number, ln.payer, ln.member_id, ln.client_id, ln.patient_name, ln.service_date,
          ln.service_code, ln.billing_code, ln.quantity, from_cents(ln.billed_cents),
          from_cents(ln.expected_allowed_cents)] for ln in lines),
        money_cols=["Billed", "Expected Allowed"],
        widths={"Claim Number": 18, "Payer": fit_width(ln.payer for ln in lines),
                "Member ID": fit_width((ln.member_id or "" for ln in lines), least=14),
                "Patient Name": fit_width((ln.patient_name for ln in lines), least=24), "Service Date": 12,
                "Service Code": 12, "Billing Code": 12, "Quantity": 10, "Billed": 13, "Expected Allowed": 13},
        first=True)
    ws.row_dimensions[1].height = 30  # headers on two lines where the column is narrow
    for (cell,) in ws.iter_rows(min_row=2, max_row=len(lines) + 1, min_col=7, max_col=7):
        cell.alignment = Alignment(indent=1)  # Service Code: not run into the date beside it
    r = len(lines) + 2
    put(ws, r, 1, "Total").font = Font(bold=True)
    put(ws, r, 10, from_cents(sum(ln.billed_cents for ln in lines)), money=True).font = Font(bold=True)
    put(ws, r, 11, from_cents(sum(ln.expected_allowed_cents for ln in lines)), money=True).font = Font(bold=True)
    wb.properties.title = f"Claims to submit, {as_of:%Y-%m-%d}"
    save_atomic(wb, path)
