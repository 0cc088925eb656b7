"""The managers' workbook, `aging-YYYY-MM-DD.xlsx` (SPEC §5)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Font

from billing_batch.billing import claims as cl
from billing_batch.billing.aging import Aging
from billing_batch.billing.claims import ClaimView
from billing_batch.billing.review import Finding
from billing_batch.money import ZERO, from_cents
from billing_batch.problems import Problem
from billing_batch.reports.xlsx import fit_width, landscape, put, save_atomic, table_sheet

if TYPE_CHECKING:
    from billing_batch.stages.collections import CollectionsResult
    from billing_batch.stages.plans import PlanSheet

PLAN_HEADERS = ["Plan ID", "Client ID", "Client Name", "Start Date", "Frequency", "Installment", "Plan Amount",
                "Paid to Date", "Remaining", "Next Due Date", "Missed Installments", "Status"]
OFFER_HEADERS = ["Client ID", "Client Name", "Eligible Balance", "Monthly Budget", "Offered Installment",
                 "Installments", "Note"]
INSURANCE_HEADERS = ["Claim Number", "Client ID", "Payer", "Service Date", "Billed", "Expected Allowed", "Allowed",
                     "Paid", "Variance", "Status", "Reason Code", "Appeal Deadline", "Days Outstanding"]
NEGOTIATION_HEADERS = ["Payer", "Underpaid Claims", "Underpaid Variance", "Denied Claims", "Denied Amount",
                       "Oldest Appeal Deadline"]
# The Summary's count of claims by status, in the Insurance sheet's order: the problems first.
CLAIM_STATUS_ORDER = (*cl.PROBLEM_STATUSES, cl.SUBMITTED, cl.PAID, cl.CLOSED)


@dataclass(frozen=True)
class Reconciliation:
    aging_balance: Decimal  # Σ patient buckets − Σ unapplied credit
    ledger_balance: Decimal  # from the inputs: services billed − payments + refunds − adjustments − payers' money
    insurance_open: Decimal = ZERO  # Σ open claim balances with the insurers
    awaiting: Decimal = ZERO  # patients' shares of claims not on an invoice yet (the next one bills them)

    @property
    def total(self) -> Decimal:
        return self.aging_balance + self.insurance_open + self.awaiting

    @property
    def ties(self) -> bool:
        return self.total == self.ledger_balance

    def line(self) -> str:
        verdict = "ties" if self.ties else f"DOES NOT TIE (difference {self.total - self.ledger_balance})"
        if not (self.insurance_open or self.awaiting):
            return (f"Buckets − unapplied credit = {self.aging_balance:,.2f}; invoices − credits − write-offs − payments "
                    f"+ refunds = {self.ledger_balance:,.2f}: {verdict}")
        return (f"Patient buckets − unapplied credit + open claims + patient shares to invoice = {self.total:,.2f}; "
                f"billed − payments + refunds − adjustments − payer payments − contractual adjustments = "
                f"{self.ledger_balance:,.2f}: {verdict}")


def _summary(wb: Workbook, aging: Aging, recon: Reconciliation, counts: dict[str, int],
             plan_counts: dict[str, int], claims: list[ClaimView]) -> None:
    ws = wb.active
    ws.title = "Summary"
    put(ws, 1, 1, "Accounts receivable aging").font = Font(bold=True, size=14)
    put(ws, 2, 1, "As of")
    put(ws, 2, 2, aging.as_of)
    put(ws, 4, 1, "Bucket").font = Font(bold=True)
    put(ws, 4, 2, "Amount").font = Font(bold=True)
    put(ws, 4, 3, "% of open").font = Font(bold=True)
    for i, name in enumerate(aging.names, start=5):
        put(ws, i, 1, name)
        put(ws, i, 2, aging.totals[name], money=True)
        _percent(put(ws, i, 3, _share(aging.totals[name], aging.open_total)))
    r = 5 + len(aging.names)
    rows = [("Total open", aging.open_total), ("Unapplied credit", -aging.unapplied_credit),
            ("Balance", aging.balance)]
    for label, amount in rows:
        put(ws, r, 1, label).font = Font(bold=True)
        put(ws, r, 2, amount, money=True)
        r += 1
    put(ws, r, 1, "Clients with a balance")
    put(ws, r, 2, len(aging.clients))
    r += 1
    # What a manager asks first: how much is old. Over the last bucket's start (90 days by default).
    old = sum((aging.totals[n] for n in aging.names[-2:]), ZERO) if len(aging.names) > 2 else ZERO
    put(ws, r, 1, f"% over {int(aging.names[-2].split('-')[0]) - 1} days" if len(aging.names) > 2 else "% old")
    _percent(put(ws, r, 2, _share(old, aging.open_total)))
    r += 2
    if claims:
        r = _insurance_summary(ws, r, aging, claims, recon.awaiting) + 1
    put(ws, r, 1, "Reconciliation").font = Font(bold=True)
    put(ws, r, 2, "Ties" if recon.ties else "DOES NOT TIE").font = Font(bold=True, color="006100" if recon.ties else "9C0006")
    r += 2
    put(ws, r, 1, "Payment plans").font = Font(bold=True)
    for label, value in plan_counts.items():
        r += 1
        put(ws, r, 1, label)
        put(ws, r, 2, value)
    r += 2
    put(ws, r, 1, "This run").font = Font(bold=True)
    for label, value in counts.items():
        r += 1
        put(ws, r, 1, label)
        put(ws, r, 2, value)
    # Long: it runs across the empty cells to its right, below the chart.
    put(ws, max(r + 2, 24), 1, recon.line())
    ws.column_dimensions["A"].width = 28
    ws.column_dimensions["B"].width = 18
    ws.freeze_panes = "A4"  # no filter: the Summary is read, not sorted
    chart = BarChart()
    chart.title, chart.y_axis.title, chart.legend = "Open balance by age", "Amount", None
    chart.add_data(Reference(ws, min_col=2, min_row=4, max_row=4 + len(aging.names)), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=5, max_row=4 + len(aging.names)))
    chart.width, chart.height = 15, 7.5
    ws.add_chart(chart, "E4")
    landscape(ws)


def _insurance_summary(ws, r: int, aging: Aging, claims: list[ClaimView], awaiting: Decimal = ZERO) -> int:
    """What patients owe, what insurers owe, how old the insurers' part is and where the claims stand.
    Returns the row after the block. The age labels say "days" so that none reads like an aging bucket.
    `awaiting`: patients' shares of claims not on an invoice yet (the next billing day bills them)."""
    insurance = sum(v.open_cents for v in claims)
    rows = [("Patient A/R", aging.balance), ("Insurance A/R", from_cents(insurance))]
    if awaiting:
        rows.append(("Patient shares to invoice", awaiting))
    for label, amount in (*rows, ("Total A/R", aging.balance + from_cents(insurance) + awaiting)):
        put(ws, r, 1, label).font = Font(bold=True)
        put(ws, r, 2, amount, money=True)
        r += 1
    r += 1
    for c, h in enumerate(["Insurance A/R by claim age", "Amount", "Claims"], start=1):
        put(ws, r, c, h).font = Font(bold=True)
    labels, limits = claim_age_labels(aging.names)
    by_age = {label: [0, 0] for label in labels}
    for v in claims:
        if v.open_cents:
            days = (aging.as_of - v.claim.claim_date).days
            label = next((lb for lb, high in zip(labels, limits) if days <= high), labels[-1])
            by_age[label][0] += v.open_cents
            by_age[label][1] += 1
    for label in labels:
        r += 1
        put(ws, r, 1, label)
        put(ws, r, 2, from_cents(by_age[label][0]), money=True)
        put(ws, r, 3, by_age[label][1])
    r += 2
    put(ws, r, 1, "Claims by status").font = Font(bold=True)
    put(ws, r, 2, "Claims").font = Font(bold=True)
    for status in CLAIM_STATUS_ORDER:
        r += 1
        put(ws, r, 1, status)
        put(ws, r, 2, sum(1 for v in claims if v.status == status))
    return r + 1


def claim_age_labels(names: list[str]) -> tuple[list[str], list[int]]:
    """The office's aging limits, counted in days since the claim date: [Not Yet Due, 1-30, 31-60, ..., Over 120]
    -> [0-30 days, 31-60 days, ..., Over 120 days] and their upper limits (a claim is never "not yet due")."""
    limits = [int(n.split("-")[1]) for n in names[1:-1]]
    labels, low = [], 0
    for high in limits:
        labels.append(f"{low}-{high} days")
        low = high + 1
    return [*labels, f"{names[-1]} days"], limits


def _share(part: Decimal, whole: Decimal) -> Decimal:
    """A fraction of the whole to four places (shown as a percentage), 0 when there is nothing."""
    return (part / whole).quantize(Decimal("0.0001")) if whole > 0 else ZERO


def _percent(cell) -> None:
    cell.number_format = "0.0%"


def write_aging_workbook(path: Path, aging: Aging, recon: Reconciliation, clients: dict[str, dict],
                         last_payments: dict[str, date], counts: dict[str, int], problems: list[Problem],
                         findings: Sequence[Finding] = (), collections: "CollectionsResult | None" = None,
                         also: Path | None = None, plans: "PlanSheet | None" = None,
                         held_back: Sequence[tuple[str, str]] = (), claims: list[ClaimView] | None = None) -> None:
    """The workbook at `path` (and the same bytes at `also`: aging-latest.xlsx). `claims`: every claim as of
    the date (None or empty: an office without insurance, no Insurance sheet)."""
    from billing_batch.billing.plans import STATUS_ORDER

    wb = Workbook()
    claims = claims or []
    _summary(wb, aging, recon, counts, {f"Plans {s.lower()}": plans.count(s) for s in STATUS_ORDER} if plans else {},
             claims)
    on_plan = plans.on_plan if plans else set()
    names = aging.names
    levels = collections.levels if collections else {}
    by_balance = sorted(aging.clients, key=lambda c: (-c.balance, c.client_id))  # largest first
    table_sheet(
        wb, "Aging by Client",
        ["Client ID", "Client Name", "Type", *names, "Unapplied Credit", "Balance", "Oldest Due Date",
         "Last Payment Date", "On Plan", "Collection Level"],
        ([c.client_id, clients.get(c.client_id, {}).get("name", ""), clients.get(c.client_id, {}).get("type", ""),
          *(c.buckets[n] for n in names), c.unapplied_credit, c.balance, c.oldest_due,
          last_payments.get(c.client_id), "Y" if c.client_id in on_plan else "N", levels.get(c.client_id, "")]
         for c in by_balance),
        money_cols=[*names, "Unapplied Credit", "Balance"], widths={"Client Name": 32})
    table_sheet(
        wb, "Open Items",
        ["Invoice Number", "Client ID", "Client Name", "Invoice Date", "Due Date", "Days Past Due", "Bucket", "Amount",
         "Paid", "Adjusted", "Balance"],
        ([a.item.invoice_number, a.item.client_id, clients.get(a.item.client_id, {}).get("name", ""),
          a.item.invoice_date, a.item.due_date, a.days_past_due, a.bucket, a.item.amount, a.item.paid,
          a.item.adjusted, a.item.balance] for a in aging.items),
        money_cols=["Amount", "Paid", "Adjusted", "Balance"], widths={"Invoice Number": 18, "Client Name": 30})
    if plans is not None:
        _plans_sheet(wb, plans, clients)
    if collections is not None:
        ws = table_sheet(
            wb, "Collections",
            ["Priority", "Client ID", "Client Name", "Phone", "Balance", "Days Past Due", "Collection Level",
             "Last Letter", "Last Contact", "Promise Date", "Suggested Action"],
            ([n, c.client_id, clients.get(c.client_id, {}).get("name", ""), c.phone, from_cents(c.balance_cents),
              c.days_past_due, c.level_name, c.last_letter,
              f"{c.last_contact[0]:%Y-%m-%d} {c.last_contact[1]}" if c.last_contact else "", c.promise_date, c.action]
             for n, c in enumerate(collections.calls, start=1)),
            money_cols=["Balance"], widths={"Client Name": 30, "Suggested Action": 50, "Last Contact": 26})
        _held_back(ws, len(collections.calls), held_back, plans, clients)
    if claims:
        _insurance_sheet(wb, claims)
    table_sheet(
        wb, "Review", ["Check", "Client ID", "Client Name", "Invoice Number", "Service Date", "Service Code", "Detail"],
        ([f.check, f.client_id, clients.get(f.client_id, {}).get("name", ""), f.invoice or "", f.service_date,
          f.service_code or "", f.detail] for f in findings),
        widths={"Check": 20, "Client Name": 30, "Detail": 60})
    # Cell references, no values: the values are in the problems workbook, where staff fix them.
    table_sheet(
        wb, "Problems", ["File", "Sheet", "Row", "Column", "Cell", "Problem"],
        ([p.where.file, p.where.sheet or "", p.where.row, p.where.column or "", p.where.cell or "", p.message]
         for p in problems),
        widths={"File": 30, "Problem": 90})
    save_atomic(wb, path, *([also] if also else []))


def _held_back(ws, calls: int, held_back: Sequence[tuple[str, str]], plans: "PlanSheet | None",
               clients: dict[str, dict]) -> None:
    """Below the call list: who is overdue but gets no letter, and why (a disputed client stays in view)."""
    rows = list(held_back)
    if plans is not None:
        rows += [(b.terms.client_id, f"On payment plan {b.terms.number} ({s.status}): its items are not dunned")
                 for b, s in plans.plans if s.good]
    if calls:  # the filter covers the call list only
        ws.auto_filter.ref = f"A1:K{1 + calls}"
    r = calls + 3
    put(ws, r, 1, "Held Back — overdue, but no letter this run").font = Font(bold=True)
    r += 1
    for c, h in enumerate(["Client ID", "Client Name", "Reason"], start=1):
        put(ws, r, c, h).font = Font(bold=True)
    if not rows:
        put(ws, r + 1, 1, "No client is held back.")
    for cid, reason in sorted(rows):
        r += 1
        put(ws, r, 1, cid)
        put(ws, r, 2, clients.get(cid, {}).get("name", ""))
        put(ws, r, 3, reason)


def _insurance_sheet(wb: Workbook, claims: list[ClaimView]) -> None:
    """SPEC §5's columns, the problems first; below them the negotiation list, per payer, so a coordinator
    calls the payer with the numbers in hand."""
    rows = cl.sort_for_sheet(claims)
    ws = table_sheet(
        wb, "Insurance", INSURANCE_HEADERS,
        ([v.claim.number, v.claim.client_id, v.claim.payer, v.claim.service_date, from_cents(v.claim.billed_cents),
          from_cents(v.claim.expected_allowed_cents),
          None if v.allowed_cents is None else from_cents(v.allowed_cents), from_cents(v.paid_cents),
          None if v.last_paid_date is None else from_cents(v.variance_cents), v.status, v.reason_code, v.appeal_deadline, v.days_outstanding]
         for v in rows),
        money_cols=["Billed", "Expected Allowed", "Allowed", "Paid", "Variance"],
        widths={"Claim Number": 18, "Client ID": 12, "Payer": fit_width(v.claim.payer for v in rows),
                "Expected Allowed": 14, "Status": 13, "Reason Code": 10, "Appeal Deadline": 12,
                "Days Outstanding": 12})
    ws.row_dimensions[1].height = 30  # narrow columns, headers on two lines: 13 columns fit a page
    for (cell,) in ws.iter_rows(min_row=2, min_col=10, max_col=10):
        cell.alignment = Alignment(indent=1)  # Status: not run into the Variance figure beside it
    # table_sheet's filter covers the claims only: the negotiation list below is not sorted with them.
    r = len(rows) + 3
    put(ws, r, 1, "Negotiation list").font = Font(bold=True)
    r += 1
    for c, h in enumerate(NEGOTIATION_HEADERS, start=1):
        cell = put(ws, r, c, h)
        cell.font, cell.alignment = Font(bold=True), Alignment(wrap_text=True, vertical="top")
    ws.row_dimensions[r].height = 30  # the wrapped headers, two lines
    payers = cl.negotiation_list(claims)
    # Column A holds the claim numbers above and the payers here: wide enough for both.
    ws.column_dimensions["A"].width = fit_width(p.payer for p in payers)
    if not payers:
        put(ws, r + 1, 1, "No claim is underpaid or denied.")
        return
    for p in payers:
        r += 1
        for c, v in enumerate([p.payer, p.underpaid_claims, from_cents(p.underpaid_variance_cents), p.denied_claims,
                               from_cents(p.denied_cents), p.oldest_appeal_deadline], start=1):
            put(ws, r, c, v, money=c in (3, 5))
    r += 1
    deadlines = [p.oldest_appeal_deadline for p in payers if p.oldest_appeal_deadline]
    for c, v in enumerate(["Total", sum(p.underpaid_claims for p in payers),
                           from_cents(sum(p.underpaid_variance_cents for p in payers)),
                           sum(p.denied_claims for p in payers), from_cents(sum(p.denied_cents for p in payers)),
                           min(deadlines) if deadlines else None], start=1):
        put(ws, r, c, v, money=c in (3, 5)).font = Font(bold=True)


def _plans_sheet(wb: Workbook, plans: "PlanSheet", clients: dict[str, dict]) -> None:
    """SPEC §5's columns; below them, the offers a coordinator can make to clients not on a plan."""
    name = lambda cid: clients.get(cid, {}).get("name", "")  # noqa: E731
    ws = table_sheet(
        wb, "Payment Plans", PLAN_HEADERS,
        ([b.terms.number, b.terms.client_id, name(b.terms.client_id), b.terms.agreement_date, b.terms.frequency,
          from_cents(b.terms.installment_cents), from_cents(b.terms.amount_cents), from_cents(s.paid_cents),
          from_cents(s.remaining_cents), s.next_due, s.missed, s.status] for b, s in plans.plans),
        money_cols=["Installment", "Plan Amount", "Paid to Date", "Remaining"],
        widths={"Plan ID": 18, "Client Name": 30, "Missed Installments": 20})
    if plans.plans:  # the filter covers the plans, not the offers below them
        ws.auto_filter.ref = f"A1:L{1 + len(plans.plans)}"
    r = len(plans.plans) + 3
    put(ws, r, 1, "Plan Offers — clients with an overdue balance that can go on a plan").font = Font(bold=True)
    r += 1
    for c, h in enumerate(OFFER_HEADERS, start=1):
        cell = put(ws, r, c, h)
        cell.font, cell.alignment = Font(bold=True), Alignment(wrap_text=True, vertical="top")
    if not plans.offers:
        put(ws, r + 1, 1, "No client not on a plan has an overdue balance that can go on one today.")
    for cid, o in plans.offers:
        r += 1
        budget = clients.get(cid, {}).get("monthly_budget_cents")
        note = ("Hardship: the monthly budget cannot clear the balance in time — review before offering a plan"
                if o.hardship else f"Offer {o.months} monthly installments")
        for c, v in enumerate([cid, name(cid), from_cents(o.eligible_cents),
                               from_cents(budget) if budget else None,
                               None if o.hardship else from_cents(o.installment_cents),
                               None if o.hardship else o.months, note], start=1):
            put(ws, r, c, v, money=c in (3, 4, 5))


def write_referrals(path: Path, client_ids: list[str], clients: dict[str, dict], aging: Aging,
                    last_letters: dict[str, tuple[date, str]], needs_review: dict[str, str] | None = None) -> None:
    """`referrals-YYYY-MM-DD.xlsx`: what a collection agency needs for each client at the last level, for a
    person to approve. `needs_review` (client -> why: a hardship case, an insurance claim still open) are
    listed apart on a `Needs Review` sheet, never among the referrals."""
    by_client = {c.client_id: c for c in aging.clients}
    review = needs_review or {}

    def row(cid: str) -> list:
        c, owed = clients[cid], by_client.get(cid)
        letter_date, letter = last_letters.get(cid, (None, ""))
        return [cid, c["name"], c["type"], c.get("attention") or "", c["address_line_1"], c.get("address_line_2") or "",
                c["city"], c.get("region") or "", c["postal_code"], c.get("country") or "", c.get("phone") or "",
                c.get("email") or "", owed.balance if owed else ZERO, owed.oldest_due if owed else None, letter,
                letter_date]

    headers = ["Client ID", "Client Name", "Type", "Attention", "Address Line 1", "Address Line 2", "City", "Region",
               "Postal Code", "Country", "Phone", "Email", "Balance", "Oldest Due Date", "Last Letter",
               "Last Letter Date"]
    widths = {"Client Name": 30, "Address Line 1": 30, "Email": 28}
    wb = Workbook()
    table_sheet(wb, "Referrals", headers, (row(cid) for cid in client_ids if cid not in review),
                money_cols=["Balance"], widths=widths, first=True)
    held = [cid for cid in client_ids if cid in review]
    if held:
        table_sheet(wb, "Needs Review", headers + ["Reason"], ([*row(cid), review[cid]] for cid in held),
                    money_cols=["Balance"], widths={**widths, "Reason": 50})
    save_atomic(wb, path)
