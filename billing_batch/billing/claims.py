"""Insurance claims (SPEC §4.6): pure, in cents. What a claim is expected to bring, how a remittance or
a coordinator's adjustment moves its money, and its status as of any date.

A claim's money, at any date, always adds up:
    billed = payer paid + contractual + moved to the patient + written off + open with the insurer
Every movement is a `Move` dated when it happened, so a claim's state as of a past date is exact.

Choices the issue leaves open (README, "Insurance"):
- A denial (Paid 0 with a Reason Code) moves nothing: the whole claim stays open with the insurer,
  to be appealed, written off or billed to the patient.
- The contractual adjustment and the patient's share are posted once, by the first remittance that
  is not a denial; later remittances (an appeal paid, a correction) add their payment only, and one
  that states another patient share is refused (the patient's invoice is corrected with a Credit). A
  later payment above what is open gives back that much of the contractual adjustment (the payer
  raised its allowed amount), never above the contract's allowed amount (or the row's Allowed).
- `Paid`: the insurer's remittances left at most the tolerance open, with no underpayment.
  `Closed`: the coordinator closed what was left (a Write-off or Bill Patient on the claim).
  `Underpaid`: paid less than the expected payer share (beyond the tolerance; when the payer put a
  share on the patient with a PR reason code, a deductible say, the contract's allowed amount less that
  share), or something beyond the tolerance still open after a payment; an underpayment with nothing left open stays on the
  negotiation list until its appeal deadline (paid date + appeal_days), then reads `Paid`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from billing_batch.money import from_cents

SUBMITTED, NO_RESPONSE, PAID, UNDERPAID, DENIED, CLOSED = (
    "Submitted", "No Response", "Paid", "Underpaid", "Denied", "Closed")
PROBLEM_STATUSES = (UNDERPAID, DENIED, NO_RESPONSE)  # listed first on the Insurance sheet

# Move kinds. From a remittance: payer_paid, contractual, patient. From the coordinator's
# Adjustments: write_off, bill_patient. `patient` and `bill_patient` are billed on the client's next
# invoice (an invoice line names the move).
PAYER_PAID, CONTRACTUAL, PATIENT, WRITE_OFF, BILL_PATIENT = (
    "payer_paid", "contractual", "patient", "write_off", "bill_patient")
TO_PATIENT = (PATIENT, BILL_PATIENT)


@dataclass(frozen=True)
class Coverage:
    """The client's insurance as it stands when the claim is made."""
    payer: str
    member_id: str | None
    copay_cents: int  # per claim
    coinsurance_bp: int  # basis points: 2000 = 20 %


def payer_key(name: str) -> str:
    """How payer names are matched: case and spacing never make two payers ("ACME  health")."""
    return " ".join(name.split()).casefold()


def patient_share(allowed_cents: int, copay_cents: int, coinsurance_bp: int) -> int:
    """Copay once + coinsurance × (allowed − copay), half-up to the cent, between 0 and allowed."""
    coins = (Decimal(allowed_cents - copay_cents) * coinsurance_bp / 10000).quantize(Decimal(1), ROUND_HALF_UP)
    return max(0, min(allowed_cents, copay_cents + int(coins)))


@dataclass(frozen=True)
class Move:
    kind: str
    cents: int  # contractual may be negative (given back by a later, larger payment)
    date: date
    remittance_id: int | None = None
    adjustment_id: int | None = None


@dataclass(frozen=True)
class Remit:
    """A remittance row, as posted."""
    remittance_id: int
    paid_date: date
    paid_cents: int
    allowed_cents: int | None
    patient_cents: int | None
    reason_code: str | None

    @property
    def denial(self) -> bool:
        """Paid nothing with a reason code and nothing for the patient: the payer refused the claim (a
        zero payment with a patient share, e.g. a deductible, is an answer like any other)."""
        return self.paid_cents == 0 and bool(self.reason_code) and not self.patient_cents


@dataclass(frozen=True)
class Claim:
    claim_id: int
    number: str
    client_id: str
    payer: str
    claim_date: date
    service_date: date
    billed_cents: int
    expected_allowed_cents: int
    expected_patient_cents: int

    @property
    def expected_payer_cents(self) -> int:
        return self.expected_allowed_cents - self.expected_patient_cents


def totals(moves: list[Move], on: date | None = None) -> dict[str, int]:
    out = dict.fromkeys((PAYER_PAID, CONTRACTUAL, PATIENT, WRITE_OFF, BILL_PATIENT), 0)
    for m in moves:
        if on is None or m.date <= on:
            out[m.kind] += m.cents
    return out


def open_cents(claim: Claim, moves: list[Move], on: date | None = None) -> int:
    """What is still open with the insurer."""
    return claim.billed_cents - sum(totals(moves, on).values())


def fmt(cents: int) -> str:
    """1,234.50 / -12.00 for a message (integer arithmetic: no float near money)."""
    return f"{from_cents(cents):,.2f}"


class Refused(Exception):
    """A remittance or adjustment that cannot apply to the claim: the column and what to tell staff."""

    def __init__(self, column: str, message: str):
        super().__init__(message)
        self.column, self.message = column, message


def post_remittance(claim: Claim, moves: list[Move], r: Remit) -> list[Move]:
    """The moves a remittance makes, given the claim's moves so far (all dated ≤ its paid date)."""
    if r.denial:
        return []
    # A payer payment means an earlier remittance settled the claim, even when its contractual and
    # patient moves were 0 (allowed = billed, no patient share) and so were not kept.
    settled = any(m.kind in (CONTRACTUAL, PATIENT, PAYER_PAID) for m in moves)
    out: list[Move] = []
    left = open_cents(claim, moves)
    if not settled:
        allowed = claim.expected_allowed_cents if r.allowed_cents is None else r.allowed_cents
        if allowed > claim.billed_cents:
            raise Refused("Allowed", f"is more than claim {claim.number} billed ({fmt(claim.billed_cents)}); check "
                          "the allowed amount on the remittance")
        patient = min(claim.expected_patient_cents, allowed) if r.patient_cents is None else r.patient_cents
        if patient > allowed:
            raise Refused("Patient Responsibility", f"is more than the allowed amount ({fmt(allowed)}); check the "
                          "remittance")
    # The payer answers after the coordinator wrote (part of) the claim off: that write-off is given back
    # first, as far as this remittance needs it (a Bill Patient is not: it is on the patient's invoice).
    need = claim.billed_cents - allowed + patient + r.paid_cents if not settled else r.paid_cents
    back = min(max(0, need - left), totals(moves)[WRITE_OFF])
    if back:
        out.append(Move(WRITE_OFF, -back, r.paid_date, r.remittance_id))
        left += back
    if not settled:
        contractual = claim.billed_cents - allowed
        if contractual + patient + r.paid_cents > left:
            raise Refused("Paid", f"with the contractual adjustment ({fmt(contractual)}) and the patient's share "
                          f"({fmt(patient)}) comes to more than claim {claim.number} has open ({fmt(left)}); check "
                          "the paid and allowed amounts on the remittance")
        out += [Move(CONTRACTUAL, contractual, r.paid_date, r.remittance_id), Move(PATIENT, patient, r.paid_date,
                                                                                  r.remittance_id)]
        left -= contractual + patient
    else:
        posted = totals(moves)
        if r.patient_cents is not None and r.patient_cents != posted[PATIENT]:
            raise Refused("Patient Responsibility", f"says {fmt(r.patient_cents)}, but claim {claim.number}'s patient "
                          f"share was posted as {fmt(posted[PATIENT])} from its first remittance; enter this row "
                          "without Patient Responsibility for its payment, and if the payer lowered the patient's "
                          "share, credit the patient's invoice for the difference (Adjustments, Credit)")
        if r.paid_cents > left:
            # A correction that pays more than is open: the payer raised its allowed amount, so that much
            # of the contractual adjustment is given back, up to the contract's (or the row's) allowed.
            allowed_now = claim.billed_cents - posted[CONTRACTUAL]
            allowed = claim.expected_allowed_cents if r.allowed_cents is None else r.allowed_cents
            if r.paid_cents - left > allowed - allowed_now:
                raise Refused("Paid", f"is more than claim {claim.number} has open with the payer ({fmt(left)}); "
                              "check the paid amount. If the payer did pay it after the claim was written off or "
                              "billed to the patient, enter the remittance for what is open and credit the patient's "
                              "invoice for the rest (Adjustments, Credit)")
            out.append(Move(CONTRACTUAL, left - r.paid_cents, r.paid_date, r.remittance_id))
    if r.paid_cents:
        out.append(Move(PAYER_PAID, r.paid_cents, r.paid_date, r.remittance_id))
    return [m for m in out if m.cents]


def post_adjustment(claim: Claim, moves: list[Move], kind: str, cents: int, on: date, adjustment_id: int) -> Move:
    """A coordinator's Write-off or Bill Patient of (part of) what is open with the insurer."""
    left = open_cents(claim, moves, on)
    if left <= 0:
        raise Refused("Claim Number", f"has nothing open with the insurer on {on:%Y-%m-%d}; nothing to "
                      f"{'write off' if kind == 'Write-off' else 'bill to the patient'}")
    if cents > left:
        raise Refused("Amount", f"is more than claim {claim.number} has open with the insurer on {on:%Y-%m-%d} "
                      f"({fmt(left)}); enter at most that")
    return Move(WRITE_OFF if kind == "Write-off" else BILL_PATIENT, cents, on, adjustment_id=adjustment_id)


@dataclass(frozen=True)
class Policy:
    tolerance_cents: int = 100
    appeal_days: int = 90
    follow_up_days: int = 30


@dataclass(frozen=True)
class ClaimView:
    """A claim as of a date, as the Insurance sheet shows it."""
    claim: Claim
    member_id: str | None
    allowed_cents: int | None  # what the payer allowed (its remittance's, else the expected when paid)
    paid_cents: int
    contractual_cents: int
    to_patient_cents: int
    written_off_cents: int
    open_cents: int
    status: str
    reason_code: str | None
    appeal_deadline: date | None
    days_outstanding: int
    last_paid_date: date | None
    payer_due_cents: int | None = None  # the payer's share once its answer set the patient's (see view)

    @property
    def variance_cents(self) -> int:
        """Expected payer share − paid (what to ask the payer for)."""
        due = self.claim.expected_payer_cents if self.payer_due_cents is None else self.payer_due_cents
        return due - self.paid_cents


def view(claim: Claim, moves: list[Move], remits: list[Remit], on: date, policy: Policy,
         member_id: str | None = None) -> ClaimView:
    """The claim as of `on`: only moves and remittances dated by then count."""
    moves = [m for m in moves if m.date <= on]
    remits = sorted((r for r in remits if r.paid_date <= on), key=lambda r: (r.paid_date, r.remittance_id))
    t = totals(moves)
    left = open_cents(claim, moves)
    paid = t[PAYER_PAID]
    last = remits[-1] if remits else None
    closed_by_office = t[WRITE_OFF] + t[BILL_PATIENT] > 0
    allowed = None
    if any(m.kind in (CONTRACTUAL, PATIENT, PAYER_PAID) for m in moves):
        allowed = claim.billed_cents - t[CONTRACTUAL]  # what the payer's answers allowed, corrections included
    deadline = None
    tol = policy.tolerance_cents
    # What the payer should have paid: the expected payer share, unless the answer that set the patient's
    # share gave a patient-responsibility reason (group code PR: a deductible, coinsurance): then the
    # contract's allowed amount less that share. An allowed amount cut below the contract stays short.
    settling = next((r for r in remits if not r.denial), None)
    stated = settling is not None and (settling.reason_code or "").upper().startswith("PR")
    due = claim.expected_allowed_cents - t[PATIENT] if stated else claim.expected_payer_cents
    short = due - paid > tol
    if last is None:
        if left <= 0 or (left <= tol and closed_by_office):
            status = CLOSED
        else:
            status = NO_RESPONSE if (on - claim.claim_date).days >= policy.follow_up_days else SUBMITTED
    elif left <= tol and closed_by_office:
        status = CLOSED
    elif paid == 0 and last.denial and left > tol:
        status, deadline = DENIED, last.paid_date + timedelta(days=policy.appeal_days)
    elif left > tol or short:
        deadline = last.paid_date + timedelta(days=policy.appeal_days)
        status = UNDERPAID if left > tol or on <= deadline else PAID
        if status == PAID:
            deadline = None
    else:
        status = PAID
    if status in (PAID, CLOSED):
        days = 0
    else:
        days = (on - claim.claim_date).days
    return ClaimView(claim, member_id, allowed, paid, t[CONTRACTUAL], t[PATIENT] + t[BILL_PATIENT], t[WRITE_OFF],
                     left, status, last.reason_code if last else None, deadline, days,
                     last.paid_date if last else None, due)


def sort_for_sheet(views: list[ClaimView]) -> list[ClaimView]:
    """Underpaid, Denied, No Response first (the oldest first), then the rest by claim number."""
    def key(v: ClaimView):
        problem = v.status in PROBLEM_STATUSES
        return (0 if problem else 1, PROBLEM_STATUSES.index(v.status) if problem else 0,
                v.claim.claim_date if problem else date.min, v.claim.number)
    return sorted(views, key=key)


@dataclass(frozen=True)
class PayerNegotiation:
    """One payer's row of the negotiation list."""
    payer: str
    underpaid_claims: int
    underpaid_variance_cents: int
    denied_claims: int
    denied_cents: int  # what is open on the denied claims
    oldest_appeal_deadline: date | None


def negotiation_list(views: list[ClaimView]) -> list[PayerNegotiation]:
    by_payer: dict[str, list[ClaimView]] = {}
    for v in views:
        if v.status in (UNDERPAID, DENIED):
            by_payer.setdefault(v.claim.payer, []).append(v)
    out = []
    for payer in sorted(by_payer, key=str.casefold):
        vs = by_payer[payer]
        under = [v for v in vs if v.status == UNDERPAID]
        denied = [v for v in vs if v.status == DENIED]
        deadlines = [v.appeal_deadline for v in vs if v.appeal_deadline]
        out.append(PayerNegotiation(payer, len(under), sum(v.variance_cents for v in under),
                                    len(denied), sum(v.open_cents for v in denied),
                                    min(deadlines) if deadlines else None))
    return out


@dataclass(frozen=True)
class SubmissionLine:
    """One row of claims-YYYY-MM-DD.xlsx: a line of a new claim, as staff key it into a payer portal."""
    claim_number: str
    payer: str
    member_id: str | None
    client_id: str
    patient_name: str
    service_date: date
    service_code: str
    billing_code: str | None
    quantity: Decimal
    billed_cents: int
    expected_allowed_cents: int
