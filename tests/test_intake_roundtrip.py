"""Property: any valid transaction row written the way Excel stores it reads back identical (SPEC §3.1).

For each transaction kind, hypothesis builds random valid rows (IDs as text with leading zeros or
only digits, dates 2000–2099, money as Decimal with two places, quantities with up to three
decimals, choices in any case), writes them with openpyxl — numbers as floats like Excel, dates as
dates, IDs as text — in a random column order, reads the file with `read_file` and expects every
value back exactly (Decimal of type Decimal and equal to the cent, dates equal, IDs identical
strings) and no problem at all.
"""

from __future__ import annotations

import string
import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing_batch.config import Settings
from billing_batch.intake.inbox import read_file
from tests.workbook_cases import values, write_book

CENT = Decimal("0.01")

ids = st.one_of(
    st.from_regex(r"0[0-9]{1,7}", fullmatch=True),  # leading zeros
    st.from_regex(r"[1-9][0-9]{0,8}", fullmatch=True),  # digits only, written as text
    st.from_regex(r"[A-Z]{1,3}-?[0-9]{1,6}", fullmatch=True),
    st.sampled_from(["NA", "NULL", "None", "N/A", "TRUE", "0"]),  # names, not blanks or booleans
)
texts = st.text(alphabet=string.ascii_letters + string.digits + " .,'&-/()#", min_size=1, max_size=30).map(
    str.strip).filter(bool)
dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))


def money(low: str, high: str = "1000000.00"):  # up to intake.max_amount's default: larger is a problem
    return st.decimals(min_value=Decimal(low), max_value=Decimal(high), places=2,
                       allow_nan=False, allow_infinity=False)


positive = money("0.01")
not_negative = money("0.00")
quantities = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("9999.999"), places=3,
                         allow_nan=False, allow_infinity=False)


def choice(options: tuple[str, ...]):
    """(as typed, as read): any case, read back as the canonical choice."""
    return st.sampled_from(options).flatmap(
        lambda c: st.sampled_from([c, c.upper(), c.lower()]).map(lambda typed: (typed, c)))


def optional(strategy):
    return st.none() | strategy


@st.composite
def service_rows(draw):
    row = {"Service Date": draw(dates), "Client ID": draw(ids), "Service Code": draw(ids),
           "Quantity": draw(optional(quantities)), "Provider": draw(optional(texts)),
           "Description": draw(optional(texts)), "Unit Price Override": draw(optional(not_negative)),
           "Reference": draw(optional(ids))}
    return row, dict(row)


@st.composite
def payment_rows(draw):
    amount = draw(money("-1000000.00").filter(lambda a: a != 0))
    reference = draw(ids) if amount < 0 else draw(optional(ids))  # a reversal names what it reverses
    row = {"Payment Date": draw(dates), "Client ID": draw(ids), "Amount": amount,
           "Method": draw(optional(texts)), "Reference": reference, "Invoice Number": draw(optional(ids))}
    return row, dict(row)


@st.composite
def remittance_rows(draw):
    row = {"Claim Number": draw(ids), "Payer": draw(texts), "Paid Date": draw(dates), "Paid": draw(not_negative),
           "Allowed": draw(optional(not_negative)), "Patient Responsibility": draw(optional(not_negative)),
           "Reason Code": draw(optional(ids)), "Reference": draw(optional(ids))}
    if row["Paid"] == 0 and row["Reason Code"] is None:  # a zero payment comes with its reason code
        row["Reason Code"] = "CO-45"
    return row, dict(row)


@st.composite
def adjustment_rows(draw):
    typed, kind = draw(choice(("Write-off", "Credit", "Void", "Refund")))
    amount = draw(optional(positive)) if kind == "Void" else draw(positive)
    invoice = draw(ids) if kind in ("Credit", "Void") else draw(optional(ids))
    row = {"Date": draw(dates), "Client ID": draw(ids), "Kind": typed, "Amount": amount,
           "Invoice Number": invoice, "Claim Number": None, "Reason": draw(texts),
           "Note on document": draw(optional(texts))}
    return row, {**row, "Kind": kind}


@st.composite
def plan_rows(draw):
    typed, frequency = draw(choice(("Weekly", "Biweekly", "Monthly")))
    row = {"Client ID": draw(ids), "Agreement Date": draw(dates), "Installment Amount": draw(positive),
           "Frequency": typed, "First Due Date": draw(dates), "Plan Amount": draw(optional(positive)),
           "Notes": draw(optional(texts))}
    return row, {**row, "Frequency": frequency}


OUTCOMES = ("Promise to pay", "Dispute", "Dispute resolved", "No answer", "Left message", "Wrong number",
            "Plan requested", "Other")


@st.composite
def contact_rows(draw):
    typed, outcome = draw(choice(OUTCOMES))
    promise_date = draw(dates) if outcome == "Promise to pay" else draw(optional(dates))
    row = {"Contact Date": draw(dates), "Client ID": draw(ids), "Outcome": typed, "Promise Date": promise_date,
           "Promise Amount": draw(optional(positive)), "Notes": draw(optional(texts))}
    return row, {**row, "Outcome": outcome}


KINDS = {
    "Service Log": service_rows(),
    "Payments": payment_rows(),
    "Remittances": remittance_rows(),
    "Adjustments": adjustment_rows(),
    "Payment Plans": plan_rows(),
    "Contact Log": contact_rows(),
}
MONEY_COLUMNS = {"Unit Price Override", "Amount", "Paid", "Allowed", "Patient Responsibility",
                 "Installment Amount", "Plan Amount", "Promise Amount"}


@st.composite
def sheets(draw):
    kind = draw(st.sampled_from(sorted(KINDS)))
    rows = draw(st.lists(KINDS[kind], min_size=1, max_size=8))
    columns = draw(st.permutations(list(rows[0][0])))
    return kind, columns, rows


def assert_same(column: str, actual: object, expected: object) -> None:
    if isinstance(expected, Decimal):
        assert type(actual) is Decimal, (column, actual)
        assert actual == expected, (column, actual, expected)
        if column in MONEY_COLUMNS:
            assert actual.as_tuple().exponent == -2 and actual == actual.quantize(CENT), (column, actual)
    elif isinstance(expected, date):
        assert type(actual) is date and actual == expected, (column, actual, expected)
    else:
        assert type(actual) is type(expected) and actual == expected, (column, actual, expected)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sheets())
def test_valid_rows_read_back_identical(sheet):
    kind, columns, rows = sheet
    with tempfile.TemporaryDirectory() as tmp:
        path = write_book(Path(tmp) / "roundtrip.xlsx",
                          {kind: [columns, *[[typed[c] for c in columns] for typed, _ in rows]]})
        intake = read_file(path, Settings())
    problems = [p.text() for p in intake.problems] + [p.text() for s in intake.sheets for p in s.problems]
    assert problems == []
    [parsed] = intake.sheets
    assert parsed.kind.name == kind
    assert [r.row for r in parsed.rows] == list(range(2, len(rows) + 2))
    for got, (_, expected) in zip(parsed.rows, rows):
        want = values(kind, {c: v for c, v in expected.items() if v is not None})
        assert list(got.values) == list(want)
        for column, value in want.items():
            assert_same(column, got.values[column], value)
