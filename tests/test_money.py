"""Money, prices, invoices and aging: billing_batch/money.py and the pure billing core.

Expected values are worked out by hand in the comments beside them. Every test runs with
decimal.FloatOperation trapped, so a float mixed into money arithmetic fails loudly.
"""

from __future__ import annotations

import decimal
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_batch.billing.aging import NOT_YET_DUE, age, bucket_for, bucket_names
from billing_batch.billing.invoicing import billing_due, draft_invoices, last_cycle_day
from billing_batch.billing.pricing import line_amount, overlapping, rate_on, tax_on
from billing_batch.billing.records import ClientTerms, OpenItem, RateVersion, ServiceLine
from billing_batch.money import CENT, ZERO, D, fmt_money, from_cents, round_cents, to_cents


# decimal.FloatOperation is trapped for every test by conftest.py.


def test_the_trap_is_really_on():
    with pytest.raises(decimal.FloatOperation):
        Decimal(0.5)  # a float straight into a Decimal
    with pytest.raises(decimal.FloatOperation):
        Decimal("1.00") < 0.5  # noqa: B015


def dec(actual: object, expected: str) -> None:
    """Exactly `expected`: same type, same value and same number of decimals."""
    assert type(actual) is Decimal, f"{actual!r} is not a Decimal"
    assert str(actual) == expected


# == money.py ===================================================================================

@pytest.mark.parametrize("value", [1.5, 0.1, 0.0, 1e3, float("nan")])
def test_D_refuses_floats(value):
    with pytest.raises(TypeError):
        D(value)


@pytest.mark.parametrize("value, expected", [("1.10", "1.10"), ("-12", "-12"), (5, "5"), (0, "0"),
                                             (Decimal("2.500"), "2.500"), (" 3.25 ", "3.25")])
def test_D_accepts_text_ints_and_decimals_exactly(value, expected):
    dec(D(value), expected)


def test_D_returns_a_decimal_unchanged():
    x = Decimal("7.77")
    assert D(x) is x


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2.345", "2.35"),  # half-up, not banker's (which gives 2.34)
        ("2.335", "2.34"),  # half-up (banker's would also give 2.34: the two differ on 2.345)
        ("-2.345", "-2.35"),  # half away from zero for negatives
        ("-2.335", "-2.34"),
        ("0.005", "0.01"),
        ("-0.005", "-0.01"),
        ("0.0049999", "0.00"),
        ("2.344999", "2.34"),
        ("1.5", "1.50"),
        ("10", "10.00"),
        ("12.125", "12.13"),
        ("12.135", "12.14"),
        ("999999.995", "1000000.00"),
    ],
)
def test_round_cents_is_half_up(value, expected):
    dec(round_cents(Decimal(value)), expected)


def test_round_cents_refuses_float():
    with pytest.raises(TypeError):
        round_cents(2.345)


@pytest.mark.parametrize("value, cents", [(Decimal("12.50"), 1250), (Decimal("12.5"), 1250), (Decimal("0.01"), 1),
                                          (Decimal("-0.01"), -1), (Decimal("0"), 0), (Decimal("-12.00"), -1200),
                                          (Decimal("1234567.89"), 123456789), (7, 700), ("3.10", 310)])
def test_to_cents(value, cents):
    out = to_cents(value)
    assert type(out) is int
    assert out == cents


@pytest.mark.parametrize("value", [Decimal("1.005"), Decimal("0.001"), Decimal("-12.345"), "1.005"])
def test_to_cents_refuses_fractions_of_a_cent(value):
    with pytest.raises(ValueError, match="not a whole number of cents"):
        to_cents(value)


def test_to_cents_refuses_float():
    with pytest.raises(TypeError):
        to_cents(1.005)


@pytest.mark.parametrize("cents, expected", [(1, "0.01"), (-1, "-0.01"), (100, "1.00"), (0, "0.00"),
                                             (123456, "1234.56"), (-1200, "-12.00"), (5, "0.05")])
def test_from_cents(cents, expected):
    dec(from_cents(cents), expected)


def test_from_cents_refuses_float():
    with pytest.raises(TypeError):
        from_cents(12.99)


INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)  # what the ledger's integer columns hold


@given(INT64)
def test_cents_round_trip(cents):
    amount = from_cents(cents)
    assert type(amount) is Decimal
    assert amount.as_tuple().exponent == -2
    assert amount * 100 == cents  # exact: Decimal vs int
    assert to_cents(amount) == cents


@given(st.integers(min_value=-10**12, max_value=10**12))
def test_decimal_round_trip(cents):
    amount = Decimal(cents).scaleb(-2)  # built without from_cents: independent of the code under test
    assert from_cents(to_cents(amount)) == amount
    assert str(from_cents(to_cents(amount))) == str(amount.quantize(CENT))


@pytest.mark.parametrize(
    "value, symbol, expected",
    [
        (Decimal("1234.5"), "$", "$1,234.50"),
        (Decimal("1234.50"), "$", "$1,234.50"),
        (Decimal("-12"), "$", "-$12.00"),
        (Decimal("0"), "$", "$0.00"),
        (Decimal("1234567.891"), "$", "$1,234,567.89"),
        (Decimal("2.345"), "$", "$2.35"),  # rounded half-up before formatting
        (Decimal("-0.004"), "$", "$0.00"),  # no "-$0.00"
        (Decimal("0.5"), "€", "€0.50"),
        (123450, "$", "$1,234.50"),  # ints are cents
        (-1200, "$", "-$12.00"),
        (5, "$", "$0.05"),
        (0, "$", "$0.00"),
        (100000000, "$", "$1,000,000.00"),
    ],
)
def test_fmt_money(value, symbol, expected):
    assert fmt_money(value, symbol) == expected


def test_fmt_money_refuses_float():
    with pytest.raises(TypeError):
        fmt_money(12.5)


def test_money_constants():
    dec(ZERO, "0.00")
    dec(CENT, "0.01")


# == pricing.py =================================================================================

ALWAYS = date(1900, 1, 1)  # ledger.schema.ALWAYS: the card gave no Effective From


def rv(code: str, start: date, end: date | None, price: str, taxable: bool = False, desc: str = "") -> RateVersion:
    return RateVersion(code, start, end, desc or f"{code} service", Decimal(price), taxable, False)


@pytest.mark.parametrize(
    "quantity, price, expected",
    [
        ("1", "100.00", "100.00"),
        ("1.5", "33.33", "50.00"),  # 49.995 -> half-up
        ("3", "0.35", "1.05"),
        ("0.333", "100.00", "33.30"),
        ("1.125", "10.00", "11.25"),
        ("0.005", "1.00", "0.01"),  # 0.005 -> half-up
        ("0.125", "0.10", "0.01"),  # 0.0125
        ("1.5", "0.03", "0.05"),  # 0.045 -> half-up
        ("2", "-12.50", "-25.00"),
        ("1.5", "-0.03", "-0.05"),  # half away from zero
        ("0", "99.99", "0.00"),
        ("10", "1234.56", "12345.60"),
    ],
)
def test_line_amount(quantity, price, expected):
    dec(line_amount(Decimal(quantity), Decimal(price)), expected)


@pytest.mark.parametrize(
    "taxable_total, rate, expected",
    [
        ("1.05", "10", "0.11"),  # 0.105 -> half-up
        ("100.00", "8.25", "8.25"),
        ("0.50", "5", "0.03"),  # 0.025
        ("33.33", "8.25", "2.75"),  # 2.749725
        ("19.99", "7.5", "1.50"),  # 1.49925
        ("123.45", "8.875", "10.96"),  # 10.9561875
        ("10.00", "0", "0.00"),
        ("0.00", "10", "0.00"),
        ("1000.00", "100", "1000.00"),
    ],
)
def test_tax_on(taxable_total, rate, expected):
    dec(tax_on(Decimal(taxable_total), Decimal(rate)), expected)


V_OLD = rv("CONS", ALWAYS, None, "80.00")
V_2026Q1 = rv("CONS", date(2026, 1, 1), date(2026, 3, 31), "100.00")
V_MAY = rv("CONS", date(2026, 5, 1), None, "120.00")


@pytest.mark.parametrize(
    "versions, day, expected",
    [
        ([V_OLD], date(2000, 1, 1), V_OLD),  # no Effective From: always
        ([V_OLD, V_MAY], date(2026, 4, 30), V_OLD),
        ([V_OLD, V_MAY], date(2026, 5, 1), V_MAY),  # Effective From is inclusive
        ([V_MAY, V_OLD], date(2026, 5, 1), V_MAY),  # order of the card does not matter
        ([V_MAY], date(2026, 4, 30), None),  # before the first version: no price
        ([V_2026Q1], date(2026, 3, 31), V_2026Q1),  # Effective To is inclusive
        ([V_2026Q1], date(2026, 4, 1), None),  # after Effective To: no price
        ([V_2026Q1], date(2025, 12, 31), None),
        ([V_2026Q1, V_MAY], date(2026, 4, 15), None),  # the gap between two versions
        ([V_OLD, V_2026Q1, V_MAY], date(2025, 12, 31), V_OLD),
        ([V_OLD, V_2026Q1, V_MAY], date(2026, 1, 1), V_2026Q1),
        ([V_OLD, V_2026Q1, V_MAY], date(2026, 3, 31), V_2026Q1),
        ([V_OLD, V_2026Q1, V_MAY], date(2026, 12, 31), V_MAY),
        ([], date(2026, 1, 1), None),
    ],
)
def test_rate_on(versions, day, expected):
    assert rate_on(versions, day) is expected


@pytest.mark.parametrize("versions", [[V_OLD, V_2026Q1], [V_OLD, V_2026Q1, V_MAY]])
def test_rate_on_does_not_revive_a_superseded_version(versions):
    assert rate_on(versions, date(2026, 4, 15)) is None


def test_overlapping():
    a = rv("X", date(2026, 1, 1), date(2026, 6, 30), "1.00")
    b_same_day = rv("X", date(2026, 6, 30), None, "2.00")
    b_next_day = rv("X", date(2026, 7, 1), None, "2.00")
    open_a = rv("X", date(2026, 1, 1), None, "1.00")
    assert overlapping([a, b_same_day]) == [(a, b_same_day)]  # both effective on 2026-06-30
    assert overlapping([b_same_day, a]) == [(a, b_same_day)]  # ordered by Effective From
    assert overlapping([a, b_next_day]) == []  # back to back
    assert overlapping([open_a, b_next_day]) == []  # open ends where the next starts
    assert overlapping([a]) == []
    assert overlapping([]) == []
    # a long explicit period swallowing two later versions is found
    long = rv("X", date(2026, 1, 1), date(2026, 12, 31), "1.00")
    mid = rv("X", date(2026, 3, 1), date(2026, 4, 30), "2.00")
    late = rv("X", date(2026, 6, 1), None, "3.00")
    assert (long, mid) in overlapping([late, mid, long])
    assert overlapping([V_OLD, V_2026Q1, V_MAY]) == []


# == invoicing.py ===============================================================================

@pytest.mark.parametrize(
    "cycle, as_of, expected",
    [
        ("daily", date(2026, 3, 14), date(2026, 3, 14)),
        ("weekly:friday", date(2026, 3, 13), date(2026, 3, 13)),  # a Friday
        ("weekly:friday", date(2026, 3, 12), date(2026, 3, 6)),  # Thursday -> last Friday
        ("weekly:friday", date(2026, 3, 16), date(2026, 3, 13)),  # Monday
        ("weekly:monday", date(2026, 3, 16), date(2026, 3, 16)),
        ("weekly:sunday", date(2026, 3, 14), date(2026, 3, 8)),  # Saturday -> Sunday before
        ("monthly:1", date(2026, 3, 1), date(2026, 3, 1)),
        ("monthly:1", date(2026, 3, 31), date(2026, 3, 1)),
        ("monthly:15", date(2026, 3, 14), date(2026, 2, 15)),
        ("monthly:15", date(2026, 1, 10), date(2025, 12, 15)),  # across a year end
        ("monthly:31", date(2026, 2, 28), date(2026, 2, 28)),  # February has no 31st: its last day
        ("monthly:31", date(2026, 2, 27), date(2026, 1, 31)),
        ("monthly:31", date(2026, 3, 30), date(2026, 2, 28)),
        ("monthly:31", date(2026, 3, 31), date(2026, 3, 31)),
        ("monthly:31", date(2024, 2, 29), date(2024, 2, 29)),  # leap year
        ("monthly:31", date(2024, 2, 28), date(2024, 1, 31)),
        ("monthly:31", date(2026, 4, 30), date(2026, 4, 30)),  # 30-day month
        ("monthly:31", date(2026, 5, 15), date(2026, 4, 30)),
        ("monthly:31", date(2026, 1, 15), date(2025, 12, 31)),
        ("monthly:30", date(2026, 3, 1), date(2026, 2, 28)),
        ("monthly:30", date(2026, 4, 30), date(2026, 4, 30)),
        ("monthly:29", date(2026, 3, 28), date(2026, 2, 28)),
    ],
)
def test_last_cycle_day(cycle, as_of, expected):
    assert last_cycle_day(cycle, as_of) == expected


@pytest.mark.parametrize(
    "cycle, as_of, last_billed, due",
    [
        ("daily", date(2026, 3, 14), None, True),  # never billed
        ("daily", date(2026, 3, 14), date(2026, 3, 13), True),
        ("daily", date(2026, 3, 14), date(2026, 3, 14), False),  # already billed today
        ("daily", date(2026, 3, 14), date(2026, 3, 1), True),  # missed days caught up
        ("weekly:friday", date(2026, 3, 12), date(2026, 3, 6), False),  # Thursday after Friday billing
        ("weekly:friday", date(2026, 3, 13), date(2026, 3, 6), True),  # the Friday
        ("weekly:friday", date(2026, 3, 16), date(2026, 3, 6), True),  # Friday missed -> Monday
        ("weekly:friday", date(2026, 3, 16), date(2026, 3, 13), False),
        ("weekly:friday", date(2026, 3, 12), None, True),
        ("monthly:31", date(2026, 2, 27), date(2026, 1, 31), False),
        ("monthly:31", date(2026, 2, 28), date(2026, 1, 31), True),  # end of February
        ("monthly:31", date(2026, 3, 1), date(2026, 2, 28), False),
        ("monthly:31", date(2026, 4, 30), date(2026, 3, 31), True),  # 30-day month
        ("monthly:31", date(2026, 4, 29), date(2026, 3, 31), False),
        ("monthly:31", date(2026, 4, 5), date(2026, 1, 31), True),  # missed months caught up
        ("monthly:1", date(2026, 3, 1), date(2026, 2, 1), True),
        ("monthly:1", date(2026, 3, 31), date(2026, 3, 1), False),
    ],
)
def test_billing_due(cycle, as_of, last_billed, due):
    assert billing_due(cycle, as_of, last_billed) is due


AS_OF = date(2026, 3, 15)
RATES = {
    "TAX": [rv("TAX", ALWAYS, None, "0.35", taxable=True, desc="Supplies")],
    "CONS": [rv("CONS", ALWAYS, date(2026, 2, 28), "100.00", desc="Consultation"),
             rv("CONS", date(2026, 3, 1), None, "120.00", desc="Consultation")],
    "KIT": [rv("KIT", ALWAYS, None, "19.99", taxable=True, desc="Home kit")],
}
CLIENTS = {
    "C1": ClientTerms("C1", 30, False),
    "C2": ClientTerms("C2", 15, True),  # tax exempt
    "C3": ClientTerms("C3", 0, False),
}


def sl(id_, client, day, code, qty="1", desc=None, override=None) -> ServiceLine:
    return ServiceLine(id_, client, day, code, Decimal(qty), desc, None if override is None else Decimal(override))


def test_draft_invoices_one_per_client_in_date_order_with_tax_once():
    lines = [
        sl(1, "C1", date(2026, 3, 5), "TAX"),
        sl(2, "C1", date(2026, 3, 1), "TAX"),
        sl(3, "C1", date(2026, 3, 3), "TAX"),
        sl(4, "C1", date(2026, 2, 20), "CONS"),  # priced from the February card: 100.00
        sl(5, "C1", date(2026, 3, 2), "CONS", override="90.00", desc="Follow-up"),  # override wins over 120.00
        sl(6, "C1", date(2026, 3, 16), "CONS"),  # after as_of: not billed yet
        sl(7, "C2", date(2026, 3, 10), "CONS", qty="1.5"),  # 1.5 x 120.00
        sl(8, "C2", date(2026, 3, 10), "KIT"),  # taxable, but C2 is tax exempt
        sl(9, "C1", date(2026, 3, 4), "NOPE"),  # not on the card
    ]
    drafts, unpriced = draft_invoices(lines, RATES, CLIENTS, AS_OF, Decimal("10"))

    assert [d.client_id for d in drafts] == ["C1", "C2"]
    assert [l.id for l in unpriced] == [9]

    c1 = drafts[0]
    assert [l.service_line_id for l in c1.lines] == [4, 2, 5, 3, 1]  # by service date
    assert [l.service_date for l in c1.lines] == sorted(l.service_date for l in c1.lines)
    by_id = {l.service_line_id: l for l in c1.lines}
    dec(by_id[4].unit_price, "100.00")
    dec(by_id[4].amount, "100.00")
    assert by_id[4].description == "Consultation"  # from the card when the log gave none
    dec(by_id[5].unit_price, "90.00")
    dec(by_id[5].amount, "90.00")
    assert by_id[5].description == "Consultation — Follow-up"  # with the service's name, never instead
    assert [by_id[i].taxable for i in (4, 2, 5, 3, 1)] == [False, True, False, True, True]
    # 100.00 + 0.35 + 90.00 + 0.35 + 0.35
    dec(c1.subtotal, "191.05")
    # tax once on 1.05 at 10% = 0.105 -> 0.11 (per line it would be 3 x 0.04 = 0.12)
    dec(c1.tax, "0.11")
    assert c1.tax_rate == Decimal("10")
    dec(c1.total, "191.16")
    assert c1.invoice_date == AS_OF
    assert c1.terms_days == 30
    assert c1.due_date == date(2026, 4, 14)  # 15 March + 30 days

    c2 = drafts[1]
    assert [l.service_line_id for l in c2.lines] == [7, 8]  # same date: by line id
    dec(c2.lines[0].amount, "180.00")
    dec(c2.subtotal, "199.99")
    dec(c2.tax, "0.00")  # tax exempt
    assert c2.tax_rate == 0
    dec(c2.total, "199.99")
    assert c2.due_date == date(2026, 3, 30)  # 15 March + 15 days


def test_draft_invoices_three_taxable_lines_of_035_at_10_percent():
    lines = [sl(i, "C1", date(2026, 3, i), "TAX") for i in (1, 2, 3)]
    (draft,), unpriced = draft_invoices(lines, RATES, CLIENTS, AS_OF, Decimal("10"))
    assert unpriced == []
    assert [l.amount for l in draft.lines] == [Decimal("0.35")] * 3
    dec(draft.subtotal, "1.05")
    dec(draft.tax, "0.11")
    dec(draft.total, "1.16")


def test_draft_invoices_tax_half_up_on_the_invoice_total():
    # 19.99 + 0.35 = 20.34 taxable at 8.25% = 1.67805 -> 1.68; the 120.00 consultation is not taxable
    lines = [sl(1, "C3", date(2026, 3, 1), "KIT"), sl(2, "C3", date(2026, 3, 1), "TAX"),
             sl(3, "C3", date(2026, 3, 2), "CONS")]
    (draft,), _ = draft_invoices(lines, RATES, CLIENTS, AS_OF, Decimal("8.25"))
    dec(draft.subtotal, "140.34")
    dec(draft.tax, "1.68")
    assert draft.due_date == AS_OF  # 0 terms days: due on receipt


def test_draft_invoices_override_of_zero_wins():
    (draft,), _ = draft_invoices([sl(1, "C1", date(2026, 3, 2), "CONS", override="0.00")], RATES, CLIENTS,
                                 AS_OF, Decimal("10"))
    dec(draft.lines[0].unit_price, "0.00")
    dec(draft.total, "0.00")


def test_draft_invoices_nothing_to_bill():
    lines = [sl(1, "C1", date(2026, 3, 16), "CONS"), sl(2, "C2", date(2026, 4, 1), "TAX")]
    assert draft_invoices(lines, RATES, CLIENTS, AS_OF, Decimal("10")) == ([], [])
    # a client whose every line is unpriced gets no empty invoice
    drafts, unpriced = draft_invoices([sl(3, "C1", date(2026, 3, 1), "NOPE")], RATES, CLIENTS, AS_OF, Decimal("10"))
    assert drafts == [] and [l.id for l in unpriced] == [3]


def test_draft_invoices_line_on_as_of_is_billed():
    (draft,), _ = draft_invoices([sl(1, "C1", AS_OF, "CONS")], RATES, CLIENTS, AS_OF, Decimal("0"))
    dec(draft.subtotal, "120.00")
    dec(draft.tax, "0.00")


# == aging.py ===================================================================================

LIMITS = [30, 60, 90, 120]
NAMES = ["Not Yet Due", "1-30", "31-60", "61-90", "91-120", "Over 120"]


def test_bucket_names():
    assert bucket_names(LIMITS) == NAMES
    assert bucket_names([15, 45]) == ["Not Yet Due", "1-15", "16-45", "Over 45"]
    assert bucket_names([30]) == ["Not Yet Due", "1-30", "Over 30"]
    assert NOT_YET_DUE == "Not Yet Due"


@pytest.mark.parametrize(
    "days, bucket",
    [(-400, "Not Yet Due"), (-1, "Not Yet Due"), (0, "Not Yet Due"), (1, "1-30"), (30, "1-30"),
     (31, "31-60"), (60, "31-60"), (61, "61-90"), (90, "61-90"), (91, "91-120"), (120, "91-120"),
     (121, "Over 120"), (5000, "Over 120")],
)
def test_bucket_for_boundaries(days, bucket):
    assert bucket_for(days, LIMITS) == bucket


def oi(number, client, due, amount, paid="0.00", adjusted="0.00") -> OpenItem:
    return OpenItem(number, client, due - timedelta(days=30), due, Decimal(amount), Decimal(paid), Decimal(adjusted))


def test_age_totals_per_client_and_overall():
    as_of = date(2026, 6, 30)
    items = [
        oi("INV-2026-00005", "C2", date(2026, 1, 1), "75.50", adjusted="0.50"),  # 180 days: Over 120, 75.00
        oi("INV-2026-00001", "C1", date(2026, 6, 30), "100.00"),  # 0 days: Not Yet Due
        oi("INV-2026-00002", "C1", date(2026, 6, 29), "50.00", paid="20.00"),  # 1 day: 1-30, 30.00
        oi("INV-2026-00003", "C1", date(2026, 5, 31), "10.00"),  # 30 days: 1-30
        oi("INV-2026-00004", "C1", date(2026, 5, 30), "200.00", paid="150.00", adjusted="50.00"),  # paid up
        oi("INV-2026-00006", "C4", date(2026, 3, 1), "60.00", paid="60.00"),  # paid up: C4 not listed
    ]
    credits = {"C2": Decimal("25.00"), "C3": Decimal("10.00"), "C5": Decimal("0.00")}
    result = age(items, credits, as_of, LIMITS)

    assert result.as_of == as_of
    assert result.names == NAMES
    assert [a.item.invoice_number for a in result.items] == [
        "INV-2026-00003", "INV-2026-00002", "INV-2026-00001", "INV-2026-00005"]  # by client, then due date
    assert {a.item.invoice_number: (a.days_past_due, a.bucket) for a in result.items} == {
        "INV-2026-00001": (0, "Not Yet Due"), "INV-2026-00002": (1, "1-30"),
        "INV-2026-00003": (30, "1-30"), "INV-2026-00005": (180, "Over 120")}

    assert result.totals == {"Not Yet Due": Decimal("100.00"), "1-30": Decimal("40.00"), "31-60": ZERO,
                             "61-90": ZERO, "91-120": ZERO, "Over 120": Decimal("75.00")}
    assert list(result.totals) == NAMES
    assert result.open_total == Decimal("215.00")
    assert result.unapplied_credit == Decimal("35.00")
    assert result.balance == Decimal("180.00")  # 215.00 - 35.00

    clients = {c.client_id: c for c in result.clients}
    assert [c.client_id for c in result.clients] == ["C1", "C2", "C3"]  # no C4 (paid up), no C5 (zero credit)
    c1, c2, c3 = clients["C1"], clients["C2"], clients["C3"]
    assert c1.buckets == {"Not Yet Due": Decimal("100.00"), "1-30": Decimal("40.00"), "31-60": ZERO,
                          "61-90": ZERO, "91-120": ZERO, "Over 120": ZERO}
    assert c1.open_total == Decimal("140.00") and c1.balance == Decimal("140.00")
    assert c1.oldest_due == date(2026, 5, 31)  # the paid-up item of 30 May does not count
    assert c1.unapplied_credit == ZERO
    assert c2.buckets["Over 120"] == Decimal("75.00") and c2.open_total == Decimal("75.00")
    assert c2.unapplied_credit == Decimal("25.00")
    assert c2.balance == Decimal("50.00")  # credit reduces the balance
    assert c2.oldest_due == date(2026, 1, 1)
    assert c3.open_total == ZERO and c3.balance == Decimal("-10.00")  # only credit
    assert c3.oldest_due is None
    for c in result.clients:
        for amount in c.buckets.values():
            assert type(amount) is Decimal


def test_age_nothing_open():
    result = age([], {}, date(2026, 6, 30), LIMITS)
    assert result.items == [] and result.clients == []
    assert result.totals == dict.fromkeys(NAMES, ZERO)
    assert result.balance == ZERO


def test_age_uses_the_configured_buckets():
    as_of = date(2026, 6, 30)
    items = [oi("A", "C1", as_of - timedelta(days=15), "1.00"), oi("B", "C1", as_of - timedelta(days=16), "2.00"),
             oi("C", "C1", as_of - timedelta(days=46), "4.00")]
    result = age(items, {}, as_of, [15, 45])
    assert result.totals == {"Not Yet Due": ZERO, "1-15": Decimal("1.00"), "16-45": Decimal("2.00"),
                             "Over 45": Decimal("4.00")}


@st.composite
def open_items(draw):
    amount = draw(st.integers(min_value=0, max_value=10**8))
    paid = draw(st.integers(min_value=0, max_value=amount))
    adjusted = draw(st.integers(min_value=0, max_value=amount - paid))
    client = draw(st.sampled_from(["C1", "C2", "C3", "C4"]))
    due = date(2026, 6, 30) + timedelta(days=draw(st.integers(min_value=-400, max_value=120)))
    number = f"INV-2026-{draw(st.integers(min_value=1, max_value=99999)):05d}"
    return OpenItem(number, client, due - timedelta(days=30), due,
                    Decimal(amount).scaleb(-2), Decimal(paid).scaleb(-2), Decimal(adjusted).scaleb(-2))


LIMIT_LISTS = st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=6, unique=True).map(sorted)


@given(st.lists(open_items(), max_size=40), LIMIT_LISTS)
def test_age_property_buckets_tie_to_item_balances(items, limits):
    as_of = date(2026, 6, 30)
    result = age(items, {}, as_of, limits)
    balances = [i.amount - i.paid - i.adjusted for i in items]
    expected_total = sum(balances, Decimal("0.00"))
    assert sum(result.totals.values(), Decimal("0.00")) == expected_total
    assert result.open_total == expected_total
    assert sum((c.open_total for c in result.clients), Decimal("0.00")) == expected_total
    # every item with a balance is aged exactly once, in the bucket bucket_for names
    assert len(result.items) == sum(1 for b in balances if b != 0)
    for a in result.items:
        days = (as_of - a.item.due_date).days
        assert a.days_past_due == days
        assert a.bucket == bucket_for(days, limits)
        assert a.bucket in result.names
    # per client, per bucket: the sum of that client's aged items in that bucket
    for c in result.clients:
        for name in result.names:
            mine = [a.item.balance for a in result.items if a.item.client_id == c.client_id and a.bucket == name]
            assert c.buckets[name] == sum(mine, Decimal("0.00"))
