"""Payment plans (SPEC §4.5, issue 12): six months of one office, run by run, every status, amount
and letter worked out by hand in the comments; the rejections; the rules as properties.

Rates: TH (therapy) 100.00, non-discretionary; SPA (massage) 50.00, discretionary. No tax, 30 days'
terms, billed daily. All services on 01-05 are billed on the 01-10 run: due 02-09.
  A  TH×3 = 300.00   plan 100/month from 02-01 (3 installments), paid early by a lump sum
  B  TH×3 = 300.00   same plan; misses 02-01, is Late on 02-12, pays 02-14 (cured), completes 04-01
  C  TH×3 = 300.00   same plan; never pays: Late 02-12, Defaulted 03-12 (02-01 and 03-01 missed)
  M  TH×3 + SPA×2 = 400.00   plan over the 300.00 of therapy only; the 100.00 massage is dunned
  X  TH×2 = 200.00   plan 50/month (4 installments) paid once, cancelled from 02-20
Plan numbers follow the agreements' order: all are dated 01-15, so sheet order: PLN-2026-00001 (A)
to PLN-2026-00005 (X).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import openpyxl
from hypothesis import given, settings as hsettings, strategies as st
from sqlalchemy import create_engine, select

from billing_batch.billing import plans as P
from billing_batch.billing.engine import Account, Agreement, Item, Payment, PlanPolicy
from billing_batch.ledger.schema import plan_letters
from billing_batch.pipeline import aging_report, run_batch
from tests.office import Office
from tests.test_end_to_end import docx_paragraphs
from tests.test_posting import PAY_HEADERS

D = dt.date
CLIENT_HEADERS = ["Client ID", "Name", "Type", "Address Line 1", "City", "Postal Code", "Phone", "Monthly Budget"]
RATES = [["Service Code", "Description", "Unit Price", "Discretionary"],
         ["TH", "Therapy session", Decimal("100.00"), "N"],
         ["SPA", "Massage", Decimal("50.00"), "Y"]]
LOG_HEADERS = ["Service Date", "Client ID", "Service Code", "Quantity"]
PLAN_HEADERS = ["Client ID", "Agreement Date", "Installment Amount", "Frequency", "First Due Date", "Plan Amount",
                "Notes", "Cancel Date"]
AGREED, FIRST = D(2026, 1, 15), D(2026, 2, 1)


def person(cid, budget=None):
    return [cid, f"Patient {cid} & <Co>", "Individual", "1 Main St", "Springfield", "62701", "(217) 555-0101", budget]


def pay(day, cid, amount, ref):
    return [day, cid, Decimal(amount), "Check", ref, None]


def plan_rows(path) -> dict[str, dict]:
    """The Payment Plans sheet read back: SPEC §5's columns, by Plan ID (the offers below are skipped)."""
    ws = openpyxl.load_workbook(path)["Payment Plans"]
    rows = list(ws.iter_rows(values_only=True))
    header = list(rows[0])
    out = {}
    for r in rows[1:]:
        if not r[0] or not str(r[0]).startswith("PLN-"):
            break
        out[r[0]] = dict(zip(header, r))
    return out


def money(v) -> Decimal:
    return Decimal(str(v)).quantize(Decimal("0.01"))


def status_of(path) -> dict[str, tuple]:
    return {k: (r["Client ID"], r["Status"], money(r["Paid to Date"]), money(r["Remaining"]), r["Missed Installments"])
            for k, r in plan_rows(path).items()}


def letters_of(result) -> dict[str, str]:
    return {l["client_id"]: l["level"] for l in result.report["letters"]}


def plan_letters_of(result) -> list[tuple[str, str]]:
    return [(l["client_id"], l["kind"]) for l in result.report["plans"]["letters"]]


def test_six_months_of_payment_plans(office: Office):
    office.drop("clients.xlsx", {"Clients": [CLIENT_HEADERS, *[person(c) for c in "ABCMX"],
                                             *[person(c) for c in ("RD", "RN", "RA", "RL")]]})
    office.drop("rates.xlsx", {"Rates": RATES})
    office.drop("log.xlsx", {"Service Log": [LOG_HEADERS, *[[D(2026, 1, 5), c, "TH", 3] for c in "ABCM"],
                                             [D(2026, 1, 5), "M", "SPA", 2], [D(2026, 1, 5), "X", "TH", 2],
                                             [D(2026, 1, 5), "RD", "SPA", 1], [D(2026, 1, 5), "RA", "TH", 1],
                                             [D(2026, 1, 5), "RL", "TH", 20]]})
    first = run_batch(office.settings, D(2026, 1, 10))
    assert first.invoice_total == Decimal("3650.00")  # 4 × 300 + 100 (M's massage) + 200 + 50 + 100 + 2000

    # -- 01-20: the agreements, and the rows the policy refuses --------------------------------------------
    office.drop("plans.xlsx", {"Payment Plans": [
        PLAN_HEADERS,
        *[[c, AGREED, Decimal("100"), "Monthly", FIRST, None, None, None] for c in "ABCM"],
        ["X", AGREED, Decimal("50"), "Monthly", FIRST, None, "hardship", None],
        ["ZZZ", AGREED, Decimal("50"), "Monthly", FIRST, None, None, None],             # row 7: unknown client
        ["RD", AGREED, Decimal("25"), "Monthly", FIRST, None, None, None],              # 8: only discretionary
        ["RN", AGREED, Decimal("25"), "Monthly", FIRST, None, None, None],              # 9: nothing open
        ["RA", AGREED, Decimal("50"), "Monthly", FIRST, Decimal("150"), None, None],    # 10: above 100.00
        ["RA", D(2026, 1, 16), Decimal("10"), "Weekly", FIRST, None, None, None],       # 11: below 25.00
        ["RA", D(2026, 1, 17), Decimal("50"), "Weekly", D(2026, 1, 10), None, None, None],  # 12: before agreement
        ["RL", AGREED, Decimal("100"), "Monthly", FIRST, None, None, None],             # 13: 20 months > 12
        ["A", D(2026, 1, 18), Decimal("50"), "Monthly", FIRST, None, None, None],       # 14: A's balance is on a plan
    ]})
    agreed = run_batch(office.settings, D(2026, 1, 20))
    assert agreed.report["plans"]["agreed"] == [f"PLN-2026-0000{n}" for n in range(1, 6)]
    problems = {p.where.row: (p.where.column, p.message) for p in agreed.problems
                if p.where.file == "plans.xlsx" and p.level == "error"}
    assert set(problems) == set(range(7, 15))
    assert problems[7][0] == "Client ID" and "is not in the client list" in problems[7][1]
    assert problems[8] == ("Client ID", "has no balance that can go on a plan: what is open is for discretionary "
                                        "services only, which never go on a plan")
    assert problems[9] == ("Client ID", "has no balance that can go on a plan: the client has nothing open on "
                                         "2026-01-15")
    assert problems[10] == ("Plan Amount", "is above the client's balance that can go on a plan ($100.00 on "
                                           "2026-01-15); agree at most that")
    assert problems[11] == ("Installment Amount", "is below the minimum installment of $25.00 "
                                                  "(plans.min_installment); agree at least that")
    assert problems[12][0] == "First Due Date" and problems[12][1].startswith("is before the Agreement Date")
    # 2000.00 at 100.00 a month: 20 installments, 02-01 to 2027-09-01: 19 months after the first.
    assert problems[13] == ("Installment Amount", "is too small: the plan would run until 2027-09-01, more than 12 "
                                                  "months after the first due date (plans.max_months); agree a larger "
                                                  "installment")
    assert problems[14] == ("Client ID", "has no balance that can go on a plan: what the client owes is already on "
                                         "the plan agreed on 2026-01-15")
    assert status_of(agreed.aging_path) == {
        "PLN-2026-00001": ("A", "On Track", 0, Decimal("300.00"), 0),
        "PLN-2026-00002": ("B", "On Track", 0, Decimal("300.00"), 0),
        "PLN-2026-00003": ("C", "On Track", 0, Decimal("300.00"), 0),
        "PLN-2026-00004": ("M", "On Track", 0, Decimal("300.00"), 0),  # the massage is not on it
        "PLN-2026-00005": ("X", "On Track", 0, Decimal("200.00"), 0)}
    again = run_batch(office.settings, D(2026, 1, 21))  # the same file dropped again: one plan each
    office.drop("plans again.xlsx", {"Payment Plans": [PLAN_HEADERS, ["A", AGREED, Decimal("100"), "Monthly", FIRST,
                                                                      None, None, None]]})
    again = run_batch(office.settings, D(2026, 1, 22))
    assert again.report["totals"]["already_posted"] == 1 and again.report["plans"]["agreed"] == []

    # -- 02-05: first installments (unnamed payments go to the plan); B has a new visit, asks for a 2nd plan
    office.drop("pay1.xlsx", {"Payments": [PAY_HEADERS, pay(FIRST, "A", "100", "A1"), pay(FIRST, "M", "100", "M1"),
                                           pay(FIRST, "X", "50", "X1")]})
    office.drop("log2.xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 2, 2), "B", "TH", 1]]})  # 100, due 03-07
    r = run_batch(office.settings, D(2026, 2, 5))
    assert letters_of(r) == {}  # nothing overdue yet (due 02-09)
    # B's new invoice (INV-9: eight clients billed on 01-10) shows the plan as it stands: the 02-01
    # installment is due now, nothing paid; and asks for the plan number, not the invoice number.
    b_invoice = "\n".join(docx_paragraphs(next((office.root / "output/invoices/2026-02").glob("*-INV-2026-00009.docx"))))
    assert "Your payment plan PLN-2026-00002: $100.00 every month; next installment due February 5, 2026; paid to " \
           "date $0.00; remaining $300.00" in b_invoice
    assert "plan number PLN-2026-00002 on your payment" in b_invoice

    # -- 02-12: 02-01 + 10 grace days has passed: B and C are Late, one letter each; M's massage is dunned.
    # B asks for a second plan for the new visit: a Late plan is still in force.
    office.drop("plan b2.xlsx", {"Payment Plans": [PLAN_HEADERS, ["B", D(2026, 2, 12), Decimal("50"), "Monthly",
                                                                  D(2026, 3, 1), None, None, None]]})
    late = run_batch(office.settings, D(2026, 2, 12))
    assert [(p.where.column, p.message) for p in late.problems if p.where.file == "plan b2.xlsx"] == [
        ("Client ID", "already has a payment plan in force on 2026-02-12 (plan PLN-2026-00002); a new one can be "
                      "agreed once it is completed, cancelled or has ended")]
    assert sorted(plan_letters_of(late)) == [("B", "missed"), ("C", "missed")]
    assert letters_of(late) == {"M": "Reminder", "RA": "Reminder", "RL": "Reminder", "RD": "Reminder"}
    s = status_of(late.aging_path)
    assert s["PLN-2026-00002"] == ("B", "Late", 0, Decimal("300.00"), 1)
    assert s["PLN-2026-00003"] == ("C", "Late", 0, Decimal("300.00"), 1)
    assert s["PLN-2026-00001"] == ("A", "On Track", Decimal("100.00"), Decimal("200.00"), 0)
    assert s["PLN-2026-00004"] == ("M", "On Track", Decimal("100.00"), Decimal("200.00"), 0)
    assert list(plan_rows(late.aging_path))[:2] == ["PLN-2026-00002", "PLN-2026-00003"]  # Late first
    m_letter = office.root / "output" / "letters" / "2026-02-12"
    m_text = "\n".join(t for f in m_letter.glob("*-reminder-*.docx") for t in docx_paragraphs(f)
                       if "PLN-2026-00004" in "\n".join(docx_paragraphs(f)))
    assert "PLN-2026-00004" in m_text and "$100.00" in m_text  # only the massage is overdue; the plan shown
    by_client = {r[0]: r for r in openpyxl.load_workbook(late.aging_path)["Aging by Client"].iter_rows(
        min_row=2, values_only=True)}
    assert by_client["M"][-2] == "Y" and by_client["RA"][-2] == "N"
    cells = list(openpyxl.load_workbook(late.aging_path)["Collections"].iter_rows(values_only=True))
    start = next(i for i, r in enumerate(cells) if r[0] and str(r[0]).startswith("Held Back"))
    held = {r[0]: r[2] for r in cells[start + 2:] if r[0]}
    assert held["B"] == "On payment plan PLN-2026-00002 (Late): its items are not dunned"
    assert set(held) == set("ABCMX")
    b_letter = next(f for f in m_letter.glob("*-plan_missed-P*.docx")
                    if "Patient B & <Co>" in docx_paragraphs(f))
    b_text = "\n".join(docx_paragraphs(b_letter))
    assert "PLN-2026-00002" in b_text and "February 1, 2026" in b_text and "$100.00" in b_text

    # -- 02-16: B pays the missed installment: On Track again, counted as a cure, no letter ----------------
    office.drop("pay2.xlsx", {"Payments": [PAY_HEADERS, pay(D(2026, 2, 14), "B", "100", "B1")]})
    cured = run_batch(office.settings, D(2026, 2, 16))
    assert cured.report["plans"]["cured"] == ["PLN-2026-00002"] and plan_letters_of(cured) == []
    assert status_of(cured.aging_path)["PLN-2026-00002"] == ("B", "On Track", Decimal("100.00"), Decimal("200.00"), 0)

    # -- 02-25: A pays the rest at once (Completed); X's plan is cancelled from 02-20 ----------------------
    office.drop("pay3.xlsx", {"Payments": [PAY_HEADERS, pay(D(2026, 2, 20), "A", "200", "A2")]})
    office.drop("cancel.xlsx", {"Payment Plans": [PLAN_HEADERS, ["X", AGREED, Decimal("50"), "Monthly", FIRST, None,
                                                                 "moved away", D(2026, 2, 20)]]})
    office.drop("bad cancel.xlsx", {"Payment Plans": [PLAN_HEADERS, ["B", AGREED, Decimal("50"), "Monthly", FIRST,
                                                                     None, None, D(2026, 2, 20)]]})
    r = run_batch(office.settings, D(2026, 2, 25))
    bad = [p.message for p in r.problems if p.where.file == "bad cancel.xlsx"]
    assert len(bad) == 1 and bad[0].endswith("a plan's terms cannot be changed: to end it, drop the row exactly as "
                                             "agreed with a Cancel Date (given once), then agree a new plan with a "
                                             "new Agreement Date")
    notes = [p.message for p in r.problems if p.where.file == "cancel.xlsx"]
    assert notes == ["cancels plan PLN-2026-00005 from 2026-02-20: from that date its balance is collected as usual"]
    s = status_of(r.aging_path)
    assert s["PLN-2026-00001"] == ("A", "Completed", Decimal("300.00"), 0, 0)
    assert s["PLN-2026-00005"] == ("X", "Cancelled", Decimal("50.00"), Decimal("150.00"), 0)
    assert letters_of(r) == {"X": "Reminder"}  # X's 150.00 is back in collections (16 days past due)
    assert plan_letters_of(r) == []  # C is still Late: no second letter for the same episode

    # -- 03-05, 03-12: installments; C misses a second one and defaults ------------------------------------
    office.drop("pay4.xlsx", {"Payments": [PAY_HEADERS, pay(D(2026, 3, 1), "B", "100", "B2"),
                                           pay(D(2026, 3, 1), "M", "100", "M2")]})
    assert plan_letters_of(run_batch(office.settings, D(2026, 3, 5))) == []
    ended = run_batch(office.settings, D(2026, 3, 12))
    assert plan_letters_of(ended) == [("C", "ended")]
    s = status_of(ended.aging_path)
    assert s["PLN-2026-00003"] == ("C", "Defaulted", 0, Decimal("300.00"), 2)
    assert s["PLN-2026-00002"] == ("B", "On Track", Decimal("200.00"), Decimal("100.00"), 0)
    # C's items are back in collections: 31 days past due qualifies Second Notice, but one level per run.
    # B's 02-05 visit (due 03-07) is dunned as usual; M's massage goes up a level (Reminder was 02-12).
    assert letters_of(ended) == {"C": "Reminder", "B": "Reminder", "M": "Second Notice", "X": "Second Notice",
                                 "RA": "Second Notice", "RL": "Second Notice", "RD": "Second Notice"}
    c_letter = next(f for f in (office.root / "output/letters/2026-03-12").glob("*-plan_ended-P*.docx"))
    assert "PLN-2026-00003" in "\n".join(docx_paragraphs(c_letter))
    nxt = run_batch(office.settings, D(2026, 3, 26))
    assert letters_of(nxt)["C"] == "Second Notice" and plan_letters_of(nxt) == []

    # -- 04-05: the last installments -----------------------------------------------------------------------
    office.drop("pay5.xlsx", {"Payments": [PAY_HEADERS, pay(D(2026, 4, 1), "B", "100", "B3"),
                                           pay(D(2026, 4, 1), "M", "100", "M3")]})
    run_batch(office.settings, D(2026, 4, 5))
    june = run_batch(office.settings, D(2026, 6, 30))
    assert status_of(june.aging_path) == {
        "PLN-2026-00003": ("C", "Defaulted", 0, Decimal("300.00"), 2),
        "PLN-2026-00001": ("A", "Completed", Decimal("300.00"), 0, 0),
        "PLN-2026-00002": ("B", "Completed", Decimal("300.00"), 0, 0),
        "PLN-2026-00004": ("M", "Completed", Decimal("300.00"), 0, 0),
        "PLN-2026-00005": ("X", "Cancelled", Decimal("50.00"), Decimal("150.00"), 0)}
    assert list(plan_rows(june.aging_path)) == ["PLN-2026-00003", "PLN-2026-00001", "PLN-2026-00002",
                                                "PLN-2026-00004", "PLN-2026-00005"]
    assert june.report["aging"]["ties"]
    summary = {r[0]: r[1] for r in openpyxl.load_workbook(june.aging_path)["Summary"].iter_rows(
        max_col=2, values_only=True) if r[0]}
    assert (summary["Plans completed"], summary["Plans defaulted"], summary["Plans cancelled"]) == (3, 1, 1)
    # Each plan letter once, ever: B missed, C missed, C ended.
    engine = create_engine(office.settings.database_url)
    with engine.connect() as c:
        assert sorted(c.execute(select(plan_letters.c.client_id, plan_letters.c.kind)).all()) == [
            ("B", "missed"), ("C", "ended"), ("C", "missed")]
    engine.dispose()

    # -- the past from the ledger alone: on 02-13 B's 02-14 payment had not happened ------------------------
    path, recon = aging_report(office.settings, D(2026, 2, 13))
    assert recon.ties
    s = status_of(path)
    assert s["PLN-2026-00002"] == ("B", "Late", 0, Decimal("300.00"), 1)
    assert s["PLN-2026-00001"] == ("A", "On Track", Decimal("100.00"), Decimal("200.00"), 0)
    assert s["PLN-2026-00005"] == ("X", "On Track", Decimal("50.00"), Decimal("150.00"), 0)


# -- the rules as properties -------------------------------------------------------------------------------

FREQ = st.sampled_from(P.FREQUENCIES)
DAYS = st.dates(D(2025, 1, 1), D(2028, 12, 31))


@given(amount=st.integers(1, 10**9), installment=st.integers(1, 10**7), frequency=FREQ, first=DAYS)
def test_installments_always_sum_to_the_plan_amount(amount, installment, frequency, first):
    if -(-amount // installment) > 2000:
        installment = -(-amount // 2000)
    sched = P.schedule(amount, installment, frequency, first)
    assert sum(c for _, c in sched) == amount
    assert all(0 < c <= installment for _, c in sched) and all(c == installment for _, c in sched[:-1])
    assert [d for d, _ in sched] == sorted(d for d, _ in sched) and sched[0][0] == first


def test_monthly_due_dates_keep_the_day_clamped_to_the_month_end():
    assert P.due_dates(D(2026, 1, 31), "Monthly", 4) == [D(2026, 1, 31), D(2026, 2, 28), D(2026, 3, 31), D(2026, 4, 30)]
    assert P.due_dates(D(2028, 1, 30), "Monthly", 2) == [D(2028, 1, 30), D(2028, 2, 29)]
    assert P.due_dates(D(2026, 1, 1), "Biweekly", 3) == [D(2026, 1, 1), D(2026, 1, 15), D(2026, 1, 29)]


@hsettings(max_examples=200, deadline=None)
@given(invoices=st.lists(st.tuples(st.integers(0, 50_000), st.integers(0, 50_000), st.integers(0, 100)),
                         min_size=1, max_size=5),
       plan_amount=st.one_of(st.none(), st.integers(1, 200_000)))
def test_no_discretionary_cent_is_ever_on_a_plan(invoices, plan_amount):
    """Each invoice: (non-discretionary cents, discretionary cents, percent already paid)."""
    items = []
    for n, (nondisc, disc, paid_pct) in enumerate(invoices, start=1):
        total = nondisc + disc
        if total == 0:
            continue
        balance = total - total * paid_pct // 100
        items.append(Item(n, f"INV-{n}", D(2026, 1, 1), D(2026, 1, 31), balance, total - balance, total, nondisc))
    account = Account("C", items, [], 0, policy=PlanPolicy(min_installment_cents=1, max_months=10**6))
    out = account.settle([Agreement(1, D(2026, 2, 1), 10**9, "Monthly", D(2026, 3, 1), plan_amount)], D(2026, 2, 1))
    for draft in out.plans:
        assert sum(draft.parts.values()) == draft.terms.amount_cents
        for i in items:
            # never more than the non-discretionary lines, nor what is left of the invoice
            assert draft.parts.get(i.invoice_id, 0) <= min(i.eligible_total, i.balance)
    if not out.plans:
        assert out.refusals


@hsettings(max_examples=300, deadline=None)
@given(payments=st.lists(st.tuples(st.integers(0, 200), st.integers(-5_000, 20_000)), max_size=12),
       as_of=st.integers(0, 200), count=st.integers(1, 8), frequency=FREQ, cancel=st.one_of(st.none(), st.integers(0, 200)))
def test_status_as_of_a_date_never_depends_on_payments_dated_after_it(payments, as_of, count, frequency, cancel):
    start = D(2026, 1, 1)
    sched = tuple(P.schedule(count * 5_000, 5_000, frequency, start + dt.timedelta(days=10)))
    terms = P.Terms(1, "PLN-2026-00001", "C", start, frequency, 5_000, count * 5_000, sched,
                    start + dt.timedelta(days=cancel) if cancel is not None else None)
    covered = [(start + dt.timedelta(days=d), c) for d, c in payments]
    day = start + dt.timedelta(days=as_of)
    seen = P.standing(terms, covered, day, 10, 2)
    assert seen == P.standing(terms, [(d, c) for d, c in covered if d <= day], day, 10, 2)
    assert seen == P.standing(terms, covered + [(day + dt.timedelta(days=1), 10**9)], day, 10, 2)
    # Cancelled and Defaulted stay; so does Completed unless money counted toward it is taken back later.
    later_negative = any(c < 0 and d > day for d, c in covered)
    if seen.status in (P.CANCELLED, P.DEFAULTED) or (seen.status == P.COMPLETED and not later_negative):
        assert P.standing(terms, covered, day + dt.timedelta(days=400), 10, 2).status == seen.status


def test_payment_with_a_plan_in_force_pays_due_installments_first_then_other_items():
    """Plan of 300 over invoice 1 (3 × 100 from 02-01); invoice 2 (80, off the plan) is older by due date.
    A payment of 250 on 03-05: installments due by then 200 (02-01, 03-01) → 200 to the plan; then the
    other item 50 of its 80; nothing left for later installments."""
    items = [Item(1, "INV-1", D(2026, 1, 10), D(2026, 2, 9), 30_000, 0, 30_000, 30_000),
             Item(2, "INV-2", D(2026, 1, 5), D(2026, 2, 4), 8_000, 0, 8_000, 0)]
    account = Account("C", items, [], 0)
    out = account.settle([Agreement(1, D(2026, 1, 15), 10_000, "Monthly", D(2026, 2, 1)),
                          Payment(7, D(2026, 3, 5), 25_000)], D(2026, 3, 5))
    assert [(a.invoice_id, a.cents, a.plan_id) for a in out.allocations] == [(1, 20_000, -1), (2, 5_000, None)]
    # A payment of 150 more the next day: the rest of invoice 2 (30), then the plan's last installment (100),
    # then 20 of credit.
    out = account.settle([Payment(8, D(2026, 3, 6), 15_000)], D(2026, 3, 6))
    assert [(a.invoice_id, a.cents, a.plan_id) for a in out.allocations] == [(2, 3_000, None), (1, 10_000, -1)]
    assert account.credit == 2_000
    assert P.standing(account.plans[-1].terms, account.plans[-1].covered, D(2026, 3, 6), 10, 2).status == P.COMPLETED


def test_a_bounced_installment_is_taken_back_from_the_plan_and_a_correction_counts_toward_it():
    """Invoice 1: 300 therapy + 100 massage (400). Plan over the 300, 3 × 100 monthly from 02-01.
    02-01 pays 100 (plan); 02-05 the cheque bounces: the plan has 0 again and is Late on 02-12.
    A credit of 150 on 02-20 takes the massage's 100 first, then 50 from the plan's part (counted)."""
    from billing_batch.billing.engine import Adjustment, Reversal

    account = Account("C", [Item(1, "INV-1", D(2026, 1, 10), D(2026, 2, 9), 40_000, 0, 40_000, 30_000)], [], 0)
    account.settle([Agreement(1, D(2026, 1, 15), 10_000, "Monthly", D(2026, 2, 1)),
                    Payment(7, D(2026, 2, 1), 10_000)], D(2026, 2, 1))
    book = account.plans[-1]
    assert book.covered == [(D(2026, 2, 1), 10_000)]
    out = account.settle([Reversal(8, D(2026, 2, 5), -10_000, 7, D(2026, 2, 1))], D(2026, 2, 5))
    assert [(a.cents, a.plan_id) for a in out.allocations] == [(-10_000, -1)]
    assert P.standing(book.terms, book.covered, D(2026, 2, 12), 10, 2).status == P.LATE
    out = account.settle([Adjustment(3, D(2026, 2, 20), "Credit", 15_000, 1)], D(2026, 2, 20))
    assert [(a.source, a.cents, a.plan_id) for a in out.allocations] == [("credit_note", 10_000, None),
                                                                         ("credit_note", 5_000, -1)]
    s = P.standing(book.terms, book.covered, D(2026, 2, 20), 10, 2)
    assert (s.status, s.paid_cents, s.remaining_cents) == (P.LATE, 5_000, 25_000)  # 02-01's 100 is 50 short


def test_weekly_plan_defaults_after_two_misses_at_the_same_time_and_a_late_payment_cures_only_before():
    """250 weekly from 03-02: 03-02, 03-09, 03-16, ... Grace 10 days: 03-02 is missed from 03-13,
    03-09 from 03-20. Paid 250 on 03-15 (covers 03-02): on 03-20 one missed → Late, not Defaulted."""
    sched = tuple(P.schedule(100_000, 25_000, "Weekly", D(2026, 3, 2)))
    terms = P.Terms(1, "PLN-2026-00001", "C", D(2026, 3, 1), "Weekly", 25_000, 100_000, sched)
    assert [d for d, _ in sched] == [D(2026, 3, 2), D(2026, 3, 9), D(2026, 3, 16), D(2026, 3, 23)]
    assert P.standing(terms, [], D(2026, 3, 12), 10, 2).status == P.ON_TRACK
    assert P.standing(terms, [], D(2026, 3, 13), 10, 2).status == P.LATE
    gone = P.standing(terms, [], D(2026, 3, 20), 10, 2)
    assert (gone.status, gone.ended, gone.missed) == (P.DEFAULTED, D(2026, 3, 20), 2)
    kept = P.standing(terms, [(D(2026, 3, 15), 25_000)], D(2026, 3, 20), 10, 2)
    # next due: the next installment still to come (03-23); what is overdue is said apart
    assert (kept.status, kept.missed, kept.next_due, kept.overdue_cents) == (P.LATE, 1, D(2026, 3, 23), 50_000)
    # paid on 03-20 itself, the day 03-09 passes its grace: counted that day, so never two missed at once
    assert P.standing(terms, [(D(2026, 3, 20), 50_000)], D(2026, 3, 20), 10, 2).status == P.ON_TRACK


# -- found by the hostile review of issue 12 ----------------------------------------------------------------

def _three_hundred(installments=3):
    sched = tuple(P.schedule(installments * 10_000, 10_000, "Monthly", D(2026, 2, 1)))
    return P.Terms(1, "PLN-2026-00001", "C", D(2026, 1, 15), "Monthly", 10_000, installments * 10_000, sched)


def test_a_bounced_payment_after_completion_reopens_the_plan():
    terms = _three_hundred()
    covered = [(D(2026, 1, 20), 30_000), (D(2026, 1, 25), -30_000)]
    assert P.standing(terms, covered, D(2026, 1, 22), 10, 2).status == P.COMPLETED
    s = P.standing(terms, covered, D(2026, 1, 26), 10, 2)
    assert (s.status, s.paid_cents, s.remaining_cents, s.next_due) == (P.ON_TRACK, 0, 30_000, D(2026, 2, 1))


def test_a_missed_last_installment_ends_the_plan_and_a_bounce_that_makes_two_missed_defaults_that_day():
    one = _three_hundred(1)  # a single installment of 100 on 02-01
    s = P.standing(one, [], D(2026, 2, 12), 10, 2)
    assert (s.status, s.ended, s.missed) == (P.DEFAULTED, D(2026, 2, 12), 1)
    two = _three_hundred(2)  # 02-01 paid, 03-01 missed: nothing left to catch up on schedule
    assert P.standing(two, [(D(2026, 2, 1), 10_000)], D(2026, 3, 12), 10, 2).status == P.DEFAULTED
    # 3 installments paid on time, then the first two bounce on 04-20: two missed at once from that day
    terms = _three_hundred(4)
    covered = [(D(2026, 2, 1), 10_000), (D(2026, 3, 1), 10_000), (D(2026, 4, 1), 10_000),
               (D(2026, 4, 20), -20_000)]
    assert P.standing(terms, covered, D(2026, 4, 19), 10, 2).status == P.ON_TRACK
    s = P.standing(terms, covered, D(2026, 4, 20), 10, 2)
    assert (s.status, s.ended) == (P.DEFAULTED, D(2026, 4, 20))


def test_a_check_dated_before_the_agreement_but_entered_after_it_counts_toward_the_plan():
    """Plan over 300 agreed 01-15; a 100 check of 01-12 is entered on 01-20: it paid what the plan holds,
    so the plan has 100 paid and 200 to go — not 300 for a client who owes 200."""
    account = Account("C", [Item(1, "INV-1", D(2026, 1, 10), D(2026, 2, 9), 30_000, 0, 30_000, 30_000)], [], 0)
    account.settle([Agreement(1, D(2026, 1, 15), 10_000, "Monthly", D(2026, 2, 1))], D(2026, 1, 15))
    out = account.settle([Payment(7, D(2026, 1, 12), 10_000)], D(2026, 1, 20))
    assert [(a.cents, a.plan_id, a.date) for a in out.allocations] == [(10_000, -1, D(2026, 1, 12))]
    book = account.plans[-1]
    s = P.standing(book.terms, book.covered, D(2026, 2, 12), 10, 2)
    assert (s.status, s.paid_cents, s.remaining_cents) == (P.ON_TRACK, 10_000, 20_000)  # covers 02-01


def test_one_plan_at_a_time_also_against_a_backdated_agreement_and_a_cancel_needs_a_plan():
    account = Account("C", [Item(1, "INV-1", D(2026, 1, 10), D(2026, 2, 9), 30_000, 0, 30_000, 30_000),
                            Item(2, "INV-2", D(2026, 1, 1), D(2026, 1, 31), 5_000, 0, 5_000, 5_000)], [], 0)
    assert len(account.settle([Agreement(1, D(2026, 1, 15), 10_000, "Monthly", D(2026, 2, 1), 30_000)],
                              D(2026, 1, 15)).plans) == 1
    # the next run: a row with a mistyped (earlier) Agreement Date, and a cancel of a plan never agreed
    out = account.settle([Agreement(2, D(2026, 1, 14), 5_000, "Monthly", D(2026, 2, 1)),
                          Agreement(3, D(2026, 1, 16), 2_500, "Monthly", D(2026, 2, 1), None, D(2026, 2, 1))],
                         D(2026, 1, 20))
    assert out.plans == []
    why = {r.event.agreement_id: (r.column, r.message) for r in out.refusals}
    assert why[2] == ("Client ID", "already has a payment plan in force on 2026-01-14 (the plan agreed on "
                                   "2026-01-15); a new one can be agreed once it is completed, cancelled or has ended")
    assert why[3] == ("Cancel Date", "cancels a plan, but no plan was agreed with this client on 2026-01-16; check "
                                     "the Agreement Date against the plan's (Payment Plans sheet)")
    out = account.settle([Agreement(4, D(2026, 1, 25), 2_500, "Monthly", D(2026, 2, 1))], D(2026, 1, 20))
    assert out.refusals[0].message.startswith("is after today's business date (2026-01-20); a plan is entered on")


def test_an_agreement_dated_before_payments_already_entered_is_refused():
    """The 02-01 payment is posted on 02-05; an agreement dated 01-15 only arrives on 02-10. Had it been
    entered in time, the payment would have gone to its installments: it cannot be agreed back before
    it, and the row says which date to use."""
    account = Account("C", [Item(1, "INV-1", D(2026, 1, 10), D(2026, 2, 9), 30_000, 0, 30_000, 30_000)], [], 0)
    account.settle([Payment(7, D(2026, 2, 1), 10_000)], D(2026, 2, 5))
    out = account.settle([Agreement(1, D(2026, 1, 15), 10_000, "Monthly", D(2026, 2, 1))], D(2026, 2, 10))
    assert out.plans == [] and [(r.column, r.message) for r in out.refusals] == [(
        "Agreement Date", "is before money already entered for this client (a payment or a returned payment dated "
                          "2026-02-01); a plan cannot be agreed back before it — agree it with that date or later "
                          "(and a First Due Date on or after it), and enter agreements before the payments made under "
                          "them")]
    out = account.settle([Agreement(2, D(2026, 2, 1), 10_000, "Monthly", D(2026, 3, 1))], D(2026, 2, 10))
    assert out.plans[0].terms.amount_cents == 20_000  # what is open on 02-01 once that day's payment is in


def test_a_payment_returned_after_the_agreement_date_also_stops_a_late_agreement():
    """A 100 payment of 01-08 returned on 01-20, both entered by then: on 01-15 the client owed 200, now 300.
    An agreement of 01-15 entered later would cover 300, not the 200 of its date: refused."""
    from billing_batch.billing.engine import Reversal

    account = Account("C", [Item(1, "INV-1", D(2026, 1, 5), D(2026, 2, 4), 30_000, 0, 30_000, 30_000)], [], 0)
    account.settle([Payment(7, D(2026, 1, 8), 10_000), Reversal(8, D(2026, 1, 20), -10_000, 7, D(2026, 1, 8))],
                   D(2026, 1, 20))
    out = account.settle([Agreement(1, D(2026, 1, 15), 5_000, "Monthly", D(2026, 4, 1))], D(2026, 3, 20))
    assert out.plans == [] and "returned payment dated 2026-01-20" in out.refusals[0].message


def test_a_late_dropped_agreement_on_both_ledgers(office: Office):
    office.drop("clients.xlsx", {"Clients": [CLIENT_HEADERS, person("Z")]})
    office.drop("rates.xlsx", {"Rates": RATES})
    office.drop("log.xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 1, 5), "Z", "TH", 3]]})
    run_batch(office.settings, D(2026, 1, 10))
    office.drop("pay.xlsx", {"Payments": [PAY_HEADERS, pay(FIRST, "Z", "100", "Z1")]})
    run_batch(office.settings, D(2026, 2, 5))
    office.drop("plans.xlsx", {"Payment Plans": [PLAN_HEADERS, ["Z", AGREED, Decimal("100"), "Monthly", FIRST,
                                                                None, None, None]]})
    r = run_batch(office.settings, D(2026, 2, 12))
    assert [(p.where.cell, p.message.split(" (")[0]) for p in r.problems if p.where.file == "plans.xlsx"] == [
        ("B2", "is before money already entered for this client")]
    office.drop("plans again.xlsx", {"Payment Plans": [PLAN_HEADERS, ["Z", D(2026, 2, 12), Decimal("100"),
                                                                      "Monthly", D(2026, 3, 1), None, None, None]]})
    r = run_batch(office.settings, D(2026, 2, 13))
    assert status_of(r.aging_path) == {"PLN-2026-00001": ("Z", "On Track", 0, Decimal("200.00"), 0)}
    from billing_batch.pipeline import verify_ledger
    recon, proof = verify_ledger(office.settings, D(2026, 2, 13))
    assert recon.ties and proof.ok, proof.failures


def test_a_late_dropped_agreement_covers_less_what_was_credited_since():
    """Invoice 300; a credit of 50 on 01-20 is posted before the agreement of 01-15 arrives: the plan
    covers 250 (the client owes that much less)."""
    from billing_batch.billing.engine import Adjustment

    account = Account("C", [Item(1, "INV-1", D(2026, 1, 10), D(2026, 2, 9), 30_000, 0, 30_000, 30_000)], [], 0)
    account.settle([Adjustment(3, D(2026, 1, 20), "Credit", 5_000, 1)], D(2026, 2, 5))
    out = account.settle([Agreement(1, D(2026, 1, 15), 10_000, "Monthly", D(2026, 2, 1))], D(2026, 2, 5))
    assert out.plans[0].terms.amount_cents == 25_000
    book = account.plans[-1]
    s = P.standing(book.terms, book.covered, D(2026, 2, 5), 10, 2)
    assert (s.status, s.paid_cents, s.remaining_cents) == (P.ON_TRACK, 0, 25_000)
    assert account.items[1].balance == 25_000  # what the client owes is what the plan has left


# -- found by the second hostile review ----------------------------------------------------------------------

def _late_agreement(events, agreed=D(2026, 1, 15), first=D(2026, 2, 1), installment=10_000, frequency="Monthly",
                    today=D(2026, 1, 26), items=None):
    """The events applied first, then the agreement of `agreed` entered late, on `today`."""
    account = Account("C", items or [Item(1, "INV-1", D(2026, 1, 10), D(2026, 2, 9), 30_000, 0, 30_000, 30_000)],
                      [], 0)
    account.settle(events, today)
    out = account.settle([Agreement(1, agreed, installment, frequency, first)], today)
    return account, out


def test_a_late_agreement_already_in_default_is_refused_not_ended():
    account, out = _late_agreement([], first=D(2026, 1, 16), installment=5_000, frequency="Weekly",
                                   today=D(2026, 2, 15))
    assert out.plans == [] and out.refusals[0].column == "First Due Date"
    assert out.refusals[0].message == ("makes a plan that would already be in default today (since 2026-02-03, its "
                                       "installments unpaid); agree the plan again with today's date and a first due "
                                       "date still to come")
    assert account.plans == {}  # nothing kept


def test_money_dated_after_a_plans_cancel_date_does_not_count_toward_it():
    """A plan agreed 01-15 and cancelled from 01-18 (the Cancel Date comes from the ledger): a payment of
    01-20 entered afterwards is an ordinary payment."""
    from dataclasses import replace

    account, out = _late_agreement([])
    book = account.plans[-1]
    cancelled = replace(book.terms, cancel_date=D(2026, 1, 18))
    fresh = Account("C", [Item(1, "INV-1", D(2026, 1, 10), D(2026, 2, 9), 30_000, 0, 30_000, 30_000)], [], 0,
                    plans=[type(book)(cancelled, dict(book.parts))])
    out = fresh.settle([Payment(8, D(2026, 1, 20), 10_000)], D(2026, 1, 26))
    assert [a.plan_id for a in out.allocations] == [None]  # after the cancel date: an ordinary payment


def test_a_refused_reversal_does_not_stop_a_later_agreement():
    """A second reversal of the same payment (dated 01-20) is refused: no money moved that day, so an
    agreement of 01-15 entered afterwards is not held back by it."""
    from billing_batch.billing.engine import Reversal

    account = Account("C", [Item(1, "INV-1", D(2026, 1, 5), D(2026, 2, 4), 30_000, 0, 30_000, 30_000)], [], 0)
    account.settle([Payment(7, D(2026, 1, 8), 10_000), Reversal(8, D(2026, 1, 10), -10_000, 7, D(2026, 1, 8))],
                   D(2026, 1, 10))
    out = account.settle([Reversal(9, D(2026, 1, 20), -10_000, 7, D(2026, 1, 8))], D(2026, 1, 20))
    assert [r.column for r in out.refusals] == ["Reference"]
    out = account.settle([Agreement(1, D(2026, 1, 15), 5_000, "Monthly", D(2026, 2, 1))], D(2026, 1, 21))
    assert out.refusals == [] and out.plans[0].terms.amount_cents == 30_000
