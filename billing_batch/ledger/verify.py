"""The ledger's proof of itself (SPEC §4.3, §6), computed from the source tables, not from the
allocations the engine wrote: what was invoiced, credited, written off, paid and refunded, per
client, must equal what the aging shows open less unapplied credit. Then the allocations themselves
are bounded by what they move, every numbered series is gapless, and every issued document has its
one outbox row. Each failure is one sentence naming what is wrong; an empty list means it proves."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, Table, func, select

from billing_batch.billing import claims as C
from billing_batch.billing.claims import CONTRACTUAL, PAYER_PAID, TO_PATIENT, WRITE_OFF
from billing_batch.billing.records import OpenItem
from billing_batch.ledger import balances
from billing_batch.ledger import claims as claim_ledger
from billing_batch.ledger.schema import (
    adjustments, allocations, claim_lines, claim_moves, claims, counters, coverage_notices, credit_notes, invoice_lines,
    invoices, letters, outbox, payments, plan_installments, plan_items, plan_letters, plans, remittances, runs,
)
from billing_batch.money import fmt_money, from_cents, to_cents
from billing_batch.wording import counted

_NUMBER = re.compile(r"^(.+)-(\d{4})-(\d+)$")
SHOWN = 5  # failures of one kind named in full; the rest counted


@dataclass(frozen=True)
class Verification:
    as_of: date
    source_balance: Decimal  # Σ invoices − credit notes − write-offs − payments + refunds, from the inputs
    failures: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.failures


def _sum_by_client(conn: Connection, table: Table, amount, *where) -> dict[str, int]:
    q = select(table.c.client_id, func.sum(amount)).where(*where).group_by(table.c.client_id)
    return {c: int(v or 0) for c, v in conn.execute(q)}


def _by_client(conn: Connection, q) -> dict[str, int]:
    return {c: int(v or 0) for c, v in conn.execute(q)}


def source_balances(conn: Connection, as_of: date) -> dict[str, int]:
    """Per client, from the inputs and issued documents only (no allocation is read): what the client
    and their insurers owe together. Services billed (invoices without the patients' shares of claims,
    which only move money from a claim to its patient, plus claims) less payments, refunds paid back
    out, credit notes, write-offs (of invoices and of claims), payers' payments and contractual
    adjustments."""
    out: dict[str, int] = defaultdict(int)
    applied_adj = adjustments.c.applied_run_id.is_not(None)
    parts = [
        (1, _sum_by_client(conn, invoices, invoices.c.total_cents, invoices.c.invoice_date <= as_of)),
        (-1, _sum_by_client(conn, credit_notes, credit_notes.c.amount_cents, credit_notes.c.issue_date <= as_of)),
        (-1, _sum_by_client(conn, adjustments, adjustments.c.amount_cents, applied_adj,
                            adjustments.c.kind == "Write-off", adjustments.c.date <= as_of)),
        (-1, _sum_by_client(conn, payments, payments.c.amount_cents, payments.c.applied_run_id.is_not(None),
                            payments.c.payment_date <= as_of)),
        (1, _sum_by_client(conn, adjustments, adjustments.c.amount_cents, applied_adj,
                           adjustments.c.kind == "Refund", adjustments.c.date <= as_of)),
        (-1, _by_client(conn, select(invoices.c.client_id, func.sum(invoice_lines.c.amount_cents))
                        .join(invoice_lines, invoice_lines.c.invoice_id == invoices.c.id)
                        .where(invoice_lines.c.claim_move_id.is_not(None), invoices.c.invoice_date <= as_of)
                        .group_by(invoices.c.client_id))),
        (1, _sum_by_client(conn, claims, claims.c.billed_cents, claims.c.claim_date <= as_of)),
        (-1, _by_client(conn, select(claims.c.client_id, func.sum(remittances.c.paid_cents))
                        .join(remittances, func.upper(remittances.c.claim_number) == claims.c.number)
                        .where(remittances.c.applied_run_id.is_not(None), remittances.c.paid_date <= as_of)
                        .group_by(claims.c.client_id))),
        (-1, _by_client(conn, select(claims.c.client_id, func.sum(claim_moves.c.amount_cents))
                        .join(claim_moves, claim_moves.c.claim_id == claims.c.id)
                        .where(claim_moves.c.kind == CONTRACTUAL, claim_moves.c.move_date <= as_of)
                        .group_by(claims.c.client_id))),
        # A claim write-off the payer's later payment took back (a negative write-off of its remittance).
        (-1, _by_client(conn, select(claims.c.client_id, func.sum(claim_moves.c.amount_cents))
                        .join(claim_moves, claim_moves.c.claim_id == claims.c.id)
                        .where(claim_moves.c.kind == WRITE_OFF, claim_moves.c.remittance_id.is_not(None),
                               claim_moves.c.move_date <= as_of)
                        .group_by(claims.c.client_id))),
    ]
    for sign, sums in parts:
        for client, cents in sums.items():
            out[client] += sign * cents
    return out


def _listed(kind: str, problems: list[str]) -> list[str]:
    if len(problems) <= SHOWN:
        return problems
    return problems[:SHOWN] + [f"… and {len(problems) - SHOWN} more {kind}"]


@dataclass(frozen=True)
class Read:
    """What the aging read as of the date, in the same transaction: the proof checks the same rows
    rather than reading them again (the inputs' side, source_balances, is always read here)."""
    items: list[OpenItem]
    credits: dict[str, Decimal]
    insurer: dict[str, int]
    awaiting: dict[str, int]


def read_as_of(conn: Connection, as_of: date) -> Read:
    return Read(balances.open_items(conn, as_of), balances.unapplied_credits(conn, as_of), insurer_open(conn, as_of),
                claim_ledger.awaiting_invoice_cents(conn, as_of))


def verify(conn: Connection, as_of: date, read: Read | None = None) -> Verification:
    failures: list[str] = []
    read = read or read_as_of(conn, as_of)
    # 1. Each client's balance from the inputs equals the aging's open items less unapplied credit.
    source = source_balances(conn, as_of)
    aged: dict[str, int] = defaultdict(int)
    for item in read.items:
        aged[item.client_id] += to_cents(item.balance)
    for client, credit in read.credits.items():
        aged[client] -= to_cents(credit)
    for client, cents in read.insurer.items():
        aged[client] += cents
    for client, cents in read.awaiting.items():
        aged[client] += cents
    off = [f"client {c}: the inputs give {fmt_money(source.get(c, 0))}, the aging {fmt_money(aged.get(c, 0))}"
           for c in sorted(set(source) | set(aged)) if source.get(c, 0) != aged.get(c, 0)]
    failures += _listed("clients", off)
    # 2. Allocations never move more than their money, and no invoice goes below zero or above its amount.
    used = select(allocations.c.payment_id, func.sum(allocations.c.amount_cents).label("used")) \
        .group_by(allocations.c.payment_id).subquery()
    bad = [f"payment {r.id} of client {r.client_id} ({fmt_money(r.amount_cents)}) has {fmt_money(r.used)} applied"
           for r in conn.execute(select(payments.c.id, payments.c.client_id, payments.c.amount_cents, used.c.used)
                                 .join(used, used.c.payment_id == payments.c.id))
           if not (0 <= r.used <= r.amount_cents or r.amount_cents <= r.used <= 0)]
    failures += _listed("payments", bad)
    bad = []
    for on in (as_of, None):
        for item in (read.items if on == as_of else balances.open_items(conn, on)):
            if not 0 <= item.balance <= item.amount:
                when = f"on {on:%Y-%m-%d}" if on else "now"
                bad.append(f"invoice {item.invoice_number} has a balance of {fmt_money(item.balance)} {when}, "
                           f"outside 0 to {fmt_money(item.amount)}")
    failures += _listed("invoices", sorted(set(bad)))
    # 3. Each issued document is what was issued: lines add up to the invoice, dated on its run's day;
    # each allocation is what moved it, dated no later than the run that wrote it.
    failures += _listed("documents", _documents(conn))
    failures += _listed("allocations", _allocations(conn))
    failures += _listed("payment plans", _plans(conn))
    failures += _listed("claims", _claims(conn, as_of))
    # 4. Every numbered series is gapless: the numbers issued are exactly 1..last of its counter.
    issued: dict[tuple[str, int], list[int]] = defaultdict(list)
    for number in [*conn.execute(select(invoices.c.number)).scalars(), *conn.execute(select(credit_notes.c.number)).scalars(),
                   *conn.execute(select(plans.c.number)).scalars(), *conn.execute(select(claims.c.number)).scalars()]:
        m = _NUMBER.match(number)
        if m:
            issued[(m[1], int(m[2]))].append(int(m[3]))
    last = {(r.series, r.year): r.last for r in conn.execute(select(counters))}
    for key in sorted(set(issued) | set(last)):
        numbers = sorted(issued.get(key, []))
        if numbers != list(range(1, last.get(key, 0) + 1)):
            failures.append(f"the {key[0]} numbers of {key[1]} are not 1 to {last.get(key, 0)} without gaps or repeats "
                            f"({len(numbers)} issued)")
    # 5. Every issued document has exactly one outbox row, and every outbox row an issued document.
    docs = {"invoice": invoices, "credit_note": credit_notes, "letter": letters, "plan_letter": plan_letters,
            "coverage_notice": coverage_notices}
    queued = defaultdict(set)
    for kind, ref in conn.execute(select(outbox.c.kind, outbox.c.ref_id).where(outbox.c.kind.in_(docs))):
        queued[kind].add(ref)
    for kind, table in docs.items():
        ids = set(conn.execute(select(table.c.id)).scalars())
        missing, orphans = sorted(ids - queued[kind]), sorted(queued[kind] - ids)
        if missing:
            failures.append(f"{counted(len(missing), 'issued ' + kind.replace('_', ' '))} without a document queued "
                            f"(ids {', '.join(map(str, missing[:SHOWN]))})")
        if orphans:
            failures.append(f"{counted(len(orphans), 'queued ' + kind.replace('_', ' ') + ' document')} naming nothing "
                            "issued")
    return Verification(as_of, from_cents(sum(source.values())), tuple(failures))


def _documents(conn: Connection) -> list[str]:
    out = []
    lines = select(invoice_lines.c.invoice_id, func.sum(invoice_lines.c.amount_cents).label("sum"),
                   func.count().label("n")).group_by(invoice_lines.c.invoice_id).subquery()
    q = (select(invoices.c.number, invoices.c.subtotal_cents, invoices.c.tax_cents, invoices.c.total_cents,
                invoices.c.invoice_date, runs.c.business_date, lines.c.sum, lines.c.n)
         .join(runs, runs.c.id == invoices.c.run_id).outerjoin(lines, lines.c.invoice_id == invoices.c.id))
    for r in conn.execute(q):
        if not r.n or r.sum != r.subtotal_cents or r.subtotal_cents + r.tax_cents != r.total_cents:
            out.append(f"invoice {r.number}'s lines ({fmt_money(r.sum or 0)}, {counted(r.n or 0, 'line')}) and tax do not add up "
                       f"to its total of {fmt_money(r.total_cents)}")
        if r.invoice_date != r.business_date:
            out.append(f"invoice {r.number} is dated {r.invoice_date:%Y-%m-%d}, not on the day it was issued "
                       f"({r.business_date:%Y-%m-%d})")
    return out


# What each allocation source must point at (a payment, an adjustment, a credit note, an invoice).
_SOURCES = {"payment": ("payment_id", True), "credit": ("payment_id", True), "refund": ("payment_id", False),
            "write_off": ("adjustment_id", True), "credit_note": ("credit_note_id", True)}


def _plans(conn: Connection) -> list[str]:
    """A plan's installments and its parts of invoices each add up to its amount, and money counted
    toward it was applied to one of its invoices."""
    amounts = dict(conn.execute(select(plans.c.id, plans.c.amount_cents)).all())
    numbers = dict(conn.execute(select(plans.c.id, plans.c.number)).all())
    out = []
    for table, what in ((plan_installments, "installments"), (plan_items, "parts of invoices")):
        sums = dict(conn.execute(select(table.c.plan_id, func.sum(table.c.amount_cents)).group_by(table.c.plan_id)).all())
        out += [f"plan {numbers[p]}'s {what} come to {fmt_money(sums.get(p, 0))}, not its {fmt_money(a)}"
                for p, a in sorted(amounts.items()) if sums.get(p, 0) != a]
    items = {(r.plan_id, r.invoice_id) for r in conn.execute(select(plan_items.c.plan_id, plan_items.c.invoice_id))}
    stray = conn.execute(select(allocations.c.id, allocations.c.plan_id, allocations.c.invoice_id)
                         .where(allocations.c.plan_id.is_not(None))).all()
    out += [f"allocation {a.id} counts toward plan {numbers.get(a.plan_id, a.plan_id)} but is not on one of its "
            "invoices" for a in stray if (a.plan_id, a.invoice_id) not in items]
    return out


def _allocations(conn: Connection) -> list[str]:
    out = []
    q = select(allocations, runs.c.business_date).join(runs, runs.c.id == allocations.c.run_id)
    for a in conn.execute(q):
        rule = _SOURCES.get(a.source)
        if rule is None or getattr(a, rule[0]) is None or (a.invoice_id is not None) != rule[1]:
            out.append(f"allocation {a.id} ({a.source}) does not point at what moved it")
        if a.alloc_date > a.business_date:
            out.append(f"allocation {a.id} is dated {a.alloc_date:%Y-%m-%d}, after the run that made it "
                       f"({a.business_date:%Y-%m-%d})")
    # Each applied adjustment moved exactly its amount; each credit note exactly its amount.
    moved = dict(conn.execute(select(allocations.c.adjustment_id, func.sum(allocations.c.amount_cents))
                              .where(allocations.c.source.in_(("write_off", "refund")))
                              .group_by(allocations.c.adjustment_id)).all())
    for adj in conn.execute(select(adjustments.c.id, adjustments.c.kind, adjustments.c.amount_cents)
                            .where(adjustments.c.applied_run_id.is_not(None), adjustments.c.claim_number.is_(None),
                                   adjustments.c.kind.in_(("Write-off", "Refund")))):
        if moved.get(adj.id, 0) != adj.amount_cents:
            out.append(f"{adj.kind.lower()} {adj.id} of {fmt_money(adj.amount_cents)} moved "
                       f"{fmt_money(moved.get(adj.id, 0))}")
    noted = dict(conn.execute(select(allocations.c.credit_note_id, func.sum(allocations.c.amount_cents))
                              .where(allocations.c.source == "credit_note").group_by(allocations.c.credit_note_id)).all())
    for cn in conn.execute(select(credit_notes.c.id, credit_notes.c.number, credit_notes.c.amount_cents)):
        if noted.get(cn.id, 0) != cn.amount_cents:
            out.append(f"credit note {cn.number} of {fmt_money(cn.amount_cents)} moved {fmt_money(noted.get(cn.id, 0))}")
    original = payments.alias("original")
    for r in conn.execute(select(payments.c.id, payments.c.amount_cents, original.c.amount_cents.label("paid"))
                          .join(original, original.c.id == payments.c.reverses_payment_id)):
        if r.amount_cents != -r.paid:
            out.append(f"reversal {r.id} of {fmt_money(r.amount_cents)} does not undo its payment of {fmt_money(r.paid)}")
    return out


def insurer_open(conn: Connection, as_of: date) -> dict[str, int]:
    """Per client: what is open with insurers on claims made by `as_of` (billed − moves dated by then)."""
    moved = (select(claim_moves.c.claim_id, func.sum(claim_moves.c.amount_cents).label("moved"))
             .where(claim_moves.c.move_date <= as_of).group_by(claim_moves.c.claim_id).subquery())
    q = (select(claims.c.client_id, func.sum(claims.c.billed_cents - func.coalesce(moved.c.moved, 0)))
         .outerjoin(moved, moved.c.claim_id == claims.c.id).where(claims.c.claim_date <= as_of)
         .group_by(claims.c.client_id))
    return {c: int(v) for c, v in conn.execute(q) if v}


def _claims(conn: Connection, as_of: date) -> list[str]:
    """Each claim's lines add up to it, its moves never take more than it billed nor go below nothing
    open, each remittance moved what it paid, each claim adjustment its amount, and each patient
    share on an invoice is the amount of its move."""
    out = []
    lines = dict(conn.execute(select(claim_lines.c.claim_id, func.sum(claim_lines.c.billed_cents))
                              .group_by(claim_lines.c.claim_id)).all())
    heads = {r.id: r for r in conn.execute(select(claims.c.id, claims.c.number, claims.c.billed_cents,
                                                  claims.c.expected_allowed_cents))}
    out += [f"claim {h.number}'s lines come to {fmt_money(lines.get(i, 0))}, not its {fmt_money(h.billed_cents)}"
            for i, h in sorted(heads.items()) if lines.get(i, 0) != h.billed_cents]
    for on in (as_of, None):
        q = select(claim_moves.c.claim_id, func.sum(claim_moves.c.amount_cents)).group_by(claim_moves.c.claim_id)
        if on is not None:
            q = q.where(claim_moves.c.move_date <= on)
        for claim_id, moved in conn.execute(q):
            h = heads[claim_id]
            if not 0 <= moved <= h.billed_cents:
                out.append(f"claim {h.number} has {fmt_money(moved)} moved off it {'on ' + f'{on:%Y-%m-%d}' if on else 'now'}, "
                           f"outside 0 to its {fmt_money(h.billed_cents)}")
    paid = dict(conn.execute(select(claim_moves.c.remittance_id, func.sum(claim_moves.c.amount_cents))
                             .where(claim_moves.c.kind == PAYER_PAID).group_by(claim_moves.c.remittance_id)).all())
    for r in conn.execute(select(remittances.c.id, remittances.c.claim_number, remittances.c.paid_cents)
                          .where(remittances.c.applied_run_id.is_not(None))):
        if paid.get(r.id, 0) != r.paid_cents:
            out.append(f"remittance {r.id} on claim {r.claim_number} paid {fmt_money(r.paid_cents)} but moved "
                       f"{fmt_money(paid.get(r.id, 0))}")
    moved_by = dict(conn.execute(select(claim_moves.c.adjustment_id, func.sum(claim_moves.c.amount_cents))
                                 .where(claim_moves.c.adjustment_id.is_not(None))
                                 .group_by(claim_moves.c.adjustment_id)).all())
    for a in conn.execute(select(adjustments.c.id, adjustments.c.kind, adjustments.c.amount_cents)
                          .where(adjustments.c.applied_run_id.is_not(None), adjustments.c.claim_number.is_not(None))):
        if moved_by.get(a.id, 0) != a.amount_cents:
            out.append(f"{a.kind.lower()} {a.id} of {fmt_money(a.amount_cents)} on a claim moved "
                       f"{fmt_money(moved_by.get(a.id, 0))}")
    out += _replayed(conn)
    for s in conn.execute(select(invoice_lines.c.id, invoice_lines.c.amount_cents,
                                 claim_moves.c.amount_cents.label("moved"), claim_moves.c.kind)
                          .join(claim_moves, claim_moves.c.id == invoice_lines.c.claim_move_id)):
        if s.amount_cents != s.moved or s.kind not in TO_PATIENT:
            out.append(f"invoice line {s.id} bills a patient share of {fmt_money(s.amount_cents)}, but its claim moved "
                       f"{fmt_money(s.moved)} ({s.kind})")
    return out


def _replayed(conn: Connection) -> list[str]:
    """Each claim's moves are what its remittance and adjustment rows make when applied again, run by run
    in the order the insurance stage applies them: a move changed, lost or added by hand shows here."""
    heads = claim_ledger.load(conn)
    by_number = {c.number: c for c in heads.values()}
    events: dict[int, list[tuple]] = defaultdict(list)
    for r in conn.execute(select(remittances).where(remittances.c.applied_run_id.is_not(None))):
        claim = by_number.get(r.claim_number.upper())
        if claim is not None:
            events[claim.claim_id].append((r.applied_run_id, r.paid_date, 0, r.id, claim_ledger.remit_of(r._mapping)))
    for a in conn.execute(select(adjustments).where(adjustments.c.applied_run_id.is_not(None),
                                                    adjustments.c.claim_number.is_not(None))):
        claim = by_number.get(a.claim_number.upper())
        if claim is not None:
            events[claim.claim_id].append((a.applied_run_id, a.date, 1, a.id, (a.kind, a.amount_cents, a.date, a.id)))
    stored = claim_ledger.moves(conn)
    out = []
    for claim_id, claim in sorted(heads.items()):
        moves: list[C.Move] = []
        try:
            for *_, e in sorted(events.get(claim_id, []), key=lambda e: e[:4]):
                moves += C.post_remittance(claim, moves, e) if isinstance(e, C.Remit) else [C.post_adjustment(claim, moves, *e)]
        except C.Refused as why:
            out.append(f"claim {claim.number}'s remittances and adjustments no longer apply ({why.message})")
            continue
        if sorted(moves, key=repr) != sorted(stored.get(claim_id, []), key=repr):
            out.append(f"claim {claim.number}'s money moves are not what its remittances and adjustments make")
    return out
