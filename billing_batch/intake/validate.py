"""Validate typed rows with pandera, lazily: every problem of a sheet in one pass.

Parsing (cells.py) has already turned cells into dates, Decimals and booleans and reported what
it could not read; pandera checks the rules on those typed values. The DataFrame index is the Excel
row number, so pandera's failure cases point straight at the row staff must fix.
"""

from __future__ import annotations

import re

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING

from billing_batch.intake.kinds import KINDS_BY_NAME, CellType, Kind
from billing_batch.intake.sheets import ParsedSheet
from billing_batch.problems import Problem

if TYPE_CHECKING:  # pandas and pandera take ~0.7 s to import: only a run with rows to check pays for them
    import pandera.pandas as pa

FIRST_DATE, LAST_DATE = date(2000, 1, 1), date(2099, 12, 31)
_ONE_ADDRESS = re.compile(r"[^\s@,;:<>()\[\]\\\"']+@[^\s@,;:<>()\[\]\\\"'.]+(\.[^\s@,;:<>()\[\]\\\"'.]+)+")


def one_address(text: str) -> bool:
    """One plain e-mail address: a comma, a name or a line break would send a client's documents to
    someone else, or break the message."""
    return _ONE_ADDRESS.fullmatch(text) is not None

# (kind, column) -> (rule on a non-blank value, what to tell staff)
_RULES: dict[tuple[str, str], tuple] = {
    ("Clients", "Terms Days"): (lambda v: 0 <= v <= 365, "must be between 0 and 365 days"),
    ("Clients", "Copay"): (lambda v: v >= 0, "must not be negative"),
    ("Clients", "Coinsurance %"): (lambda v: 0 <= v <= 100, "must be between 0 and 100"),
    ("Clients", "Monthly Budget"): (lambda v: v >= 0, "must not be negative"),
    ("Clients", "Email"): (lambda v: one_address(v), "must be one e-mail address, like name@example.com (no "
                           "second address, name or spaces: documents are sent to exactly this address)"),
    ("Rates", "Unit Price"): (lambda v: v >= 0, "must not be negative"),
    ("Payer Fees", "Allowed Amount"): (lambda v: v >= 0, "must not be negative"),
    ("Service Log", "Quantity"): (lambda v: v > 0, "must be more than 0"),
    ("Service Log", "Unit Price Override"): (lambda v: v >= 0, "must not be negative; use Adjustments for credits"),
    ("Payments", "Amount"): (lambda v: v != 0, "must not be 0"),
    ("Remittances", "Paid"): (lambda v: v >= 0, "must not be negative"),
    ("Adjustments", "Amount"): (lambda v: v > 0, "must be more than 0 (the Kind says which way it goes)"),
    ("Payment Plans", "Installment Amount"): (lambda v: v > 0, "must be more than 0"),
    ("Payment Plans", "Plan Amount"): (lambda v: v > 0, "must be more than 0"),
    ("Contact Log", "Promise Amount"): (lambda v: v > 0, "must be more than 0"),
}

# Rules across columns of one row: (kind, name, columns blamed, rule on the row, message)
_ROW_RULES: list[tuple] = [
    ("Rates", "period", ("Effective To",),
     lambda r: r["Effective From"] is None or r["Effective To"] is None or r["Effective To"] >= r["Effective From"],
     "Effective To is before Effective From; fix one of the dates"),
    ("Adjustments", "amount", ("Amount",),
     lambda r: r["Kind"] == "Void" or r["Amount"] is not None or r["Kind"] is None,
     "Amount is required for a Write-off, Credit, Refund or Bill Patient"),
    ("Adjustments", "claim", ("Claim Number",),
     lambda r: r["Kind"] != "Bill Patient" or r["Claim Number"] is not None,
     "Claim Number is required for a Bill Patient: it moves what is open with the insurer on that claim to the "
     "patient"),
    ("Adjustments", "claim_kind", ("Claim Number",),
     lambda r: r["Claim Number"] is None or r["Kind"] in ("Write-off", "Bill Patient", None),
     "a Claim Number goes with a Write-off or a Bill Patient only; for a Credit, Void or Refund leave it blank"),
    ("Adjustments", "claim_or_invoice", ("Invoice Number",),
     lambda r: r["Claim Number"] is None or r["Invoice Number"] is None,
     "give a Claim Number (what the insurer has open) or an Invoice Number (what the patient owes), not both"),
    ("Adjustments", "invoice", ("Invoice Number",),
     lambda r: r["Kind"] not in ("Credit", "Void") or r["Invoice Number"] is not None,
     "Invoice Number is required for a Credit or a Void"),
    ("Clients", "member", ("Member ID",),
     lambda r: r["Payer"] is None or r["Member ID"] is not None,
     "Member ID is required for an insured client (one with a Payer): the payer needs it on every claim"),
    ("Remittances", "zero", ("Reason Code",),
     lambda r: r["Paid"] is None or r["Paid"] != 0 or r["Reason Code"] is not None,
     "Paid is 0: give the payer's Reason Code from the EOB (a denial, or why the patient owes it all, e.g. a "
     "deductible)"),
    ("Payments", "reversal", ("Reference",),
     lambda r: r["Amount"] is None or r["Amount"] >= 0 or r["Reference"] is not None,
     "a negative amount reverses a payment: give the Reference of the payment it reverses"),
    ("Contact Log", "promise", ("Promise Date",),
     lambda r: r["Outcome"] != "Promise to pay" or r["Promise Date"] is not None,
     "a Promise to pay needs the Promise Date"),
]


@dataclass(frozen=True)
class Sanity:
    """The office's limits on a single cell (config `intake.max_amount`, `intake.max_quantity`)."""
    max_amount: Decimal | None = None
    max_quantity: Decimal | None = None


def _element_check(rule, message: str) -> pa.Check:
    import pandera.pandas as pa  # here, not at the top: see TYPE_CHECKING above

    return pa.Check(lambda v: rule(v), element_wise=True, ignore_na=True, error=message)


@cache
def schema_for(kind_name: str, sanity: Sanity = Sanity()) -> pa.DataFrameSchema:
    import pandera.pandas as pa  # here, not at the top: see TYPE_CHECKING above

    kind: Kind = KINDS_BY_NAME[kind_name]
    columns = {}
    for col in kind.columns:
        checks = []
        if col.type is CellType.DATE:
            checks.append(_element_check(lambda v: FIRST_DATE <= v <= LAST_DATE,
                                         "is outside 2000–2099; check the year"))
        if col.type is CellType.MONEY and sanity.max_amount is not None:
            checks.append(_element_check(lambda v, m=sanity.max_amount: abs(v) <= m,
                                         f"is more than {sanity.max_amount:,}, the largest amount this office "
                                         "accepts (intake.max_amount in config.yaml); check the amount"))
        if col.type is CellType.QUANTITY and sanity.max_quantity is not None:
            checks.append(_element_check(lambda v, m=sanity.max_quantity: v <= m,
                                         f"is more than {sanity.max_quantity:,}, the largest quantity this office "
                                         "accepts (intake.max_quantity in config.yaml); check the quantity"))
        if (kind.name, col.name) in _RULES:
            checks.append(_element_check(*_RULES[(kind.name, col.name)]))
        columns[col.name] = pa.Column(None, checks, nullable=True, required=True)
    row_checks = [
        pa.Check(lambda df, rule=rule: df.apply(lambda r: bool(rule(r)), axis=1), error=f"row:{name}")
        for k, name, _, rule, _ in _ROW_RULES if k == kind.name
    ]
    return pa.DataFrameSchema(columns, checks=row_checks, coerce=False)


def validate(parsed: ParsedSheet, sanity: Sanity = Sanity()) -> list[Problem]:
    """Problems pandera finds in the sheet's typed rows (cells that failed to parse are blank here)."""
    if not parsed.rows:
        return []
    import pandas as pd  # here, not at the top: see TYPE_CHECKING above
    import pandera.pandas as pa

    kind = parsed.kind
    frame = pd.DataFrame([r.values for r in parsed.rows], index=[r.row for r in parsed.rows],
                         columns=[c.name for c in kind.columns], dtype=object)
    frame = frame.astype(object).where(frame.notna(), None)
    try:
        schema_for(kind.name, sanity).validate(frame, lazy=True)
        return []
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    row_rules = {f"row:{name}": (blame, msg) for k, name, blame, _, msg in _ROW_RULES if k == kind.name}
    problems: list[Problem] = []
    seen: set[tuple] = set()
    for case in cases.itertuples(index=False):
        if case.index is None or pd.isna(case.index):
            continue
        row = int(case.index)
        if case.check in row_rules:
            blame, message = row_rules[case.check]
            column = blame[0]
        else:
            column, message = case.column, f"{case.column} {case.check}"
        key = (row, column, message)
        if key in seen:
            continue
        seen.add(key)
        value = frame.at[row, column]
        problems.append(Problem(parsed.where(row, column), message, "" if value is None else value))
    return sorted(problems, key=lambda p: (p.where.row, p.where.col_index or 0))
