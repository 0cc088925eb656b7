"""Posting what intake read (SPEC §3.3): master data upserted, transactions posted once by business
identity, cross-checks against the ledger. Problems found here join the sheet's problems, so the
row goes to the problems workbook like any other bad row.
"""

from __future__ import annotations

from typing import Any

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Connection, Table, and_, select

from billing_batch.billing.pricing import line_amount, overlapping, rate_on, unit_price
from billing_batch.billing.records import RateVersion
from billing_batch.intake.inbox import FileIntake
from billing_batch.intake.kinds import CellType, Kind
from billing_batch.intake.sheets import ParsedSheet, Row
from billing_batch.ledger import inputs
from billing_batch.billing.claims import payer_key
from billing_batch.ledger.claims import claim_owner
from billing_batch.ledger.schema import (
    ALWAYS,
    TRANSACTION_TABLES,
    clients,
    db_name,
    payer_fees,
    payment_plans,
    plans,
    rates,
)
from billing_batch.money import to_cents
from billing_batch.problems import Problem, Where


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


def db_value(col, value: Any) -> object:
    """A typed input value as the ledger stores it: money in cents, percent in basis points."""
    if value is None:
        return None
    if col.type is CellType.MONEY:
        return to_cents(value)
    if col.type is CellType.PERCENT:
        return int(value * 100)
    if col.type is CellType.QUANTITY:
        return format(value, "f")
    return value


def db_values(kind: Kind, values: dict, only: set[str] | None = None) -> dict:
    return {db_name(c): db_value(c, values[c.name]) for c in kind.columns if only is None or c.name in only}


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join("" if p is None else str(p) for p in parts).encode()).hexdigest()


def _identity_part(col, value: Any) -> object:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value.casefold() if col.type is CellType.TEXT else value


def row_identity(kind: Kind, values: dict) -> str | None:
    """A transaction's business identity (SPEC §3.3), or None when a required part could not be read."""
    cols = [kind.column(name) for name in kind.identity]
    if any(values[c.name] is None for c in cols if c.required):
        return None
    return _digest(kind.name, *(_identity_part(c, values[c.name]) for c in cols))


# Columns added to a kind after ledgers were in use: left out of the content hash while blank, so a
# row posted before the column existed is still "already posted" when its file is dropped again.
LATER_COLUMNS = {("Adjustments", "Claim Number")}


def content_hash(kind: Kind, values: dict) -> str:
    """Everything else the row says: the same identity with another content is a conflict."""
    return _digest(*(_identity_part(c, values[c.name]) for c in kind.columns if c.name not in kind.identity
                     and not ((kind.name, c.name) in LATER_COLUMNS and values[c.name] is None)))


def sheet_identities(sheet: ParsedSheet) -> dict[int, str]:
    """Excel row -> business identity, for every row whose identity could be read (good or bad)."""
    out = {}
    for row in sheet.rows:
        identity = row_identity(sheet.kind, row.values)
        if identity is not None:
            out[row.row] = identity
    return out


def occurrence_numbers(sheet: ParsedSheet, posted: dict[tuple[str, int], dict] | None = None,
                       identities: dict[int, str] | None = None) -> dict[int, tuple[str, int]]:
    """Excel row -> (identity, occurrence number among rows with that identity). A row that says exactly
    what a posted occurrence says takes that number, wherever it now stands in the sheet (a second
    identical service typed above the first must not re-bill the first); the other rows take the
    lowest free numbers in sheet order. Every identifiable row counts, good or bad, so a fixed row
    dropped back keeps its number; a problems workbook's Occurrence column wins over both."""
    posted = posted or {}
    # The posted occurrences by identity, indexed once: scanning every posted row for each identity
    # made a first run's posting quadratic (60,000 service lines: minutes).
    posted_of: dict[str, list[int]] = {}
    for i, o in posted:
        posted_of.setdefault(i, []).append(o)
    identities = sheet_identities(sheet) if identities is None else identities  # the caller's, if read
    groups: dict[str, list[Row]] = {}
    for row in sheet.rows:
        if row.row in identities:
            groups.setdefault(identities[row.row], []).append(row)
    out = {}
    for identity, rows in groups.items():
        taken = {r.occurrence for r in rows if r.occurrence}
        for r in rows:
            if r.occurrence:
                out[r.row] = (identity, r.occurrence)
        free_posted = sorted(o for o in posted_of.get(identity, ()) if o not in taken)
        for r in rows:
            if r.row in out:
                continue
            content = content_hash(sheet.kind, r.values)
            match = next((o for o in free_posted if posted[(identity, o)]["hash"] == content), None)
            if match is not None:
                free_posted.remove(match)
                taken.add(match)
                out[r.row] = (identity, match)
        n = 0
        for r in rows:
            if r.row in out:
                continue
            n += 1
            while n in taken:
                n += 1
            taken.add(n)
            out[r.row] = (identity, n)
    return out


def _source(file_id: int, row: Row, run_id: int) -> dict:
    return {"source_file_id": file_id, "source_sheet": row.sheet, "source_row": row.row, "run_id": run_id}


class Poster:
    """Posts one run's sheets inside the run's transaction."""

    def __init__(self, conn: Connection, run_id: int, file_ids: dict[str, int], as_of: date,
                 max_amount: Decimal | None = None):
        self.conn, self.run_id, self.file_ids, self.as_of = conn, run_id, file_ids, as_of
        self.max_amount = max_amount  # intake.max_amount: no service line may come to more
        self.tallies: list[SheetTally] = []
        # (kind, identity, occurrence) -> where a row posted in this run came from, so a later stage
        # that cannot apply it can hand it back to staff like any other bad row.
        self.origin: dict[tuple[str, str, int], tuple[ParsedSheet, Row, SheetTally]] = {}

    def post_all(self, intakes: list[FileIntake]) -> list[SheetTally]:
        sheets = [s for f in intakes if not f.unreadable for s in f.sheets]
        order = {"Clients": 0, "Rates": 1, "Payer Fees": 2}
        tallies = {}
        for sheet in sorted(sheets, key=lambda s: order.get(s.kind.name, 9)):  # master data first (§3.3)
            tally = tallies[id(sheet)] = SheetTally(sheet.file, sheet.sheet, sheet.kind.name, read=len(sheet.rows))
            if sheet.kind.master:
                {"Clients": self._clients, "Rates": self._rates, "Payer Fees": self._payer_fees}[sheet.kind.name](
                    sheet, tally)
            else:
                # Reversals wait until every payment of the run is posted, whatever file they are in.
                self._transactions(sheet, tally, reversals=False)
        for sheet in sheets:
            if sheet.kind.name == "Payments":
                self._transactions(sheet, tallies[id(sheet)], reversals=True)
        for sheet in sheets:
            tally = tallies[id(sheet)]
            tally.rejected = len(sheet.bad_rows() & {r.row for r in sheet.rows})
            self.tallies.append(tally)
        return self.tallies

    def refuse(self, kind_name: str, record: dict, column: str, message: str) -> Problem | None:
        """Take back a row posted in this run that a business stage cannot apply: it becomes a problem of
        its sheet (so it goes to the problems workbook) and leaves the ledger. A record from an earlier
        run cannot be handed back: the returned problem reports it where it came from."""
        origin = self.origin.get((kind_name, record["identity"], record["occurrence"]))
        table = TRANSACTION_TABLES[kind_name]
        if origin is None:
            if kind_name == "Payment Plans":  # recorded by a version that did not make plans: said once
                self.conn.execute(table.delete().where(table.c.id == record["id"]))
            return Problem(Where(f"an earlier file (posted in run {record['run_id']})", record["source_sheet"],
                                 record["source_row"], column), message)
        sheet, row, tally = origin
        problem = Problem(sheet.where(row.row, column), message, row.values.get(column))
        sheet.problems.append(problem)
        tally.posted -= 1
        tally.rejected += 1
        self.conn.execute(table.delete().where(table.c.id == record["id"]))
        return None

    def _good_rows(self, sheet: ParsedSheet) -> list[Row]:
        bad = sheet.bad_rows()
        return [r for r in sheet.rows if r.row not in bad]

    def _src(self, sheet: ParsedSheet, row: Row) -> dict:
        return _source(self.file_ids[sheet.file], row, self.run_id)

    def _cancel_plan(self, sheet: ParsedSheet, row: Row, identity: str, occurrence: int,
                     content: str) -> Problem | None:
        """An agreement dropped again with a Cancel Date (and otherwise as agreed; Notes may change):
        the plan ends on that date. None when the row says something else: a conflict like any other."""
        table = payment_plans
        record = self.conn.execute(select(table).where(table.c.identity == identity,
                                                       table.c.occurrence == occurrence)).one()._mapping
        values = db_values(sheet.kind, row.values)
        if record["cancel_date"] is not None or any(
                record[k] != v for k, v in values.items() if k not in ("cancel_date", "notes")):
            return None
        where = sheet.where(row.row, "Cancel Date")
        cancel = row.values["Cancel Date"]
        number = self.conn.execute(select(plans.c.number).where(plans.c.agreement_id == record["id"])).scalar()
        if cancel < record["agreement_date"]:
            return Problem(where, f"is before the Agreement Date ({record['agreement_date']:%Y-%m-%d}); a plan is "
                           "cancelled on or after the day it was agreed", cancel)
        self.conn.execute(table.update().where(table.c.id == record["id"]).values(
            cancel_date=cancel, notes=values.get("notes") or record["notes"], content_hash=content))
        what = f"plan {number}" if number else "the agreement"
        return Problem(where, f"cancels {what} from {cancel:%Y-%m-%d}: from that date its balance is collected as "
                       "usual", cancel, level="note")

    # -- master data -------------------------------------------------------------------------------
    def _clients(self, sheet: ParsedSheet, tally: SheetTally) -> None:
        """Upserted by Client ID: a later file replaces the fields it gives (blank = the default)."""
        existing = inputs.client_rows(self.conn)
        defaults = {db_name(c): db_value(c, c.default) for c in sheet.kind.columns if c.default is not None}
        inserts: dict[str, dict] = {}  # new clients, inserted in one statement at the end
        for row in self._good_rows(sheet):
            values = db_values(sheet.kind, row.values, only=set(sheet.columns))
            cid = values["client_id"]
            old = existing.get(cid)
            if old is None:
                inserts[cid] = {**defaults, **values, **self._src(sheet, row)}
                existing[cid] = inserts[cid]
                tally.posted += 1
            elif all(old.get(k) == v for k, v in values.items()):
                tally.already += 1
            elif cid in inserts:  # the same new client twice in one sheet: the later row wins
                inserts[cid].update(values, **self._src(sheet, row))
                tally.posted += 1
            else:
                self.conn.execute(clients.update().where(clients.c.client_id == cid)
                                  .values(**values, **self._src(sheet, row)))
                existing[cid] = {**old, **values}
                tally.posted += 1
        if inserts:
            self.conn.execute(clients.insert(), list(inserts.values()))

    def _rates(self, sheet: ParsedSheet, tally: SheetTally) -> None:
        """Versions by Effective From; a later card corrects a version with the same date; a version
        whose period overlaps another of the same code is a problem."""
        versions = inputs.rate_versions(self.conn)
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
                starts = "always" if other.effective_from == ALWAYS else f"{other.effective_from:%Y-%m-%d}"
                sheet.problems.append(Problem(
                    sheet.where(row.row, "Effective To" if a is new else "Effective From"),
                    f"this version of {key[0]} overlaps the one effective from {starts}; set Effective To the "
                    "day before the later version starts"))
                continue
            values = {**db_values(sheet.kind, v), "effective_from": key[1]}
            if self._upsert(rates, {"service_code": key[0], "effective_from": key[1]}, values, sheet, row):
                tally.posted += 1
            else:
                tally.already += 1
            versions[key[0]] = others + [new]

    def _payer_fees(self, sheet: ParsedSheet, tally: SheetTally) -> None:
        for row in self._good_rows(sheet):
            v = row.values
            values = {**db_values(sheet.kind, v), "effective_from": v["Effective From"] or ALWAYS}
            key = {k: values[k] for k in ("payer", "service_code", "effective_from")}
            if self._upsert(payer_fees, key, values, sheet, row):
                tally.posted += 1
            else:
                tally.already += 1

    def _upsert(self, table: Table, key: dict, values: dict, sheet: ParsedSheet, row: Row) -> bool:
        """Insert, or update when different; False when the ledger already says exactly this."""
        cond = and_(*(table.c[k] == val for k, val in key.items()))
        current = self.conn.execute(select(table).where(cond)).first()
        if current is None:
            self.conn.execute(table.insert().values(**values, **self._src(sheet, row)))
            return True
        if all(current._mapping[k] == val for k, val in values.items()):
            return False
        self.conn.execute(table.update().where(cond).values(**values, **self._src(sheet, row)))
        return True

    # -- transactions -----------------------------------------------------------------------------
    def _transactions(self, sheet: ParsedSheet, tally: SheetTally, reversals: bool) -> None:
        kind, table = sheet.kind, TRANSACTION_TABLES[sheet.kind.name]
        checks = CrossChecks(self.conn, self.as_of, self.max_amount)
        bad = sheet.bad_rows()
        identities = sheet_identities(sheet)
        posted = inputs.posted_identities(self.conn, table, sorted(set(identities.values())))
        numbers = occurrence_numbers(sheet, posted, identities)
        keyed = [(row, *numbers[row.row]) for row in sheet.rows if row.row not in bad and row.row in numbers
                 and (kind.name != "Payments" or (row.values["Amount"] < 0) == reversals)]
        if not keyed and reversals:
            return
        inserts = []
        for row, identity, occurrence in keyed:
            content = content_hash(kind, row.values)
            earlier = posted.get((identity, occurrence))
            # A row posted before is "already posted" whatever the ledger says now (a reversal dropped
            # again names a payment it has itself reversed); only new rows are checked against it.
            problem = checks.check(sheet, row) if earlier is None else None
            if problem:
                sheet.problems.append(problem)
                continue
            if earlier is None:
                sheet.problems.extend(checks.warnings(sheet, row))
                record = dict(identity=identity, occurrence=occurrence, content_hash=content,
                              **db_values(kind, row.values), **self._src(sheet, row))
                checks.posted(sheet, row, record)
                inserts.append(record)
                self.origin[(kind.name, identity, occurrence)] = (sheet, row, tally)
                posted[(identity, occurrence)] = {"hash": content, "date": None, "file": sheet.file, "row": row.row}
            elif earlier["hash"] == content:
                tally.already += 1
                tally.already_from[(earlier["date"], earlier["file"])] += 1
            elif kind.name == "Payment Plans" and row.values.get("Cancel Date") and earlier["date"] is not None \
                    and (cancelled := self._cancel_plan(sheet, row, identity, occurrence, content)):
                sheet.problems.append(cancelled)
                tally.posted += cancelled.level == "note"
            else:
                when = f"on {earlier['date']:%Y-%m-%d} " if earlier["date"] else "earlier in this run "
                sheet.problems.append(Problem(
                    sheet.where(row.row),
                    f"conflicts with the same {kind.name} row posted {when}from {earlier['file']} (row "
                    f"{earlier['row']}) that says something different; posted rows are never changed — "
                    + ("a plan's terms cannot be changed: to end it, drop the row exactly as agreed with a Cancel "
                       "Date (given once), then agree a new plan with a new Agreement Date"
                       if kind.name == "Payment Plans" else "correct it with an Adjustment, or remove this row")))
        if inserts:
            self.conn.execute(table.insert(), inserts)
            checks.link_reversals()
        tally.posted += len(inserts)


FUTURE_SERVICE_DAYS = 366  # a service keyed further ahead than this is a typing mistake, not a booking


class CrossChecks:
    """What a row must agree with in the ledger: its client, its service code's rate on the date,
    the invoice, claim, payer or payment it names. One problem per row (the first that fails)."""

    def __init__(self, conn: Connection, as_of: date, max_amount: Decimal | None = None):
        self.conn, self.as_of, self.max_amount = conn, as_of, max_amount
        self.clients = inputs.client_ids(conn)
        self._rates: dict[str, list[RateVersion]] | None = None
        self._payers: set[str] | None = None
        self._invoices: dict[str, str] | None = None
        self._payments: dict[tuple[str, str], list[dict]] | None = None
        self._links: list[tuple[tuple[str, int], tuple[str, int]]] = []

    def warnings(self, sheet: ParsedSheet, row: Row) -> list[Problem]:
        """What staff should look at on a row that is posted all the same."""
        v = row.values
        if sheet.kind.name == "Service Log" and v["Service Date"] > self.as_of:
            return [Problem(sheet.where(row.row, "Service Date"),
                            f"is after today's business date ({self.as_of:%Y-%m-%d}); the service is posted and "
                            "billed on the first billing run on or after that date — if the date is a typing "
                            "mistake, correct it with an Adjustment once it is billed", v["Service Date"],
                            level="warning")]
        return []

    def check(self, sheet: ParsedSheet, row: Row) -> Problem | None:
        v, kind = row.values, sheet.kind.name
        if "Client ID" in v and v["Client ID"] not in self.clients:
            return Problem(sheet.where(row.row, "Client ID"), "is not in the client list; add the client (or fix "
                           "the ID) and drop the file again", v["Client ID"])
        for day in ("Payment Date", "Date"):
            if kind in ("Payments", "Adjustments") and v.get(day) is not None and v[day] > self.as_of:
                return Problem(sheet.where(row.row, day), f"is after today's business date ({self.as_of:%Y-%m-%d}); "
                               "money is posted on or after the day it moves — drop the row again on that day",
                               v[day])
        if kind == "Service Log":
            if v["Service Date"] > self.as_of + timedelta(days=FUTURE_SERVICE_DAYS):
                return Problem(sheet.where(row.row, "Service Date"),
                               f"is more than a year after today's business date ({self.as_of:%Y-%m-%d}), most "
                               "likely a typing mistake; correct the date and drop the file again", v["Service Date"])
            rates = self.rates.get(v["Service Code"], [])
            rate = rate_on(rates, v["Service Date"])
            if rate is None:
                # A log keyed in CPT/HCPCS codes names the rate card's Billing Code, not its Service Code.
                billed_as = sorted({c for c, vs in self.rates.items() for r in vs
                                    if not rates and r.billing_code == v["Service Code"]})
                if billed_as:
                    return Problem(sheet.where(row.row, "Service Code"),
                                   f"is the Billing Code (CPT/HCPCS) of {' and '.join(billed_as)} on the rate card, "
                                   "not a Service Code; the service log needs the rate card's Service Code: put "
                                   f"{' or '.join(billed_as)} in this cell and drop the file again", v["Service Code"])
                what = "is not on the rate card" if not rates else \
                    f"has no rate effective on {v['Service Date']:%Y-%m-%d}"
                return Problem(sheet.where(row.row, "Service Code"),
                               f"{what}; add it to the rate card or fix the code", v["Service Code"])
            amount = line_amount(v["Quantity"], unit_price(v.get("Unit Price Override"), rate))
            if self.max_amount is not None and amount > self.max_amount:
                return Problem(sheet.where(row.row, "Quantity"),
                               f"quantity × price comes to more than the office's limit for one amount "
                               f"(intake.max_amount, {self.max_amount:,}); check the quantity and the price",
                               v["Quantity"])
        if v.get("Invoice Number") is not None:
            owner = self.invoices.get(v["Invoice Number"])
            if owner is None:
                return Problem(sheet.where(row.row, "Invoice Number"), "is not an invoice billing-batch has issued; "
                               "check the number on the invoice", v["Invoice Number"])
            if owner != v["Client ID"]:
                return Problem(sheet.where(row.row, "Invoice Number"), f"belongs to another client, not "
                               f"{v['Client ID']}; check the Client ID and the invoice number", v["Invoice Number"])
        if kind == "Payments" and v["Amount"] < 0 and self._reversed(v) is None:
            return Problem(sheet.where(row.row, "Reference"), f"a reversal must name the Reference of a payment of "
                           f"{-v['Amount']} from this client that has not been reversed yet; check the Reference "
                           "and the amount", v["Reference"])
        if kind == "Remittances":
            if payer_key(v["Payer"]) not in self.payers:
                return Problem(sheet.where(row.row, "Payer"), "is not a payer on the Payer Fees sheet; check the "
                               "spelling or add the payer's fees to the rate card", v["Payer"])
            # The claim itself is checked when the insurance stage applies the row: it may be made in
            # this very run (a remittance keyed the day its claim goes out).
        if kind == "Adjustments" and v.get("Claim Number") is not None:
            claim = claim_owner(self.conn, v["Claim Number"].upper())
            if claim is None:
                return Problem(sheet.where(row.row, "Claim Number"), "is not a claim billing-batch has issued; "
                               "check the claim number", v["Claim Number"])
            if claim["client_id"] != v["Client ID"]:
                return Problem(sheet.where(row.row, "Claim Number"), f"is a claim of another client, not "
                               f"{v['Client ID']}; check the Client ID and the claim number", v["Claim Number"])
        return None

    @property
    def payers(self) -> set[str]:
        if self._payers is None:
            self._payers = inputs.payer_names(self.conn)
        return self._payers

    @property
    def rates(self):
        if self._rates is None:
            self._rates = inputs.rate_versions(self.conn)
        return self._rates

    @property
    def invoices(self) -> dict[str, str]:
        if self._invoices is None:
            self._invoices = inputs.invoice_owners(self.conn)
        return self._invoices

    def _reversed(self, v: dict) -> dict | None:
        """The original payment a reversal row undoes: same client and Reference, the same amount, positive,
        not reversed already (posted earlier or earlier in this run)."""
        if self._payments is None:
            self._payments = inputs.reversible_payments(self.conn)
        for p in self._payments.get((v["Client ID"], v["Reference"]), []):
            if p["amount_cents"] == -to_cents(v["Amount"]) and not p["reversed"]:
                return p
        return None

    def posted(self, sheet: ParsedSheet, row: Row, record: dict) -> None:
        """Keep the in-run view of payments current, so a payment posted in this run can be reversed
        later in the same run; reversals of payments not yet inserted are linked after the insert."""
        if sheet.kind.name != "Payments":
            return
        v = row.values
        record["reverses_payment_id"] = None  # every row of a bulk insert has the same keys
        if v["Amount"] < 0:
            original = self._reversed(v)
            assert original is not None  # check() refused the row otherwise
            original["reversed"] = True
            record["reverses_payment_id"] = original["id"]
            if original["id"] is None:
                self._links.append(((record["identity"], record["occurrence"]), original["key"]))
        else:
            self._reversed(v)  # loads the ledger's payments once
            assert self._payments is not None
            self._payments.setdefault((v["Client ID"], v["Reference"]), []).append(
                {"id": None, "amount_cents": record["amount_cents"], "reversed": False,
                 "key": (record["identity"], record["occurrence"])})

    def link_reversals(self) -> None:
        for reversal, original in self._links:
            inputs.link_reversal(self.conn, reversal, original)
        self._links.clear()
