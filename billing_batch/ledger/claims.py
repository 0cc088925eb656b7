"""Claims in the ledger: issued once (claims, claim_lines), their money as dated moves (claim_moves),
read back for the insurance stage, the Insurance sheet, the submission list and the proof."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, exists, func, select

from billing_batch.billing.claims import (
    TO_PATIENT, Claim, ClaimView, Move, Policy, Remit, SubmissionLine, payer_key, view,
)
from billing_batch.ledger.schema import (
    claim_lines, claim_moves, claims, clients, coverage_notice_lines, coverage_notices, invoice_lines, invoices,
    payer_fees, remittances,
)


def _claim(r) -> Claim:
    return Claim(r.id, r.number, r.client_id, r.payer, r.claim_date, r.service_date, r.billed_cents,
                 r.expected_allowed_cents, r.expected_patient_cents)


def load(conn: Connection, numbers: set[str] | None = None, as_of: date | None = None) -> dict[int, Claim]:
    q = select(claims)
    if numbers is not None:
        q = q.where(claims.c.number.in_(sorted(numbers)))
    if as_of is not None:
        q = q.where(claims.c.claim_date <= as_of)
    return {r.id: _claim(r) for r in conn.execute(q)}


def member_ids(conn: Connection) -> dict[int, str | None]:
    return dict(conn.execute(select(claims.c.id, claims.c.member_id)).all())


def moves(conn: Connection, claim_ids: list[int] | None = None) -> dict[int, list[Move]]:
    out: dict[int, list[Move]] = defaultdict(list)
    q = select(claim_moves).order_by(claim_moves.c.id)
    if claim_ids is not None:
        q = q.where(claim_moves.c.claim_id.in_(claim_ids))
    for r in conn.execute(q):
        out[r.claim_id].append(Move(r.kind, r.amount_cents, r.move_date, r.remittance_id, r.adjustment_id))
    return out


def remit_of(row) -> Remit:
    """A posted remittance row (a mapping of the `remittances` table) as the claims core reads it."""
    return Remit(row["id"], row["paid_date"], row["paid_cents"], row["allowed_cents"],
                 row["patient_responsibility_cents"], row["reason_code"])


def remits(conn: Connection, numbers: set[str] | None = None) -> dict[str, list[Remit]]:
    """Applied remittances by claim number (as we issued it: staff may type it in any case)."""
    out: dict[str, list[Remit]] = defaultdict(list)
    q = select(remittances).where(remittances.c.applied_run_id.is_not(None)).order_by(remittances.c.id)
    if numbers is not None:
        q = q.where(func.upper(remittances.c.claim_number).in_(sorted(numbers)))
    for r in conn.execute(q):
        out[r.claim_number.upper()].append(remit_of(r._mapping))
    return out


def views(conn: Connection, as_of: date, policy: Policy) -> list[ClaimView]:
    """Every claim made by `as_of`, as of that date."""
    found = load(conn, as_of=as_of)
    if not found:
        return []
    all_moves, all_remits, members = moves(conn), remits(conn), member_ids(conn)
    return [view(c, all_moves.get(i, []), all_remits.get(c.number, []), as_of, policy, members.get(i))
            for i, c in found.items()]


def save_moves(conn: Connection, claim_id: int, new: list[Move], run_id: int) -> None:
    if new:
        conn.execute(claim_moves.insert(), [dict(claim_id=claim_id, kind=m.kind, amount_cents=m.cents,
                                                 move_date=m.date, remittance_id=m.remittance_id,
                                                 adjustment_id=m.adjustment_id, run_id=run_id) for m in new])


def claimed_line_ids(conn: Connection) -> set[int]:
    return set(conn.execute(select(claim_lines.c.service_line_id)).scalars())


def noticed_line_ids(conn: Connection) -> set[int]:
    return set(conn.execute(select(coverage_notice_lines.c.service_line_id)).scalars())


def payer_spellings(conn: Connection) -> dict[str, str]:
    """Payer key (billing.claims.payer_key) -> its name as the Payer Fees sheet spells it (the first row posted), so one payer
    is one name on every claim, notice and negotiation row whatever the client list says."""
    out: dict[str, str] = {}
    for name in conn.execute(select(payer_fees.c.payer).order_by(payer_fees.c.id)).scalars():
        out.setdefault(payer_key(name), name)
    return out


def payer_fee_versions(conn: Connection) -> dict[tuple[str, str], list[tuple[date, int, bool]]]:
    """(payer key, service code) -> [(effective from, allowed cents, covered)] oldest first."""
    out: dict[tuple[str, str], list[tuple[date, int, bool]]] = defaultdict(list)
    for r in conn.execute(select(payer_fees).order_by(payer_fees.c.effective_from)):
        out[(payer_key(r.payer), r.service_code)].append((r.effective_from, r.allowed_amount_cents, r.covered))
    return out


def insert_claim(conn: Connection, head: dict, lines: list[dict]) -> int:
    claim_id = conn.execute(claims.insert().values(**head)).inserted_primary_key[0]  # type: ignore[index]
    conn.execute(claim_lines.insert(), [dict(claim_id=claim_id, line_no=i, **line)
                                        for i, line in enumerate(lines, start=1)])
    return claim_id


def coverage_notice(conn: Connection, notice_id: int) -> dict:
    """A coverage notice's row, its `content` the JSON of what the letter says."""
    return dict(conn.execute(select(coverage_notices).where(coverage_notices.c.id == notice_id)).one()._mapping)


def insert_notice(conn: Connection, client_id: str, day: date, content: str, line_ids: list[int], run_id: int) -> int:
    notice_id = conn.execute(coverage_notices.insert().values(
        client_id=client_id, notice_date=day, content=content, run_id=run_id)).inserted_primary_key[0]  # type: ignore[index]
    conn.execute(coverage_notice_lines.insert(), [dict(service_line_id=i, notice_id=notice_id) for i in line_ids])
    return notice_id


def unbilled_patient_shares(conn: Connection, as_of: date) -> list[dict]:
    """Moves of a claim's money to its patient, dated by `as_of`, not yet on an invoice: {move_id, kind,
    client_id, claim_number, payer, service_date, cents}."""
    billed = exists().where(invoice_lines.c.claim_move_id == claim_moves.c.id)
    q = (select(claim_moves.c.id, claim_moves.c.kind, claim_moves.c.amount_cents, claims.c.client_id, claims.c.number,
                claims.c.payer, claims.c.service_date)
         .join(claims, claims.c.id == claim_moves.c.claim_id)
         .where(claim_moves.c.kind.in_(TO_PATIENT), claim_moves.c.amount_cents > 0, claim_moves.c.move_date <= as_of,
                ~billed)
         .order_by(claim_moves.c.id))
    return [{"move_id": r.id, "kind": r.kind, "client_id": r.client_id, "claim_number": r.number, "payer": r.payer,
             "service_date": r.service_date, "cents": r.amount_cents} for r in conn.execute(q)]


def awaiting_invoice_cents(conn: Connection, as_of: date) -> dict[str, int]:
    """Per client: patient shares moved off claims by `as_of` and not on an invoice dated by then."""
    billed = exists().where(invoice_lines.c.claim_move_id == claim_moves.c.id,
                            invoice_lines.c.invoice_id.in_(select(invoices.c.id).where(invoices.c.invoice_date <= as_of)))
    q = (select(claims.c.client_id, func.sum(claim_moves.c.amount_cents))
         .join(claims, claims.c.id == claim_moves.c.claim_id)
         .where(claim_moves.c.kind.in_(TO_PATIENT), claim_moves.c.move_date <= as_of, ~billed)
         .group_by(claims.c.client_id))
    return {c: int(v) for c, v in conn.execute(q) if v}


def submission_lines(conn: Connection, claim_date: date) -> list[SubmissionLine]:
    """The lines of the claims made on `claim_date`, in claim and line order, for staff to submit."""
    q = (select(claims.c.number, claims.c.payer, claims.c.member_id, claims.c.client_id, clients.c.name,
                claims.c.service_date, claim_lines.c.service_code, claim_lines.c.billing_code, claim_lines.c.quantity,
                claim_lines.c.billed_cents, claim_lines.c.allowed_cents)
         .join(claim_lines, claim_lines.c.claim_id == claims.c.id)
         .join(clients, clients.c.client_id == claims.c.client_id)
         .where(claims.c.claim_date == claim_date)
         .order_by(claims.c.number, claim_lines.c.line_no))
    return [SubmissionLine(r.number, r.payer, r.member_id, r.client_id, r.name, r.service_date, r.service_code,
                           r.billing_code, Decimal(r.quantity), r.billed_cents, r.allowed_cents) for r in conn.execute(q)]


def claim_owner(conn: Connection, number: str) -> dict | None:
    row = conn.execute(select(claims.c.id, claims.c.client_id, claims.c.payer).where(claims.c.number == number)).first()
    return dict(row._mapping) if row else None



def applied_remittance_keys(conn: Connection) -> set[tuple]:
    """(claim number, paid date, paid cents, reference) of every applied remittance."""
    return {(r.claim_number.upper(), r.paid_date, r.paid_cents, r.reference) for r in conn.execute(
        select(remittances.c.claim_number, remittances.c.paid_date, remittances.c.paid_cents, remittances.c.reference)
        .where(remittances.c.applied_run_id.is_not(None)))}
