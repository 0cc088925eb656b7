"""A realistic sample office for `billing-batch init --demo` (SPEC §2).

`write_demo_inbox` fills an inbox with the kind of workbooks a small mixed clinic drops: a client
list, a rate card with insurer fee schedules and three monthly service logs, written the way staff
write them (text IDs, a title row above the header, a few dates typed as text, a notes sheet) and
with a handful of deliberate mistakes, so the first run shows invoices, letters, an aging workbook
and a problems workbook. Deterministic for a given (end, seed).
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

from billing_batch.billing.claims import patient_share
from billing_batch.intake.kinds import (
    CLIENTS, PAYER_FEES, PAYMENT_PLANS, RATES, REMITTANCES, SERVICE_LOG, CellType, Kind,
)
from billing_batch.money import to_cents
from billing_batch.workbook_templates import reproducible_bytes

# --------------------------------------------------------------------------- result


class Mistake(NamedTuple):
    """A deliberate mistake; `description` quotes the bad cell value ("" = blank)."""

    file: str
    sheet: str
    row: int  # Excel row
    column: str  # header as written in the file
    description: str


@dataclass(frozen=True)
class DemoInfo:
    files: tuple[Path, ...]
    rows: tuple[tuple[str, int], ...]  # (file name, data rows over its kind sheets)
    mistakes: tuple[Mistake, ...]
    first_day: date  # first service date of the period
    last_day: date  # end - 1 day

    def rows_by_file(self) -> dict[str, int]:
        return dict(self.rows)


# --------------------------------------------------------------------------- the office's data

INDIVIDUALS = (
    "Margaret O'Brien", "José Núñez", "Zoë Müller", "Renée Lefèvre", "Walter Jenkins",
    "James Whitaker", "Linda Park", "Robert Okafor", "Patricia Nguyen", "Michael D'Angelo",
    "Jennifer Kowalski", "David Hernández", "Susan Lindqvist", "William Tran", "Karen Brooks",
    "Thomas Reilly", "Nancy Fischer", "Daniel Abernathy", "Emily Sato", "Sofía Castillo",
    "Matthew Greene", "Olivia Bennett", "Anthony Russo", "Chloé Dubois", "Samuel Oyelaran",
    "Hannah Schultz", "Kevin McAllister", "Grace Liu", "Ethan Morales", "Ava Johansson",
    "Noah Patterson", "Isabella Rossi", "Liam O'Connor", "Mia Takahashi",
)
LEGACY_CLIENT = ("Walter Jenkins", "00042")  # account number carried over from the old system

BUSINESSES = (  # (name, attention)
    ("Baker & Sons Plumbing", "Tom Baker, Owner"),
    ("Harper & Lane Architects", "Accounts Payable"),
    ("Sangamon Freight Co.", "Maria Gomez, HR Manager"),
    ("Green Valley Landscaping", "Luis Ortega"),
    ("O'Malley's Pub & Grill", "Siobhan O'Malley"),
    ("Prairie State Roofing Inc.", "Safety Officer"),
    ("Summit Logistics LLC", "Accounts Payable"),
    ("Capital City Movers", "Dana Whitfield, Office Manager"),
    ("Evergreen Senior Living", "Business Office"),
    ("Lincoln Land Construction", "Brian Kessler, Safety Director"),
    ("Old Capitol Bakery & Café", "Amélie Laurent"),
    ("Timberline Electric", "Accounts Payable"),
    ("St. Brigid's Community Shelter", "Sister Anne Doyle"),
    ("Alder Street Yoga Studio", "Priya Raman"),
    ("Route 66 Heritage Tours", "Kyle Brandt"),
    ("Ironwood Auto Body", "Accounts Payable"),
)
TAX_EXEMPT = {"Evergreen Senior Living", "St. Brigid's Community Shelter"}  # non-profits

# One region, the office's own (Springfield, Illinois, in workspace.DEMO_OFFICE): the towns around it,
# their real ZIP codes, all in area code 217.
CITIES = (  # (city, state, ZIP, area code)
    ("Springfield", "IL", "62701", "217"), ("Springfield", "IL", "62702", "217"),
    ("Springfield", "IL", "62704", "217"), ("Chatham", "IL", "62629", "217"),
    ("Rochester", "IL", "62563", "217"), ("Sherman", "IL", "62684", "217"),
    ("Riverton", "IL", "62561", "217"), ("Jacksonville", "IL", "62650", "217"),
    ("Petersburg", "IL", "62675", "217"), ("Auburn", "IL", "62615", "217"),
)
STREETS = (
    "S MacArthur Blvd", "W Monroe St", "E Adams St", "S Grand Ave W", "Wabash Ave",
    "W Jefferson St", "Main St", "Oak St", "Maple Ave", "N Dirksen Pkwy", "Chatham Rd",
    "Stevenson Dr", "W Washington St", "S 6th St", "E Cook St", "Lincoln Ave",
)
UNITS = ("Apt 3B", "Apt 12", "Unit 7", "Apt 204", "Suite 200", "Suite 110", "Unit 4")

PAYERS = (  # (payer, member ID prefix, allowed share of list price)
    ("Blue Cross Blue Shield of Illinois", "XOD", Decimal("0.80")),
    ("Aetna Choice", "W", Decimal("0.72")),
)

# (code, description, price, unit, taxable, discretionary, billing code)
RATE_CARD = (
    ("OV-NEW", "Office visit, new patient", "145.00", "visit", False, False, "99203"),
    ("OV-EST", "Office visit, established patient", "95.00", "visit", False, False, "99213"),
    ("OV-EXT", "Office visit, extended (40 min)", "165.00", "visit", False, False, "99215"),
    ("THER-HR", "Psychotherapy session", "130.00", "hour", False, False, "90837"),
    ("PT-HR", "Physical therapy", "120.00", "hour", False, False, "97110"),
    ("LAB-BMP", "Lab: basic metabolic panel", "38.00", "panel", False, False, "80048"),
    ("LAB-CBC", "Lab: complete blood count", "24.00", "panel", False, False, "85025"),
    ("LAB-LIP", "Lab: lipid panel", "42.00", "panel", False, False, "80061"),
    ("XR-CHEST", "X-ray, chest, 2 views", "85.00", "each", False, False, "71046"),
    ("XR-EXT", "X-ray, ankle or wrist, 3 views", "70.00", "each", False, False, "73610"),
    ("VACC-FLU", "Flu vaccine incl. administration", "45.00", "dose", False, False, "90686"),
    ("DOT-PHYS", "DOT physical examination", "120.00", "each", False, False, ""),
    ("DRUG-SCR", "Drug screen, 10 panel", "55.00", "each", False, False, "80305"),
    ("NUTR", "Nutrition counseling", "65.00", "session", False, False, "97802"),
    ("MASSAGE", "Massage therapy", "90.00", "hour", False, True, ""),
    ("COS-CONS", "Cosmetic consultation", "75.00", "", False, True, ""),
    ("WHITEN", "Teeth whitening, in office", "350.00", "", False, True, "D9972"),
    ("LETTER", "Report or letter writing", "40.00", "", False, True, ""),
    ("NOSHOW", "Missed appointment fee", "50.00", "", False, False, ""),
    ("SUP-BRACE", "Wrist brace", "28.50", "", True, False, "L3908"),
    ("SUP-KIT", "Wound care supply kit", "12.75", "kit", True, False, ""),
    ("PROD-SKIN", "Skin care product", "34.00", "", True, True, ""),
)
PRICE_CHANGE = ("OV-EST", "102.00")  # new price from the first day of the middle month
INSURED_CODES = ("OV-NEW", "OV-EST", "OV-EXT", "THER-HR", "PT-HR", "LAB-BMP", "LAB-CBC",
                 "LAB-LIP", "XR-CHEST", "XR-EXT", "VACC-FLU")
NOT_COVERED = ("Aetna Choice", "NUTR")  # a fee schedule row with Covered = N

# What a visit is about, with weights: individuals see the clinic, businesses send employees.
INDIVIDUAL_VISITS = (
    ("OV-EST", 20), ("OV-NEW", 4), ("OV-EXT", 4), ("THER-HR", 12), ("PT-HR", 8),
    ("XR-CHEST", 2), ("XR-EXT", 3), ("VACC-FLU", 5), ("NUTR", 4), ("MASSAGE", 5),
    ("COS-CONS", 2), ("WHITEN", 2), ("PROD-SKIN", 3), ("LETTER", 2), ("NOSHOW", 2),
)
BUSINESS_VISITS = (
    ("DOT-PHYS", 8), ("DRUG-SCR", 8), ("LETTER", 3), ("VACC-FLU", 3), ("XR-CHEST", 2),
    ("MASSAGE", 2),
)
PROVIDERS = {
    "clinic": ("Dr. Anna Patel", "Dr. Marcus Reed", "Kim Alvarez, NP"),
    "THER-HR": ("Dr. Paul Okonkwo, PhD",),
    "PT-HR": ("Lisa Chen, DPT",),
    "MASSAGE": ("Jordan Ellis, LMT",),
    "COS-CONS": ("Dr. Nina Verma",),
    "PROD-SKIN": ("Dr. Nina Verma",),
    "WHITEN": ("Dr. Sam Ortiz, DDS",),
    "NUTR": ("Emily Novak, RD",),
}
OVERRIDES = {"THER-HR": ("100.00", "Sliding scale"), "OV-EST": ("75.00", "Courtesy rate"),
             "PROD-SKIN": ("29.00", "Promotion")}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
FORMULA_START = ("=", "+", "-", "@")
PERIOD_DAYS = 92

# --------------------------------------------------------------------------- entry point


def write_demo_inbox(inbox: Path, end: date, seed: int = 7) -> DemoInfo:
    """Write the demo office's input workbooks into `inbox` for services up to `end` - 1 day."""
    rng = random.Random(seed)
    first, last = end - timedelta(days=PERIOD_DAYS), end - timedelta(days=1)
    months = _log_months(last)
    inbox.mkdir(parents=True, exist_ok=True)

    clients, no_city_row = _make_clients(rng)
    billable = [c for i, c in enumerate(clients) if i != no_city_row]  # its services would cascade
    rates, fees = _make_rate_card(months[1])
    log_rows = _make_service_log(rng, billable, first, last)

    files: list[Path] = []
    counts: list[tuple[str, int]] = []
    mistakes: list[Mistake] = []

    name = "clients.xlsx"
    clients[no_city_row]["City"] = None
    mistakes.append(Mistake(name, "Clients", no_city_row + 2, "City", 'City is blank ""'))
    _save(inbox / name, _workbook([("Clients", CLIENTS, _headers(CLIENTS), clients, 1, None)]))
    files.append(inbox / name)
    counts.append((name, len(clients)))

    name = "rate card.xlsx"
    wb = _workbook([("Rates", RATES, _headers(RATES), rates, 1, None),
                    ("Payer Fees", PAYER_FEES, _headers(PAYER_FEES), fees, 1, None)])
    _add_notes_sheet(wb.create_sheet("Notes"), months[1])
    _save(inbox / name, wb)
    files.append(inbox / name)
    counts.append((name, len(rates) + len(fees)))

    known_ids = {c["Client ID"] for c in clients}
    per_file = [[r for r in log_rows if _file_month(r["Service Date"], months) == month]
                for month in months]
    for index, (month, rows) in enumerate(zip(months, per_file)):
        name = f"service log {month[0]}-{month[1]:02d}.xlsx"
        sheet, headers, header_row = _log_layout(index, month)
        mistakes += _spoil_log(rng, index, rows, name, sheet, header_row, first, last, known_ids)
        title = f"Service log — {MONTHS[month[1] - 1]} {month[0]}" if header_row > 1 else None
        _save(inbox / name, _workbook([(sheet, SERVICE_LOG, headers, rows, header_row, title)]))
        files.append(inbox / name)
        counts.append((name, len(rows)))

    name = "remittances.xlsx"
    posted = [r for rows, spoiled in zip(per_file, _spoiled_rows(mistakes, per_file, months)) for i, r in
              enumerate(rows) if i not in spoiled]
    remits = _make_remittances(billable, posted, rates, fees, end)
    _save(inbox / name, _workbook([("Remittances", REMITTANCES, _headers(REMITTANCES), remits, 1, None)]))
    files.append(inbox / name)
    counts.append((name, len(remits)))

    name = "payment plans.xlsx"
    plans = _make_plans(clients, log_rows, end)
    _save(inbox / name, _workbook([("Payment Plans", PAYMENT_PLANS, _headers(PAYMENT_PLANS), plans, 1, None)]))
    files.append(inbox / name)
    counts.append((name, len(plans)))

    return DemoInfo(tuple(files), tuple(counts), tuple(mistakes), first, last)


def _make_plans(clients: list[dict], log_rows: list[dict], today: date) -> list[dict]:
    """Two agreements made today with uninsured patients (so the first run shows the Payment Plans
    sheet): one over the whole balance it may cover, one over part of it. Installments sized to end
    in about six months, so the policy accepts them."""
    prices = {code: Decimal(price) for code, _, price, *_ in RATE_CARD}
    discretionary = {code for code, *_, disc, _ in RATE_CARD if disc}
    owed: dict[str, Decimal] = {}
    for r in log_rows:
        if r["Service Code"] in prices and r["Service Code"] not in discretionary:
            owed[r["Client ID"]] = owed.get(r["Client ID"], Decimal(0)) + \
                prices[r["Service Code"]] * Decimal(str(r["Quantity"] or 1))
    picks = [c["Client ID"] for c in clients if c["Type"] == "Individual" and not c.get("Payer")
             and not c.get("Collections Hold") and c.get("City") and owed.get(c["Client ID"], 0) >= 300][:2]
    rows = []
    for n, cid in enumerate(picks):
        amount = (owed[cid] / 2).quantize(Decimal("1")) if n else None
        installment = max(Decimal(25), -(-(amount or owed[cid]) // 6))
        rows.append({"Client ID": cid, "Agreement Date": today, "Installment Amount": f"{installment:.2f}",
                     "Frequency": "Monthly", "First Due Date": today + timedelta(days=14),
                     "Plan Amount": f"{amount:.2f}" if amount else None,
                     "Notes": "Agreed on the phone" if n else "Asked for a plan at the front desk"})
    return rows


# --------------------------------------------------------------------------- insurance

def _spoiled_rows(mistakes: list[Mistake], per_file: list[list[dict]], months) -> list[set[int]]:
    """Per service log, the row indexes its deliberate mistakes reject (they are never claimed)."""
    out = []
    for index, month in enumerate(months):
        name = f"service log {month[0]}-{month[1]:02d}.xlsx"
        _, _, header_row = _log_layout(index, month)
        out.append({m.row - header_row - 1 for m in mistakes if m.file == name})
    return out


def _as_date(value: object) -> date:
    if isinstance(value, date):
        return value
    text = str(value)
    return date.fromisoformat(text) if "-" in text else datetime.strptime(text, "%m/%d/%Y").date()


def _make_remittances(clients: list[dict], posted: list[dict], rates: list[dict], fees: list[dict],
                      end: date) -> list[dict]:
    """What the payers paid on last month's claims, keyed from their EOBs on the run's day: most as
    expected, some underpaid, one denied. The run makes the claims first (one per client, service date
    and payer, numbered in that order: billing/claims.py's rules, worked out here the same way), so
    the remittances can name them."""
    insured = {c["Client ID"]: c for c in clients if c.get("Payer")}
    fee = {(f["Payer"], f["Service Code"]): (Decimal(f["Allowed Amount"]), f.get("Effective From") or date.min,
                                             f["Covered"] == "Y") for f in fees}

    def price(code: str, day: date) -> Decimal:
        versions = [r for r in rates if r["Service Code"] == code and (r.get("Effective From") or date.min) <= day
                    and (r.get("Effective To") is None or day <= r["Effective To"])]
        return Decimal(max(versions, key=lambda r: r.get("Effective From") or date.min)["Unit Price"])

    claims: dict[tuple[date, str], list[tuple[int, int]]] = {}
    for r in posted:
        client = insured.get(r["Client ID"])
        day = _as_date(r["Service Date"])
        f = fee.get((client["Payer"], r["Service Code"])) if client else None
        if client is None or f is None or not f[2] or day < f[1] or day >= end:
            continue
        qty = Decimal(str(r["Quantity"] or 1))
        billed = to_cents(qty * price(r["Service Code"], day))
        claims.setdefault((day, r["Client ID"]), []).append((billed, min(billed, to_cents(qty * f[0]))))
    last_month_end = end.replace(day=1) - timedelta(days=1)
    rows = []
    for n, ((day, client_id), lines) in enumerate(sorted(claims.items()), start=1):
        if (day.year, day.month) != (last_month_end.year, last_month_end.month):
            continue
        client = insured[client_id]
        allowed = sum(a for _, a in lines)
        patient = patient_share(allowed, to_cents(Decimal(client["Copay"] or 0)),
                                int(Decimal(str(client["Coinsurance %"] or 0)) * 100))
        payer = allowed - patient
        row = {"Claim Number": f"CLM-{end.year}-{n:05d}", "Payer": client["Payer"], "Paid Date": end,
               "Reference": f"EOB-{end:%Y%m%d}-{client['Payer'].split()[0].upper()}"}
        kind = len(rows) % 6
        if kind == 5 and not any(r.get("Reason Code") for r in rows):
            row |= {"Paid": "0.00", "Reason Code": "CO-50"}  # "not medically necessary": to appeal
        elif kind == 2 and payer > 1000:
            # The payer applied an old fee schedule: 80 % of its share.
            row |= {"Paid": _cents_text(payer * 8 // 10), "Allowed": _cents_text(allowed),
                    "Patient Responsibility": _cents_text(patient)}
        else:
            row |= {"Paid": _cents_text(payer), "Allowed": _cents_text(allowed),
                    "Patient Responsibility": _cents_text(patient)}
        rows.append(row)
        if len(rows) == 12:
            break
    return rows


def _cents_text(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"


# --------------------------------------------------------------------------- clients


def _make_clients(rng: random.Random) -> tuple[list[dict], int]:
    """Client rows keyed by column name, and the index of the row that will miss its City."""
    people = [(n, "Individual", None) for n in INDIVIDUALS]
    firms = [(n, "Business", att) for n, att in BUSINESSES]
    entries = people + firms
    rng.shuffle(entries)  # staff add clients as they come, types mixed

    clients, next_id = [], 1001
    for name, type_, attention in entries:
        if name == LEGACY_CLIENT[0]:
            client_id = LEGACY_CLIENT[1]
        else:
            client_id, next_id = f"C{next_id}", next_id + 1
        clients.append(_client_row(rng, client_id, name, type_, attention))

    individuals = [i for i, c in enumerate(clients) if c["Type"] == "Individual"]
    businesses = [i for i, c in enumerate(clients) if c["Type"] == "Business"]
    insured = rng.sample(individuals, 8)
    for i in insured:
        _insure(rng, clients[i])
    for i in rng.sample(individuals, 6):
        clients[i]["Monthly Budget"] = rng.choice(("50.00", "75.00", "100.00", "150.00"))
    for i in rng.sample(individuals, 3):
        clients[i]["Terms Days"] = 15
    for i in rng.sample(businesses, 5):
        clients[i]["Terms Days"] = 45
    with_email = [i for i, c in enumerate(clients) if c["Email"]]
    picks = rng.sample(with_email, 9)
    for i in picks[:6]:
        clients[i]["Delivery"] = "Email"
    for i in picks[6:]:
        clients[i]["Delivery"] = "Both"
    plain = [i for i in individuals if i not in insured and clients[i]["Client ID"] != "00042"]
    hold, no_city = rng.sample(plain, 2)
    clients[hold]["Collections Hold"] = "Y"
    return clients, no_city


def _client_row(rng: random.Random, client_id: str, name: str, type_: str,
                attention: str | None) -> dict:
    city, state, zip_code, area = rng.choice(CITIES)
    business = type_ == "Business"
    has_email = business or rng.random() < 0.75
    return {
        "Client ID": client_id,
        "Name": name,
        "Type": type_,
        "Attention": attention,
        "Address Line 1": f"{rng.randint(100, 9899)} {rng.choice(STREETS)}",
        "Address Line 2": rng.choice(UNITS) if rng.random() < 0.25 else None,
        "City": city,
        "Region": state,
        "Postal Code": zip_code,
        "Country": "USA" if rng.random() < 0.85 else None,
        "Email": _email(name, business) if has_email else None,
        "Phone": f"({area}) 555-01{rng.randint(0, 99):02d}",  # 555-01xx: reserved for fiction
        "Terms Days": None,
        "Delivery": "Mail",
        "Tax Exempt": "Y" if name in TAX_EXEMPT else ("N" if business else None),
        "Collections Hold": None,
    }


def _insure(rng: random.Random, client: dict) -> None:
    payer, prefix, _ = rng.choice(PAYERS)
    client["Payer"] = payer
    client["Member ID"] = f"{prefix}{rng.randint(10**8, 10**9 - 1)}"
    client["Copay"] = rng.choice(("20.00", "25.00", "30.00", "40.00"))
    client["Coinsurance %"] = 20


def _email(name: str, business: bool) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = "".join(ch if ch.isalnum() or ch == " " else "" for ch in ascii_name.lower()).split()
    if business:
        return f"billing@{''.join(words[:2])}.example.com"
    return f"{words[0]}.{words[-1]}@example.com"


# --------------------------------------------------------------------------- rate card


def _make_rate_card(middle_month: tuple[int, int]) -> tuple[list[dict], list[dict]]:
    change = date(middle_month[0], middle_month[1], 1)
    rates = []
    for code, desc, price, unit, taxable, discretionary, billing in RATE_CARD:
        row = {"Service Code": code, "Description": desc, "Unit Price": price,
               "Unit": unit or None, "Taxable": "Y" if taxable else None,
               "Discretionary": "Y" if discretionary else None, "Billing Code": billing or None}
        if code == PRICE_CHANGE[0]:
            # Staff keep the old price with an end date and add the new one below it.
            rates.append({**row, "Effective From": date(change.year - 1, 1, 1),
                          "Effective To": change - timedelta(days=1)})
            rates.append({**row, "Unit Price": PRICE_CHANGE[1], "Effective From": change})
        else:
            rates.append(row)

    prices = {code: Decimal(price) for code, _, price, *_ in RATE_CARD}
    fees = []
    for payer, _, share in PAYERS:
        for code in INSURED_CODES:
            allowed = (prices[code] * share).quantize(Decimal("0.01"))
            fees.append({"Payer": payer, "Service Code": code, "Allowed Amount": str(allowed),
                         "Covered": "Y", "Effective From": date(change.year, 1, 1)})
    fees.append({"Payer": NOT_COVERED[0], "Service Code": NOT_COVERED[1],
                 "Allowed Amount": "0.00", "Covered": "N"})
    return rates, fees


def _add_notes_sheet(ws: Worksheet, middle_month: tuple[int, int]) -> None:
    """A sheet of prose that matches no kind, as offices keep beside their rate card."""
    change = date(middle_month[0], middle_month[1], 1)
    ws["A1"] = "Notes on the rate card"
    ws["A1"].font = Font(bold=True)
    lines = (
        "Prices are reviewed every January and when the practice changes its fees.",
        f"Office visit (OV-EST) goes from 95.00 to {PRICE_CHANGE[1]} on {change.isoformat()}: "
        "the old row stays, with an Effective To date.",
        "Payer Fees come from the insurers' fee schedules (contracts renewed each January).",
        "Aetna does not cover nutrition counseling: bill the patient.",
        "Questions: ask Dana at the front desk.",
    )
    for row, line in enumerate(lines, start=3):
        ws.cell(row=row, column=1, value=line)
    ws.column_dimensions["A"].width = 100


# --------------------------------------------------------------------------- service log


def _log_months(last: date) -> list[tuple[int, int]]:
    """Three calendar months, oldest first, ending with the month of `last` - 7 days.

    Going back a week keeps a file from holding only a day or two when `end` is early in a month:
    those days go into the previous month's log, as staff still use it in the first days.
    """
    months = []
    anchor = last - timedelta(days=7)
    y, m = anchor.year, anchor.month
    for _ in range(3):
        months.insert(0, (y, m))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return months


def _file_month(day: date, months: list[tuple[int, int]]) -> tuple[int, int]:
    """The log a service goes into; days outside the three months go into the first or last file."""
    return min(max(months[0], (day.year, day.month)), months[-1])


def _make_service_log(rng: random.Random, clients: list[dict], first: date,
                      last: date) -> list[dict]:
    people = [c for c in clients if c["Type"] == "Individual"]
    firms = [c for c in clients if c["Type"] == "Business"]
    # Some clients come often (weekly therapy), most now and then.
    weights = {c["Client ID"]: rng.choice((1, 1, 2, 3, 5)) for c in clients}
    next_ref = rng.randint(20000, 29000)
    rows: list[dict] = []
    day = first
    while day <= last:
        if _is_office_day(day):
            target = len(rows) + rng.randint(9, 11)  # 63+ office days x 9 = 560+ rows
            while len(rows) < target:
                business = rng.random() < 0.2
                pool = firms if business else people
                client = rng.choices(pool, [weights[c["Client ID"]] for c in pool])[0]
                ref = None
                if rng.random() < 0.45:
                    ref, next_ref = (f"PO-{rng.randint(1000, 9999)}" if business
                                     else f"V{next_ref}"), next_ref + 1
                rows += _visit(rng, day, client, business, ref)
        day += timedelta(days=1)
    _add_overrides(rng, rows)
    return rows


def _is_office_day(day: date) -> bool:
    """Weekdays except the US holidays a small office closes for."""
    if day.weekday() >= 5 or (day.month, day.day) in ((1, 1), (7, 4), (12, 25)):
        return False
    nth = (day.day - 1) // 7 + 1  # which Monday/Thursday of the month
    last_week = (day + timedelta(days=7)).month != day.month
    return not (
        (day.month == 9 and day.weekday() == 0 and nth == 1)  # Labor Day
        or (day.month == 11 and day.weekday() == 3 and nth == 4)  # Thanksgiving
        or (day.month == 5 and day.weekday() == 0 and last_week)  # Memorial Day
    )


def _visit(rng: random.Random, day: date, client: dict, business: bool,
           ref: str | None) -> list[dict]:
    """The lines of one visit: the main service and sometimes a lab or supplies with it."""
    visits = BUSINESS_VISITS if business else INDIVIDUAL_VISITS
    code = rng.choices([c for c, _ in visits], [w for _, w in visits])[0]
    provider = rng.choice(PROVIDERS.get(code, PROVIDERS["clinic"]))
    lines = [(code, _quantity(rng, code, business))]
    if code in ("OV-EST", "OV-NEW", "OV-EXT") and rng.random() < 0.3:
        lines.append((rng.choice(("LAB-BMP", "LAB-CBC", "LAB-LIP")), 1))
    if code == "PT-HR" and rng.random() < 0.2:
        lines.append(("SUP-BRACE", 1))
    if code in ("OV-EST", "OV-EXT") and rng.random() < 0.1:
        lines.append(("SUP-KIT", rng.randint(1, 5)))
    return [{
        "Service Date": day, "Client ID": client["Client ID"], "Service Code": line_code,
        # Staff sometimes leave Quantity blank for 1 (SPEC §3: blank = 1).
        "Quantity": None if qty == 1 and rng.random() < 0.04 else qty,
        "Provider": None if line_code == "NOSHOW" else provider,
        "Description": _description(rng, line_code), "Unit Price Override": None,
        "Reference": ref,
    } for line_code, qty in lines]


def _quantity(rng: random.Random, code: str, business: bool) -> int | float:
    if code == "THER-HR":
        return rng.choice((1, 1, 1, 1.5, 2))
    if code == "PT-HR":
        return rng.choice((1, 1, 1.5))
    if code == "PROD-SKIN":
        return rng.randint(1, 3)
    if business and code in ("DRUG-SCR", "VACC-FLU"):
        return rng.randint(2, 12)  # a batch of employees
    if business and code == "MASSAGE":
        return rng.randint(2, 6)  # chair massage at the workplace, hours
    return 1


def _description(rng: random.Random, code: str) -> str | None:
    notes = {"LETTER": ("Work note", "Disability form", "Return-to-work letter"),
             "NOSHOW": ("No-show, no call", "Canceled same day"),
             "DOT-PHYS": ("2-year card",), "OV-EST": ("Follow-up",)}
    if code in notes and rng.random() < 0.6:
        return rng.choice(notes[code])
    return None


def _add_overrides(rng: random.Random, rows: list[dict]) -> None:
    """A handful of rows charged differently from the card."""
    eligible = [i for i, r in enumerate(rows) if r["Service Code"] in OVERRIDES]
    for i in rng.sample(eligible, min(5, len(eligible))):
        price, note = OVERRIDES[rows[i]["Service Code"]]
        rows[i]["Unit Price Override"] = price
        rows[i]["Description"] = note


def _log_layout(index: int, month: tuple[int, int]) -> tuple[str, list[str], int]:
    """Sheet name, header order and header row: each staff member keeps the log a bit differently."""
    headers = _headers(SERVICE_LOG)
    if index == 0:
        return "Service Log", headers, 1
    if index == 1:
        return f"{MONTHS[month[1] - 1][:3]} {month[0]}", headers, 3  # title row above the header
    # Client first, and a column of the office's own (ignored with a note).
    reordered = ["Client ID", "Service Date"] + [h for h in headers if h not in
                                                 ("Client ID", "Service Date")]
    return "Sheet1", reordered + ["Entered By"], 1


def _spoil_log(rng: random.Random, index: int, rows: list[dict], name: str, sheet: str,
               header_row: int, first: date, last: date, known_ids: set[str]) -> list[Mistake]:
    """Text dates and deliberate mistakes, each log file its own, on rows well inside the period."""
    candidates = _rows_well_inside(rows, first, last, 8)
    found: list[Mistake] = []

    def take(*codes: str) -> int:
        """A random candidate row not used yet, of one of `codes` when there is one."""
        matching = [i for i in candidates if rows[i]["Service Code"] in codes]
        i = rng.choice(matching or candidates)
        candidates.remove(i)
        return i

    def spoil(i: int, column: str, value: object, what: str) -> None:
        rows[i][column] = value
        shown = "" if value is None else str(value)
        found.append(Mistake(name, sheet, header_row + 1 + i, column, f'{what} "{shown}"'))

    if index == 0:
        # Staff typed some dates: ISO and US text are both valid (SPEC §3.1).
        for _ in range(3):
            i = take()
            rows[i]["Service Date"] = rows[i]["Service Date"].isoformat()
        i = take()
        rows[i]["Service Date"] = rows[i]["Service Date"].strftime("%m/%d/%Y")
        unknown = next(f"C{n}" for n in range(1999, 9999) if f"C{n}" not in known_ids)
        spoil(take(), "Client ID", unknown, "unknown Client ID")
        i = take()
        spoil(i, "Service Date", f"{rows[i]['Service Date'].year}-02-30", "impossible date")
    elif index == 1:
        spoil(take("DOT-PHYS", "OV-EST"), "Quantity", -2, "negative Quantity")
        # A knee X-ray that is not on the rate card.
        spoil(take("XR-EXT", "XR-CHEST"), "Service Code", "XR-KNEE", "unknown Service Code")
    else:
        # 12.345 reads like a mistyped supply kit (12.75).
        spoil(take("SUP-KIT"), "Unit Price Override", 12.345, "price with more than two decimals")
        spoil(take(), "Service Code", None, "required Service Code left blank")
        for r in rows:
            r["Entered By"] = rng.choice(("DW", "KB", "DW", "MS"))
    return sorted(found, key=lambda m: m.row)


def _rows_well_inside(rows: list[dict], first: date, last: date, n: int) -> list[int]:
    """Row indexes from the middle of the file, away from the period's edges (at least `n`)."""
    plain = [i for i, r in enumerate(rows) if r["Unit Price Override"] is None]
    inside = [i for i in plain
              if first + timedelta(days=14) <= rows[i]["Service Date"] <= last - timedelta(days=3)]
    middle = inside[len(inside) // 4: 3 * len(inside) // 4]
    for candidates in (middle, inside, plain):  # narrowest choice that is big enough
        if len(candidates) >= n:
            return candidates
    raise ValueError("too few service rows to place the demo's mistakes")


# --------------------------------------------------------------------------- writing cells


def _headers(kind: Kind) -> list[str]:
    return [c.name for c in kind.columns]


def _workbook(sheets: list[tuple[str, Kind, list[str], list[dict], int, str | None]]) -> Workbook:
    """One sheet per (name, kind, headers, rows, header row, title above the header)."""
    wb = Workbook()
    wb.remove(wb.active)
    for sheet_name, kind, headers, rows, header_row, title in sheets:
        ws = wb.create_sheet(sheet_name)
        if title:  # as staff do: a title in row 1, a blank row, then the header
            ws["A1"] = title
            ws["A1"].font = Font(bold=True, size=14)
        _write_table(ws, kind, headers, rows, header_row)
    return wb


def _write_table(ws: Worksheet, kind: Kind, headers: list[str], rows: list[dict],
                 header_row: int) -> None:
    types = {c.name: c.type for c in kind.columns}
    for col, header in enumerate(headers, start=1):
        ws.cell(row=header_row, column=col, value=header).font = Font(bold=True)
        ws.column_dimensions[ws.cell(row=1, column=col).column_letter].width = \
            max(12, len(header) + 2)
    for offset, row in enumerate(rows, start=1):
        for col, header in enumerate(headers, start=1):
            _put(ws.cell(row=header_row + offset, column=col), row.get(header),
                 types.get(header, CellType.TEXT))
    ws.freeze_panes = ws.cell(row=header_row + 1, column=1)


def _put(cell, value: object, type_: CellType) -> None:
    """Write a value as staff's Excel would hold it: text as text, dates as dates, money as numbers."""
    if value is None:
        return
    if type_ is CellType.MONEY and isinstance(value, str):
        cell.value = float(Decimal(value))  # exact cents; the reader gets them back via repr()
        cell.number_format = "#,##0.00"
    elif isinstance(value, date):
        cell.value = value
        cell.number_format = "yyyy-mm-dd"
    elif isinstance(value, str):
        cell.value = value
        if value.startswith(FORMULA_START):
            cell.data_type = "s"  # text, never a formula
        if type_ is CellType.ID:
            cell.number_format = "@"
    else:
        cell.value = value
        if type_ is CellType.MONEY:
            cell.number_format = "#,##0.00"


def _save(path: Path, wb: Workbook) -> None:
    path.write_bytes(reproducible_bytes(wb))
