"""Collections (SPEC §4.4): which letters each run sends, suppression rules each with a twin, the call
list, referrals, letters re-opened. Expected letters are worked out by hand from the due dates."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import create_engine, func, select

from billing_batch.ledger.schema import letters
from billing_batch.pipeline import run_batch
from tests.office import Office
from tests.test_end_to_end import docx_paragraphs
from tests.test_posting import PAY_HEADERS

D = dt.date
CLIENT_HEADERS = ["Client ID", "Name", "Type", "Attention", "Address Line 1", "City", "Postal Code", "Phone",
                  "Terms Days", "Collections Hold", "Monthly Budget"]
RATES = [["Service Code", "Description", "Unit Price", "Discretionary"],
         ["OV", "Office visit", Decimal("100.00"), "N"],
         ["WH", "Teeth whitening", Decimal("300.00"), "Y"]]
LOG_HEADERS = ["Service Date", "Client ID", "Service Code", "Quantity", "Unit Price Override"]
CONTACT_HEADERS = ["Contact Date", "Client ID", "Outcome", "Promise Date", "Promise Amount"]
# Everything is billed on 03-31 with 30 days' terms: due 04-30. Days past due on each run date:
DAY = {1: D(2026, 5, 1), 10: D(2026, 5, 10), 31: D(2026, 5, 31), 40: D(2026, 6, 9), 61: D(2026, 6, 30),
       95: D(2026, 8, 3)}


def client(cid, name="Client " + "x", kind="Individual", hold="N", budget=None, phone="(217) 555-0101"):
    return [cid, name, kind, "Jane Roe" if kind == "Business" else None, "1 Main St", "Springfield", "62701",
            phone, 30, hold, budget]


def office_with(office: Office, clients: list[list], services: list[list]) -> None:
    office.drop("clients.xlsx", {"Clients": [CLIENT_HEADERS, *clients]})
    office.drop("rates.xlsx", {"Rates": RATES})
    office.drop("log.xlsx", {"Service Log": [LOG_HEADERS, *services]})
    run_batch(office.settings, D(2026, 3, 31))


def sent(result) -> dict[str, str]:
    return {l["client_id"]: l["level"] for l in result.report["letters"]}


def test_letters_escalate_one_level_per_run_and_a_missed_week_is_caught_up(office: Office):
    office_with(office, [client("C001", "Ann O'Neil & Co"), client("C002", "Bo Li")],
                [[D(2026, 3, 2), "C001", "OV", 2, None], [D(2026, 3, 2), "C002", "OV", 1, None]])
    # C001 runs every scheduled day; C002 shares the office, so it sees the same runs.
    got = {day: sent(run_batch(office.settings, DAY[day])) for day in (1, 10)}
    assert got == {1: {"C001": "Reminder", "C002": "Reminder"}, 10: {}}
    # The run of day 31 is missed (machine off for a week and more): day 40 catches up one level.
    assert sent(run_batch(office.settings, DAY[40])) == {"C001": "Second Notice", "C002": "Second Notice"}
    assert sent(run_batch(office.settings, DAY[40])) == {}  # re-running the same date sends nothing new
    assert sent(run_batch(office.settings, DAY[61])) == {"C001": "Final Notice", "C002": "Final Notice"}
    # The final notice of 06-30 names the first day of a possible referral: the oldest item, due 04-30,
    # is 91 days past due on 07-30 (04-30 + 91 days), later than 06-30 + 14 days between letters (07-14).
    final = "\n".join(docx_paragraphs(next((office.root / "output" / "letters" / "2026-06-30").glob("*.docx"))))
    assert "may be referred to a collection agency on or after July 30, 2026." in final
    assert "please pay $" in final and "by July 14, 2026" in final
    # The referral stage sends no letter: both clients go on the referral export, for a person to approve.
    r95 = run_batch(office.settings, DAY[95])
    assert sent(r95) == {} and not (office.root / "output" / "letters" / "2026-08-03").exists()
    assert sent(run_batch(office.settings, DAY[95] + dt.timedelta(days=30))) == {}  # nothing above referral
    referrals = openpyxl.load_workbook(office.root / "output" / "reports" / "referrals-2026-08-03.xlsx")["Referrals"]
    assert [r[0] for r in referrals.iter_rows(min_row=2, values_only=True)] == ["C001", "C002"]
    header = [c.value for c in referrals[1]]
    row = dict(zip(header, next(referrals.iter_rows(min_row=2, values_only=True))))
    assert (row["Last Letter"], row["Last Letter Date"]) == ("Final Notice", dt.datetime(2026, 6, 30))
    aging = openpyxl.load_workbook(r95.aging_path)["Collections"]
    cols = [c.value for c in aging[1]]
    calls = {r[cols.index("Client ID")]: r for r in aging.iter_rows(min_row=2, values_only=True) if r[0]}
    assert calls["C001"][cols.index("Suggested Action")] == (
        "On the referral export (its Referrals or Needs Review sheet): approve or review the referral, "
        "or agree payment before it is sent")
    engine = create_engine(office.settings.database_url)
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(letters)).scalar() == 6  # 3 letter levels × 2, each once
    engine.dispose()


def test_every_run_date_of_the_schedule(sqlite_office: Office):
    office_with(sqlite_office, [client("C001")], [[D(2026, 3, 2), "C001", "OV", 1, None]])
    got = [sent(run_batch(sqlite_office.settings, DAY[d])).get("C001") for d in (1, 10, 31, 40, 61, 95)]
    assert got == ["Reminder", None, "Second Notice", None, "Final Notice", None]  # the referral: no letter


def test_a_client_first_overdue_for_long_gets_one_level_at_a_time(sqlite_office: Office):
    office_with(sqlite_office, [client("C001")], [[D(2026, 3, 2), "C001", "OV", 1, None]])
    # First run after the invoice is already 95 days late: a Reminder, not a jump to the referral.
    assert sent(run_batch(sqlite_office.settings, DAY[95])) == {"C001": "Reminder"}
    assert sent(run_batch(sqlite_office.settings, DAY[95] + dt.timedelta(days=13))) == {}  # 14 days apart
    assert sent(run_batch(sqlite_office.settings, DAY[95] + dt.timedelta(days=14))) == {"C001": "Second Notice"}
    # Final notice on 08-31: the item is long past 91 days, so the day named is the letter's date plus the
    # 14 days between steps: September 14, 2026.
    assert sent(run_batch(sqlite_office.settings, D(2026, 8, 31))) == {"C001": "Final Notice"}
    final = "\n".join(docx_paragraphs(next((sqlite_office.root / "output" / "letters" / "2026-08-31").glob("*.docx"))))
    assert "may be referred to a collection agency on or after September 14, 2026." in final
    assert sent(run_batch(sqlite_office.settings, D(2026, 9, 13))) == {}
    assert not (sqlite_office.root / "output" / "reports" / "referrals-2026-09-13.xlsx").exists()
    run_batch(sqlite_office.settings, D(2026, 9, 14))
    book = openpyxl.load_workbook(sqlite_office.root / "output" / "reports" / "referrals-2026-09-14.xlsx")
    assert [r[0] for r in book["Referrals"].iter_rows(min_row=2, values_only=True)] == ["C001"]


def test_paying_up_resets_the_level(sqlite_office: Office):
    office_with(sqlite_office, [client("C001")], [[D(2026, 3, 2), "C001", "OV", 1, None]])
    assert sent(run_batch(sqlite_office.settings, DAY[1])) == {"C001": "Reminder"}
    sqlite_office.drop("pay.xlsx", {"Payments": [PAY_HEADERS, [D(2026, 5, 5), "C001", Decimal("100.00"), "Card", "9", None]]})
    run_batch(sqlite_office.settings, D(2026, 5, 6))
    sqlite_office.drop("june.xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 6, 1), "C001", "OV", 1, None]]})
    run_batch(sqlite_office.settings, D(2026, 6, 1))  # INV-2 due 07-01
    # Overdue again: a new series starts with the Reminder, not the Second Notice.
    assert sent(run_batch(sqlite_office.settings, D(2026, 7, 2))) == {"C001": "Reminder"}


RULE_CLIENTS = [client("HOLD", hold="Y"), client("NOHOLD"),
                client("PROMISE"), client("OLDPROMISE"),
                client("DISPUTE"), client("RESOLVED"),
                client("SMALL"), client("ENOUGH")]


def test_each_suppression_rule_stops_a_letter_and_its_twin_gets_one(office: Office):
    services = [[D(2026, 3, 2), c[0], "OV", 1, None] for c in RULE_CLIENTS if c[0] not in ("SMALL", "ENOUGH")]
    services += [[D(2026, 3, 2), "SMALL", "OV", 1, Decimal("4.99")],   # under the 5.00 minimum
                 [D(2026, 3, 2), "ENOUGH", "OV", 1, Decimal("5.00")]]
    office_with(office, RULE_CLIENTS, services)
    office.drop("calls.xlsx", {"Contact Log": [
        CONTACT_HEADERS,
        [D(2026, 4, 28), "PROMISE", "Promise to pay", D(2026, 5, 3), Decimal("100.00")],    # until 05-08
        [D(2026, 4, 10), "OLDPROMISE", "Promise to pay", D(2026, 4, 20), Decimal("100.00")],  # until 04-25
        [D(2026, 4, 20), "DISPUTE", "Dispute", None, None],
        [D(2026, 4, 20), "RESOLVED", "Dispute", None, None],
        [D(2026, 4, 25), "RESOLVED", "Dispute resolved", None, None],
    ]})
    result = run_batch(office.settings, DAY[1])
    assert sorted(sent(result)) == ["ENOUGH", "NOHOLD", "OLDPROMISE", "RESOLVED"]
    held = {h["client_id"]: h["reason"] for h in result.report["held_back"]}
    assert held == {"HOLD": "Collections Hold", "PROMISE": "Promise to pay (until 2026-05-08)",
                    "DISPUTE": "Open dispute", "SMALL": "Below the minimum balance"}
    # The Collections sheet lists them below the call list, with why (the disputed client stays in view).
    ws = openpyxl.load_workbook(result.aging_path)["Collections"]
    cells = list(ws.iter_rows(values_only=True))
    start = next(i for i, r in enumerate(cells) if r[0] == "Held Back — overdue, but no letter this run")
    assert {r[0]: r[2] for r in cells[start + 2:] if r[0]} == held
    # ... and until when; the balance beside it (each owes its invoice).
    assert cells[start + 1][:5] == ("Client ID", "Client Name", "Reason", "Until", "Balance")
    until = {r[0]: r[3] for r in cells[start + 2:] if r[0]}
    assert until == {"HOLD": "until the hold is taken off the client list", "PROMISE": dt.datetime(2026, 5, 8),
                     "DISPUTE": "until the dispute is resolved in the contact log",
                     "SMALL": "until the overdue balance reaches collections.min_balance"}
    assert ws.cell(start + 3, 4).number_format == "mm/dd/yyyy" or any(
        ws.cell(r, 4).number_format == "mm/dd/yyyy" for r in range(start + 3, ws.max_row + 1))
    # The promise lapses after its date plus grace: the next run sends the Reminder.
    assert sent(run_batch(office.settings, D(2026, 5, 9))) == {"PROMISE": "Reminder"}


def test_min_days_between_letters_holds_the_next_level(tmp_path):
    office = Office.create(tmp_path / "o", f"sqlite:///{tmp_path / 'l.sqlite'}", collections__min_days_between_letters=45)
    office_with(office, [client("C001")], [[D(2026, 3, 2), "C001", "OV", 1, None]])
    assert sent(run_batch(office.settings, DAY[1])) == {"C001": "Reminder"}
    r = run_batch(office.settings, DAY[31])  # qualifies for the Second Notice, only 30 days after the Reminder
    assert sent(r) == {} and r.report["held_back"][0]["reason"].startswith("Last letter on 2026-05-01")
    assert sent(run_batch(office.settings, D(2026, 6, 15))) == {"C001": "Second Notice"}  # 45 days later


def test_letters_read_back_with_items_total_and_plan_offer(sqlite_office: Office):
    office = sqlite_office
    office_with(office, [client("C001", 'Ann & Bob <Smith>'), client("B002", "Acme Dental", kind="Business"),
                         client("W003", "Wanda Bright")],
                [[D(2026, 3, 2), "C001", "OV", 2, None], [D(2026, 3, 9), "C001", "WH", 1, None],
                 [D(2026, 3, 2), "B002", "OV", 1, None], [D(2026, 3, 3), "W003", "WH", 1, None]])
    office.drop("more.xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 4, 2), "C001", "OV", 1, None]]})
    run_batch(office.settings, D(2026, 4, 2))  # C001's INV-4 100.00 due 05-02: not overdue on 05-01
    result = run_batch(office.settings, DAY[1])
    assert sent(result) == {"C001": "Reminder", "B002": "Reminder", "W003": "Reminder"}
    letters_dir = office.root / "output" / "letters" / "2026-05-01"
    files = sorted(p.name for p in letters_dir.iterdir())
    assert len(files) == 3 and all(f.split("-")[0] in ("C001", "B002", "W003") and "-reminder-" in f for f in files)
    texts = {p: docx_paragraphs(p) for p in letters_dir.glob("*.docx")}
    c001 = next(p for p, t in texts.items() if "Ann & Bob <Smith>" in t)
    text = "\n".join(texts[c001])
    # Numbers go by client ID: B002 INV-1, C001 INV-2, W003 INV-3; C001's April visit is INV-4.
    # INV-2: 2 visits 200.00 + whitening 300.00 = 500.00, the one overdue item; INV-4 is not due yet.
    assert "INV-2026-00002" in text and "$500.00" in text and "INV-2026-00004" not in text
    # Only the 200.00 of visits may go on a plan: 200.00 over 12 months is 16.67, so 25.00 × 8 months;
    # the 300.00 of whitening is the rest, due in full by 05-15 (05-01 + 14 days).
    assert ("If paying the full amount at once is difficult, a payment plan can cover the $200.00 of this "
            "balance that is for non-discretionary care: $25.00 a month for 8 months. The remaining $300.00, "
            "for Teeth whitening, cannot go on a plan and is due in full by May 15, 2026. Call us to set it up."
            in texts[c001])
    assert "Dear Ann & Bob <Smith>," in texts[c001]
    wanda = "\n".join(next(t for t in texts.values() if "Wanda Bright" in t))
    assert "$300.00" in wanda and "payment plan" not in wanda.lower()  # only discretionary services
    business = "\n".join(next(t for t in texts.values() if "Acme Dental" in t))
    assert "Attn: Jane Roe" in business and "$100.00" in business and "Dear Jane Roe," in business
    assert "payment plan" not in business.lower()  # plans.offer_to_business is false by default


@pytest.mark.parametrize("offer", [True, False])
def test_a_business_is_offered_a_plan_only_when_the_office_says_so(tmp_path, offer):
    office = Office.create(tmp_path / "o", f"sqlite:///{tmp_path / 'l.sqlite'}", plans__offer_to_business=offer)
    office_with(office, [client("B002", "Acme Dental", kind="Business"), client("C003", "Tom Baker")],
                [[D(2026, 3, 2), "B002", "OV", 2, None], [D(2026, 3, 2), "B002", "WH", 1, None],
                 [D(2026, 3, 2), "C003", "OV", 2, None]])
    result = run_batch(office.settings, DAY[1])
    texts = {p: "\n".join(docx_paragraphs(p)) for p in (office.root / "output" / "letters" / "2026-05-01").glob("*.docx")}
    business = next(t for t in texts.values() if "Acme Dental" in t)
    patient = next(t for t in texts.values() if "Tom Baker" in t)
    # 200.00 of visits over 12 months is 16.67, below the 25.00 minimum: 25.00 a month for 8 months; the
    # 300.00 of whitening is due in full by 05-15.
    offered = ("a payment plan can cover the $200.00 of this balance that is for non-discretionary services: "
               "$25.00 a month for 8 months. The remaining $300.00, for Teeth whitening, cannot go on a plan and "
               "is due in full by May 15, 2026.")
    assert (offered in business) == offer
    assert ("payment plan" in business.lower()) == offer
    # The patient is offered one either way, for the whole balance (no discretionary part).
    assert ("we can set up a payment plan for this balance of $200.00: $25.00 a month for 8 months. "
            "Call us to set it up.") in patient
    assert sorted(l["client_id"] for l in result.report["letters"]) == ["B002", "C003"]


def test_the_salutation_greets_a_person_without_a_job_title(sqlite_office: Office):
    office = sqlite_office
    rows = [client("B001", "Baker & Sons Plumbing", kind="Business"), client("B002", "Harper Lane", kind="Business"),
            client("B003", "Cascade Freight", kind="Business"), client("C004", "Tom Baker"),
            client("B005", "Roe Logistics", kind="Business")]
    rows[0][3], rows[1][3], rows[2][3], rows[4][3] = "Tom Baker, Owner", None, "Accounts Payable", "ATTN: Jane Roe, CFO"
    office_with(office, rows, [[D(2026, 3, 2), c[0], "OV", 1, None] for c in rows])
    run_batch(office.settings, DAY[1])
    texts = ["\n".join(docx_paragraphs(p)) for p in (office.root / "output" / "letters" / "2026-05-01").glob("*.docx")]
    by = {name: next(t for t in texts if name in t) for name in ("Baker & Sons", "Harper Lane", "Cascade", "Tom Baker\n")}
    assert "Dear Tom Baker," in by["Baker & Sons"] and "Owner," not in by["Baker & Sons"].split("Dear")[1][:30]
    assert "Attn: Tom Baker, Owner" in by["Baker & Sons"]  # the envelope still names the job title
    assert "Dear Accounts Payable," in by["Harper Lane"] and "Dear Accounts Payable," in by["Cascade"]
    assert "Dear Tom Baker," in by["Tom Baker\n"]
    # An Attention typed with its own "Attn:" is printed once, not "Attn: ATTN: Jane Roe, CFO".
    roe = next(t for t in texts if "Roe Logistics" in t)
    assert "Dear Jane Roe," in roe and "Attn: Jane Roe, CFO" in roe and "ATTN" not in roe


def test_call_list_and_dry_run(sqlite_office: Office):
    office = sqlite_office
    office_with(office, [client("C001"), client("C002", phone=None), client("C003")],
                [[D(2026, 3, 2), "C001", "OV", 3, None], [D(2026, 3, 2), "C002", "OV", 1, None],
                 [D(2026, 3, 2), "C003", "OV", 1, None]])
    run_batch(office.settings, DAY[1])
    office.drop("calls.xlsx", {"Contact Log": [CONTACT_HEADERS,
                                               [D(2026, 5, 20), "C003", "Plan requested", None, None]]})
    dry = run_batch(office.settings, DAY[31], dry_run=True)
    assert sent(dry) == {"C001": "Second Notice", "C002": "Second Notice", "C003": "Second Notice"}
    assert (office.root / "output" / "dry-run" / "letters" / "2026-05-31").exists()
    real = run_batch(office.settings, DAY[31])  # the dry run recorded nothing: the letters go out now
    assert sent(real) == sent(dry)
    ws = openpyxl.load_workbook(real.aging_path)["Collections"]
    header = [c.value for c in ws[1]]
    rows = [dict(zip(header, r)) for r in itertools.takewhile(lambda r: r[0] is not None and r[1] is not None,
                                                              ws.iter_rows(min_row=2, values_only=True))]
    assert ws.cell(len(rows) + 2, 1).value == "Total (2 calls)"  # the totals row right below the calls
    # C002 has no phone; C001 owes 300.00, C003 100.00, both 31 days: by balance.
    assert [(r["Priority"], r["Client ID"], r["Collection Level"]) for r in rows] == [
        (1, "C001", "Second Notice"), (2, "C003", "Second Notice")]
    assert rows[1]["Suggested Action"] == "Set up the payment plan the client asked for"
    assert rows[1]["Last Contact"] == "05/20/2026 Plan requested"  # the office's date_format


def test_a_hardship_case_or_a_client_whose_insurer_still_owes_is_never_referred(sqlite_office: Office):
    """Three clients reach the last level on 08-03. C001 is referred. C002's insurer has a claim open
    (LAB, never answered) and C003 cannot clear 300.00 on a 10.00 budget within 12 months: both are
    listed apart, as "needs review", for a person to look at."""
    office = sqlite_office
    headers = CLIENT_HEADERS + ["Payer", "Member ID"]
    office.drop("clients.xlsx", {"Clients": [headers, client("C001") + [None, None],
                                             client("C002") + ["Acme", "A-2"], client("C003", budget=Decimal("10.00"))
                                             + [None, None]]})
    office.drop("rates.xlsx", {"Rates": RATES + [["LAB", "Lab panel", Decimal("50.00"), "N"]],
                               "Payer Fees": [["Payer", "Service Code", "Allowed Amount"], ["Acme", "LAB",
                                                                                          Decimal("40.00")]]})
    office.drop("log.xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 3, 2), "C001", "OV", 1, None],
                                             [D(2026, 3, 2), "C002", "OV", 1, None],
                                             [D(2026, 3, 2), "C002", "LAB", 1, None],
                                             [D(2026, 3, 2), "C003", "OV", 3, None]]})
    run_batch(office.settings, D(2026, 3, 31))
    for day in (1, 40, 61):
        run_batch(office.settings, DAY[day])
    last = run_batch(office.settings, DAY[95])
    assert sent(last) == {}  # the referral stage sends no letter
    book = openpyxl.load_workbook(office.root / "output" / "reports" / "referrals-2026-08-03.xlsx")
    assert [r[0] for r in book["Referrals"].iter_rows(min_row=2, values_only=True)] == ["C001"]
    # A self-pay patient is asked about insurance we could bill; an insured one is not.
    engine = create_engine(office.settings.database_url)
    with engine.connect() as c:
        first = {r.client_id: r.id for r in c.execute(select(letters).where(letters.c.level == 1))}
    engine.dispose()
    asked = {cid: any("If you have health insurance we have not billed" in t for t in docx_paragraphs(
        next((office.root / "output" / "letters" / "2026-05-01").glob(f"*-{lid:06d}.docx")))) for cid, lid in first.items()}
    assert asked == {"C001": True, "C002": False, "C003": True}
    review = {r[0]: r[-1] for r in book["Needs Review"].iter_rows(min_row=2, values_only=True)}
    assert review == {"C002": "Insurance claim CLM-2026-00001 still open with the payer (No Response)",
                      "C003": "Hardship: the monthly budget cannot clear the balance in time"}
    # A later run (no letter, no new finding) still keeps them off the Referrals sheet.
    run_batch(office.settings, DAY[95] + dt.timedelta(days=7))
    later = openpyxl.load_workbook(office.root / "output" / "reports" / "referrals-2026-08-10.xlsx")
    assert [r[0] for r in later["Referrals"].iter_rows(min_row=2, values_only=True)] == ["C001"]
    assert {r[0] for r in later["Needs Review"].iter_rows(min_row=2, values_only=True)} == {"C002", "C003"}
    # The call list does not tell staff a Needs Review client is "on the referral list".
    ws = openpyxl.load_workbook(last.aging_path)["Collections"]
    cols = [c.value for c in ws[1]]
    actions = {r[cols.index("Client ID")]: r[cols.index("Suggested Action")]
               for r in ws.iter_rows(min_row=2, values_only=True)
               if r[cols.index("Client ID")] in ("C001", "C002", "C003")}
    assert set(actions) == {"C001", "C002", "C003"} and all("Needs Review" in a for a in actions.values())
    assert not any("referral list" in a for a in actions.values())


def test_no_referral_before_the_day_the_final_notice_named(sqlite_office: Office):
    """The final notice's day is a promise: an older invoice coming back into dunning (its plan cancelled)
    after the notice must not bring the referral forward. A (due 04-30) goes on a plan; B (billed 04-30,
    due 05-30) escalates: Reminder 05-31, Second Notice 06-30, Final Notice 07-30 naming 08-29 (05-30 +
    91 days). The plan is cancelled from 08-01, so A is 105 days past due on 08-13, 14 days after the
    notice: still not referred until 08-29."""
    from tests.test_plans import PLAN_HEADERS

    office = sqlite_office
    office_with(office, [client("C001")], [[D(2026, 3, 2), "C001", "OV", 1, None]])
    plan = ["C001", D(2026, 4, 5), Decimal("25"), "Monthly", D(2026, 12, 1), None, "agreed", None]
    office.drop("plan.xlsx", {"Payment Plans": [PLAN_HEADERS, plan]})
    run_batch(office.settings, D(2026, 4, 5))
    office.drop("log2.xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 4, 20), "C001", "OV", 1, None]]})
    run_batch(office.settings, D(2026, 4, 30))
    assert [sent(run_batch(office.settings, d)) for d in (D(2026, 5, 31), D(2026, 6, 30), D(2026, 7, 30))] == [
        {"C001": "Reminder"}, {"C001": "Second Notice"}, {"C001": "Final Notice"}]
    final = "\n".join(docx_paragraphs(next((office.root / "output" / "letters" / "2026-07-30").glob("*.docx"))))
    assert "may be referred to a collection agency on or after August 29, 2026." in final
    office.drop("cancel.xlsx", {"Payment Plans": [PLAN_HEADERS, plan[:-1] + [D(2026, 8, 1)]]})
    run_batch(office.settings, D(2026, 8, 1))
    reports = office.root / "output" / "reports"
    for day in (D(2026, 8, 13), D(2026, 8, 28)):
        run_batch(office.settings, day)
        assert not (reports / f"referrals-{day:%Y-%m-%d}.xlsx").exists()
    run_batch(office.settings, D(2026, 8, 29))
    book = openpyxl.load_workbook(reports / "referrals-2026-08-29.xlsx")
    assert [r[0] for r in book["Referrals"].iter_rows(min_row=2, values_only=True)] == ["C001"]


def test_a_dispute_or_promise_after_the_referral_takes_the_client_off_the_referral_list(sqlite_office: Office):
    """Three clients reach the last level on 08-03. On 08-05 C002 disputes the bill and C003 promises to
    pay on 08-20: from then on they are listed apart as "needs review" (an agency is never sent a disputed
    account), with the reason; C001 stays on the Referrals sheet."""
    office = sqlite_office
    office_with(office, [client("C001"), client("C002"), client("C003")],
                [[D(2026, 3, 2), c, "OV", 1, None] for c in ("C001", "C002", "C003")])
    for day in (1, 31, 61, 95):
        run_batch(office.settings, DAY[day])
    first = openpyxl.load_workbook(office.root / "output" / "reports" / "referrals-2026-08-03.xlsx")
    assert [r[0] for r in first["Referrals"].iter_rows(min_row=2, values_only=True)] == ["C001", "C002", "C003"]
    office.drop("calls.xlsx", {"Contact Log": [CONTACT_HEADERS, [D(2026, 8, 5), "C002", "Dispute", None, None],
                                               [D(2026, 8, 5), "C003", "Promise to pay", D(2026, 8, 20),
                                                Decimal("100")]]})
    run_batch(office.settings, D(2026, 8, 10))
    later = openpyxl.load_workbook(office.root / "output" / "reports" / "referrals-2026-08-10.xlsx")
    assert [r[0] for r in later["Referrals"].iter_rows(min_row=2, values_only=True)] == ["C001"]
    review = {r[0]: r[-1] for r in later["Needs Review"].iter_rows(min_row=2, values_only=True)}
    assert review == {"C002": "Open dispute", "C003": "Promise to pay (until 2026-08-25)"}


def test_the_run_says_where_the_referrals_to_approve_are(sqlite_office: Office):
    """The referral stage sends no letter, so the run's summary names the referral export."""
    from click.testing import CliRunner

    from billing_batch.cli import main

    office_with(sqlite_office, [client("C001")], [[D(2026, 3, 2), "C001", "OV", 1, None]])
    for day in (1, 31, 61):
        run_batch(sqlite_office.settings, DAY[day])
    before = CliRunner().invoke(main, ["run", "--config", str(sqlite_office.config), "--as-of", "2026-07-29"])
    assert before.exit_code == 0 and "Referrals:" not in before.output
    out = CliRunner().invoke(main, ["run", "--config", str(sqlite_office.config), "--as-of", "2026-07-30"])
    assert out.exit_code == 0 and "Referrals:" in out.output and "referrals-2026-07-30.xlsx" in out.output
