"""Posting what intake read (SPEC §3.3): master data upserted, transactions posted once by business
identity, cross-checks against the ledger. Problems found here join the sheet's problems, so the
row goes to the problems workbook like any other bad row.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Connection, and_, select

from billing_batch.billing.pricing import overlapping, rate_on
from billing_batch.billing.records import RateVersion
from billing_batch.intake.inbox import FileIntake
from billing_batch.intake.sheets import ParsedSheet, Row
from billing_batch.ledger import store
from billing_batch.ledger.schema import ALWAYS, clients, payer_fees, rates, service_lines
from billing_batch.money import to_cents
from billing_batch.problems import Problem

NOT_YET_POSTED = ("Payments", "Remittances", "Adjustments", "Payment Plans", "Contact Log")


@dataclass
class SheetTally:
    file: str
    sheet: str
    kind: str
    read: int = 0
    posted: int = 0
    already: int = 0
    rejected: int = 0
    already_from: Counter = field(default_factory=Counter)  # (business date, file) -> rows

    def as_dict(self) -> dict:
        return {"file": self.file, "sheet": self.sheet, "kind": self.kind, "rows_read": self.read,
                "posted": self.posted, "already_posted": self.already, "rejected": self.rejected}


def _cents(v):
    return None if v is None else to_cents(v)


_CLIENT_COLUMNS = {
    "Client ID": ("client_id", str), "Name": ("name", str), "Type": ("type", str),
    "Attention": ("attention", str), "Address Line 1": ("address_line1", str),
    "Address Line 2": ("address_line2", str), "City": ("city", str), "Region": ("region", str),
    "Postal Code": ("postal_code", str), "Country": ("country", str), "Email": ("email", str),
    "Phone": ("phone", str), "Terms Days": ("terms_days", None), "Delivery": ("delivery", str),
    "Tax Exempt": ("tax_exempt", None), "Payer": ("payer", str), "Member ID": ("member_id", str),
    "Copay": ("copay_cents", _cents), "Coinsurance %": ("coinsurance_bp", lambda v: None if v is None else int(v * 100)),
    "Monthly Budget": ("monthly_budget_cents", _cents), "Collections Hold": ("collections_hold", None),
}
_CLIENT_DEFAULTS = {"delivery": "Mail", "tax_exempt": False, "collections_hold": False}


def _source(file_id: int, row: Row, run_id: int) -> dict:
    return {"source_file_id": file_id, "source_sheet": row.sheet, "source_row": row.row, "run_id": run_id}


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join("" if p is None else str(p) for p in parts).encode()).hexdigest()


def service_identity(values: dict) -> str | None:
    """A service row's business identity (SPEC §3.3), or None when a part of it could not be read."""
    if any(values[c] is None for c in ("Client ID", "Service Date", "Service Code")):
        return None
    return _digest(values["Client ID"], values["Service Date"].isoformat(), values["Service Code"],
                   (values["Provider"] or "").casefold(), values["Reference"] or "")


def occurrence_numbers(sheet: ParsedSheet) -> dict[int, tuple[str, int]]:
    """Excel row -> (identity, occurrence number among identical identities in the sheet).
    Every identifiable row counts, good or bad, so a fixed row dropped back keeps its number."""
    counts: Counter = Counter()
    out = {}
    for row in sheet.rows:
        identity = service_identity(row.values)
        if identity is not None:
            counts[identity] += 1
            out[row.row] = (identity, row.occurrence or counts[identity])
    return out


class Poster:
    """Posts one run's sheets inside the run's transaction."""

    def __init__(self, conn: Connection, run_id: int, file_ids: dict[str, int]):
        self.conn, self.run_id, self.file_ids = conn, run_id, file_ids
        self.tallies: list[SheetTally] = []

    def post_all(self, intakes: list[FileIntake]) -> list[SheetTally]:
        sheets = [s for f in intakes if not f.unreadable for s in f.sheets]
        order = {"Clients": 0, "Rates": 1, "Payer Fees": 2}
        for sheet in sorted(sheets, key=lambda s: order.get(s.kind.name, 9)):  # master data first (§3.3)
            tally = SheetTally(sheet.file, sheet.sheet, sheet.kind.name, read=len(sheet.rows))
            poster = {"Clients": self._clients, "Rates": self._rates, "Payer Fees": self._payer_fees,
                      "Service Log": self._services}.get(sheet.kind.name, self._not_yet)
            poster(sheet, tally)
            tally.rejected = len(sheet.bad_rows() & {r.row for r in sheet.rows})
            self.tallies.append(tally)
        return self.tallies

    def _good_rows(self, sheet: ParsedSheet) -> list[Row]:
        bad = sheet.bad_rows()
        return [r for r in sheet.rows if r.row not in bad]

    # -- master data -------------------------------------------------------------------------------
    def _clients(self, sheet: ParsedSheet, tally: SheetTally) -> None:
        existing = store.client_rows(self.conn)
        present = [c for c in sheet.columns if c in _CLIENT_COLUMNS]
        for row in self._good_rows(sheet):
            values = {}
            for col in present:
                db_col, conv = _CLIENT_COLUMNS[col]
                v = row.values[col]
                values[db_col] = conv(v) if conv and v is not None else v
            old = existing.get(values["client_id"])
            if old is None:
                new = {**_CLIENT_DEFAULTS, **{k: v for k, v in values.items() if v is not None or k not in _CLIENT_DEFAULTS}}
                self.conn.execute(clients.insert().values(**new, **_source(self.file_ids[sheet.file], row, self.run_id)))
                existing[new["client_id"]] = new
                tally.posted += 1
            elif all(old.get(k) == v for k, v in values.items()):
                tally.already += 1
            else:
                changes = {k: (v if v is not None or k not in _CLIENT_DEFAULTS else _CLIENT_DEFAULTS[k])
                           for k, v in values.items()}
                self.conn.execute(clients.update().where(clients.c.client_id == values["client_id"])
                                  .values(**changes, **_source(self.file_ids[sheet.file], row, self.run_id)))
                existing[values["client_id"]] = {**old, **changes}
                tally.posted += 1

    def _rates(self, sheet: ParsedSheet, tally: SheetTally) -> None:
        versions = store.rate_versions(self.conn)
        seen: dict[tuple[str, date], int] = {}
        for row in self._good_rows(sheet):
            v = row.values
            key = (v["Service Code"], v["Effective From"] or ALWAYS)
            if key in seen:
                sheet.problems.append(Problem(sheet.where(row.row, "Effective From"),
                                              f"Service Code {key[0]} has two rows with the same Effective From "
                                              f"(see row {seen[key]}); keep one", v["Effective From"]))
                continue
            seen[key] = row.row
            new = RateVersion(key[0], key[1], v["Effective To"], v["Description"], v["Unit Price"],
                              bool(v["Taxable"]), bool(v["Discretionary"]))
            others = [o for o in versions.get(key[0], []) if o.effective_from != key[1]]
            clash = overlapping(others + [new])
            if clash:
                a, b = clash[0]
                other = b if a is new else a
                sheet.problems.append(Problem(
                    sheet.where(row.row, "Effective To" if a is new else "Effective From"),
                    f"this version of {key[0]} overlaps the one effective from "
                    f"{'always' if other.effective_from == ALWAYS else other.effective_from}; set Effective To "
                    "the day before the later version starts", None))
                continue
            old = next((o for o in versions.get(key[0], []) if o.effective_from == key[1]), None)
            values = dict(description=new.description, unit_price_cents=to_cents(new.unit_price),
                          unit=v["Unit"] or "each", taxable=new.taxable, discretionary=new.discretionary,
                          effective_to=new.effective_to, billing_code=v["Billing Code"])
            src = _source(self.file_ids[sheet.file], row, self.run_id)
            if old is None:
                self.conn.execute(rates.insert().values(service_code=key[0], effective_from=key[1], **values, **src))
                tally.posted += 1
            else:
                current = self.conn.execute(select(rates).where(
                    rates.c.service_code == key[0], rates.c.effective_from == key[1])).one()._mapping
                if all(current[k] == val for k, val in values.items()):
                    tally.already += 1
                    continue
                self.conn.execute(rates.update().where(and_(rates.c.service_code == key[0],
                                                            rates.c.effective_from == key[1])).values(**values, **src))
                tally.posted += 1
            versions.setdefault(key[0], [])
            versions[key[0]] = others + [new]

    def _payer_fees(self, sheet: ParsedSheet, tally: SheetTally) -> None:
        for row in self._good_rows(sheet):
            v = row.values
            key = dict(payer=v["Payer"], service_code=v["Service Code"], effective_from=v["Effective From"] or ALWAYS)
            values = dict(allowed_cents=to_cents(v["Allowed Amount"]), covered=bool(v["Covered"]))
            cond = and_(*(payer_fees.c[k] == val for k, val in key.items()))
            current = self.conn.execute(select(payer_fees).where(cond)).first()
            src = _source(self.file_ids[sheet.file], row, self.run_id)
            if current is None:
                self.conn.execute(payer_fees.insert().values(**key, **values, **src))
                tally.posted += 1
            elif all(current._mapping[k] == val for k, val in values.items()):
                tally.already += 1
            else:
                self.conn.execute(payer_fees.update().where(cond).values(**values, **src))
                tally.posted += 1

    # -- transactions -----------------------------------------------------------------------------
    def _services(self, sheet: ParsedSheet, tally: SheetTally) -> None:
        known_clients = set(store.client_rows(self.conn))
        versions = store.rate_versions(self.conn)
        bad = sheet.bad_rows()
        numbers = occurrence_numbers(sheet)
        keyed = [(row, *numbers[row.row]) for row in sheet.rows if row.row not in bad and row.row in numbers]
        posted = store.posted_services(self.conn, sorted({k[1] for k in keyed}))
        inserts = []
        for row, identity, occurrence in keyed:
            v = row.values
            if v["Client ID"] not in known_clients:
                sheet.problems.append(Problem(sheet.where(row.row, "Client ID"),
                                              "is not in the client list; add the client (or fix the ID) and "
                                              "drop the file again", v["Client ID"]))
                continue
            if rate_on(versions.get(v["Service Code"], []), v["Service Date"]) is None:
                what = "is not on the rate card" if v["Service Code"] not in versions else \
                    f"has no rate effective on {v['Service Date']:%Y-%m-%d}"
                sheet.problems.append(Problem(sheet.where(row.row, "Service Code"),
                                              f"{what}; add it to the rate card or fix the code", v["Service Code"]))
                continue
            quantity = v["Quantity"]
            content = _digest(quantity, _cents(v["Unit Price Override"]), v["Description"] or "")
            earlier = posted.get((identity, occurrence))
            if earlier is None:
                inserts.append(dict(
                    identity=identity, occurrence=occurrence, content_hash=content, client_id=v["Client ID"],
                    service_date=v["Service Date"], service_code=v["Service Code"], quantity=str(quantity),
                    provider=v["Provider"], description=v["Description"],
                    unit_price_override_cents=_cents(v["Unit Price Override"]), reference=v["Reference"],
                    **_source(self.file_ids[sheet.file], row, self.run_id)))
                posted[(identity, occurrence)] = {"hash": content, "date": None, "file": sheet.file, "row": row.row}
            elif earlier["hash"] == content:
                tally.already += 1
                tally.already_from[(earlier["date"], earlier["file"])] += 1
            else:
                when = f"on {earlier['date']:%Y-%m-%d} " if earlier["date"] else "earlier in this run "
                sheet.problems.append(Problem(
                    sheet.where(row.row, "Quantity"),
                    f"conflicts with the same service posted {when}from {earlier['file']} (row {earlier['row']}) "
                    "with a different quantity, price or description; posted services are not changed — "
                    "use an Adjustment to correct the invoice, or remove this row"))
        if inserts:
            self.conn.execute(service_lines.insert(), inserts)
        tally.posted += len(inserts)

    def _not_yet(self, sheet: ParsedSheet, tally: SheetTally) -> None:
        for row in self._good_rows(sheet):
            sheet.problems.append(Problem(sheet.where(row.row), f"{sheet.kind.name} rows are read and checked but "
                                          "not posted by this version of billing-batch yet; keep the file and "
                                          "drop it again after the upgrade"))
