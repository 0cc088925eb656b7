"""The office the crash tests kill runs of, and what "the same result" means for it.

`build_base(root, url, clients)`: an office whose first night (February's services) has run; its
inbox holds the second night's files: April's services, payments, adjustments (a credit note, a
write-off), a contact log, a service log with bad rows (a problems workbook), and a workbook cut
short long ago (rejected). The second night, as of 2026-05-04, issues invoices, applies payments,
issues a credit note and sends Reminder letters (February's invoices are 33 days overdue).

`snapshot(office)`: everything the office ends with, in a form two offices can be compared by
(`==`): the ledger's rows with surrogate keys replaced by what they point at (sequences may skip
after a rolled-back run on PostgreSQL), each document's `word/document.xml` by what it documents,
every workbook's parts, the folders' file names (timestamps stripped), and the temporary files.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import shutil
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import openpyxl
import yaml
from pypdf import PdfReader
from sqlalchemy import create_engine, select

from billing_batch.ledger.schema import metadata, runs
from billing_batch.pipeline import run_batch
from billing_batch.publish import found_nothing
from tests.fake_soffice import fake_soffice_program
from tests.office import Office, write_workbook

D = dt.date
FIRST_NIGHT, SECOND_NIGHT = D(2026, 3, 2), D(2026, 5, 4)
CLIENT_HEADERS = ["Client ID", "Name", "Type", "Attention", "Address Line 1", "City", "Region", "Postal Code",
                  "Phone", "Terms Days"]
RATES = [["Service Code", "Description", "Unit Price", "Taxable"],
         ["OV", "Office visit", Decimal("110.00"), "N"], ["TH", "Therapy, per hour", Decimal("85.00"), "N"],
         ["LAB", "Lab work", Decimal("42.50"), "N"], ["SUP", "Supplies", Decimal("3.35"), "Y"]]
LOG_HEADERS = ["Service Date", "Client ID", "Service Code", "Quantity", "Provider"]
FIRST_NAMES = ("Zoë", "Renée", "José", "Siobhán", "Łukasz", "Ngozi", "Aiko", "Björn", "Mary", "John")
LAST_NAMES = ("O'Brien", "Müller", "Núñez", "Nguyen", "Smith & Sons", "Okafor", "Lefèvre", "Sato")


def client_ids(n: int) -> list[str]:
    return [f"{i:05d}" for i in range(1, n + 1)]


def build_base(root: Path, url: str, clients: int, seed: int = 11) -> Office:
    rng = random.Random(seed)
    # Printing on, with a stand-in for LibreOffice (tests/fake_soffice.py): the PDFs and the print
    # pack written after commit are killed and finished like every other file.
    office = Office.create(root, url, invoicing__tax_rate="8.25", documents__print_pack=True,
                           documents__libreoffice=str(fake_soffice_program(root.parent / f"{root.name}-bin")))
    ids = client_ids(clients)
    rows = []
    for i, cid in enumerate(ids):
        business = i % 4 == 0
        name = f"{rng.choice(LAST_NAMES)} {'Holdings' if business else rng.choice(FIRST_NAMES)} {i}"
        rows.append([cid, name, "Business" if business else "Individual", "Accounts" if business else None,
                     f"{i + 1} Main St", "Springfield", "IL", f"627{i % 100:02d}", f"555-01{i % 100:02d}", 30])
    office.drop("clients.xlsx", {"Clients": [CLIENT_HEADERS, *rows]})
    office.drop("rates.xlsx", {"Rates": RATES})
    february = [[D(2026, 2, 2 + i % 20), cid, rng.choice(["OV", "TH", "LAB"]), 1 + i % 2, "Dr. Lee"]
                for i, cid in enumerate(ids)]
    february += [[D(2026, 2, 25), cid, "SUP", 3, "Dr. Lee"] for cid in ids[::5]]
    office.drop("february.xlsx", {"Service Log": [LOG_HEADERS, *february]})
    first = run_batch(office.settings, FIRST_NIGHT)
    assert not first.document_failures and len(first.invoices) == clients

    # The second night's inbox.
    april = [[D(2026, 4, 6 + i % 20), cid, rng.choice(["OV", "TH"]), 1, "Dr. Patel"]
             for i, cid in enumerate(ids) if i % 3 != 2]
    office.drop("april.xlsx", {"Service Log": [LOG_HEADERS, *april]})
    invoice_of = {cid: f"INV-2026-{n:05d}" for n, cid in enumerate(sorted(ids), start=1)}
    totals = {n: t for n, t in first.invoices}
    paying = ids[1::3]
    payments = [[D(2026, 4, 20), cid, totals[invoice_of[cid]], "Check", f"CHK{i:04d}", invoice_of[cid]]
                for i, cid in enumerate(paying)]
    payments.append([D(2026, 4, 21), ids[0], Decimal("50.00"), "Card", "CARD0001", None])  # part payment
    office.drop("payments.xlsx", {"Payments": [["Payment Date", "Client ID", "Amount", "Method", "Reference",
                                                "Invoice Number"], *payments]})
    office.drop("adjustments.xlsx", {"Adjustments": [
        ["Date", "Client ID", "Kind", "Amount", "Invoice Number", "Reason"],
        [D(2026, 4, 22), ids[2], "Credit", Decimal("20.00"), invoice_of[ids[2]], "Goodwill"],
        [D(2026, 4, 22), ids[3], "Write-off", Decimal("5.00"), invoice_of[ids[3]], "Small balance"]]})
    office.drop("contacts.xlsx", {"Contact Log": [
        ["Contact Date", "Client ID", "Outcome", "Promise Date"],
        [D(2026, 5, 1), ids[5 % clients], "Promise to pay", D(2026, 5, 15)]]})
    office.drop("corrections.xlsx", {"Service Log": [
        LOG_HEADERS,
        [D(2026, 4, 28), ids[0], "OV", 1, "Dr. Lee"],
        [D(2026, 4, 28), "99999", "OV", 1, "Dr. Lee"],  # unknown client
        [D(2026, 4, 29), ids[1], "XRAY", 1, "Dr. Lee"],  # not on the rate card
        [D(2026, 4, 29), ids[1], "OV", -2, "Dr. Lee"]]})  # quantity
    whole = write_workbook(root / "whole.xlsx", {"Service Log": [LOG_HEADERS, *april[:50]]}).read_bytes()
    (root / "whole.xlsx").unlink()
    cut = office.inbox / "copied half.xlsx"
    cut.write_bytes(whole[: len(whole) // 2])
    os.utime(cut, (cut.stat().st_atime - 7200, cut.stat().st_mtime - 7200))
    return office


# -- copies --------------------------------------------------------------------------------------------

def clone(base: Office, root: Path, url: str) -> Office:
    """The base office in another folder, on ledger `url` (already a copy of the base ledger)."""
    shutil.copytree(base.root, root, symlinks=True)
    office = Office(root, root / "config.yaml")
    data = yaml.safe_load(office.config.read_text())
    data["database"] = url
    office.config.write_text(yaml.safe_dump(data, sort_keys=False))
    return office


# -- comparing -----------------------------------------------------------------------------------------

SKIP = {"id", "run_id", "applied_run_id", "received_at", "started_at", "finished_at", "stored_as", "path"}
DOCUMENT_TABLES = {"invoice": "invoices", "credit_note": "credit_notes", "letter": "letters", "file": "source_files"}
_STAMP = re.compile(r"(^|/)\d{8}T\d{6}_")


@dataclass
class Snapshot:
    ledger: dict[str, list]
    documents: dict[tuple, bytes]
    files: dict[str, list[str]]
    workbooks: dict[str, dict[str, bytes]]
    reports: list[dict]
    temp_files: list[str]

    def differences(self, other: "Snapshot") -> list[str]:
        out = []
        for name in ("documents", "files", "workbooks", "reports", "temp_files"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                if isinstance(mine, dict):
                    keys = sorted({*mine, *theirs}, key=repr)
                    bad = [k for k in keys if mine.get(k) != theirs.get(k)]
                    out.append(f"{name} differ at {bad[:5]}")
                elif name == "reports" and len(mine) == len(theirs):
                    for a, b in zip(mine, theirs):
                        bad = sorted(k for k in {*a, *b} if a.get(k) != b.get(k))
                        out += [f"report {k}: {a.get(k)!r:.300} != {b.get(k)!r:.300}" for k in bad]
                else:
                    out.append(f"{name} differ: {mine!r:.300} != {theirs!r:.300}")
        for table in sorted({*self.ledger, *other.ledger}):
            if self.ledger.get(table) != other.ledger.get(table):
                out.append(f"ledger table {table} differs: {_diff(self.ledger.get(table), other.ledger.get(table))}")
        return out


def _diff(a, b) -> str:
    a, b = list(a or []), list(b or [])
    extra = [r for r in a if r not in b]
    missing = [r for r in b if r not in a]
    return f"{len(extra)} extra, {len(missing)} missing; e.g. {(extra or missing)[:2]!r:.400}"


def canonical_ledger(url: str) -> tuple[dict[str, list], dict[tuple, str]]:
    """Every table but `runs`, rows as tuples without surrogate keys, run ids or clock times; a
    foreign key becomes the tuple of the row it points at. Also: outbox document -> its file path."""
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            canon: dict[str, dict] = {}
            tables: dict[str, list] = {}
            for t in metadata.sorted_tables:
                if t.name == "runs":
                    continue
                fks = {col.name: fk.column for col in t.columns for fk in col.foreign_keys}
                rows = [dict(r._mapping) for r in c.execute(select(t))]

                def value(row, col, own: dict):
                    v = row[col.name]
                    target = fks.get(col.name)
                    if v is None or target is None or target.name != "id":
                        return v
                    table = own if target.table is t else canon[target.table.name]
                    return ("->", target.table.name, table.get(v, v))

                def as_tuple(row, own: dict) -> tuple:
                    return tuple(value(row, col, own) for col in t.columns if col.name not in SKIP)

                own: dict = {}
                if "id" in t.c:
                    for _ in range(2):  # twice: a row may point at a row of its own table (a reversal)
                        own = {r["id"]: as_tuple(r, own) for r in rows}
                canon[t.name] = own
                tables[t.name] = [as_tuple(r, own) for r in rows]
            # The outbox: what each row is about, not which id it had; reports belong to runs.
            paths = {}
            outbox_rows = []
            key_of: dict[int, tuple] = {}  # outbox id -> what the row is about (pdf and print rows point at one)
            for r in c.execute(select(metadata.tables["outbox"]).order_by(metadata.tables["outbox"].c.id)):
                if r.kind == "report":
                    continue
                if r.kind in ("pdf", "print"):
                    key = (r.kind, key_of.get(r.ref_id), r.path if r.kind == "print" else None)
                else:
                    key = (r.kind, canon[DOCUMENT_TABLES[r.kind]].get(r.ref_id))
                key_of[r.id] = key
                outbox_rows.append((*key, r.status, r.attempts, r.last_error))
                paths[key] = r.path
            tables["outbox"] = outbox_rows
            tables = {k: sorted(v, key=repr) for k, v in tables.items()}
            return tables, paths
    finally:
        engine.dispose()


def _parts(path: Path, skip=("docProps/core.xml",)) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist() if n not in skip}


def _mailing_list(path: Path) -> dict[str, bytes]:
    """The mailing list's rows, its Documents as a count: a letter's file name carries its ledger id,
    which a PostgreSQL sequence advances even in a transaction that was rolled back."""
    rows = list(openpyxl.load_workbook(path).active.iter_rows(values_only=True))
    col = rows[0].index("Documents")
    return {"rows": repr([r[:col] + (len(r[col].split(", ")) if r[col] else 0,) + r[col + 1:] for r in rows[1:]])
            .encode()}


def snapshot(office: Office) -> Snapshot:
    settings = office.settings
    ledger, paths = canonical_ledger(settings.database_url)
    out = office.root / "output"
    documents = {}
    for key, path in paths.items():
        if key[0] == "pdf":  # LibreOffice's PDFs carry their time: there or not, and their pages
            target = out / path
            documents[key] = str(len(PdfReader(target).pages)).encode() if target.exists() else b"MISSING"
        elif key[0] != "file" and key[0] != "print":
            target = out / path
            documents[key] = _parts(target)["word/document.xml"] if target.exists() else b"MISSING"
    on_disk = sorted(str(p.relative_to(out)) for p in [*(out / "invoices").rglob("*.docx"),
                                                        *(out / "letters").rglob("*.docx")]
                     if not p.name.startswith(".tmp-"))  # temporary files are counted apart
    word = [k for k in documents if k[0] != "pdf"]
    assert len(on_disk) == len(word), f"{len(on_disk)} documents on disk for {len(word)} in the outbox"

    def names(folder: Path) -> list[str]:
        return sorted(_STAMP.sub(r"\1", str(p.relative_to(folder))) for p in folder.rglob("*") if p.is_file()) \
            if folder.exists() else []

    files = {"inbox": names(office.inbox), "processed": names(office.root / "processed"),
             "rejected": names(office.root / "rejected"), "reports": names(out / "reports"),
             "print": names(out / "print"),
             "print pages": [f"{p.name}: {len(PdfReader(p).pages)}" for p in sorted((out / "print").glob("*.pdf"))]}
    workbooks = {str(p.relative_to(office.root)): _parts(p)
                 for p in sorted([*(out / "reports").glob("*.xlsx"), *(office.root / "rejected").glob("*.problems.xlsx")])}
    workbooks |= {str(p.relative_to(office.root)): _mailing_list(p) for p in sorted((out / "print").glob("*.xlsx"))}
    reports = []
    for p in sorted((out / "runs").glob("*.json")):
        r = json.loads(p.read_text())
        if not found_nothing(r):  # a second run the same night that had nothing to do is not compared
            reports.append({k: v for k, v in r.items() if k not in ("run_id", "started", "timings")})
    temp_files = sorted(str(p.relative_to(office.root)) for p in office.root.rglob(".tmp-*"))
    return Snapshot(ledger, documents, files, workbooks, reports, temp_files)


def numbering_gaps(url: str) -> int:
    """Numbers missing from each document series (INV, CN) of the ledger."""
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            gaps = 0
            for table in ("invoices", "credit_notes"):
                numbers = [r[0] for r in c.execute(select(metadata.tables[table].c.number))]
                by_series: dict[str, list[int]] = {}
                for n in numbers:
                    series, seq = n.rsplit("-", 1)
                    by_series.setdefault(series, []).append(int(seq))
                gaps += sum(max(s) - len(set(s)) for s in by_series.values())
            return gaps
    finally:
        engine.dispose()


def committed_runs(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return len(c.execute(select(runs.c.id).where(runs.c.status == "ok")).all())
    finally:
        engine.dispose()
