"""The insurance stage (SPEC §4.6), inside the run's transaction, before invoicing:
1. claims for the insured clients' covered services (numbered in the transaction, gapless), and a
   coverage notice for services their payer does not cover (those are invoiced as usual);
2. remittances and the coordinator's claim adjustments (Write-off, Bill Patient), in date order,
   as dated moves of each claim's money; a patient's share waits for the client's next invoice.
A row that cannot apply is handed back to its sheet as a problem, like refused money."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Connection, select

from billing_batch.billing import claims as C
from billing_batch.billing.pricing import line_amount, rate_on
from billing_batch.billing.review import Finding
from billing_batch.config import Settings
from billing_batch.documents.contexts import bill_to_snapshot
from billing_batch.ledger import claims as ledger, inputs, numbering, queue
from billing_batch.ledger.apply import Refused
from billing_batch.ledger.schema import adjustments, remittances
from billing_batch.money import round_cents, to_cents

CLAIM_SERIES = "CLM"


@dataclass
class InsuranceResult:
    claims: list[str] = field(default_factory=list)  # numbers made in this run
    notices: list[int] = field(default_factory=list)  # coverage notice ids
    remittances_applied: int = 0
    adjustments_applied: int = 0
    refused: list[Refused] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # for the Review sheet


def policy(settings: Settings) -> C.Policy:
    i = settings.insurance
    return C.Policy(to_cents(i.underpayment_tolerance), i.appeal_days, i.follow_up_days)


def run_insurance(conn: Connection, run_id: int, as_of: date) -> InsuranceResult:
    result = InsuranceResult()
    _claims_and_notices(conn, run_id, as_of, result)
    _apply(conn, run_id, as_of, result)
    return result


def _fee_on(versions: list[tuple[date, int, bool]], day: date) -> tuple[int, bool] | None:
    started = [v for v in versions if v[0] <= day]
    if not started:
        return None
    _, allowed, covered = max(started, key=lambda v: v[0])
    return allowed, covered


def _claims_and_notices(conn: Connection, run_id: int, as_of: date, result: InsuranceResult) -> None:
    clients = inputs.client_rows(conn)
    insured = {c for c, row in clients.items() if row.get("payer")}
    if not insured:
        return
    claimed, noticed = ledger.claimed_line_ids(conn), ledger.noticed_line_ids(conn)
    lines = [l for l in inputs.unbilled_lines(conn, as_of) if l.client_id in insured and l.id not in claimed]
    if not lines:
        return
    rates, fees, spelled = inputs.rate_versions(conn), ledger.payer_fee_versions(conn), ledger.payer_spellings(conn)
    groups: dict[tuple[date, str], list[dict]] = defaultdict(list)
    unknown_payer: set[str] = set()
    uncovered: dict[str, list[dict]] = defaultdict(list)

    def payer_of(client: dict) -> str:
        return spelled.get(C.payer_key(client["payer"]), client["payer"])

    for line in sorted(lines, key=lambda l: (l.service_date, l.client_id, l.id)):
        rate = rate_on(rates.get(line.service_code, []), line.service_date)
        if rate is None:
            continue  # unpriced: reported by invoicing until a rate covers it, claimed then
        key = C.payer_key(clients[line.client_id]["payer"])
        if key not in spelled:
            unknown_payer.add(line.client_id)
        fee = _fee_on(fees.get((key, line.service_code), []), line.service_date)
        if fee is None or not fee[1]:
            if line.id not in noticed:
                price = rate.unit_price if line.unit_price_override is None else line.unit_price_override
                uncovered[line.client_id].append({
                    "id": line.id, "service_date": line.service_date.isoformat(), "service_code": line.service_code,
                    "description": line.description or rate.description, "quantity": format(line.quantity, "f"),
                    "amount_cents": to_cents(line_amount(line.quantity, price))})
            continue
        billed = to_cents(line_amount(line.quantity, rate.unit_price))  # the rate card's price, never an override
        allowed = min(billed, to_cents(round_cents(line.quantity * fee[0] / 100)))
        groups[(line.service_date, line.client_id)].append(dict(
            service_line_id=line.id, service_code=line.service_code,
            billing_code=rate.billing_code, description=rate.description,
            quantity=format(line.quantity, "f"), unit_price_cents=to_cents(rate.unit_price), billed_cents=billed,
            allowed_cents=allowed))
    if groups:
        year = as_of.year
        first = numbering.reserve_numbers(conn, CLAIM_SERIES, year, len(groups))
        for n, ((day, client_id), claim_lines) in enumerate(sorted(groups.items())):
            client = clients[client_id]
            number = numbering.document_number(CLAIM_SERIES, year, first + n)
            allowed = sum(l["allowed_cents"] for l in claim_lines)
            copay, coins = client.get("copay_cents") or 0, client.get("coinsurance_bp") or 0
            ledger.insert_claim(conn, dict(
                number=number, client_id=client_id,
                payer=payer_of(client), member_id=client.get("member_id"),
                claim_date=as_of, service_date=day, billed_cents=sum(l["billed_cents"] for l in claim_lines),
                expected_allowed_cents=allowed, expected_patient_cents=C.patient_share(allowed, copay, coins),
                copay_cents=copay, coinsurance_bp=coins, run_id=run_id), claim_lines)
            result.claims.append(number)
    result.findings += [Finding("Payer without fees", c, "the client's Payer is on no Payer Fees row, so none of their "
                                "services goes on a claim: they are billed to the client, with a coverage notice; check "
                                "the payer's spelling on the client list, or add its fees to the rate card")
                        for c in sorted(unknown_payer)]
    for client_id, services in sorted(uncovered.items()):
        client = clients[client_id]
        content = {"template": "coverage_notice", "bill_to": bill_to_snapshot(client), "date": as_of.isoformat(),
                   "payer": payer_of(client), "member_id": client.get("member_id"),
                   "services": [{k: v for k, v in s.items() if k != "id"} for s in services],
                   "total_cents": sum(s["amount_cents"] for s in services)}
        notice_id = ledger.insert_notice(conn, client_id, as_of, json.dumps(content), [s["id"] for s in services],
                                         run_id)
        queue.add_outbox(conn, "coverage_notice", notice_id,
                         numbering.letter_path(notice_id, "coverage_notice", as_of, client_id, "N"), run_id)
        result.notices.append(notice_id)


def _apply(conn: Connection, run_id: int, as_of: date, result: InsuranceResult) -> None:
    """Remittances and claim adjustments not applied yet, in date order across claims (on one day the
    insurer's remittance first, then what the coordinator did about what it left)."""
    rems = [dict(r._mapping) for r in conn.execute(select(remittances).where(remittances.c.applied_run_id.is_(None)))]
    adjs = [dict(r._mapping) for r in conn.execute(select(adjustments).where(
        adjustments.c.applied_run_id.is_(None), adjustments.c.claim_number.is_not(None)))]
    if not rems and not adjs:
        return
    # Claim numbers are ours (CLM-...): matched whatever case staff typed them in.
    numbers = {r["claim_number"].upper() for r in rems} | {a["claim_number"].upper() for a in adjs}
    found = {c.number: c for c in ledger.load(conn, numbers).values()}
    moves = ledger.moves(conn, [c.claim_id for c in found.values()])
    seen = ledger.applied_remittance_keys(conn) if rems else set()
    events = sorted([(r["paid_date"], 0, r["id"], "Remittances", r) for r in rems] +
                    [(a["date"], 1, a["id"], "Adjustments", a) for a in adjs], key=lambda e: e[:3])
    done: dict[str, list[int]] = {"Remittances": [], "Adjustments": []}
    for day, _, _, kind, record in events:
        claim = found.get(record["claim_number"].upper())
        try:
            if day > as_of:
                raise C.Refused("Paid Date" if kind == "Remittances" else "Date",
                                f"is after today's business date ({as_of:%Y-%m-%d}); money is posted on or after "
                                "the day it moves — drop the row again on that day")
            if claim is None:
                raise C.Refused("Claim Number", "is not a claim billing-batch has issued; check the claim number"
                                + (" on the remittance" if kind == "Remittances" else ""))
            if kind == "Remittances" and C.payer_key(claim.payer) != C.payer_key(record["payer"]):
                raise C.Refused("Payer", f"claim {claim.number} was sent to another payer; check the payer on the "
                                "remittance")
            if kind == "Adjustments" and claim.client_id != record["client_id"]:
                raise C.Refused("Claim Number", f"is a claim of another client, not {record['client_id']}; check "
                                "the Client ID and the claim number")
            if day < claim.claim_date:
                raise C.Refused("Paid Date" if kind == "Remittances" else "Date",
                                f"is before claim {claim.number} was made ({claim.claim_date:%Y-%m-%d}); check the date")
            so_far = moves.setdefault(claim.claim_id, [])
            key = (claim.number, day, record.get("paid_cents"), record.get("reference"))
            if kind == "Remittances" and key in seen:
                # Identical rows are two transactions for services and payments, but a payer never pays one
                # claim the same amount twice on one day under one reference: one row was typed twice.
                raise C.Refused("Reference", f"repeats another remittance of claim {claim.number} (same paid "
                                "date, amount and reference); delete the repeated row, or give each payment its own "
                                "Reference (the EOB's check or trace number)")
            if kind == "Remittances":
                new = C.post_remittance(claim, so_far, ledger.remit_of(record))
            else:
                new = [C.post_adjustment(claim, so_far, record["kind"], record["amount_cents"], day, record["id"])]
        except C.Refused as why:
            result.refused.append(Refused(kind, record, why.column, why.message))
            continue
        so_far += new
        if kind == "Remittances":
            seen.add(key)
        ledger.save_moves(conn, claim.claim_id, new, run_id)
        done[kind].append(record["id"])
    inputs.mark_all_applied(conn, remittances, done["Remittances"], run_id)
    inputs.mark_all_applied(conn, adjustments, done["Adjustments"], run_id)
    result.remittances_applied, result.adjustments_applied = len(done["Remittances"]), len(done["Adjustments"])
