"""Delivery in the outbox (SPEC §4.7): a `pdf` row per PDF to make and a `print` row per document in
a print pack, each pointing at its document's outbox row (`ref_id`), so UniqueConstraint(kind,
ref_id) keeps one PDF per document and every document in at most one pack.

A pack is the `print` rows that share a path (`print/print-YYYY-MM-DD.pdf`, `-2`, … for a second
pack the same date). Its members are fixed when the run commits; the pack is written once every
member's PDF is there. A later stage (e-mail that gave up) can add documents to a later run's pack
with `queue_print`.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import PurePosixPath

from sqlalchemy import Connection, func, select

from billing_batch.ledger.finishing import DOCUMENTS
from billing_batch.ledger.schema import (
    coverage_notices, credit_notes, invoices, letters, outbox, plan_letters,
)

MAILED = ("Mail", "Both")


def pdf_path(document_path: str) -> str:
    return str(PurePosixPath(document_path).with_suffix(".pdf"))


def bill_tos(conn: Connection, document_rows: list[dict]) -> dict[int, dict]:
    """{document outbox id: the bill-to snapshot the document was issued with}."""
    by_kind: dict[str, dict[int, int]] = {}
    for row in document_rows:
        by_kind.setdefault(row["kind"], {})[row["ref_id"]] = row["id"]
    out: dict[int, dict] = {}

    def take(ids: dict[int, int], query, content: bool) -> None:
        refs = list(ids)
        for start in range(0, len(refs), 500):
            for ref, text in conn.execute(query(refs[start:start + 500])):
                data = json.loads(text)
                out[ids[ref]] = data["bill_to"] if content else data

    take(by_kind.get("invoice", {}), lambda refs: select(invoices.c.id, invoices.c.bill_to)
         .where(invoices.c.id.in_(refs)), False)
    take(by_kind.get("credit_note", {}), lambda refs: select(credit_notes.c.id, invoices.c.bill_to)
         .join(invoices, invoices.c.id == credit_notes.c.invoice_id).where(credit_notes.c.id.in_(refs)), False)
    for kind, table in (("letter", letters), ("plan_letter", plan_letters), ("coverage_notice", coverage_notices)):
        take(by_kind.get(kind, {}), lambda refs, t=table: select(t.c.id, t.c.content).where(t.c.id.in_(refs)), True)
    return out


def is_mailed(bill_to: dict) -> bool:
    return bill_to.get("delivery", "Mail") in MAILED


def documents_of_run(conn: Connection, run_id: int) -> list[dict]:
    return [dict(r._mapping) for r in conn.execute(
        select(outbox).where(outbox.c.run_id == run_id, outbox.c.kind.in_(DOCUMENTS)).order_by(outbox.c.id))]


def pack_path(conn: Connection, as_of: date) -> str:
    """The next free print pack name for the date: a pack, once named, is never written again with
    other documents."""
    base = f"print/print-{as_of:%Y-%m-%d}"
    taken = set(conn.execute(select(outbox.c.path).where(outbox.c.kind == "print",
                                                         outbox.c.path.like(f"{base}%")).distinct()).scalars())
    n, path = 1, f"{base}.pdf"
    while path in taken:
        n += 1
        path = f"{base}-{n}.pdf"
    return path


def queue_run(conn: Connection, run_id: int, as_of: date, every_pdf: bool, print_pack: bool) -> None:
    """Queue the PDFs and the print pack of a run's documents, in the run's transaction: a PDF for
    each document when `every_pdf` (documents.pdf), and for each mailed one; the mailed ones in
    the run's print pack."""
    docs = documents_of_run(conn, run_id)
    snapshots = bill_tos(conn, docs) if print_pack else {}
    mailed = [d for d in docs if print_pack and is_mailed(snapshots.get(d["id"], {}))]
    wanted = docs if every_pdf else mailed
    _insert(conn, run_id, [("pdf", d["id"], pdf_path(d["path"])) for d in wanted])
    queue_print(conn, run_id, as_of, mailed)


def queue_print(conn: Connection, run_id: int, as_of: date, document_rows: list[dict],
                path: str | None = None) -> None:
    """Put documents into this run's print pack (their PDFs queued too when not yet): `path`, a pack
    not written yet, or a new one."""
    if not document_rows:
        return
    ids = [d["id"] for d in document_rows]
    have_pdf = set(conn.execute(select(outbox.c.ref_id).where(outbox.c.kind == "pdf", outbox.c.ref_id.in_(ids)))
                   .scalars())
    _insert(conn, run_id, [("pdf", d["id"], pdf_path(d["path"])) for d in document_rows if d["id"] not in have_pdf])
    path = path or pack_path(conn, as_of)
    _insert(conn, run_id, [("print", d["id"], path) for d in document_rows])


def unprinted(conn: Connection, keys: list[tuple[str, int]]) -> list[dict]:
    """The outbox rows of these documents ((kind, ref id): e-mails gone to paper) not in a print pack yet."""
    wanted, out = set(keys), []
    printed = set(conn.execute(select(outbox.c.ref_id).where(outbox.c.kind == "print")).scalars())
    for kind in {k for k, _ in wanted}:
        refs = sorted(r for k, r in wanted if k == kind)
        for start in range(0, len(refs), 500):
            out += [dict(r._mapping) for r in conn.execute(select(outbox).where(
                outbox.c.kind == kind, outbox.c.ref_id.in_(refs[start:start + 500]))) if r.id not in printed]
    return sorted(out, key=lambda d: d["id"])


def _insert(conn: Connection, run_id: int, rows: list[tuple[str, int, str]]) -> None:
    if rows:
        conn.execute(outbox.insert(), [dict(kind=k, ref_id=ref, path=p, status="pending", attempts=0, run_id=run_id)
                                       for k, ref, p in rows])


def documents_by_id(conn: Connection, ids: list[int]) -> dict[int, dict]:
    out: dict[int, dict] = {}
    for start in range(0, len(ids), 500):
        out |= {r.id: dict(r._mapping) for r in conn.execute(select(outbox).where(outbox.c.id.in_(ids[start:start + 500])))}
    return out


def summary(conn: Connection, run_id: int) -> dict:
    """For the run report: documents in the run's print pack(s) once written, the packs, and every
    PDF still missing (any run's: the next run retries them all) with why."""
    printed = conn.execute(select(outbox.c.path, func.count()).where(
        outbox.c.run_id == run_id, outbox.c.kind == "print", outbox.c.status == "done")
        .group_by(outbox.c.path).order_by(outbox.c.path)).all()
    waiting = conn.execute(select(outbox.c.path, func.count(), func.max(outbox.c.last_error)).where(
        outbox.c.kind == "print", outbox.c.status != "done")  # any run's: the next run retries them all
        .group_by(outbox.c.path).order_by(outbox.c.path)).all()
    missing = conn.execute(select(outbox.c.path, outbox.c.last_error).where(
        outbox.c.kind == "pdf", outbox.c.status != "done").order_by(outbox.c.id)).all()
    return {"printed": sum(n for _, n in printed),
            "print_packs": [{"path": p, "documents": n} for p, n in printed],
            "print_packs_waiting": [{"path": p, "documents": n, "reason": why or "not made yet"}
                                    for p, n, why in waiting],
            "pdfs_missing": [{"path": p, "reason": why or "not made yet"} for p, why in missing]}
