"""Insurance (SPEC §4.6, §5): the pure claim arithmetic of billing.claims, the aging workbook's Insurance
sheet and Summary rows, and the claims-to-submit workbook. Every expected value is worked by hand."""

from __future__ import annotations

import datetime as dt
from datetime import date as D
from decimal import Decimal

import openpyxl
import pytest

from billing_batch.billing import claims as cl
from billing_batch.billing.aging import age
from billing_batch.billing.claims import (
    BILL_PATIENT, CONTRACTUAL, PATIENT, PAYER_PAID, WRITE_OFF, Claim, ClaimView, Move, Policy, Refused, Remit,
    SubmissionLine, patient_share, post_adjustment, post_remittance, view)
from billing_batch.billing.records import OpenItem
from billing_batch.reports.aging_workbook import Reconciliation, write_aging_workbook
from billing_batch.reports.claims_workbook import write_claims_workbook
from billing_batch.reports.xlsx import DATE_FORMAT, MONEY_FORMAT
from billing_batch.reports.xlsx_stream import excel_date_format, money_format

# The aging workbook writes money with the office's symbol and dates in its date_format (issue 15).
AGING_MONEY, AGING_DATE = money_format("$"), excel_date_format("%m/%d/%Y")
from billing_batch.stages.collections import CollectionsResult

EVIL = '=HYPERLINK("http://example.com","x")'
AS_OF = D(2026, 5, 20)
POLICY = Policy()  # tolerance 1.00, appeal 90 days, follow-up 30 days


def claim(n: int, client: str, payer: str, on: D, billed: int, allowed: int, patient: int) -> Claim:
    return Claim(n, f"CLM-2026-{n:05d}", client, payer, on, on, billed, allowed, patient)


def remit(rid: int, on: D, paid: int, allowed: int | None = None, patient: int | None = None,
          reason: str | None = None) -> Remit:
    return Remit(rid, on, paid, allowed, patient, reason)


def posted(c: Claim, *remits: Remit) -> list[Move]:
    """The moves of the remittances posted in turn, as the stage does."""
    moves: list[Move] = []
    for r in remits:
        moves += post_remittance(c, moves, r)
    return moves


def kinds(moves: list[Move]) -> list[tuple[str, int]]:
    return [(m.kind, m.cents) for m in moves]


# ---- patient_share: copay once + coinsurance × (allowed − copay), half-up, between 0 and allowed ----

@pytest.mark.parametrize("allowed, copay, bp, share", [
    (10000, 2000, 2000, 3600),  # 20.00 + 20 % × 80.00 = 36.00
    (1005, 0, 1500, 151),  # 15 % × 10.05 = 1.5075 → 1.51
    (1010, 0, 500, 51),  # 5 % × 10.10 = 0.505 → 0.51 (half up, not to even)
    (1030, 0, 500, 52),  # 0.515 → 0.52
    (1500, 2000, 2000, 1500),  # copay above allowed: the patient owes the allowed amount, no more
    (10000, 2000, 0, 2000),  # no coinsurance: the copay
    (10000, 0, 0, 0),  # neither: the payer pays all
    (10000, 2000, 10000, 10000),  # 100 % coinsurance: all of it
    (0, 2000, 2000, 0),  # nothing allowed: nothing owed
])
def test_patient_share_rounds_half_up_and_stays_within_allowed(allowed, copay, bp, share):
    assert patient_share(allowed, copay, bp) == share


# ---- post_remittance ----

# Billed 150.00, allowed 100.00, patient 36.00 (copay 20.00 + 20 %), so the payer owes 64.00.
PAID_AS_EXPECTED = claim(1, "P001", "Acme Health", D(2026, 3, 2), 15000, 10000, 3600)
# Billed 200.00, allowed 160.00, no patient share: the payer owes 160.00.
UNDERPAID = claim(2, "P002", "Acme Health", D(2026, 3, 10), 20000, 16000, 0)
# Billed 90.00, allowed 80.00, patient 10.00 + 10 % × 70.00 = 17.00: the payer owes 63.00.
DENIED = claim(3, "P003", EVIL, D(2026, 4, 1), 9000, 8000, patient_share(8000, 1000, 1000))
NO_RESPONSE = claim(4, "P001", "Acme Health", D(2026, 4, 15), 5000, 4000, 800)
SUBMITTED = claim(5, "P004", "Beta Mutual", D(2026, 5, 1), 7500, 6000, 1000)
# Billed 100.00, allowed 90.00, patient 18.00: payer owes 72.00, pays 50.00; the office writes off 22.00.
CLOSED = claim(6, "P002", "Beta Mutual", D(2026, 2, 2), 10000, 9000, 1800)


def test_a_remittance_paid_as_expected_posts_contractual_patient_and_payment():
    moves = post_remittance(PAID_AS_EXPECTED, [], remit(1, D(2026, 4, 1), 6400))
    assert kinds(moves) == [(CONTRACTUAL, 5000), (PATIENT, 3600), (PAYER_PAID, 6400)]
    assert all(m.date == D(2026, 4, 1) and m.remittance_id == 1 for m in moves)
    assert cl.open_cents(PAID_AS_EXPECTED, moves) == 0


def test_an_underpayment_leaves_the_rest_open_with_the_insurer():
    moves = post_remittance(UNDERPAID, [], remit(1, D(2026, 4, 10), 12000, allowed=16000, patient=0, reason="CO-45"))
    assert kinds(moves) == [(CONTRACTUAL, 4000), (PAYER_PAID, 12000)]  # the 0 patient share moves nothing
    assert cl.open_cents(UNDERPAID, moves) == 4000


def test_the_remittance_s_allowed_and_patient_responsibility_win_over_the_expected():
    moves = post_remittance(PAID_AS_EXPECTED, [], remit(1, D(2026, 4, 1), 5000, allowed=9000, patient=4000))
    assert kinds(moves) == [(CONTRACTUAL, 6000), (PATIENT, 4000), (PAYER_PAID, 5000)]


def test_a_denial_moves_nothing():
    assert post_remittance(DENIED, [], remit(1, D(2026, 4, 20), 0, reason="CO-50")) == []
    # Paid 0 without a reason code is not a denial: the whole allowed amount went to the patient (a deductible).
    moves = post_remittance(DENIED, [], remit(1, D(2026, 4, 20), 0, patient=8000))
    assert kinds(moves) == [(CONTRACTUAL, 1000), (PATIENT, 8000)]


def test_a_second_remittance_adds_only_its_payment():
    first = post_remittance(UNDERPAID, [], remit(1, D(2026, 4, 10), 12000, allowed=16000, patient=0))
    # An appeal paid later, with its own allowed figure: never a second contractual or patient line.
    second = post_remittance(UNDERPAID, first, remit(2, D(2026, 5, 1), 4000, allowed=15000))
    assert kinds(second) == [(PAYER_PAID, 4000)]
    assert cl.open_cents(UNDERPAID, first + second) == 0
    # One that states another patient share is refused: the patient's invoice is corrected with a Credit.
    with pytest.raises(cl.Refused) as refused:
        post_remittance(UNDERPAID, first, remit(2, D(2026, 5, 1), 4000, allowed=15000, patient=500))
    assert refused.value.column == "Patient Responsibility"


def test_a_second_remittance_after_a_first_that_moved_only_a_payment_is_still_a_second():
    # Allowed = billed and no patient share: the first posting's contractual and patient moves are 0 and
    # not kept. The second must still not post a contractual adjustment (fixed in this branch).
    c = claim(9, "P009", "Acme Health", D(2026, 3, 1), 10000, 10000, 0)
    first = post_remittance(c, [], remit(1, D(2026, 4, 1), 6000))
    assert kinds(first) == [(PAYER_PAID, 6000)]
    second = post_remittance(c, first, remit(2, D(2026, 4, 15), 1000, allowed=9000))
    assert kinds(second) == [(PAYER_PAID, 1000)]
    # And the Insurance sheet shows what was allowed: the billed amount, nothing adjusted.
    v = view(c, first, [remit(1, D(2026, 4, 1), 6000)], AS_OF, POLICY)
    assert v.allowed_cents == 10000 and v.status == cl.UNDERPAID and v.open_cents == 4000


def test_a_later_larger_payment_gives_back_contractual():
    first = post_remittance(PAID_AS_EXPECTED, [], remit(1, D(2026, 4, 1), 6400))
    # The payer raises its allowed amount by 10.00 (its corrected EOB says 110.00) and pays it: nothing is
    # open, so 10.00 of the 50.00 contractual adjustment comes back.
    second = post_remittance(PAID_AS_EXPECTED, first, remit(2, D(2026, 5, 1), 1000, allowed=11000))
    assert kinds(second) == [(CONTRACTUAL, -1000), (PAYER_PAID, 1000)]
    t = cl.totals(first + second)
    assert (t[CONTRACTUAL], t[PAYER_PAID], t[PATIENT]) == (4000, 7400, 3600)
    assert cl.open_cents(PAID_AS_EXPECTED, first + second) == 0
    # Part open, part given back: 40.00 open on the underpaid claim, a correction pays 50.00.
    under = post_remittance(UNDERPAID, [], remit(1, D(2026, 4, 10), 12000, allowed=16000, patient=0))
    more = post_remittance(UNDERPAID, under, remit(2, D(2026, 5, 1), 5000, allowed=17000))
    assert kinds(more) == [(CONTRACTUAL, -1000), (PAYER_PAID, 5000)]
    assert cl.open_cents(UNDERPAID, under + more) == 0
    # Without a higher Allowed the allowed amount stays the contract's: paying more than is open is refused
    # (say, a payment after the coordinator wrote the claim off or billed it to the patient).
    with pytest.raises(Refused) as e:
        post_remittance(PAID_AS_EXPECTED, first, remit(2, D(2026, 5, 1), 1000))
    assert e.value.column == "Paid"


def test_remittances_that_cannot_apply_are_refused_with_the_column_to_fix():
    with pytest.raises(Refused) as e:
        post_remittance(PAID_AS_EXPECTED, [], remit(1, D(2026, 4, 1), 6400, allowed=15001))
    assert e.value.column == "Allowed" and "150.00" in e.value.message
    with pytest.raises(Refused) as e:
        post_remittance(PAID_AS_EXPECTED, [], remit(1, D(2026, 4, 1), 6400, allowed=10000, patient=10001))
    assert e.value.column == "Patient Responsibility" and "100.00" in e.value.message
    with pytest.raises(Refused) as e:  # 50.00 + 36.00 + 64.01 > 150.00
        post_remittance(PAID_AS_EXPECTED, [], remit(1, D(2026, 4, 1), 6401))
    assert e.value.column == "Paid" and "50.00" in e.value.message and "36.00" in e.value.message
    first = post_remittance(PAID_AS_EXPECTED, [], remit(1, D(2026, 4, 1), 6400))
    with pytest.raises(Refused) as e:  # nothing open and 50.00 adjusted: 50.01 cannot come back
        post_remittance(PAID_AS_EXPECTED, first, remit(2, D(2026, 5, 1), 5001))
    assert e.value.column == "Paid" and "0.00" in e.value.message


# ---- post_adjustment ----

def test_adjustments_on_a_claim_move_what_is_open_and_refuse_what_is_not():
    m = post_adjustment(NO_RESPONSE, [], "Write-off", 2000, D(2026, 5, 1), 7)
    assert (m.kind, m.cents, m.date, m.adjustment_id) == (WRITE_OFF, 2000, D(2026, 5, 1), 7)
    m2 = post_adjustment(NO_RESPONSE, [m], "Bill Patient", 3000, D(2026, 5, 2), 8)
    assert (m2.kind, m2.cents) == (BILL_PATIENT, 3000)
    with pytest.raises(Refused) as e:  # 50.00 open: 50.01 is too much
        post_adjustment(NO_RESPONSE, [], "Bill Patient", 5001, D(2026, 5, 1), 9)
    assert e.value.column == "Amount" and "50.00" in e.value.message
    with pytest.raises(Refused) as e:  # nothing open after the write-off and the bill
        post_adjustment(NO_RESPONSE, [m, m2], "Write-off", 1, D(2026, 5, 3), 10)
    assert e.value.column == "Claim Number" and "write off" in e.value.message
    paid = posted(PAID_AS_EXPECTED, remit(1, D(2026, 4, 1), 6400))
    with pytest.raises(Refused) as e:
        post_adjustment(PAID_AS_EXPECTED, paid, "Bill Patient", 100, D(2026, 5, 1), 11)
    assert e.value.column == "Claim Number" and "bill to the patient" in e.value.message
    # As of its own date: a payment dated later does not count against an earlier write-off.
    assert post_adjustment(PAID_AS_EXPECTED, paid, "Write-off", 15000, D(2026, 3, 31), 12).cents == 15000


# ---- view: the status as of a date ----

def test_submitted_then_no_response_at_exactly_follow_up_days():
    c = claim(10, "P010", "Acme Health", D(2026, 4, 20), 5000, 4000, 0)
    assert view(c, [], [], D(2026, 5, 19), POLICY).status == cl.SUBMITTED  # 29 days
    v = view(c, [], [], D(2026, 5, 20), POLICY)  # 30 days
    assert (v.status, v.days_outstanding, v.open_cents, v.appeal_deadline) == (cl.NO_RESPONSE, 30, 5000, None)


def test_paid_underpaid_denied_and_closed():
    r = remit(1, D(2026, 4, 1), 6400)
    v = view(PAID_AS_EXPECTED, posted(PAID_AS_EXPECTED, r), [r], AS_OF, POLICY)
    assert (v.status, v.allowed_cents, v.paid_cents, v.variance_cents, v.open_cents, v.days_outstanding) == (
        cl.PAID, 10000, 6400, 0, 0, 0)
    assert (v.contractual_cents, v.to_patient_cents, v.last_paid_date) == (5000, 3600, D(2026, 4, 1))

    r = remit(1, D(2026, 4, 10), 12000, allowed=16000, patient=0, reason="CO-45")
    v = view(UNDERPAID, posted(UNDERPAID, r), [r], AS_OF, POLICY)
    assert (v.status, v.variance_cents, v.open_cents, v.appeal_deadline, v.reason_code, v.days_outstanding) == (
        cl.UNDERPAID, 4000, 4000, D(2026, 7, 9), "CO-45", 71)
    # As of the day before the remittance, it is a claim 30 days without an answer.
    assert view(UNDERPAID, posted(UNDERPAID, r), [r], D(2026, 4, 9), POLICY).status == cl.NO_RESPONSE

    r = remit(1, D(2026, 4, 20), 0, reason="CO-50")
    v = view(DENIED, posted(DENIED, r), [r], AS_OF, POLICY)
    assert (v.status, v.appeal_deadline, v.allowed_cents, v.open_cents, v.variance_cents) == (
        cl.DENIED, D(2026, 4, 20) + dt.timedelta(days=90), None, 9000, 6300)
    assert v.appeal_deadline == D(2026, 7, 19)
    # Appealed and paid as expected: Paid, off the negotiation list.
    appeal = remit(2, D(2026, 5, 10), 6300)
    v = view(DENIED, posted(DENIED, r, appeal), [r, appeal], AS_OF, POLICY)
    assert (v.status, v.open_cents, v.to_patient_cents, v.appeal_deadline) == (cl.PAID, 0, 1700, None)

    r = remit(1, D(2026, 3, 1), 5000, allowed=9000, patient=1800)
    moves = posted(CLOSED, r)
    assert view(CLOSED, moves, [r], AS_OF, POLICY).status == cl.UNDERPAID  # 22.00 open
    moves.append(post_adjustment(CLOSED, moves, "Write-off", 2200, D(2026, 4, 1), 1))
    v = view(CLOSED, moves, [r], AS_OF, POLICY)
    assert (v.status, v.open_cents, v.written_off_cents, v.variance_cents, v.days_outstanding) == (
        cl.CLOSED, 0, 2200, 2200, 0)


def test_an_underpayment_with_nothing_open_stays_underpaid_until_its_appeal_deadline():
    # The payer says the patient owes 46.00 (not 36.00) and pays 54.00: nothing open, 10.00 short.
    r = remit(1, D(2026, 4, 1), 5400, patient=4600)
    moves = posted(PAID_AS_EXPECTED, r)
    assert cl.open_cents(PAID_AS_EXPECTED, moves) == 0
    v = view(PAID_AS_EXPECTED, moves, [r], D(2026, 6, 30), POLICY)  # deadline 04-01 + 90 = 06-30
    assert (v.status, v.variance_cents, v.appeal_deadline) == (cl.UNDERPAID, 1000, D(2026, 6, 30))
    v = view(PAID_AS_EXPECTED, moves, [r], D(2026, 7, 1), POLICY)
    assert (v.status, v.appeal_deadline, v.days_outstanding) == (cl.PAID, None, 0)
    # Within the tolerance (1.00 short) it is paid.
    r = remit(1, D(2026, 4, 1), 6300, patient=3700)
    assert view(PAID_AS_EXPECTED, posted(PAID_AS_EXPECTED, r), [r], AS_OF, POLICY).status == cl.PAID


# ---- the aging workbook ----

def claim_views() -> list[ClaimView]:
    """Six claims through billing.claims.view and two written out by hand (SPEC §5 rows, worked below)."""
    def v(c: Claim, *remits: Remit, extra: list[Move] = ()) -> ClaimView:
        return view(c, [*posted(c, *remits), *extra], list(remits), AS_OF, POLICY)

    written_off = Move(WRITE_OFF, 2200, D(2026, 4, 1), adjustment_id=1)
    return [
        v(PAID_AS_EXPECTED, remit(1, D(2026, 4, 1), 6400)),
        v(UNDERPAID, remit(2, D(2026, 4, 10), 12000, allowed=16000, patient=0, reason="CO-45")),
        v(DENIED, remit(3, D(2026, 4, 20), 0, reason="CO-50")),
        v(NO_RESPONSE),
        v(SUBMITTED),
        v(CLOSED, remit(4, D(2026, 3, 1), 5000, allowed=9000, patient=1800), extra=[written_off]),
        # Billed 120.00, allowed 100.00, patient 20.00: payer owes 80.00, paid 50.00; 30.00 open; 100 days.
        ClaimView(claim(7, "P005", "Beta Mutual", D(2026, 2, 9), 12000, 10000, 2000), "M-7", 10000, 5000, 2000,
                  2000, 0, 3000, cl.UNDERPAID, "CO-45", D(2026, 6, 1), 100, D(2026, 3, 3)),
        # Billed 40.00, allowed 30.00, no patient share: denied, all 40.00 open; 130 days.
        ClaimView(claim(8, "P006", "Beta Mutual", D(2026, 1, 10), 4000, 3000, 0), None, None, 0, 0, 0, 0, 4000,
                  cl.DENIED, "PR-204", D(2026, 5, 30), 130, D(2026, 3, 1)),
    ]


def d(y: int, m: int, day: int) -> dt.datetime:
    return dt.datetime(y, m, day)


# Problem first (Underpaid, Denied, No Response, each oldest claim first), then by claim number.
INSURANCE_ROWS = [
    ["CLM-2026-00007", "P005", "Beta Mutual", d(2026, 2, 9), "120.00", "100.00", "100.00", "50.00", "30.00",
     "Underpaid", "CO-45", d(2026, 6, 1), 100],
    ["CLM-2026-00002", "P002", "Acme Health", d(2026, 3, 10), "200.00", "160.00", "160.00", "120.00", "40.00",
     "Underpaid", "CO-45", d(2026, 7, 9), 71],
    ["CLM-2026-00008", "P006", "Beta Mutual", d(2026, 1, 10), "40.00", "30.00", None, "0.00", "30.00",
     "Denied", "PR-204", d(2026, 5, 30), 130],
    ["CLM-2026-00003", "P003", EVIL, d(2026, 4, 1), "90.00", "80.00", None, "0.00", "63.00",
     "Denied", "CO-50", d(2026, 7, 19), 49],
    ["CLM-2026-00004", "P001", "Acme Health", d(2026, 4, 15), "50.00", "40.00", None, "0.00", None,
     "No Response", None, None, 35],
    ["CLM-2026-00001", "P001", "Acme Health", d(2026, 3, 2), "150.00", "100.00", "100.00", "64.00", "0.00",
     "Paid", None, None, 0],
    ["CLM-2026-00005", "P004", "Beta Mutual", d(2026, 5, 1), "75.00", "60.00", None, "0.00", None,
     "Submitted", None, None, 19],
    ["CLM-2026-00006", "P002", "Beta Mutual", d(2026, 2, 2), "100.00", "90.00", "90.00", "50.00", "22.00",
     "Closed", None, None, 0],
]
MONEY_COLS = range(4, 9)  # Billed .. Variance, 0-based


def cells(row) -> list:
    """A read-back row with money as Decimal text, so it compares exactly."""
    return [format(Decimal(str(v)), ".2f") if i in MONEY_COLS and v is not None else v for i, v in enumerate(row)]


def write(tmp_path, claims: list[ClaimView] | None, collections: CollectionsResult | None = None):
    # Patient side: P001 owes 36.00 due 04-01 (49 days: 31-60), P002 18.00 not yet due, P004 holds 5.00 credit.
    items = [OpenItem("INV-2026-00001", "P001", D(2026, 3, 2), D(2026, 4, 1), Decimal("36.00"), Decimal("0.00"),
                      Decimal("0.00")),
             OpenItem("INV-2026-00002", "P002", D(2026, 4, 30), D(2026, 5, 30), Decimal("18.00"), Decimal("0.00"),
                      Decimal("0.00"))]
    aging = age(items, {"P004": Decimal("5.00")}, AS_OF, [30, 60, 90, 120])
    recon = Reconciliation(aging.balance, aging.balance)
    clients = {c: {"name": f"Patient {c}", "type": "Individual"} for c in ("P001", "P002", "P003", "P004")}
    path = tmp_path / "aging-2026-05-20.xlsx"
    write_aging_workbook(path, aging, recon, clients, {}, {"Invoices issued": 2}, [], collections=collections,
                         claims=claims)
    return openpyxl.load_workbook(path)


def test_insurance_sheet_every_cell_problems_first(tmp_path):
    wb = write(tmp_path, claim_views(), CollectionsResult())
    assert wb.sheetnames == ["Summary", "Aging by Client", "Open Items", "Collections", "Insurance", "Review",
                             "Problems"]
    ws = wb["Insurance"]
    assert [c.value for c in ws[1]] == ["Claim Number", "Client ID", "Payer", "Service Date", "Billed",
                                        "Expected Allowed", "Allowed", "Paid", "Variance", "Status", "Reason Code",
                                        "Appeal Deadline", "Days Outstanding"]
    assert [cells(r) for r in ws.iter_rows(min_row=2, max_row=9, values_only=True)] == INSURANCE_ROWS
    for row in ws.iter_rows(min_row=2, max_row=9):
        assert all(row[i].number_format == AGING_MONEY for i in MONEY_COLS if row[i].value is not None)
        assert row[3].number_format == AGING_DATE
        assert row[11].value is None or row[11].number_format == AGING_DATE
    assert ws["C5"].data_type == "s" and ws["C5"].value == EVIL  # the payer named like a formula stays text
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:M9"  # the claims only, not the list below
    assert ws.page_setup.orientation == "landscape" and (ws.page_setup.fitToWidth or 1) == 1  # 1 is the default
    assert ws.sheet_properties.pageSetUpPr.fitToPage

    # A totals row right below the claims, outside the filter: billed 40+... as summed by the sheet itself.
    assert ws["A10"].value == "Total (8 claims)" and ws["A10"].font.bold
    assert Decimal(str(ws["E10"].value)) == sum(Decimal(str(r[4])) for r in INSURANCE_ROWS)
    # The negotiation list, a blank row below the totals. Per payer (sorted without case; "=" before letters):
    #   EVIL: CLM-3 denied, 90.00 open, deadline 07-19.  Acme Health: CLM-2 underpaid by 40.00, deadline 07-09.
    #   Beta Mutual: CLM-7 underpaid by 30.00 (06-01), CLM-8 denied with 40.00 open (05-30): oldest 05-30.
    assert all(c.value is None for c in ws[11])
    assert ws["A12"].value == "Negotiation list" and ws["A12"].font.bold
    assert [c.value for c in ws[13]][:6] == ["Payer", "Underpaid Claims", "Underpaid Variance", "Denied Claims",
                                             "Denied Amount", "Oldest Appeal Deadline"]
    money = lambda v: format(Decimal(str(v)), ".2f")  # noqa: E731
    got = [[r[0], r[1], money(r[2]), r[3], money(r[4]), r[5]]
           for r in ws.iter_rows(min_row=14, max_row=17, max_col=6, values_only=True)]
    assert got == [
        [EVIL, 0, "0.00", 1, "90.00", d(2026, 7, 19)],
        ["Acme Health", 1, "40.00", 0, "0.00", d(2026, 7, 9)],
        ["Beta Mutual", 1, "30.00", 1, "40.00", d(2026, 5, 30)],
        ["Total", 2, "70.00", 2, "130.00", d(2026, 5, 30)],
    ]
    assert ws["A14"].data_type == "s" and ws["A17"].font.bold
    assert ws["C14"].number_format == AGING_MONEY and ws["F15"].number_format == AGING_DATE
    assert ws.max_row == 17
    for sheet in wb.worksheets:  # no cell anywhere is a formula
        assert not any(c.data_type == "f" for row in sheet.iter_rows() for c in row)


def test_summary_shows_patient_insurance_and_total_ar(tmp_path):
    ws = write(tmp_path, claim_views())["Summary"]
    summary = {r[0]: r[1:] for r in ws.iter_rows(max_col=3, values_only=True) if r[0]}
    money = lambda v: Decimal(str(v))  # noqa: E731
    # The rows that were there keep their place and values.
    assert [ws.cell(r, 1).value for r in range(5, 11)] == ["Not Yet Due", "1-30", "31-60", "61-90", "91-120",
                                                           "Over 120"]
    assert money(summary["31-60"][0]) == Decimal("36.00") and money(summary["Not Yet Due"][0]) == Decimal("18.00")
    assert money(summary["Balance"][0]) == Decimal("49.00") and summary["Reconciliation"][0] == "Ties"
    assert summary["Invoices issued"][0] == 2
    # Patient 54.00 − 5.00 credit = 49.00; insurers: 40 + 90 + 50 + 75 + 30 + 40 = 325.00 open.
    assert money(summary["Patient A/R"][0]) == Decimal("49.00")
    assert money(summary["Insurance A/R"][0]) == Decimal("325.00")
    assert money(summary["Total A/R"][0]) == Decimal("374.00")
    # By days since the claim date: CLM-5 19 → 0-30; CLM-3 49 and CLM-4 35 → 31-60; CLM-2 71; CLM-7 100;
    # CLM-8 130. Paid and closed claims have nothing open.
    assert {k: (money(summary[k][0]), summary[k][1]) for k in (
        "0-30 days", "31-60 days", "61-90 days", "91-120 days", "Over 120 days")} == {
        "0-30 days": (Decimal("75.00"), 1), "31-60 days": (Decimal("140.00"), 2), "61-90 days": (Decimal("40.00"), 1),
        "91-120 days": (Decimal("30.00"), 1), "Over 120 days": (Decimal("40.00"), 1)}
    assert {k: summary[k][0] for k in ("Underpaid", "Denied", "No Response", "Submitted", "Paid", "Closed")} == {
        "Underpaid": 2, "Denied": 2, "No Response": 1, "Submitted": 1, "Paid": 1, "Closed": 1}
    labels = [ws.cell(r, 1).value for r in range(1, ws.max_row + 1)]
    assert labels.index("Patient A/R") > labels.index("% over 90 days")  # below the bucket table
    assert labels.index("Reconciliation") > labels.index("Closed")
    assert ws.cell(labels.index("Total A/R") + 1, 2).number_format == AGING_MONEY


@pytest.mark.parametrize("claims", [None, []])
def test_an_office_without_insurance_has_no_insurance_sheet_or_rows(tmp_path, claims):
    wb = write(tmp_path, claims)
    assert "Insurance" not in wb.sheetnames
    labels = {r[0] for r in wb["Summary"].iter_rows(max_col=1, values_only=True)}
    assert not labels & {"Patient A/R", "Insurance A/R", "Total A/R", "Claims by status"}


def test_no_claim_to_negotiate_says_so(tmp_path):
    paid = [v for v in claim_views() if v.status in (cl.PAID, cl.SUBMITTED)]
    ws = write(tmp_path, paid)["Insurance"]
    assert [r[0] for r in ws.iter_rows(min_row=2, max_row=3, values_only=True)] == ["CLM-2026-00001",
                                                                                    "CLM-2026-00005"]
    assert ws["A4"].value == "Total (2 claims)"
    assert ws["A6"].value == "Negotiation list" and ws["A8"].value == "No claim is underpaid or denied."
    assert ws.auto_filter.ref == "A1:M3"


# ---- the claims-to-submit workbook ----

def test_claims_workbook_lists_each_line_with_totals(tmp_path):
    lines = [
        SubmissionLine("CLM-2026-00001", "Acme Health", "00123", "P001", "Ann Lee", D(2026, 5, 4), "OV", "99213",
                       Decimal("1"), 15000, 10000),
        SubmissionLine("CLM-2026-00001", "Acme Health", "00123", "P001", "Ann Lee", D(2026, 5, 4), "LAB", None,
                       Decimal("1.5"), 4505, 3001),
        SubmissionLine("CLM-2026-00002", EVIL, None, "P002", "+SUM(1,1)", D(2026, 5, 5), "-1+1", "@cmd",
                       Decimal("2"), 20000, 16000),
    ]
    path = tmp_path / "claims-2026-05-20.xlsx"
    write_claims_workbook(path, lines, AS_OF)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left beside it
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Claims"]
    ws = wb["Claims"]
    assert [c.value for c in ws[1]] == ["Claim Number", "Payer", "Member ID", "Client ID", "Patient Name",
                                        "Service Date", "Service Code", "Billing Code", "Quantity", "Billed",
                                        "Expected Allowed"]
    rows = [[*r[:8], Decimal(str(r[8])), format(Decimal(str(r[9])), ".2f"), format(Decimal(str(r[10])), ".2f")]
            for r in ws.iter_rows(min_row=2, max_row=4, values_only=True)]
    assert rows == [
        ["CLM-2026-00001", "Acme Health", "00123", "P001", "Ann Lee", d(2026, 5, 4), "OV", "99213", 1, "150.00",
         "100.00"],
        ["CLM-2026-00001", "Acme Health", "00123", "P001", "Ann Lee", d(2026, 5, 4), "LAB", None, Decimal("1.5"),
         "45.05", "30.01"],
        ["CLM-2026-00002", EVIL, None, "P002", "+SUM(1,1)", d(2026, 5, 5), "-1+1", "@cmd", 2, "200.00", "160.00"],
    ]
    total = [c.value for c in ws[5]]
    assert total[0] == "Total" and total[1:9] == [None] * 8
    assert (format(Decimal(str(total[9])), ".2f"), format(Decimal(str(total[10])), ".2f")) == ("395.05", "290.01")
    assert ws["A5"].font.bold and ws["J5"].number_format == MONEY_FORMAT
    assert all(ws.cell(r, c).number_format == MONEY_FORMAT for r in range(2, 5) for c in (10, 11))
    assert ws["F2"].number_format == DATE_FORMAT
    assert all(ws.cell(4, c).data_type == "s" for c in (2, 5, 7, 8))  # input text stays text
    assert not any(c.data_type == "f" for row in ws.iter_rows() for c in row)
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:K4"  # the total stays out of the filter
    assert ws.page_setup.orientation == "landscape" and ws.sheet_properties.pageSetUpPr.fitToPage


def test_claims_workbook_with_no_lines_is_a_header_and_a_zero_total(tmp_path):
    path = tmp_path / "claims-2026-05-20.xlsx"
    write_claims_workbook(path, [], AS_OF)
    ws = openpyxl.load_workbook(path)["Claims"]
    assert ws["A1"].value == "Claim Number" and ws["A2"].value == "Total"
    assert Decimal(str(ws["J2"].value)) == 0 and ws.auto_filter.ref == "A1:K1"


def test_a_payment_after_a_write_off_takes_the_write_off_back_first():
    # Denied, then written off in full by the coordinator; the appeal is paid after all: the write-off is
    # given back as far as the payment needs it, and the claim reads Paid, not Closed.
    written = [cl.Move(cl.WRITE_OFF, 9000, D(2026, 5, 1), adjustment_id=7)]
    moves = post_remittance(DENIED, written, remit(2, D(2026, 5, 20), 6300, allowed=8000, patient=1700))
    assert kinds(moves) == [(cl.WRITE_OFF, -9000), (CONTRACTUAL, 1000), (PATIENT, 1700), (PAYER_PAID, 6300)]
    v = view(DENIED, written + moves, [remit(2, D(2026, 5, 20), 6300, allowed=8000, patient=1700)], AS_OF, POLICY)
    assert (v.status, v.open_cents, v.written_off_cents) == (cl.PAID, 0, 0)


def test_a_deductible_is_not_an_underpayment():
    # Paid 0 with the whole allowed amount on the patient (a deductible): the payer owed nothing.
    moves = post_remittance(UNDERPAID, [], remit(1, D(2026, 4, 10), 0, allowed=16000, patient=16000, reason="PR-1"))
    v = view(UNDERPAID, moves, [remit(1, D(2026, 4, 10), 0, allowed=16000, patient=16000, reason="PR-1")], AS_OF,
             POLICY)
    assert (v.status, v.variance_cents, v.open_cents) == (cl.PAID, 0, 0)
    # An allowed amount cut below the contract still is: 160.00 contracted, 140.00 allowed, 20 % coinsurance.
    cut = remit(1, D(2026, 4, 10), 11200, allowed=14000, patient=2800, reason="PR-2")
    v = view(UNDERPAID, post_remittance(UNDERPAID, [], cut), [cut], AS_OF, POLICY)
    assert (v.status, v.variance_cents) == (cl.UNDERPAID, 16000 - 2800 - 11200)
