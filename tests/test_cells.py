"""Reading cells as staff write them (SPEC §3.1): billing_batch/intake/cells.py.

Every expectation below is worked out by hand from the spec, not by calling the code under test.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_batch.intake.cells import (
    CellError,
    clean_text,
    is_blank,
    parse_cell,
    parse_choice,
    parse_date,
    parse_integer,
    parse_money,
    parse_percent,
    parse_quantity,
    parse_yes_no,
)
from billing_batch.intake.kinds import ADJUSTMENTS, CLIENTS, CONTACT_LOG, PAYMENTS, RATES, SERVICE_LOG

MDY = "%m/%d/%Y"
NBSP = "\u00a0"

# The exact messages staff read (cells.py); a rejection must say one of these, nothing vaguer.
NOT_AN_AMOUNT = "is not an amount; write it like 1234.50, 1,234.50 or (12.00) for a negative"
MONEY_DECIMALS = "has more than two decimals; round it to the cent"
NOT_A_DATE_MDY = "is not a date I can read; write it as 2026-03-14 or 03/14/2026"
NO_SUCH_DAY = "is not a real date (no such day); check the day and month"
NOT_A_SERIAL = "is not a date; write it like 2026-03-14"
NOT_A_PERCENT = "is not a percentage; write it like 20 or 20%"
PERCENT_DECIMALS = "has more than two decimals; round the percentage"
NOT_YN = "must be Y or N"
NOT_A_QUANTITY = "is not a number; write the quantity like 1, 2 or 1.5"
QUANTITY_DECIMALS = "has more than three decimals; round the quantity"
NOT_WHOLE = "is not a whole number; write it like 30"


# decimal.FloatOperation is trapped for every test by conftest.py.


def assert_decimal(actual: object, expected: str) -> None:
    assert type(actual) is Decimal, f"{actual!r} is {type(actual).__name__}, not Decimal"
    assert actual == Decimal(expected)


# -- text and IDs -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw, expected",
    [
        ("00123", "00123"),  # leading zeros stay
        ("NA", "NA"),  # names, not blanks
        ("None", "None"),
        ("NULL", "NULL"),
        ("null", "null"),
        ("N/A", "N/A"),
        (1001.0, "1001"),  # Excel gives whole numbers as floats
        (1001, "1001"),
        (1001.5, "1001.5"),
        (0.0, "0"),
        ("  ACME-1  ", "ACME-1"),
        (f"{NBSP}00123{NBSP}", "00123"),  # non-breaking spaces pasted from a web page
        (f" {NBSP} Smith, Jane \t\n", "Smith, Jane"),
        (f"Jane{NBSP}Smith", "Jane Smith"),  # an inner NBSP becomes a plain space
        (True, "TRUE"),
        (False, "FALSE"),
        (date(2026, 3, 14), "2026-03-14"),
        (datetime(2026, 3, 14), "2026-03-14"),
        (datetime(2026, 3, 14, 9, 30), "2026-03-14T09:30:00"),
    ],
)
def test_clean_text(raw, expected):
    out = clean_text(raw)
    assert type(out) is str
    assert out == expected


@pytest.mark.parametrize(
    "raw, blank",
    [("", True), (None, True), ("   ", True), (NBSP, True), (f" {NBSP}\t", True),
     ("NA", False), ("None", False), ("NULL", False), ("0", False), (0, False), (False, False)],
)
def test_is_blank(raw, blank):
    assert is_blank(raw) is blank


@pytest.mark.parametrize(
    "kind, column, raw, expected",
    [
        (CLIENTS, "Client ID", "00123", "00123"),
        (CLIENTS, "Client ID", "NA", "NA"),
        (CLIENTS, "Client ID", "None", "None"),
        (CLIENTS, "Client ID", "NULL", "NULL"),
        (CLIENTS, "Client ID", 1001.0, "1001"),
        (CLIENTS, "Client ID", 1001, "1001"),
        (CLIENTS, "Client ID", f"{NBSP}C-7 ", "C-7"),
        (CLIENTS, "Postal Code", "02134", "02134"),
        (CLIENTS, "Name", f"  Jane Smith{NBSP}", "Jane Smith"),
        (SERVICE_LOG, "Reference", 987654.0, "987654"),
    ],
)
def test_parse_cell_ids_and_text_stay_text(kind, column, raw, expected):
    out = parse_cell(kind.column(column), raw, MDY)
    assert type(out) is str
    assert out == expected


@pytest.mark.parametrize(
    "kind, column, raw, percent_format, expected",
    [
        (SERVICE_LOG, "Service Date", 45663, False, date(2025, 1, 6)),
        (SERVICE_LOG, "Service Date", "03/14/2026", False, date(2026, 3, 14)),
        (PAYMENTS, "Amount", "$1,234.50", False, Decimal("1234.50")),
        (PAYMENTS, "Amount", 12.5, False, Decimal("12.50")),
        (CLIENTS, "Coinsurance %", "20%", False, Decimal("20")),
        (CLIENTS, "Coinsurance %", 0.2, True, Decimal("20")),
        (CLIENTS, "Coinsurance %", 0.2, False, Decimal("0.2")),
        (CLIENTS, "Tax Exempt", "yes", False, True),
        (CLIENTS, "Collections Hold", "N", False, False),
        (CLIENTS, "Terms Days", 45.0, False, 45),
        (SERVICE_LOG, "Quantity", "1.5", False, Decimal("1.5")),
        (CLIENTS, "Type", " business ", False, "Business"),
        (ADJUSTMENTS, "Kind", "write off", False, "Write-off"),
        (CONTACT_LOG, "Outcome", "PROMISE TO PAY", False, "Promise to pay"),
    ],
)
def test_parse_cell_dispatches_on_column_type(kind, column, raw, percent_format, expected):
    out = parse_cell(kind.column(column), raw, MDY, percent_format)
    assert type(out) is type(expected)
    assert out == expected


@pytest.mark.parametrize(
    "kind, column, raw, message",
    [
        (SERVICE_LOG, "Service Date", "3/4/26", NOT_A_DATE_MDY),
        (PAYMENTS, "Amount", "12.345", MONEY_DECIMALS),
        (CLIENTS, "Coinsurance %", "twenty", NOT_A_PERCENT),
        (CLIENTS, "Tax Exempt", "maybe", NOT_YN),
        (CLIENTS, "Terms Days", "30.5", NOT_WHOLE),
        (SERVICE_LOG, "Quantity", "1.2345", QUANTITY_DECIMALS),
        (CLIENTS, "Type", "Company", "must be one of: Individual, Business"),
        (CLIENTS, "Delivery", "Fax", "must be one of: Mail, Email, Both"),
    ],
)
def test_parse_cell_rejections(kind, column, raw, message):
    with pytest.raises(CellError) as exc:
        parse_cell(kind.column(column), raw, MDY)
    assert str(exc.value) == message


# -- dates ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw, fmt, expected",
    [
        (date(2026, 3, 14), MDY, date(2026, 3, 14)),
        (datetime(2026, 3, 14, 0, 0), MDY, date(2026, 3, 14)),
        (datetime(2026, 3, 14, 23, 59, 59), MDY, date(2026, 3, 14)),
        (45663, MDY, date(2025, 1, 6)),  # Excel serial
        (45663.0, MDY, date(2025, 1, 6)),
        (45663.75, MDY, date(2025, 1, 6)),  # a date with a time of day: the day
        (46095, MDY, date(2026, 3, 14)),  # 2026-03-14 - 1899-12-30 = 46095 days
        (61, MDY, date(1900, 3, 1)),
        ("2026-03-14", MDY, date(2026, 3, 14)),  # ISO is always accepted
        ("2024-02-29", MDY, date(2024, 2, 29)),  # a real leap day
        (f" 2026-03-14{NBSP}", MDY, date(2026, 3, 14)),
        ("03/14/2026", MDY, date(2026, 3, 14)),  # the configured format
        ("3/4/2026", MDY, date(2026, 3, 4)),  # configured format: month first, no guessing
        ("12/31/2025", MDY, date(2025, 12, 31)),
        ("14/03/2026", "%d/%m/%Y", date(2026, 3, 14)),  # an office that writes day first
        ("04.03.2026", "%d.%m.%Y", date(2026, 3, 4)),
        ("2026-03-04", "%d/%m/%Y", date(2026, 3, 4)),  # ISO beside any configured format
    ],
)
def test_parse_date(raw, fmt, expected):
    out = parse_date(raw, fmt)
    assert type(out) is date  # a plain date, never a datetime
    assert out == expected


@pytest.mark.parametrize(
    "raw, fmt, message",
    [
        ("2026-02-30", MDY, NO_SUCH_DAY),  # impossible ISO date
        ("2025-02-29", MDY, NO_SUCH_DAY),  # not a leap year
        ("2026-13-01", MDY, NO_SUCH_DAY),
        ("02/30/2026", MDY, NOT_A_DATE_MDY),  # impossible in the configured format
        ("3/4/26", MDY, NOT_A_DATE_MDY),  # two-digit year: ambiguous, never a guess
        ("14/03/2026", MDY, NOT_A_DATE_MDY),  # day-first text in a month-first office
        ("2026-3-4", MDY, NOT_A_DATE_MDY),
        ("March 4", MDY, NOT_A_DATE_MDY),
        ("yesterday", MDY, NOT_A_DATE_MDY),
        ("45663", MDY, NOT_A_DATE_MDY),  # a serial typed as text is not a date
        (True, MDY, NOT_A_DATE_MDY),  # a TRUE/FALSE cell
        (False, MDY, NOT_A_DATE_MDY),
        ("3/4/26", "%d/%m/%Y", "is not a date I can read; write it as 2026-03-14 or 14/03/2026"),
        (0, MDY, NOT_A_SERIAL),  # Excel serials start at 1
        (-5, MDY, NOT_A_SERIAL),
        (2958466, MDY, NOT_A_SERIAL),  # past 9999-12-31
    ],
)
def test_parse_date_rejects(raw, fmt, message):
    with pytest.raises(CellError) as exc:
        parse_date(raw, fmt)
    assert str(exc.value) == message


# -- money ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw, expected",
    [
        (12.5, "12.50"),
        (12, "12.00"),
        (0, "0.00"),
        (-7, "-7.00"),
        (1234.56, "1234.56"),  # not exact in binary: read as the cell shows it
        (0.1, "0.10"),
        (0.29, "0.29"),
        (1.15, "1.15"),
        (19.99, "19.99"),
        (-0.07, "-0.07"),
        (9999999.99, "9999999.99"),
        ("12.5", "12.50"),
        ("1234.50", "1234.50"),
        ("1,234.50", "1234.50"),
        ("$1,234.50", "1234.50"),
        ("$12", "12.00"),
        ("1,234,567.89", "1234567.89"),
        ("(12.00)", "-12.00"),  # accountants' negative
        ("($1,234.50)", "-1234.50"),
        ("-5", "-5.00"),
        ("-$5.25", "-5.25"),
        (".50", "0.50"),
        (f"{NBSP}$1,234.50{NBSP}", "1234.50"),
        ("  42.10 ", "42.10"),
        ("€12.00", "12.00"),
        ("£3", "3.00"),
    ],
)
def test_parse_money(raw, expected):
    out = parse_money(raw)
    assert_decimal(out, expected)
    assert str(out) == expected  # always quantized to the cent


@pytest.mark.parametrize(
    "raw, message",
    [
        ("1,23", NOT_AN_AMOUNT),  # comma in the wrong place (decimal comma): never a guess
        ("1,2345.00", NOT_AN_AMOUNT),
        ("12,34.50", NOT_AN_AMOUNT),
        ("12.345", MONEY_DECIMALS),
        ("1,234.505", MONEY_DECIMALS),
        (12.345, MONEY_DECIMALS),
        (1.005, MONEY_DECIMALS),
        (True, "must be an amount, not TRUE/FALSE"),
        (False, "must be an amount, not TRUE/FALSE"),
        ("abc", NOT_AN_AMOUNT),
        ("12 USD", NOT_AN_AMOUNT),
        ("$-5", NOT_AN_AMOUNT),
        ("-(12.00)", NOT_AN_AMOUNT),
        ("(-12.00)", NOT_AN_AMOUNT),  # two minus signs in one
        ("12.", NOT_AN_AMOUNT),
        ("1e3", NOT_AN_AMOUNT),
        ("--5", NOT_AN_AMOUNT),
        ("", NOT_AN_AMOUNT),
    ],
)
def test_parse_money_rejects(raw, message):
    with pytest.raises(CellError) as exc:
        parse_money(raw)
    assert str(exc.value) == message


@pytest.mark.parametrize("raw, expected", [(0.1 + 0.2, "0.30"), (10.1 * 3, "30.30"), (1.1 + 2.2, "3.30")])
def test_parse_money_reads_formula_floats_as_excel_shows_them(raw, expected):
    assert_decimal(parse_money(raw), expected)


@pytest.mark.parametrize(
    "parse, raw",
    [(parse_money, "1" * 30), (parse_money, 1e30), (parse_money, float("inf")), (parse_percent, "Infinity")],
)
def test_absurd_numbers_are_cell_problems_not_crashes(parse, raw):
    with pytest.raises(CellError):
        parse(raw)


MONEY = st.decimals(min_value=-10**7, max_value=10**7, places=2, allow_nan=False, allow_infinity=False)


@given(MONEY)
def test_parse_money_property_text_float_and_parentheses(x):
    # typed as text with thousands separators
    out = parse_money(f"{x:,.2f}")
    assert type(out) is Decimal and out == x and out.as_tuple().exponent == -2
    # stored by Excel as a number (a binary float)
    out = parse_money(float(x))
    assert type(out) is Decimal and out == x and out.as_tuple().exponent == -2
    # the accountants' negative of its absolute value
    out = parse_money(f"({abs(x):,.2f})")
    assert type(out) is Decimal and out == -abs(x)
    # and with a currency symbol
    assert parse_money(f"${abs(x):,.2f}") == abs(x)


# -- percent ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw, percent_format, expected",
    [
        ("20", False, "20"),
        ("20%", False, "20"),
        ("20 %", False, "20"),
        (f" 20%{NBSP}", False, "20"),
        (20, False, "20"),
        (20.0, False, "20"),
        (0.2, True, "20"),  # a percent-formatted cell stores 0.2 for 20%
        (0.2, False, "0.2"),  # a General cell holding 0.2 means 0.2%
        (0.125, True, "12.5"),
        (0.0825, True, "8.25"),
        ("8.25", False, "8.25"),
        ("12.5%", False, "12.5"),
        (100, False, "100"),
        (1, True, "100"),
        (0, False, "0"),
        ("20%", True, "20"),  # text is read as written, whatever the cell's format
    ],
)
def test_parse_percent(raw, percent_format, expected):
    assert_decimal(parse_percent(raw, percent_format), expected)


@pytest.mark.parametrize(
    "raw, percent_format, message",
    [
        ("twenty", False, NOT_A_PERCENT),
        ("", False, NOT_A_PERCENT),
        ("%", False, NOT_A_PERCENT),
        (True, False, NOT_A_PERCENT),
        ("12.345", False, PERCENT_DECIMALS),
        (12.345, False, PERCENT_DECIMALS),
        (0.12345, True, PERCENT_DECIMALS),  # 12.345%
    ],
)
def test_parse_percent_rejects(raw, percent_format, message):
    with pytest.raises(CellError) as exc:
        parse_percent(raw, percent_format)
    assert str(exc.value) == message


# -- yes / no ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Y", True), ("y", True), ("Yes", True), ("yes", True), ("YES", True), ("TRUE", True),
        ("true", True), ("True", True), ("1", True), (1, True), (1.0, True), (True, True),
        (f" Yes{NBSP}", True),
        ("N", False), ("n", False), ("No", False), ("no", False), ("FALSE", False), ("false", False),
        ("0", False), (0, False), (0.0, False), (False, False), (" n ", False),
    ],
)
def test_parse_yes_no(raw, expected):
    assert parse_yes_no(raw) is expected


@pytest.mark.parametrize("raw", ["maybe", "2", 2, "YN", "ja", "x", "-1", ""])
def test_parse_yes_no_rejects(raw):
    with pytest.raises(CellError) as exc:
        parse_yes_no(raw)
    assert str(exc.value) == NOT_YN


# -- quantity and integers --------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw, expected",
    [
        (1, "1"),
        (2.0, "2"),
        ("1.5", "1.5"),
        (1.5, "1.5"),
        (0.25, "0.25"),
        ("1.125", "1.125"),
        (" 3 ", "3"),
        ("1,000", "1000"),
        (0.001, "0.001"),
        (-2, "-2"),  # parsed; "must be more than 0" is validation's job, not the cell reader's
    ],
)
def test_parse_quantity(raw, expected):
    out = parse_quantity(raw)
    assert_decimal(out, expected)


@pytest.mark.parametrize(
    "raw, message",
    [
        ("1.2345", QUANTITY_DECIMALS),
        (1.2345, QUANTITY_DECIMALS),
        ("abc", NOT_A_QUANTITY),
        ("", NOT_A_QUANTITY),
        ("inf", NOT_A_QUANTITY),
        ("NaN", NOT_A_QUANTITY),
        (float("nan"), NOT_A_QUANTITY),
        ("1 1/2", NOT_A_QUANTITY),
        (True, "must be a number, not TRUE/FALSE"),
    ],
)
def test_parse_quantity_rejects(raw, message):
    with pytest.raises(CellError) as exc:
        parse_quantity(raw)
    assert str(exc.value) == message


@pytest.mark.parametrize("a, b, text", [("1.50", 1.5, "1.5"), (10, "10", "10"), ("1,000", 1000.0, "1000"),
                                        ("2.500", 2.5, "2.5")])
def test_parse_quantity_equal_values_give_the_same_text(a, b, text):
    assert str(parse_quantity(a)) == str(parse_quantity(b)) == text


@pytest.mark.parametrize("raw, expected", [("30", 30), (30, 30), (30.0, 30), (" 45 ", 45), ("0", 0), ("1,000", 1000)])
def test_parse_integer(raw, expected):
    out = parse_integer(raw)
    assert type(out) is int
    assert out == expected


@pytest.mark.parametrize("raw", ["30.5", 30.5, "thirty", "", True, "1.2345"])
def test_parse_integer_rejects(raw):
    with pytest.raises(CellError) as exc:
        parse_integer(raw)
    assert str(exc.value) == NOT_WHOLE


# -- choices ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw, choices, expected",
    [
        ("individual", ("Individual", "Business"), "Individual"),
        (" BUSINESS ", ("Individual", "Business"), "Business"),
        (f"Business{NBSP}", ("Individual", "Business"), "Business"),
        ("write off", ("Write-off", "Credit", "Void", "Refund"), "Write-off"),
        ("WRITE_OFF", ("Write-off", "Credit", "Void", "Refund"), "Write-off"),
        ("writeoff", ("Write-off", "Credit", "Void", "Refund"), "Write-off"),
        ("bi-weekly", ("Weekly", "Biweekly", "Monthly"), "Biweekly"),
        ("promise to pay", ("Promise to pay", "Dispute"), "Promise to pay"),
    ],
)
def test_parse_choice(raw, choices, expected):
    assert parse_choice(raw, choices) == expected


@pytest.mark.parametrize(
    "raw, choices, message",
    [
        ("Indiv", ("Individual", "Business"), "must be one of: Individual, Business"),
        ("Fortnightly", ("Weekly", "Biweekly", "Monthly"), "must be one of: Weekly, Biweekly, Monthly"),
        ("", ("Mail", "Email", "Both"), "must be one of: Mail, Email, Both"),
    ],
)
def test_parse_choice_rejects(raw, choices, message):
    with pytest.raises(CellError) as exc:
        parse_choice(raw, choices)
    assert str(exc.value) == message


def test_cell_error_is_a_value_error():
    # sheets.py and callers may catch ValueError; the type must stay compatible
    assert issubclass(CellError, ValueError)


def test_rates_dates_use_the_same_reader():
    col = RATES.column("Effective From")
    assert parse_cell(col, "2026-01-01", MDY) == date(2026, 1, 1)
    with pytest.raises(CellError) as exc:
        parse_cell(col, "2026-02-30", MDY)
    assert str(exc.value) == NO_SUCH_DAY
