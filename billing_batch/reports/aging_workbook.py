"""The managers' workbook, `aging-YYYY-MM-DD.xlsx` (SPEC §5)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from billing_batch.billing import claims as cl
from billing_batch.billing.aging import (
    DSO_DAYS, Aging, bucket_shares, dso, largest_balances, over_amount, over_days, share,
)
from billing_batch.billing.claims import ClaimView
from billing_batch.billing.review import Finding
from billing_batch.money import ZERO, from_cents
from billing_batch.problems import Problem
from billing_batch.reports.xlsx_stream import Book, Look, Sheet, _lines, fit_width

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


@dataclass(frozen=True)
class Snapshot:
    """The A/R at an earlier date, to show the change since then."""
    as_of: date
    totals: dict[str, Decimal]
    unapplied_credit: Decimal = ZERO

    @property
    def open_total(self) -> Decimal:
        return sum(self.totals.values(), ZERO)

    @property
    def balance(self) -> Decimal:
        return self.open_total - self.unapplied_credit


@dataclass(frozen=True)
class ManagerView:
    """What the Summary compares today with (publish.manager_view reads it from the ledger)."""
    credit_sales: Decimal  # invoiced in the DSO_DAYS days to the as-of date
    previous: Snapshot | None = None  # as the previous run (an earlier business date) reported it
    last_month: Snapshot | None = None  # from the ledger as of the same day last month
    trend: tuple[tuple[date, Decimal, Decimal], ...] = ()  # (month-end, total A/R, over N days), oldest first


@dataclass(frozen=True)
class RunCounts:
    label: str  # "Run 1", "Run 2", ... of the business date
    counts: dict[str, int]


@dataclass(frozen=True)
class CarriedProblem:
    """A problem an earlier day's run reported whose problems workbook still waits in rejected/."""
    reported_on: date
    workbook: str
    problem: Problem


def held_until(reason: str) -> date | str:
    """Until when a held-back client stays held, from the reason the collections stage gave."""
    if m := re.search(r"until (\d{4}-\d{2}-\d{2})", reason):
        return date.fromisoformat(m.group(1))
    if m := re.match(r"Last letter on (\d{4}-\d{2}-\d{2}), less than (\d+) days", reason):
        return date.fromisoformat(m.group(1)) + timedelta(days=int(m.group(2)))
    for start, until in (("Collections Hold", "until the hold is taken off the client list"),
                         ("Open dispute", "until the dispute is resolved in the contact log"),
                         ("Below the minimum", "until the overdue balance reaches collections.min_balance"),
                         ("Insurance", "until the payer has answered"), ("Hardship", "until a person has reviewed it")):
        if reason.startswith(start):
            return until
    return ""


def _summary(book: Book, aging: Aging, recon: Reconciliation, counts: dict[str, int], plan_counts: dict[str, int],
             claims: list[ClaimView], manager: ManagerView | None, limits: list[int]) -> None:
    look = book.look
    ws = book.sheet("Summary", [30, 16, 11, 19, 19, 3, *([8.43] * 9)])
    ws.heading("Accounts receivable aging", size=14)
    ws.row(["As of", aging.as_of])
    ws.skip()
    prev, month = (manager.previous, manager.last_month) if manager else (None, None)
    heads = ["Bucket", "Amount", "% of open",
             f"Change since previous run ({look.day(prev.as_of)})" if prev else "Change since previous run",
             f"Change since {look.day(month.as_of)}" if month else "Change since last month"]
    for c, h in enumerate(heads):
        ws.put(ws.r, c, h, bold=True, wrap=True)
    ws.ws.set_row(ws.r, 45)  # the change headers wrap to three lines
    ws.skip()
    first_bucket = ws.r
    shares = bucket_shares(aging.totals)

    def change(now: Decimal, then: Snapshot | None, pick) -> Decimal | None:
        return None if then is None else now - pick(then)

    for name in aging.names:
        ws.row([name, aging.totals[name], shares[name], change(aging.totals[name], prev, lambda s: s.totals.get(name, ZERO)),
                change(aging.totals[name], month, lambda s: s.totals.get(name, ZERO))], money=(1, 3, 4), percent=(2,))
    for label, amount, pick in (("Total open", aging.open_total, lambda s: s.open_total),
                                ("Unapplied credit", -aging.unapplied_credit, lambda s: -s.unapplied_credit),
                                ("Balance", aging.balance, lambda s: s.balance)):
        ws.put(ws.r, 0, label, bold=True)
        ws.put(ws.r, 1, amount, money=True, bold=True)
        for c, then in ((3, prev), (4, month)):
            ws.put(ws.r, c, change(amount, then, pick), money=True, bold=True)
        ws.skip()
    ws.row(["Clients with a balance", len(aging.clients)])
    # What a manager asks first: how much is old (over the last two buckets' start, 90 days by default).
    days = over_days(limits)
    over = over_amount(aging.totals, limits)
    ws.row([f"% over {days} days", share(over, aging.open_total)], percent=(1,))
    if manager is not None:
        figure = dso(aging.balance, manager.credit_sales)
        r = ws.row([f"DSO, days (last {DSO_DAYS} days)", figure if figure is not None else "n/a: nothing invoiced"])
        ws.ws.write_comment(r, 0, f"Days sales outstanding = A/R balance ÷ invoiced in the last {DSO_DAYS} days × "
                                  f"{DSO_DAYS}")
        ws.row([f"Invoiced in the last {DSO_DAYS} days", manager.credit_sales], money=(1,))
    ws.skip()
    top = largest_balances(aging)
    if top:
        ws.heading(f"The {len(top)} largest balances")
        for c, h in enumerate(["Client Name", "Balance", "% of open", f"Over {days} days", "Client ID"]):
            ws.put(ws.r, c, h, bold=True, indent=2 if c == 4 else 0)
        ws.skip()
        clients = book.clients
        for ca in top:
            ws.row([clients.get(ca.client_id, {}).get("name", ""), ca.balance, share(ca.balance, aging.open_total),
                    over_amount(ca.buckets, limits)], money=(1, 3), percent=(2,))
            ws.put(ws.r - 1, 4, ca.client_id, indent=2)  # not run into the figure beside it
        ws.skip()
    trend_at = None
    if manager is not None and manager.trend:
        ws.heading("A/R at each month-end (from the ledger as of that date)")
        for c, h in enumerate(["Month-end", "Total A/R", f"Over {days} days"]):
            ws.put(ws.r, c, h, bold=True)
        ws.skip()
        trend_at = ws.r
        for day, total, old in manager.trend:
            ws.row([day, total, old], money=(1, 2))
        ws.skip()
    if claims:
        _insurance_summary(ws, aging, claims, recon.awaiting)
        ws.skip()
    ws.put(ws.r, 0, "Reconciliation", bold=True)
    ws.put(ws.r, 1, "Ties" if recon.ties else "DOES NOT TIE", bold=True, color="#006100" if recon.ties else "#9C0006")
    ws.skip(2)
    ws.heading("Payment plans")
    for label, value in plan_counts.items():
        ws.row([label, value])
    ws.skip()
    ws.heading("This run")
    for label, value in counts.items():
        ws.row([label, value])
    ws.skip()
    ws.put(max(ws.r, 24), 0, recon.line())  # long: it runs across the empty cells to its right
    bars = book.wb.add_chart({"type": "column"})
    bars.add_series({"name": "Open balance", "categories": ["Summary", first_bucket, 0, first_bucket + len(aging.names) - 1, 0],
                     "values": ["Summary", first_bucket, 1, first_bucket + len(aging.names) - 1, 1]})
    bars.set_title({"name": "Open balance by age"})
    bars.set_y_axis({"num_format": look.money, "major_gridlines": {"visible": True}})
    bars.set_legend({"none": True})
    ws.ws.insert_chart(3, 6, bars, {"x_scale": 1.0, "y_scale": 1.0})
    if trend_at is not None and manager is not None:
        line = book.wb.add_chart({"type": "line"})
        last = trend_at + len(manager.trend) - 1
        for col, name in ((1, "Total A/R"), (2, f"Over {days} days")):
            line.add_series({"name": name, "categories": ["Summary", trend_at, 0, last, 0],
                             "values": ["Summary", trend_at, col, last, col], "marker": {"type": "circle"}})
        line.set_title({"name": f"A/R at the last {len(manager.trend)} month-ends"})
        line.set_x_axis({"num_format": "mmm yy"})
        line.set_y_axis({"num_format": look.money})
        line.set_legend({"position": "bottom"})
        ws.ws.insert_chart(19, 6, line, {"x_scale": 1.0, "y_scale": 1.1})
    ws.finish(aging.as_of, filter_to=None, title_rows=False)  # no filter: the Summary is read, not sorted
    ws.ws.freeze_panes(3, 0)


def _insurance_summary(ws: Sheet, aging: Aging, claims: list[ClaimView], awaiting: Decimal = ZERO) -> None:
    """What patients owe, what insurers owe, how old the insurers' part is and where the claims stand.
    The age labels say "days" so that none reads like an aging bucket. `awaiting`: patients' shares of
    claims not on an invoice yet (the next billing day bills them)."""
    insurance = sum(v.open_cents for v in claims)
    rows = [("Patient A/R", aging.balance), ("Insurance A/R", from_cents(insurance))]
    if awaiting:
        rows.append(("Patient shares to invoice", awaiting))
    for label, amount in (*rows, ("Total A/R", aging.balance + from_cents(insurance) + awaiting)):
        ws.put(ws.r, 0, label, bold=True)
        ws.put(ws.r, 1, amount, money=True, bold=True)
        ws.skip()
    ws.skip()
    ws.row(["Insurance A/R by claim age", "Amount", "Claims"], bold=True)
    labels, limits = claim_age_labels(aging.names)
    by_age = {label: [0, 0] for label in labels}
    for v in claims:
        if v.open_cents:
            days = (aging.as_of - v.claim.claim_date).days
            label = next((lb for lb, high in zip(labels, limits) if days <= high), labels[-1])
            by_age[label][0] += v.open_cents
            by_age[label][1] += 1
    for label in labels:
        ws.row([label, from_cents(by_age[label][0]), by_age[label][1]], money=(1,))
    ws.skip()
    ws.row(["Claims by status", "Claims"], bold=True)
    for status in CLAIM_STATUS_ORDER:
        ws.row([status, sum(1 for v in claims if v.status == status)])


def claim_age_labels(names: list[str]) -> tuple[list[str], list[int]]:
    """The office's aging limits, counted in days since the claim date: [Not Yet Due, 1-30, 31-60, ..., Over 120]
    -> [0-30 days, 31-60 days, ..., Over 120 days] and their upper limits (a claim is never "not yet due")."""
    limits = [int(n.split("-")[1]) for n in names[1:-1]]
    labels, low = [], 0
    for high in limits:
        labels.append(f"{low}-{high} days")
        low = high + 1
    return [*labels, f"{names[-1]} days"], limits


def limits_of(names: list[str]) -> list[int]:
    """[Not Yet Due, 1-30, ..., Over 120] -> [30, 60, 90, 120]."""
    return [int(n.split("-")[1]) for n in names[1:-1]]


def _total_row(ws: Sheet, width: int, label: str, sums: dict[int, Decimal]) -> None:
    """A bold totals row right below a table, outside its filter (sorting leaves it last)."""
    ws.put(ws.r, 0, label, bold=True)
    for c in range(1, width):
        if c in sums:
            ws.put(ws.r, c, sums[c], money=True, bold=True)
    ws.skip()


def _table(ws: Sheet, headers: Sequence[str], rows: Iterable[Sequence[object]], money: Sequence[str] = (),
           noun: str | None = "row") -> int:
    """Header, rows, and (with a `noun`) a totals row of the money columns, "Total (3 clients)"; returns
    the row count."""
    cols = [headers.index(h) for h in money]
    ws.header(headers, right=cols)
    sums = dict.fromkeys(cols, ZERO)
    n = ws.table_rows(rows, cols, sums)
    if noun is not None:
        _total_row(ws, len(headers), f"Total ({n:,} {noun if n == 1 else noun + 's'})", sums)
    return n


def write_aging_workbook(path: Path, aging: Aging, recon: Reconciliation, clients: dict[str, dict],
                         last_payments: dict[str, date], counts: dict[str, int], problems: list[Problem],
                         findings: Sequence[Finding] = (), collections: "CollectionsResult | None" = None,
                         also: Path | None = None, plans: "PlanSheet | None" = None,
                         held_back: Sequence[tuple] = (), claims: list[ClaimView] | None = None,
                         look: Look = Look(), manager: ManagerView | None = None,
                         runs: Sequence[RunCounts] = (), carried: Sequence[CarriedProblem] = ()) -> None:
    """The workbook at `path` (and the same bytes at `also`: aging-latest.xlsx). `claims`: every claim as of
    the date (None or empty: an office without insurance, no Insurance sheet). `held_back`: (client ID,
    reason[, until]); `runs`: each run of the business date with its counts (a Runs sheet); `carried`:
    earlier days' problems still waiting in rejected/, listed on Problems below the day's own."""
    from billing_batch.billing.plans import STATUS_ORDER

    book = Book(look, title=f"Aging {aging.as_of:%Y-%m-%d}")
    book.clients = clients
    claims = claims or []
    limits = limits_of(aging.names)
    _summary(book, aging, recon, counts, {f"Plans {s.lower()}": plans.count(s) for s in STATUS_ORDER} if plans else {},
             claims, manager, limits)
    on_plan = plans.on_plan if plans else set()
    names = aging.names
    levels = collections.levels if collections else {}
    by_balance = sorted(aging.clients, key=lambda c: (-c.balance, c.client_id))  # largest first
    headers = ["Client ID", "Client Name", "Type", *names, "Unapplied Credit", "Balance", "Oldest Due Date",
               "Last Payment Date", "On Plan", "Collection Level"]
    ws = book.sheet("Aging by Client", [11, 26, 10, *([11] * len(names)), 11, 12, 11, 11, 7, 15])
    n = _table(ws, headers, (
        [c.client_id, clients.get(c.client_id, {}).get("name", ""), clients.get(c.client_id, {}).get("type", ""),
         *(c.buckets[nm] for nm in names), c.unapplied_credit, c.balance, c.oldest_due,
         last_payments.get(c.client_id), "Y" if c.client_id in on_plan else "N", levels.get(c.client_id, "")]
        for c in by_balance), money=[*names, "Unapplied Credit", "Balance"], noun="client")
    ws.finish(aging.as_of, filter_to=n, repeat_first_column=True)

    ws = book.sheet("Open Items", [16, 11, 26, 11, 11, 8, 10, 12, 12, 12, 12])
    n = _table(ws, ["Invoice Number", "Client ID", "Client Name", "Invoice Date", "Due Date", "Days Past Due",
                    "Bucket", "Amount", "Paid", "Adjusted", "Balance"],
               ([a.item.invoice_number, a.item.client_id, clients.get(a.item.client_id, {}).get("name", ""),
                 a.item.invoice_date, a.item.due_date, a.days_past_due, a.bucket, a.item.amount, a.item.paid,
                 a.item.adjusted, a.item.balance] for a in aging.items),
               money=["Amount", "Paid", "Adjusted", "Balance"], noun="invoice")
    ws.finish(aging.as_of, filter_to=n, repeat_first_column=True)
    if plans is not None:
        _plans_sheet(book, plans, clients, aging.as_of)
    if collections is not None:
        ws = book.sheet("Collections", [8, 11, 26, 14, 12, 8, 16, 11, 24, 11, 44])
        calls = collections.calls
        n = _table(ws, ["Priority", "Client ID", "Client Name", "Phone", "Balance", "Days Past Due", "Collection Level",
                        "Last Letter", "Last Contact", "Promise Date", "Suggested Action"],
                   ([i, c.client_id, clients.get(c.client_id, {}).get("name", ""), c.phone, from_cents(c.balance_cents),
                     c.days_past_due, c.level_name, c.last_letter,
                     f"{look.day(c.last_contact[0])} {c.last_contact[1]}" if c.last_contact else "", c.promise_date,
                     c.action] for i, c in enumerate(calls, start=1)),
                   money=["Balance"], noun="call")
        _held_back(ws, held_back, plans, clients, aging)
        ws.finish(aging.as_of, filter_to=n if n else None, repeat_first_column=True)
    if claims:
        _insurance_sheet(book, claims, aging.as_of)
    ws = book.sheet("Review", [20, 11, 26, 16, 11, 11, 60])
    ws.header(["Check", "Client ID", "Client Name", "Invoice Number", "Service Date", "Service Code", "Detail"])
    n = ws.table_rows(([f.check, f.client_id, clients.get(f.client_id, {}).get("name", ""), f.invoice or "",
                        f.service_date, f.service_code or "", f.detail] for f in findings), [], {})
    ws.finish(aging.as_of, filter_to=n)
    # Cell references, no values: the values are in the problems workbook, where staff fix them.
    ws = book.sheet("Problems", [26, 14, 7, 16, 7, 70, 11, 34])
    ws.header(["File", "Sheet", "Row", "Column", "Cell", "Problem", "Reported On", "Status"])
    n = ws.table_rows([*(
        [p.where.file, p.where.sheet or "", p.where.row, p.where.column or "", p.where.cell or "", p.message,
         aging.as_of, ""] for p in problems), *(
        [c.problem.where.file, c.problem.where.sheet or "", c.problem.where.row, c.problem.where.column or "",
         c.problem.where.cell or "", c.problem.message, c.reported_on,
         f"Not fixed yet: {c.workbook} is still waiting in rejected/"] for c in carried)], [], {})
    ws.finish(aging.as_of, filter_to=n)
    if runs:
        keys = list(dict.fromkeys(k for run in runs for k in run.counts))
        ws = book.sheet("Runs", [10, *([11] * len(keys))])
        ws.header(["Run", *keys], right=range(1, len(keys) + 1))  # over their figures, not the next column's
        ws.table_rows(([run.label, *(run.counts.get(k, 0) for k in keys)] for run in runs), [], {})
        ws.row(["Total", *(sum(run.counts.get(k, 0) for run in runs) for k in keys)], bold=True)
        ws.finish(aging.as_of, filter_to=len(runs), repeat_first_column=True)
    book.save(path, *([also] if also else []))


def _held_back(ws: Sheet, held_back: Sequence[tuple], plans: "PlanSheet | None", clients: dict[str, dict],
               aging: Aging) -> None:
    """Below the call list: who is overdue but gets no letter, why and until when (a disputed client stays
    in view)."""
    rows: list[tuple[str, str, object]] = [(h[0], h[1], h[2] if len(h) > 2 else held_until(h[1])) for h in held_back]
    if plans is not None:
        rows += [(b.terms.client_id, f"On payment plan {b.terms.number} ({s.status}): its items are not dunned",
                  f"while the plan is kept (next installment {ws.book.look.day(s.next_due)})" if s.next_due
                  else "while the plan is kept")
                 for b, s in plans.plans if s.good]
    balance = {c.client_id: c.balance for c in aging.clients}
    ws.skip()
    ws.heading("Held Back — overdue, but no letter this run")
    ws.row(["Client ID", "Client Name", "Reason", "Until", "Balance"], bold=True)
    if not rows:
        ws.row(["No client is held back."])
    for cid, reason, until in sorted(rows, key=lambda r: (r[0], r[1])):
        # The call list's narrow columns: name, reason and until wrap (the row grows) rather than being cut.
        texts = ((1, clients.get(cid, {}).get("name", "")), (2, reason), (3, until))
        lines = max(_lines(t, ws.widths[c]) if isinstance(t, str) else 1 for c, t in texts)
        if lines > 1:  # set, not left to the reader: LibreOffice keeps the default height of a written row
            ws.ws.set_row(ws.r, 15 * lines)
        ws.put(ws.r, 0, cid, wrap=True)  # wrapped cells sit at the top: the whole row does
        for c, text in texts:
            ws.put(ws.r, c, text, wrap=True)
        ws.put(ws.r, 4, balance.get(cid), money=True, wrap=True)
        ws.skip()


def _insurance_sheet(book: Book, claims: list[ClaimView], as_of: date) -> None:
    """SPEC §5's columns, the problems first, a totals row; below them the negotiation list, per payer, so
    a coordinator calls the payer with the numbers in hand."""
    rows = cl.sort_for_sheet(claims)
    payers = cl.negotiation_list(claims)
    # Column A holds the claim numbers above and the payers below: wide enough for both.
    first = max(16, fit_width((p.payer for p in payers), most=26))
    ws = book.sheet("Insurance", [first, 11, fit_width((v.claim.payer for v in rows), most=26), 11, 11, 11, 11, 11,
                                  11, 13, 9, 11, 11])
    n = _table(ws, INSURANCE_HEADERS,
               ([v.claim.number, v.claim.client_id, v.claim.payer, v.claim.service_date,
                 from_cents(v.claim.billed_cents), from_cents(v.claim.expected_allowed_cents),
                 None if v.allowed_cents is None else from_cents(v.allowed_cents), from_cents(v.paid_cents),
                 None if v.last_paid_date is None else from_cents(v.variance_cents), v.status, v.reason_code,
                 v.appeal_deadline, v.days_outstanding] for v in rows),
               money=["Billed", "Expected Allowed", "Allowed", "Paid", "Variance"], noun="claim")
    ws.skip()
    ws.heading("Negotiation list")
    for c, h in enumerate(NEGOTIATION_HEADERS):
        ws.put(ws.r, c, h, bold=True, wrap=True)
    ws.ws.set_row(ws.r, 30)  # the wrapped headers, two lines
    ws.skip()
    if not payers:
        ws.row(["No claim is underpaid or denied."])
    else:
        for p in payers:
            ws.row([p.payer, p.underpaid_claims, from_cents(p.underpaid_variance_cents), p.denied_claims,
                    from_cents(p.denied_cents), p.oldest_appeal_deadline], money=(2, 4))
        deadlines = [p.oldest_appeal_deadline for p in payers if p.oldest_appeal_deadline]
        ws.row(["Total", sum(p.underpaid_claims for p in payers),
                from_cents(sum(p.underpaid_variance_cents for p in payers)), sum(p.denied_claims for p in payers),
                from_cents(sum(p.denied_cents for p in payers)), min(deadlines) if deadlines else None],
               money=(2, 4), bold=True)
    ws.finish(as_of, filter_to=n)


def _plans_sheet(book: Book, plans: "PlanSheet", clients: dict[str, dict], as_of: date) -> None:
    """SPEC §5's columns, a totals row; below them, the offers a coordinator can make to clients not on a plan."""
    name = lambda cid: clients.get(cid, {}).get("name", "")  # noqa: E731
    ws = book.sheet("Payment Plans", [16, 11, 26, 11, 11, 12, 12, 12, 12, 11, 11, 11])
    n = _table(ws, PLAN_HEADERS,
               ([b.terms.number, b.terms.client_id, name(b.terms.client_id), b.terms.agreement_date, b.terms.frequency,
                 from_cents(b.terms.installment_cents), from_cents(b.terms.amount_cents), from_cents(s.paid_cents),
                 from_cents(s.remaining_cents), s.next_due, s.missed, s.status] for b, s in plans.plans),
               money=["Installment", "Plan Amount", "Paid to Date", "Remaining"], noun="plan")
    ws.skip()
    ws.heading("Plan Offers — clients with an overdue balance that can go on a plan")
    for c, h in enumerate(OFFER_HEADERS):
        ws.put(ws.r, c, h, bold=True, wrap=True)
    ws.skip()
    if not plans.offers:
        ws.row(["No client not on a plan has an overdue balance that can go on one today."])
    for cid, o in plans.offers:
        budget = clients.get(cid, {}).get("monthly_budget_cents")
        note = ("Hardship: the monthly budget cannot clear the balance in time — review before offering a plan"
                if o.hardship else f"Offer {o.months} monthly installments")
        ws.row([cid, name(cid), from_cents(o.eligible_cents), from_cents(budget) if budget else None,
                None if o.hardship else from_cents(o.installment_cents), None if o.hardship else o.months, note],
               money=(2, 3, 4))
    ws.finish(as_of, filter_to=n if n else None, repeat_first_column=True)



def write_referrals(path: Path, client_ids: list[str], clients: dict[str, dict], aging: Aging,
                    last_letters: dict[str, tuple[date, str]], needs_review: dict[str, str] | None = None) -> None:
    """`referrals-YYYY-MM-DD.xlsx`: what a collection agency needs for each client at the last level, for a
    person to approve. `needs_review` (client -> why: a hardship case, an insurance claim still open) are
    listed apart on a `Needs Review` sheet, never among the referrals."""
    from openpyxl import Workbook  # openpyxl only on a night with referrals

    from billing_batch.reports.xlsx import save_atomic, table_sheet

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
