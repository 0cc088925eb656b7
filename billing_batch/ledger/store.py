"""Reading and writing the ledger. Every function takes the run's open Connection."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Connection, Table, and_, exists, func, select

from billing_batch.billing.payments import Open
from billing_batch.billing.records import (
    ClientTerms, InvoiceDraft, OpenItem, RateVersion, ServiceLine,
)
from billing_batch.ledger.schema import (
    adjustments, allocations, claims, clients, collection_state, contacts, counters, credit_notes, invoice_lines,
    invoices, letters, outbox, payer_fees, payments, rates, runs, service_lines, source_files,
)
from billing_batch.money import ZERO, from_cents, to_cents

PAID = ("payment", "credit")  # money from the client applied to an invoice
ADJUSTED = ("write_off", "credit_note")  # corrections that reduce an invoice
REFUND = "refund"  # payment credit paid back to the client (no invoice)


# -- runs and files -------------------------------------------------------------------------------

def start_run(conn: Connection, business_date: date, started: datetime) -> int:
    return conn.execute(runs.insert().values(
        business_date=business_date, started_at=started, status="running", billed=False)).inserted_primary_key[0]


def finish_run(conn: Connection, run_id: int, status: str, billed: bool, report: dict) -> None:
    conn.execute(runs.update().where(runs.c.id == run_id).values(
        status=status, billed=billed, finished_at=datetime.now(), report=json.dumps(report, default=str)))


def last_billed_date(conn: Connection, before_or_on: date) -> date | None:
    return conn.execute(select(func.max(runs.c.business_date)).where(
        runs.c.billed.is_(True), runs.c.status == "ok", runs.c.business_date <= before_or_on)).scalar()


def record_file(conn: Connection, run_id: int, sha256: str, name: str, received: datetime) -> int:
    return conn.execute(source_files.insert().values(
        sha256=sha256, name=name, received_at=received, run_id=run_id)).inserted_primary_key[0]


# -- master data ------------------------------------------------------------------------------------

def client_rows(conn: Connection) -> dict[str, dict]:
    return {r.client_id: dict(r._mapping) for r in conn.execute(select(clients))}


def rate_versions(conn: Connection) -> dict[str, list[RateVersion]]:
    out: dict[str, list[RateVersion]] = defaultdict(list)
    for r in conn.execute(select(rates).order_by(rates.c.service_code, rates.c.effective_from)):
        out[r.service_code].append(RateVersion(
            r.service_code, r.effective_from, r.effective_to, r.description,
            from_cents(r.unit_price_cents), r.taxable, r.discretionary))
    return out


def client_terms(conn: Connection, default_terms: int) -> dict[str, ClientTerms]:
    return {r.client_id: ClientTerms(r.client_id, r.terms_days if r.terms_days is not None else default_terms,
                                     r.tax_exempt)
            for r in conn.execute(select(clients.c.client_id, clients.c.terms_days, clients.c.tax_exempt))}


# -- service lines -----------------------------------------------------------------------------------

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
    """Payers with a fee schedule, case-folded."""
    return {p.casefold() for p in conn.execute(select(payer_fees.c.payer).distinct()).scalars()}


def claim(conn: Connection, number: str) -> dict | None:
    row = conn.execute(select(claims).where(claims.c.number == number)).first()
    return dict(row._mapping) if row else None


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
    billed = exists().where(invoice_lines.c.service_line_id == service_lines.c.id)
    q = select(service_lines).where(~billed, service_lines.c.service_date <= as_of)
    return [ServiceLine(r.id, r.client_id, r.service_date, r.service_code, Decimal(r.quantity), r.description,
                        None if r.unit_price_override_cents is None else from_cents(r.unit_price_override_cents))
            for r in conn.execute(q)]


# -- documents ---------------------------------------------------------------------------------------

def next_number(conn: Connection, series: str, year: int) -> int:
    """The next number of a gapless series, allocated in the posting transaction."""
    row = conn.execute(select(counters.c.last).where(counters.c.series == series, counters.c.year == year)
                       .with_for_update()).first()
    if row is None:
        conn.execute(counters.insert().values(series=series, year=year, last=1))
        return 1
    conn.execute(counters.update().where(counters.c.series == series, counters.c.year == year)
                 .values(last=row.last + 1))
    return row.last + 1








def add_outbox(conn: Connection, kind: str, ref_id: int, path: str, run_id: int) -> None:
    conn.execute(outbox.insert().values(kind=kind, ref_id=ref_id, path=path, status="pending", attempts=0,
                                        run_id=run_id))


def pending_outbox(conn: Connection) -> list[dict]:
    return [dict(r._mapping) for r in conn.execute(
        select(outbox).where(outbox.c.status != "done").order_by(outbox.c.id))]




# -- aging ---------------------------------------------------------------------------------------------

def open_items(conn: Connection, as_of: date) -> list[OpenItem]:
    """Every invoice dated on or before `as_of` with what was paid and adjusted by then."""
    paid = func.coalesce(func.sum(allocations.c.amount_cents).filter(allocations.c.source.in_(PAID)), 0)
    adjusted = func.coalesce(func.sum(allocations.c.amount_cents).filter(allocations.c.source.in_(ADJUSTED)), 0)
    q = (select(invoices.c.number, invoices.c.client_id, invoices.c.invoice_date, invoices.c.due_date,
                invoices.c.total_cents, paid.label("paid"), adjusted.label("adjusted"))
         .select_from(invoices.outerjoin(allocations, and_(allocations.c.invoice_id == invoices.c.id,
                                                           allocations.c.alloc_date <= as_of)))
         .where(invoices.c.invoice_date <= as_of)
         .group_by(invoices.c.id, invoices.c.number, invoices.c.client_id, invoices.c.invoice_date,
                   invoices.c.due_date, invoices.c.total_cents))
    return [OpenItem(r.number, r.client_id, r.invoice_date, r.due_date, from_cents(r.total_cents),
                     from_cents(r.paid), from_cents(r.adjusted)) for r in conn.execute(q)]


def unapplied_credits(conn: Connection, as_of: date) -> dict[str, Decimal]:
    """Per client: payments dated ≤ as_of minus what of them was applied to invoices by then."""
    received = dict(conn.execute(select(payments.c.client_id, func.sum(payments.c.amount_cents))
                                 .where(payments.c.payment_date <= as_of).group_by(payments.c.client_id)).all())
    applied = dict(conn.execute(
        select(payments.c.client_id, func.sum(allocations.c.amount_cents))
        .join(allocations, allocations.c.payment_id == payments.c.id)
        .where(allocations.c.alloc_date <= as_of).group_by(payments.c.client_id)).all())
    return {c: from_cents(received[c] - applied.get(c, 0)) for c in received if received[c] != applied.get(c, 0)}


def ledger_balance(conn: Connection, as_of: date) -> Decimal:
    """Σ invoices − Σ payments − Σ adjustments (write-offs and credit notes less refunds), as of the
    date, straight from the ledger's tables rather than from the open items."""
    def total(q) -> int:
        return conn.execute(q).scalar() or 0

    invoiced = total(select(func.sum(invoices.c.total_cents)).where(invoices.c.invoice_date <= as_of))
    received = total(select(func.sum(payments.c.amount_cents)).where(payments.c.payment_date <= as_of))
    adjusted = total(select(func.sum(allocations.c.amount_cents))
                     .where(allocations.c.alloc_date <= as_of, allocations.c.source.in_(ADJUSTED)))
    refunded = total(select(func.sum(allocations.c.amount_cents))
                     .where(allocations.c.alloc_date <= as_of, allocations.c.source == REFUND))
    return from_cents(invoiced - received - adjusted + refunded)


def last_payment_dates(conn: Connection, as_of: date) -> dict[str, date]:
    return dict(conn.execute(select(payments.c.client_id, func.max(payments.c.payment_date))
                             .where(payments.c.payment_date <= as_of, payments.c.amount_cents > 0)
                             .group_by(payments.c.client_id)).all())


# -- applying money ------------------------------------------------------------------------------



def unapplied_payments(conn: Connection) -> list[dict]:
    """Payments posted but not yet applied, in date order."""
    return [dict(r._mapping) for r in conn.execute(
        select(payments).where(payments.c.applied_run_id.is_(None)).order_by(payments.c.payment_date, payments.c.id))]


def payment_credit_left(conn: Connection, client_id: str) -> list[tuple[int, date, int]]:
    """(payment id, payment date, cents not yet applied) of the client's payments with credit left,
    oldest first. A reversed payment has none (its reversal takes back what was left)."""
    applied = select(func.coalesce(func.sum(allocations.c.amount_cents), 0)).where(
        allocations.c.payment_id == payments.c.id).scalar_subquery()
    reversal = payments.alias("reversal")
    reversed_ = exists().where(reversal.c.reverses_payment_id == payments.c.id)
    q = (select(payments.c.id, payments.c.payment_date, (payments.c.amount_cents - applied).label("left"))
         .where(payments.c.client_id == client_id, payments.c.amount_cents > 0, ~reversed_,
                payments.c.applied_run_id.is_not(None))
         .order_by(payments.c.payment_date, payments.c.id))
    return [(r.id, r.payment_date, r.left) for r in conn.execute(q) if r.left > 0]


def payment_allocations(conn: Connection, payment_id: int) -> list[dict]:
    return [dict(r._mapping) for r in conn.execute(
        select(allocations).where(allocations.c.payment_id == payment_id).order_by(allocations.c.id))]


def add_allocation(conn: Connection, invoice_id: int | None, source: str, amount_cents: int, alloc_date: date,
                   run_id: int, payment_id: int | None = None, credit_note_id: int | None = None,
                   adjustment_id: int | None = None) -> None:
    conn.execute(allocations.insert().values(invoice_id=invoice_id, source=source, amount_cents=amount_cents,
                                             alloc_date=alloc_date, run_id=run_id, payment_id=payment_id,
                                             credit_note_id=credit_note_id, adjustment_id=adjustment_id))


def invoice_by_number(conn: Connection, number: str) -> dict | None:
    row = conn.execute(select(invoices).where(invoices.c.number == number)).first()
    return dict(row._mapping) if row else None


def invoice_paid_cents(conn: Connection, invoice_id: int) -> int:
    return conn.execute(select(func.coalesce(func.sum(allocations.c.amount_cents), 0)).where(
        allocations.c.invoice_id == invoice_id, allocations.c.source.in_(PAID))).scalar()


def unapplied_adjustments(conn: Connection) -> list[dict]:
    return [dict(r._mapping) for r in conn.execute(
        select(adjustments).where(adjustments.c.applied_run_id.is_(None)).order_by(adjustments.c.date,
                                                                                  adjustments.c.id))]


def insert_credit_note(conn: Connection, number: str, kind: str, invoice: dict, issue_date: date, amount_cents: int,
                       reason: str, adjustment_id: int, run_id: int) -> int:
    return conn.execute(credit_notes.insert().values(
        number=number, kind=kind, invoice_id=invoice["id"], client_id=invoice["client_id"], issue_date=issue_date,
        amount_cents=amount_cents, reason=reason, adjustment_id=adjustment_id, run_id=run_id)).inserted_primary_key[0]


def credit_note_with_invoice(conn: Connection, credit_note_id: int) -> tuple[dict, dict]:
    cn = dict(conn.execute(select(credit_notes).where(credit_notes.c.id == credit_note_id)).one()._mapping)
    inv = dict(conn.execute(select(invoices).where(invoices.c.id == cn["invoice_id"])).one()._mapping)
    return cn, inv


def invoice_balance_cents(conn: Connection, invoice_id: int, through_credit_note: int | None = None) -> int:
    """What is still owed on the invoice now; with `through_credit_note`, just after that credit note
    (so a credit note's document shows the same balance whenever it is rendered)."""
    total = conn.execute(select(invoices.c.total_cents).where(invoices.c.id == invoice_id)).scalar_one()
    q = select(func.coalesce(func.sum(allocations.c.amount_cents), 0)).where(allocations.c.invoice_id == invoice_id)
    if through_credit_note is not None:
        upto = select(allocations.c.id).where(allocations.c.credit_note_id == through_credit_note).scalar_subquery()
        q = q.where(allocations.c.id <= upto)
    return total - conn.execute(q).scalar()


def mark_applied(conn: Connection, table: Table, record_id: int, run_id: int) -> None:
    conn.execute(table.update().where(table.c.id == record_id).values(applied_run_id=run_id))


def client_activity(conn: Connection, client_id: str, start: date, end: date) -> list[tuple[date, str, str, int]]:
    """Payments and credits of a client dated in [start, end]: (date, description, reference, cents as the
    client reads them: what lowers the balance is negative)."""
    out = []
    for p in conn.execute(select(payments).where(payments.c.client_id == client_id,
                                                 payments.c.payment_date.between(start, end))):
        what = "Payment received" if p.amount_cents > 0 else "Payment returned (reversed)"
        out.append((p.payment_date, what + (f" — {p.method}" if p.method else ""), p.reference, -p.amount_cents))
    for r in conn.execute(select(credit_notes.c.issue_date, credit_notes.c.number, credit_notes.c.kind,
                                 credit_notes.c.amount_cents, invoices.c.number.label("invoice"))
                          .join(invoices, invoices.c.id == credit_notes.c.invoice_id)
                          .where(credit_notes.c.client_id == client_id, credit_notes.c.issue_date.between(start, end))):
        what = f"Invoice {r.invoice} voided" if r.kind == "void" else f"Credit note for invoice {r.invoice}"
        out.append((r.issue_date, what, r.number, -r.amount_cents))
    for r in conn.execute(select(adjustments.c.date, adjustments.c.kind, adjustments.c.invoice_number,
                                 adjustments.c.amount_cents)
                          .where(adjustments.c.client_id == client_id, adjustments.c.applied_run_id.is_not(None),
                                 adjustments.c.kind.in_(("Write-off", "Refund")),
                                 adjustments.c.date.between(start, end))):
        if r.kind == "Refund":
            out.append((r.date, "Refund of credit", "", r.amount_cents))
        else:
            on = f" on invoice {r.invoice_number}" if r.invoice_number else ""
            out.append((r.date, f"Balance written off{on}", "", -r.amount_cents))
    return sorted(out, key=lambda a: a[0])


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


# -- collections ------------------------------------------------------------------------------------

def collection_states(conn: Connection) -> dict[str, dict]:
    return {r.client_id: dict(r._mapping) for r in conn.execute(select(collection_state))}


def save_collection_state(conn: Connection, client_id: str, series: int, level: int, last_letter: date | None,
                          run_id: int, exists_: bool) -> None:
    values = dict(series=series, level=level, last_letter_date=last_letter, run_id=run_id)
    if exists_:
        conn.execute(collection_state.update().where(collection_state.c.client_id == client_id).values(**values))
    else:
        conn.execute(collection_state.insert().values(client_id=client_id, **values))


def invoice_shares(conn: Connection) -> dict[str, tuple[int, int]]:
    """Invoice number -> (non-discretionary line amounts, subtotal), for plan eligibility."""
    nondisc = func.coalesce(func.sum(invoice_lines.c.amount_cents).filter(invoice_lines.c.discretionary.is_(False)), 0)
    q = (select(invoices.c.number, nondisc.label("nondisc"), invoices.c.subtotal_cents)
         .join(invoice_lines, invoice_lines.c.invoice_id == invoices.c.id)
         .group_by(invoices.c.number, invoices.c.subtotal_cents))
    return {r.number: (r.nondisc, r.subtotal_cents) for r in conn.execute(q)}


def contact_summaries(conn: Connection, as_of: date) -> dict[str, dict]:
    """Per client, from the Contact Log up to the date: the last contact, the latest promise to pay,
    whether a dispute is open (a Dispute not followed by Dispute resolved)."""
    out: dict[str, dict] = {}
    q = (select(contacts).where(contacts.c.contact_date <= as_of)
         .order_by(contacts.c.client_id, contacts.c.contact_date, contacts.c.id))
    for r in conn.execute(q):
        s = out.setdefault(r.client_id, {"last": None, "promise_date": None, "promise_cents": None,
                                         "dispute": False, "plan_requested": False})
        s["last"] = (r.contact_date, r.outcome)
        if r.outcome == "Promise to pay":
            s["promise_date"], s["promise_cents"] = r.promise_date, r.promise_amount_cents
        elif r.outcome in ("Dispute", "Dispute resolved"):
            s["dispute"] = r.outcome == "Dispute"
        elif r.outcome == "Plan requested":
            s["plan_requested"] = True
    return out


def insert_letter(conn: Connection, client_id: str, series: int, level: int, level_name: str, letter_date: date,
                  amount_cents: int, content: dict, run_id: int) -> int:
    return conn.execute(letters.insert().values(
        client_id=client_id, series=series, level=level, level_name=level_name, letter_date=letter_date,
        amount_cents=amount_cents, content=json.dumps(content, default=str), run_id=run_id)).inserted_primary_key[0]


def letter(conn: Connection, letter_id: int) -> dict:
    return dict(conn.execute(select(letters).where(letters.c.id == letter_id)).one()._mapping)


def last_letters(conn: Connection) -> dict[str, tuple[date, str]]:
    """Per client, the date and level name of the latest letter."""
    out = {}
    for r in conn.execute(select(letters.c.client_id, letters.c.letter_date, letters.c.level_name)
                          .order_by(letters.c.letter_date, letters.c.id)):
        out[r.client_id] = (r.letter_date, r.level_name)
    return out


# -- bulk paths for big runs --------------------------------------------------------------------------

def reserve_numbers(conn: Connection, series: str, year: int, count: int) -> int:
    """Allocate `count` consecutive numbers of a gapless series at once; returns the first."""
    row = conn.execute(select(counters.c.last).where(counters.c.series == series, counters.c.year == year)
                       .with_for_update()).first()
    if row is None:
        conn.execute(counters.insert().values(series=series, year=year, last=count))
        return 1
    conn.execute(counters.update().where(counters.c.series == series, counters.c.year == year)
                 .values(last=row.last + count))
    return row.last + 1


def insert_invoices(conn: Connection, batch: list[tuple[InvoiceDraft, str, dict]], run_id: int) -> dict[str, int]:
    """Insert (draft, number, bill_to) invoices and their lines in bulk; returns number -> id."""
    if not batch:
        return {}
    conn.execute(invoices.insert(), [
        dict(number=number, client_id=d.client_id, invoice_date=d.invoice_date, due_date=d.due_date,
             terms_days=d.terms_days, subtotal_cents=to_cents(d.subtotal), tax_cents=to_cents(d.tax),
             tax_rate=str(d.tax_rate), total_cents=to_cents(d.total), bill_to=json.dumps(bill_to), run_id=run_id)
        for d, number, bill_to in batch])
    ids = dict(conn.execute(select(invoices.c.number, invoices.c.id).where(invoices.c.run_id == run_id)).all())
    conn.execute(invoice_lines.insert(), [
        dict(invoice_id=ids[number], line_no=i, service_line_id=l.service_line_id, service_date=l.service_date,
             service_code=l.service_code, description=l.description, quantity=str(l.quantity),
             unit_price_cents=to_cents(l.unit_price), amount_cents=to_cents(l.amount), taxable=l.taxable,
             discretionary=l.discretionary)
        for d, number, _ in batch for i, l in enumerate(d.lines, start=1)])
    return ids


def add_outboxes(conn: Connection, rows: list[tuple[str, int, str]], run_id: int) -> None:
    if rows:
        conn.execute(outbox.insert(), [dict(kind=k, ref_id=ref, path=path, status="pending", attempts=0,
                                            run_id=run_id) for k, ref, path in rows])


def clients_with_credit(conn: Connection) -> set[str]:
    """Clients with credit a new invoice can take: applied, unreversed payments with something left
    (the rule of `payment_credit_left`, for every client in one query)."""
    applied = select(func.coalesce(func.sum(allocations.c.amount_cents), 0)).where(
        allocations.c.payment_id == payments.c.id).scalar_subquery()
    reversal = payments.alias("reversal")
    q = (select(payments.c.client_id).distinct()
         .where(payments.c.amount_cents > 0, payments.c.applied_run_id.is_not(None),
                ~exists().where(reversal.c.reverses_payment_id == payments.c.id),
                payments.c.amount_cents > applied))
    return set(conn.execute(q).scalars())


def all_open_invoices(conn: Connection, client_ids: set[str]) -> dict[str, list[Open]]:
    """Every invoice of the given clients with its balance now, every allocation counted whatever its
    date (paid ones too: a reversal in the same run may re-open them)."""
    applied = func.coalesce(func.sum(allocations.c.amount_cents), 0)
    out: dict[str, list[Open]] = defaultdict(list)
    ids = sorted(client_ids)
    for start in range(0, len(ids), 500):
        q = (select(invoices.c.id, invoices.c.number, invoices.c.client_id, invoices.c.invoice_date,
                    invoices.c.due_date, (invoices.c.total_cents - applied).label("balance"))
             .select_from(invoices.outerjoin(allocations, allocations.c.invoice_id == invoices.c.id))
             .where(invoices.c.client_id.in_(ids[start:start + 500]))
             .group_by(invoices.c.id, invoices.c.number, invoices.c.client_id, invoices.c.invoice_date,
                       invoices.c.due_date, invoices.c.total_cents))
        for r in conn.execute(q):
            out[r.client_id].append(Open(r.id, r.number, r.invoice_date, r.due_date, r.balance))
    return out


def add_allocations(conn: Connection, rows: list[dict]) -> None:
    if rows:
        conn.execute(allocations.insert(), rows)


def mark_all_applied(conn: Connection, table: Table, ids: list[int], run_id: int) -> None:
    for start in range(0, len(ids), 500):
        conn.execute(table.update().where(table.c.id.in_(ids[start:start + 500])).values(applied_run_id=run_id))


def invoices_for_documents(conn: Connection, invoice_ids: list[int]) -> dict[int, tuple[dict, list[dict], int]]:
    """invoice id -> (invoice, lines, credit applied at issue) for many invoices in a few queries."""
    out: dict[int, tuple[dict, list[dict], int]] = {}
    for start in range(0, len(invoice_ids), 500):
        chunk = invoice_ids[start:start + 500]
        heads = {r.id: dict(r._mapping) for r in conn.execute(select(invoices).where(invoices.c.id.in_(chunk)))}
        lines: dict[int, list[dict]] = defaultdict(list)
        for r in conn.execute(select(invoice_lines).where(invoice_lines.c.invoice_id.in_(chunk))
                              .order_by(invoice_lines.c.invoice_id, invoice_lines.c.line_no)):
            lines[r.invoice_id].append(dict(r._mapping))
        credit = dict(conn.execute(
            select(allocations.c.invoice_id, func.sum(allocations.c.amount_cents))
            .join(invoices, invoices.c.id == allocations.c.invoice_id)
            .where(allocations.c.invoice_id.in_(chunk), allocations.c.source == "credit",
                   allocations.c.alloc_date == invoices.c.invoice_date)
            .group_by(allocations.c.invoice_id)).all())
        for i, head in heads.items():
            out[i] = (head, lines[i], credit.get(i, 0))
    return out


def mark_outboxes(conn: Connection, outcomes: list[tuple[int, str | None]]) -> None:
    """(outbox id, error or None) for a batch of jobs."""
    done = [i for i, err in outcomes if err is None]
    for start in range(0, len(done), 500):
        conn.execute(outbox.update().where(outbox.c.id.in_(done[start:start + 500]))
                     .values(status="done", attempts=outbox.c.attempts + 1, last_error=None))
    for i, err in outcomes:
        if err is not None:
            conn.execute(outbox.update().where(outbox.c.id == i).values(
                status="failed", attempts=outbox.c.attempts + 1, last_error=err))
