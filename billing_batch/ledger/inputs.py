"""What staff dropped, as posted: master data and transactions, and what posting asks of them."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, Table, and_, exists, or_, select

from billing_batch.billing.records import (
    ClientTerms,
    RateVersion,
    ServiceLine,
)
from billing_batch.ledger.schema import (
    claim_lines,
    clients,
    invoice_lines,
    invoices,
    payer_fees,
    payments,
    rates,
    runs,
    service_lines,
    source_files,
)
from billing_batch.billing.claims import payer_key
from billing_batch.money import from_cents


def client_rows(conn: Connection) -> dict[str, dict]:
    result = conn.execute(select(clients))
    keys = list(result.keys())
    at = keys.index("client_id")
    return {r[at]: dict(zip(keys, r)) for r in result}  # zip over the plain tuples: ~3x dict(row._mapping)


def client_ids(conn: Connection) -> set[str]:
    return set(conn.execute(select(clients.c.client_id)).scalars())


def rate_versions(conn: Connection) -> dict[str, list[RateVersion]]:
    out: dict[str, list[RateVersion]] = defaultdict(list)
    for r in conn.execute(select(rates).order_by(rates.c.service_code, rates.c.effective_from)):
        out[r.service_code].append(RateVersion(
            r.service_code, r.effective_from, r.effective_to, r.description,
            from_cents(r.unit_price_cents), r.taxable, r.discretionary, r.billing_code))
    return out


def client_terms(conn: Connection, default_terms: int) -> dict[str, ClientTerms]:
    return {r.client_id: ClientTerms(r.client_id, r.terms_days if r.terms_days is not None else default_terms,
                                     r.tax_exempt)
            for r in conn.execute(select(clients.c.client_id, clients.c.terms_days, clients.c.tax_exempt))}


def posted_identities(conn: Connection, table: Table, identities: list[str]) -> dict[tuple[str, int], dict]:
    """(identity, occurrence) -> content hash, business date and file of the posted row."""
    found = {}
    for start in range(0, len(identities), 500):
        chunk = identities[start:start + 500]
        q = (select(table.c.identity, table.c.occurrence, table.c.content_hash, table.c.source_row,
                    runs.c.business_date, source_files.c.name)
             .join(runs, runs.c.id == table.c.run_id)
             .outerjoin(source_files, source_files.c.id == table.c.source_file_id)
             .where(table.c.identity.in_(chunk)))
        for r in conn.execute(q):
            found[(r.identity, r.occurrence)] = {"hash": r.content_hash, "date": r.business_date,
                                                 "file": r.name, "row": r.source_row}
    return found


def invoice_owners(conn: Connection) -> dict[str, str]:
    return dict(conn.execute(select(invoices.c.number, invoices.c.client_id)).all())


def payer_names(conn: Connection) -> set[str]:
    """Payers with a fee schedule, as matched (billing.claims.payer_key)."""
    return {payer_key(p) for p in conn.execute(select(payer_fees.c.payer).distinct()).scalars()}


def reversible_payments(conn: Connection) -> dict[tuple[str, str], list[dict]]:
    """Positive payments with a Reference, by (client, reference), and whether a reversal points at them."""
    reversal = payments.alias("reversal")
    reversed_ = exists().where(reversal.c.reverses_payment_id == payments.c.id)
    out: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in conn.execute(select(payments.c.id, payments.c.client_id, payments.c.reference, payments.c.amount_cents,
                                 payments.c.identity, payments.c.occurrence, reversed_.label("reversed"))
                          .where(payments.c.amount_cents > 0, payments.c.reference.is_not(None))):
        out[(r.client_id, r.reference)].append({"id": r.id, "amount_cents": r.amount_cents,
                                                "reversed": bool(r.reversed), "key": (r.identity, r.occurrence)})
    return out


def link_reversal(conn: Connection, reversal: tuple[str, int], original: tuple[str, int]) -> None:
    """Point a reversal at a payment inserted in the same run (its id was not known before)."""
    original_id = conn.execute(select(payments.c.id).where(payments.c.identity == original[0],
                                                           payments.c.occurrence == original[1])).scalar_one()
    conn.execute(payments.update().where(payments.c.identity == reversal[0], payments.c.occurrence == reversal[1])
                 .values(reverses_payment_id=original_id))


def unbilled_lines(conn: Connection, as_of: date) -> list[ServiceLine]:
    """Service lines dated by `as_of` on no invoice and no claim."""
    billed = exists().where(invoice_lines.c.service_line_id == service_lines.c.id)
    claimed = exists().where(claim_lines.c.service_line_id == service_lines.c.id)
    q = select(service_lines).where(~billed, ~claimed, service_lines.c.service_date <= as_of)
    return [ServiceLine(r.id, r.client_id, r.service_date, r.service_code, Decimal(r.quantity), r.description,
                        None if r.unit_price_override_cents is None else from_cents(r.unit_price_override_cents))
            for r in conn.execute(q)]


def service_line_sources(conn: Connection, ids: list[int]) -> dict[int, tuple[str, str | None, int | None]]:
    """Service line id -> (file, sheet, Excel row) it was posted from."""
    out = {}
    for start in range(0, len(ids), 500):
        q = (select(service_lines.c.id, source_files.c.name, service_lines.c.source_sheet, service_lines.c.source_row)
             .outerjoin(source_files, source_files.c.id == service_lines.c.source_file_id)
             .where(service_lines.c.id.in_(ids[start:start + 500])))
        out.update({r.id: (r.name or "an earlier file", r.source_sheet, r.source_row) for r in conn.execute(q)})
    return out


def possible_duplicates(conn: Connection, run_id: int) -> list[tuple[str, date, str, str, str]]:
    """Services posted in this run whose client, date and code match a service from another file:
    (client, date, code, this file, other file)."""
    a, b = service_lines.alias("a"), service_lines.alias("b")
    fa, fb = source_files.alias("fa"), source_files.alias("fb")
    q = (select(a.c.client_id, a.c.service_date, a.c.service_code, fa.c.name, fb.c.name.label("other"))
         .join(b, and_(a.c.client_id == b.c.client_id, a.c.service_date == b.c.service_date,
                       a.c.service_code == b.c.service_code, a.c.id != b.c.id))
         .join(fa, fa.c.id == a.c.source_file_id).join(fb, fb.c.id == b.c.source_file_id)
         .where(a.c.run_id == run_id, fa.c.name != fb.c.name, b.c.id < a.c.id)
         .distinct())
    return [tuple(r) for r in conn.execute(q)]


def possible_duplicate_payments(conn: Connection, run_id: int) -> list[tuple[str, date, str]]:
    """Payments posted in this run that look like an earlier, unreversed payment of the client with the same
    Reference, or the same date and amount, but are not the same row (say, a corrected Method or amount
    dropped again): (client, payment date, the earlier row's file)."""
    a, b, rev = payments.alias("a"), payments.alias("b"), payments.alias("rev")
    fb = source_files.alias("fb")
    same = or_(and_(a.c.reference.is_not(None), a.c.reference == b.c.reference),
               and_(a.c.payment_date == b.c.payment_date, a.c.amount_cents == b.c.amount_cents))
    q = (select(a.c.client_id, a.c.payment_date, fb.c.name)
         .join(b, and_(a.c.client_id == b.c.client_id, a.c.id != b.c.id, b.c.id < a.c.id, same))
         .outerjoin(fb, fb.c.id == b.c.source_file_id)
         .where(a.c.run_id == run_id, a.c.amount_cents > 0, b.c.amount_cents > 0,
                ~exists().where(rev.c.reverses_payment_id == b.c.id))
         .distinct())
    return [(r.client_id, r.payment_date, r.name or "an earlier file") for r in conn.execute(q)]


def mark_applied(conn: Connection, table: Table, record_id: int, run_id: int) -> None:
    conn.execute(table.update().where(table.c.id == record_id).values(applied_run_id=run_id))


def mark_all_applied(conn: Connection, table: Table, ids: list[int], run_id: int) -> None:
    for start in range(0, len(ids), 500):
        conn.execute(table.update().where(table.c.id.in_(ids[start:start + 500])).values(applied_run_id=run_id))
