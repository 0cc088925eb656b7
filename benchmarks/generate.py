"""Synthetic offices for the benchmark, written as the workbooks staff drop (SPEC §3).

Sizes (issue 6): S = 500 clients and 6,000 service lines; M = 5,000 clients, 60,000 service lines
over three months and 10,000 payments; L = twice M. Files: `clients.xlsx`, `rate card.xlsx` (Rates
and Payer Fees sheets, the demo office's rate card), one service log per month and
`payments.xlsx`. Cells are written as staff's workbooks hold them: Client IDs as text (zero-padded,
so a reader that turns them into numbers fails), dates as real Excel dates, money and quantities as
numbers; names with accents, apostrophes and `&`.

Payments reference real clients and pay what was billed: most pay a visit's amount at the desk, the
rest a round part of it, dated on or a few days after the visit, so they apply to the invoices the
same run issues (payments apply after invoicing).

The workbooks are written with xlsxwriter in constant-memory mode (strings never become formulas);
generation is not part of the benchmark. Deterministic for a given size and seed.

    python -m benchmarks.generate --size M [--out DIR]     # prints a JSON manifest
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import xlsxwriter

from billing_batch.demo import INSURED_CODES, PAYERS, RATE_CARD, _is_office_day
from billing_batch.intake.kinds import CLIENTS, PAYER_FEES, PAYMENTS, RATES, SERVICE_LOG
from billing_batch.workspace import init_office

OUT = Path(__file__).resolve().parent / "out"
FIRST_DAY = date(2026, 1, 1)
MONTHS = ((2026, 1), (2026, 2), (2026, 3))  # three months of services
LAST_DAY = date(2026, 3, 31)


@dataclass(frozen=True)
class Size:
    clients: int
    service_lines: int
    payments: int


SIZES = {
    "S": Size(500, 6_000, 1_000),
    "M": Size(5_000, 60_000, 10_000),
    "L": Size(10_000, 120_000, 20_000),
}


@dataclass
class Manifest:
    size: str
    office: str  # the office folder
    config: str
    source: str  # the generated workbooks, kept outside the inbox for the baselines
    files: list[str]
    service_logs: list[str]
    as_of: str  # the first run's business date: the day after the last service
    clients: int
    service_lines: int
    payments: int
    seconds: float


FIRST = ("James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
         "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
         "José", "Zoë", "Renée", "Chloé", "Sofía", "Björn", "Noémie", "Łukasz", "Siobhán", "Thảo", "Ngozi", "Aiko")
LAST = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
        "Hernández", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
        "O'Brien", "D'Angelo", "Müller", "Núñez", "Nguyen", "Kowalski", "Okafor", "Lindqvist", "Lefèvre", "Sato")
FIRMS = ("Plumbing", "Architects", "Freight Co.", "Landscaping", "Pub & Grill", "Roofing Inc.", "Logistics LLC",
         "Movers", "Senior Living", "Construction", "Bakery & Café", "Electric", "Yoga Studio", "Tours",
         "Auto Body", "Dental Lab", "Law Group", "Printing & Signs")
CITIES = (("Portland", "OR", "97205"), ("Portland", "OR", "97214"), ("Beaverton", "OR", "97005"),
          ("Lake Oswego", "OR", "97034"), ("Tigard", "OR", "97223"), ("Hillsboro", "OR", "97123"),
          ("Gresham", "OR", "97030"), ("Milwaukie", "OR", "97222"), ("Vancouver", "WA", "98660"),
          ("Salem", "OR", "97301"), ("Eugene", "OR", "97401"), ("Bend", "OR", "97701"))
STREETS = ("SE Hawthorne Blvd", "NE Alberta St", "SW Barbur Blvd", "N Williams Ave", "NW 23rd Ave", "Main St",
           "Oak St", "Maple Ave", "Kruse Way", "Pacific Ave", "NE Broadway", "E Burnside St", "Lincoln St")
PROVIDERS = ("Dr. Anna Patel", "Dr. Marcus Reed", "Kim Alvarez, NP", "Dr. Paul Okonkwo, PhD", "Lisa Chen, DPT",
             "Jordan Ellis, LMT", "Dr. Nina Verma", "Emily Novak, RD", "Dr. Sam Ortiz, DDS")
INDIVIDUAL_CODES = (("OV-EST", 20), ("OV-NEW", 4), ("OV-EXT", 4), ("THER-HR", 12), ("PT-HR", 8),
                    ("LAB-BMP", 3), ("LAB-CBC", 3), ("LAB-LIP", 2), ("XR-CHEST", 2), ("XR-EXT", 3),
                    ("VACC-FLU", 5), ("NUTR", 4), ("MASSAGE", 5), ("COS-CONS", 2), ("WHITEN", 1),
                    ("PROD-SKIN", 3), ("LETTER", 2), ("NOSHOW", 2), ("SUP-BRACE", 1), ("SUP-KIT", 1))
BUSINESS_CODES = (("DOT-PHYS", 8), ("DRUG-SCR", 8), ("LETTER", 3), ("VACC-FLU", 3), ("XR-CHEST", 2),
                  ("MASSAGE", 2))
HOURLY = {"THER-HR", "PT-HR", "MASSAGE"}
METHODS = ("Card", "Card", "Card", "Cash", "Check", "ACH")


def headers(kind) -> list[str]:
    return [c.name for c in kind.columns]


class Sheet:
    """One worksheet written row by row (constant memory), typed the way Excel stores cells."""

    def __init__(self, book: xlsxwriter.Workbook, name: str, columns: list[str], formats: dict):
        self.ws = book.add_worksheet(name)
        self.columns, self.f = columns, formats
        self.ws.write_row(0, 0, columns, formats["bold"])
        self.ws.freeze_panes(1, 0)
        self.row = 1

    def add(self, values: dict) -> None:
        for col, name in enumerate(self.columns):
            v = values.get(name)
            if v is None or v == "":
                continue
            if isinstance(v, date):
                self.ws.write_datetime(self.row, col, datetime(v.year, v.month, v.day), self.f["date"])
            elif isinstance(v, Decimal):
                self.ws.write_number(self.row, col, float(v), self.f["money"])  # a number, as Excel keeps it
            elif isinstance(v, (int, float)):
                self.ws.write_number(self.row, col, v)
            else:
                self.ws.write_string(self.row, col, str(v))  # text stays text: IDs, names, codes
        self.row += 1


def workbook(path: Path) -> tuple[xlsxwriter.Workbook, dict]:
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                           "strings_to_numbers": False, "strings_to_urls": False})
    formats = {"bold": book.add_format({"bold": True}), "date": book.add_format({"num_format": "mm/dd/yyyy"}),
               "money": book.add_format({"num_format": "#,##0.00"})}
    return book, formats


def make_clients(rng: random.Random, n: int) -> list[dict]:
    clients = []
    for i in range(1, n + 1):
        business = rng.random() < 0.15
        city, region, postal = rng.choice(CITIES)
        if business:
            name = f"{rng.choice(LAST)} {rng.choice(FIRMS)}"
            attention = rng.choice(("Accounts Payable", f"{rng.choice(FIRST)} {rng.choice(LAST)}", None))
        else:
            name, attention = f"{rng.choice(FIRST)} {rng.choice(LAST)}", None
        c = {"Client ID": f"{i:06d}", "Name": name, "Type": "Business" if business else "Individual",
             "Attention": attention, "Address Line 1": f"{rng.randint(100, 9899)} {rng.choice(STREETS)}",
             "Address Line 2": rng.choice(("Apt 3B", "Suite 200", "Unit 7")) if rng.random() < 0.2 else None,
             "City": city, "Region": region, "Postal Code": postal, "Country": "USA" if rng.random() < 0.8 else None,
             "Email": f"client{i}@example.com" if rng.random() < 0.7 else None,
             "Phone": f"(503) 555-{rng.randint(0, 9999):04d}",
             "Delivery": rng.choice(("Mail", "Mail", "Email", "Both")),
             "Terms Days": rng.choice((15, 45)) if rng.random() < 0.1 else None,
             "Tax Exempt": "Y" if business and rng.random() < 0.1 else None,
             "Monthly Budget": Decimal(rng.choice(("50.00", "75.00", "100.00"))) if rng.random() < 0.1 else None,
             "Collections Hold": "Y" if rng.random() < 0.01 else None}
        if not business and rng.random() < 0.15:
            payer, prefix, _ = rng.choice(PAYERS)
            c.update({"Payer": payer, "Member ID": f"{prefix}{rng.randint(10**8, 10**9 - 1)}",
                      "Copay": Decimal(rng.choice(("20.00", "25.00", "40.00"))), "Coinsurance %": 20})
        clients.append(c)
    return clients


def rate_rows() -> tuple[list[dict], list[dict]]:
    rates = [{"Service Code": code, "Description": desc, "Unit Price": Decimal(price), "Unit": unit or None,
              "Taxable": "Y" if taxable else None, "Discretionary": "Y" if disc else None,
              "Billing Code": billing or None} for code, desc, price, unit, taxable, disc, billing in RATE_CARD]
    prices = {r["Service Code"]: r["Unit Price"] for r in rates}
    fees = [{"Payer": payer, "Service Code": code, "Allowed Amount": (prices[code] * share).quantize(Decimal("0.01")),
             "Covered": "Y", "Effective From": date(2026, 1, 1)}
            for payer, _, share in PAYERS for code in INSURED_CODES]
    return rates, fees


def office_days() -> list[date]:
    days, d = [], FIRST_DAY
    while d <= LAST_DAY:
        if _is_office_day(d):
            days.append(d)
        d += timedelta(days=1)
    return days


def make_services(rng: random.Random, clients: list[dict], n: int, prices: dict) -> list[dict]:
    days = office_days()
    people = [c for c in clients if c["Type"] == "Individual"]
    firms = [c for c in clients if c["Type"] == "Business"]
    weights = {c["Client ID"]: rng.choice((1, 1, 2, 3, 5)) for c in clients}
    person_w = [weights[c["Client ID"]] for c in people]
    firm_w = [weights[c["Client ID"]] for c in firms]
    ind_codes, ind_w = zip(*INDIVIDUAL_CODES)
    bus_codes, bus_w = zip(*BUSINESS_CODES)
    rows = []
    ref = 100000
    for i in range(n):
        day = days[i * len(days) // n]  # spread evenly, in date order as a log is kept
        business = firms and rng.random() < 0.15
        client = rng.choices(firms, firm_w)[0] if business else rng.choices(people, person_w)[0]
        code = rng.choices(bus_codes, bus_w)[0] if business else rng.choices(ind_codes, ind_w)[0]
        qty = rng.choice((1, 1, 1, 1.5, 2)) if code in HOURLY else (rng.choice((1, 1, 1, 2, 5)) if business else 1)
        row = {"Service Date": day, "Client ID": client["Client ID"], "Service Code": code, "Quantity": qty,
               "Provider": rng.choice(PROVIDERS), "Description": None, "Unit Price Override": None, "Reference": None}
        if rng.random() < 0.6:
            ref += 1
            row["Reference"] = f"V{ref}"
        if rng.random() < 0.02:
            row["Unit Price Override"] = (prices[code] * Decimal("0.9")).quantize(Decimal("0.01"))
            row["Description"] = "Courtesy rate"
        rows.append(row)
    return rows


def make_payments(rng: random.Random, services: list[dict], n: int, prices: dict) -> list[dict]:
    """Payments at the desk or soon after: the visit's amount, or a round part of it."""
    payments = []
    for i, s in enumerate(rng.sample(services, n)):
        price = s["Unit Price Override"] or prices[s["Service Code"]]
        amount = (price * Decimal(str(s["Quantity"]))).quantize(Decimal("0.01"))
        if rng.random() < 0.35:
            amount = min(amount, Decimal(rng.choice(("20.00", "25.00", "40.00", "50.00"))))
        day = min(s["Service Date"] + timedelta(days=rng.choice((0, 0, 0, 1, 3, 7))), LAST_DAY)
        method = rng.choice(METHODS)
        payments.append({"Payment Date": day, "Client ID": s["Client ID"], "Amount": amount, "Method": method,
                         "Reference": f"CHK-{rng.randint(1000, 99999)}" if method == "Check" else f"P{700000 + i}"})
    payments.sort(key=lambda p: p["Payment Date"])
    return payments


def write_sheets(path: Path, sheets: list[tuple[str, list[str], list[dict]]]) -> Path:
    book, formats = workbook(path)
    for name, columns, rows in sheets:
        sheet = Sheet(book, name, columns, formats)
        for r in rows:
            sheet.add(r)
    book.close()
    return path


def make_office(root: Path) -> Path:
    """A fresh office folder (init_office) whose inbox takes files at once (settle_seconds: 0), and
    with the print pack off: the run's stages are measured without LibreOffice (thousands of PDFs
    take minutes); `benchmarks.run` measures PDFs on their own (`pdf_baseline`)."""
    if root.exists():
        shutil.rmtree(root)
    init_office(root)
    config = root / "config.yaml"
    text, n = re.subn(r"(?m)^(\s+settle_seconds:\s*)\S+", r"\g<1>0", config.read_text(encoding="utf-8"), count=1)
    if n != 1:
        raise RuntimeError("config.yaml has no intake.settle_seconds to set")
    text, n = re.subn(r"(?m)^(\s+print_pack:\s*)\S+", r"\g<1>false", text, count=1)
    if n != 1:
        raise RuntimeError("config.yaml has no documents.print_pack to set")
    config.write_text(text, encoding="utf-8")
    return config


def generate(size: str, out: Path = OUT, seed: int = 2026) -> Manifest:
    import time

    started = time.perf_counter()
    spec = SIZES[size]
    rng = random.Random(f"{seed}-{size}")
    base = out / size
    source = base / "source"
    if source.exists():
        shutil.rmtree(source)
    source.mkdir(parents=True)
    clients = make_clients(rng, spec.clients)
    rates, fees = rate_rows()
    prices = {r["Service Code"]: r["Unit Price"] for r in rates}
    services = make_services(rng, clients, spec.service_lines, prices)
    payments = make_payments(rng, services, spec.payments, prices)

    files = [write_sheets(source / "clients.xlsx", [("Clients", headers(CLIENTS), clients)]),
             write_sheets(source / "rate card.xlsx", [("Rates", headers(RATES), rates),
                                                      ("Payer Fees", headers(PAYER_FEES), fees)])]
    logs = []
    for y, m in MONTHS:
        rows = [s for s in services if (s["Service Date"].year, s["Service Date"].month) == (y, m)]
        logs.append(write_sheets(source / f"service log {y}-{m:02d}.xlsx",
                                 [("Service Log", headers(SERVICE_LOG), rows)]))
    files += logs
    files.append(write_sheets(source / "payments.xlsx", [("Payments", headers(PAYMENTS), payments)]))

    office = base / "office"
    config = make_office(office)
    for f in files:
        shutil.copyfile(f, office / "inbox" / f.name)
    as_of = max(s["Service Date"] for s in services) + timedelta(days=1)
    return Manifest(size, str(office), str(config), str(source), [f.name for f in files], [str(p) for p in logs],
                    as_of.isoformat(), len(clients), len(services), len(payments),
                    round(time.perf_counter() - started, 2))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="S")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)
    print(json.dumps(asdict(generate(args.size, args.out, args.seed))))


if __name__ == "__main__":
    main()
