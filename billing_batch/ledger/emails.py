"""What e-mail delivery reads from and records in the ledger (billing_batch/delivery/email.py)."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Connection, select

from billing_batch.ledger.finishing import DOCUMENTS
from billing_batch.ledger.schema import (
    clients, coverage_notices, credit_notes, email_items, email_messages, invoices, letters, outbox, plan_letters,
)

OPEN = ("pending", "failed")  # still to be sent


def run_documents(conn: Connection, run_id: int, written_only: bool = True) -> list[dict]:
    """The run's documents (outbox rows of a document kind): kind, ref_id, path, status."""
    q = select(outbox.c.kind, outbox.c.ref_id, outbox.c.path, outbox.c.status).where(
        outbox.c.run_id == run_id, outbox.c.kind.in_(DOCUMENTS)).order_by(outbox.c.id)
    if written_only:
        q = q.where(outbox.c.status == "done")
    return [dict(r._mapping) for r in conn.execute(q)]


def _with_snapshot(rows) -> dict[int, tuple[str, str | None]]:
    out = {}
    for ref, client_id, content in rows:
        bill_to = json.loads(content).get("bill_to", {}) if content else {}
        out[ref] = (client_id, bill_to.get("delivery"))
    return out


def document_clients(conn: Connection, kind: str, refs: list[int]) -> dict[int, tuple[str, str | None]]:
    """ref -> (client ID, Delivery as the document's address snapshot recorded it, or None)."""
    if not refs:
        return {}
    if kind == "invoice":
        rows = conn.execute(select(invoices.c.id, invoices.c.client_id, invoices.c.bill_to)
                            .where(invoices.c.id.in_(refs)))
        return {r.id: (r.client_id, json.loads(r.bill_to).get("delivery")) for r in rows}
    if kind == "credit_note":
        rows = conn.execute(select(credit_notes.c.id, credit_notes.c.client_id, invoices.c.bill_to)
                            .join(invoices, invoices.c.id == credit_notes.c.invoice_id)
                            .where(credit_notes.c.id.in_(refs)))
        return {r.id: (r.client_id, json.loads(r.bill_to).get("delivery")) for r in rows}
    table = {"letter": letters, "plan_letter": plan_letters, "coverage_notice": coverage_notices}[kind]
    return _with_snapshot(conn.execute(select(table.c.id, table.c.client_id, table.c.content)
                                       .where(table.c.id.in_(refs))).all())


def client_contacts(conn: Connection, client_ids: set[str]) -> dict[str, dict]:
    """client ID -> {delivery, email, name} as the client list stands now."""
    return {r.client_id: {"delivery": r.delivery, "email": (r.email or "").strip(), "name": r.name}
            for r in conn.execute(select(clients.c.client_id, clients.c.delivery, clients.c.email, clients.c.name)
                                  .where(clients.c.client_id.in_(sorted(client_ids))))}


def already_in_messages(conn: Connection, keys: list[tuple[str, int]]) -> set[tuple[str, int]]:
    kinds = {k for k, _ in keys}
    found = set()
    for kind in kinds:
        refs = [r for k, r in keys if k == kind]
        for start in range(0, len(refs), 500):
            found |= {(kind, r) for r in conn.execute(select(email_items.c.doc_ref).where(
                email_items.c.doc_kind == kind, email_items.c.doc_ref.in_(refs[start:start + 500]))).scalars()}
    return found


def add_message(conn: Connection, run_id: int, client_id: str, to_address: str, subject: str, key: str,
                status: str, documents: list[tuple[str, int, str]], note: str | None = None) -> int:
    """A message and its documents (kind, ref, .docx path); UNIQUE refuses a document twice."""
    message_id = conn.execute(email_messages.insert().values(  # type: ignore[index]
        client_id=client_id, run_id=run_id, to_address=to_address, subject=subject, message_key=key,
        status=status, attempts=0, last_error=note)).inserted_primary_key[0]
    conn.execute(email_items.insert(), [dict(message_id=message_id, doc_kind=k, doc_ref=r, path=p)
                                        for k, r, p in documents])
    return message_id


def open_messages(conn: Connection, run_id: int | None = None) -> list[dict]:
    q = select(email_messages).where(email_messages.c.status.in_(OPEN)).order_by(email_messages.c.id)
    if run_id is not None:
        q = q.where(email_messages.c.run_id == run_id)
    return [dict(r._mapping) for r in conn.execute(q)]


def items(conn: Connection, message_id: int) -> list[dict]:
    return [dict(r._mapping) for r in conn.execute(
        select(email_items).where(email_items.c.message_id == message_id).order_by(email_items.c.id))]


def count_attempt(conn: Connection, message_id: int) -> None:
    """Recorded and committed before the server is asked, so a crash mid-send still counts a try."""
    conn.execute(email_messages.update().where(email_messages.c.id == message_id).values(
        attempts=email_messages.c.attempts + 1, last_error="interrupted while sending; tried again next run"))
    conn.commit()


def mark_sent(conn: Connection, message_id: int, when: datetime) -> None:
    conn.execute(email_messages.update().where(email_messages.c.id == message_id).values(
        status="sent", sent_at=when, last_error=None))
    conn.commit()


def mark_failed(conn: Connection, message_id: int, error: str, max_attempts: int) -> str:
    """The try failed: retried by the next run, or on paper once it has had its tries. Returns the status."""
    attempts = conn.execute(select(email_messages.c.attempts).where(email_messages.c.id == message_id)).scalar_one()
    status = "paper" if attempts >= max_attempts else "failed"
    conn.execute(email_messages.update().where(email_messages.c.id == message_id).values(
        status=status, last_error=error))
    conn.commit()
    return status


def documents_for_paper(conn: Connection) -> list[tuple[str, int]]:
    """(doc kind, doc ref) of documents that were to be e-mailed but go on paper instead: their
    message ran out of tries, or the client has no e-mail address. The print pack takes them."""
    return [(r.doc_kind, r.doc_ref) for r in conn.execute(
        select(email_items.c.doc_kind, email_items.c.doc_ref)
        .join(email_messages, email_messages.c.id == email_items.c.message_id)
        .where(email_messages.c.status == "paper").order_by(email_items.c.id))]


def paper_by_run(conn: Connection) -> dict[int, list[tuple[str, int]]]:
    """documents_for_paper, by the run whose message it was: each joins that run's print pack."""
    out: dict[int, list[tuple[str, int]]] = {}
    for r in conn.execute(select(email_messages.c.run_id, email_items.c.doc_kind, email_items.c.doc_ref)
                          .join(email_messages, email_messages.c.id == email_items.c.message_id)
                          .where(email_messages.c.status == "paper").order_by(email_items.c.id)):
        out.setdefault(r.run_id, []).append((r.doc_kind, r.doc_ref))
    return out


def run_summary(conn: Connection, run_id: int) -> dict:
    """The run's messages as they stand: counts by status, why the failed ones failed, what went on
    paper (IDs and paths only, never an address)."""
    rows = conn.execute(select(email_messages.c.id, email_messages.c.client_id, email_messages.c.status,
                               email_messages.c.attempts, email_messages.c.last_error)
                        .where(email_messages.c.run_id == run_id).order_by(email_messages.c.id)).all()
    counts = {s: sum(1 for r in rows if r.status == s) for s in ("sent", "failed", "pending", "paper")}
    paper = [{"doc_kind": r.doc_kind, "doc_ref": r.doc_ref, "path": r.path, "client_id": r.client_id,
              "reason": r.last_error} for r in conn.execute(
        select(email_items.c.doc_kind, email_items.c.doc_ref, email_items.c.path, email_messages.c.client_id,
               email_messages.c.last_error)
        .join(email_messages, email_messages.c.id == email_items.c.message_id)
        .where(email_messages.c.run_id == run_id, email_messages.c.status == "paper").order_by(email_items.c.id))]
    return {"sent": counts["sent"], "failed": counts["failed"], "waiting": counts["pending"],
            "paper": counts["paper"],
            "failures": [{"message": r.id, "client_id": r.client_id, "attempts": r.attempts, "reason": r.last_error}
                         for r in rows if r.status == "failed"],
            "paper_documents": paper,
            "earlier_failures": [{"message": r.id, "run_id": r.run_id, "client_id": r.client_id, "attempts": r.attempts,
                                  "reason": r.last_error} for r in conn.execute(
                select(email_messages.c.id, email_messages.c.run_id, email_messages.c.client_id,
                       email_messages.c.attempts, email_messages.c.last_error)
                .where(email_messages.c.run_id < run_id, email_messages.c.status == "failed")
                .order_by(email_messages.c.id))]}


def still_open(conn: Connection) -> int:
    """Messages of any run still to be sent (retried by the next run)."""
    return len(open_messages(conn))
