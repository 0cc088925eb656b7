"""Insurance (SPEC §4.6, issue 13): three runs of one office with two payers, every amount worked out
by hand in the comments, read back from the ledger, the invoices and the workbooks.

Rates: OV office visit 150.00, LAB lab panel 80.00, COS cosmetic peel 120.00 (discretionary). No tax,
30 days' terms, billed daily. Payer fees: Acme Health OV 100.00, LAB 60.00, COS not covered; Beacon
Mutual OV 110.00 (no LAB row: not covered).

Run 1, 2026-03-02. Claims in (service date, client) order:
  CLM-2026-00001 P3 02-26 Beacon OV      billed 150  allowed 110  patient 25 (copay)        payer  85
  CLM-2026-00002 P4 02-26 Beacon OV      billed 150  allowed 110  patient 10 (copay)        payer 100
  CLM-2026-00003 P1 02-27 Acme OV+LAB    billed 230  allowed 160  patient 20 + 20%×140 = 48 payer 112
  CLM-2026-00004 P2 02-27 Acme OV        billed 150  allowed 100  patient 10%×100 = 10      payer  90
  CLM-2026-00005 P5 02-27 Acme OV×2      billed 300  allowed 200  patient 0                 payer 200
  Not covered, invoiced, one coverage notice each: P1 COS 120.00 (INV-00001), P3 LAB 80.00 (INV-00002).
  Self-pay S1 OV 150.00 (INV-00003). Patient A/R 350.00, insurance A/R 980.00.
Run 2, 2026-03-20. S1 pays 150.00. Remittances:
  00003 paid as expected (112.00, allowed 160.00, PR 48.00): contractual 70.00, P1 invoiced 48.00
        (INV-00004), nothing open: Paid.
  00004 paid 70.00, no allowed or PR given: contractual 150−100 = 50.00, patient 10.00 (INV-00005),
        open 20.00: Underpaid, variance 90−70 = 20.00, appeal deadline 03-15 + 90 = 06-13.
  00001 denied (paid 0, CO-197, 03-16): nothing moves, Denied, appeal deadline 06-14.
  Rejected: an unknown claim; claim 00002 named with the wrong payer.
  Patient A/R 120+80+48+10 = 258.00; insurance 150+150+20+300 = 620.00; total 878.00
  (= 1,330.00 billed − 150.00 paid − 120.00 contractual − 182.00 payers).
Run 3, 2026-04-10.
  00001 appeal paid 04-05 (85.00, allowed 110.00, PR 25.00): contractual 40.00, P3 invoiced 25.00
        (INV-00006): Paid.
  Bill Patient 150.00 on 00002 (04-08): P4 invoiced 150.00 (INV-00007); Closed.
  Write-off 20.00 on 00004 (04-08): Closed. Rejected: a Write-off on 00003 (nothing open).
  00005 has had no remittance for 39 days (≥ 30): No Response.
  Patient A/R 258+25+150 = 433.00; insurance 300.00; total 733.00 (878 − 40 − 85 − 20).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import openpyxl
from docx import Document
from hypothesis import given, settings as hsettings, strategies as st
from sqlalchemy import create_engine, select

from billing_batch.billing import claims as C
from billing_batch.ledger.schema import claim_moves, claims, coverage_notices, invoice_lines, invoices
from billing_batch.pipeline import run_batch, verify_ledger
from tests.office import Office

D = dt.date
M = Decimal
CLIENTS = [["Client ID", "Name", "Type", "Address Line 1", "City", "Postal Code", "Payer", "Member ID", "Copay",
            "Coinsurance %"],
           ["P1", "Ann Acme", "Individual", "1 Main St", "Springfield", "62701", "Acme Health", "A-1", M("20.00"), 20],
           ["P2", "Bob Acme", "Individual", "2 Main St", "Springfield", "62701", "Acme Health", "A-2", None, 10],
           ["P3", "Cat Beacon", "Individual", "3 Main St", "Springfield", "62701", "Beacon Mutual", "B-3", M("25.00"),
            None],
           ["P4", "Dan Beacon", "Individual", "4 Main St", "Springfield", "62701", "Beacon Mutual", "B-4", M("10.00"),
            None],
           ["P5", "Eve Acme", "Individual", "5 Main St", "Springfield", "62701", "Acme Health", "A-5", None, None],
           ["S1", "Sam Self", "Individual", "6 Main St", "Springfield", "62701", None, None, None, None]]
RATES = {"Rates": [["Service Code", "Description", "Unit Price", "Discretionary", "Billing Code"],
                   ["OV", "Office visit", M("150.00"), "N", "99213"],
                   ["LAB", "Lab panel", M("80.00"), "N", "80053"],
                   ["COS", "Cosmetic peel", M("120.00"), "Y", None]],
         "Payer Fees": [["Payer", "Service Code", "Allowed Amount", "Covered"],
                        ["Acme Health", "OV", M("100.00"), "Y"],
                        ["Acme Health", "LAB", M("60.00"), "Y"],
                        ["Acme Health", "COS", M("0.00"), "N"],
                        ["Beacon Mutual", "OV", M("110.00"), "Y"]]}
LOG = [["Service Date", "Client ID", "Service Code", "Quantity"],
       [D(2026, 2, 27), "P1", "OV", 1], [D(2026, 2, 27), "P1", "LAB", 1], [D(2026, 2, 27), "P1", "COS", 1],
       [D(2026, 2, 27), "P2", "OV", 1], [D(2026, 2, 26), "P3", "OV", 1], [D(2026, 2, 26), "P3", "LAB", 1],
       [D(2026, 2, 26), "P4", "OV", 1], [D(2026, 2, 27), "P5", "OV", 2], [D(2026, 2, 27), "S1", "OV", 1]]
REMIT = ["Claim Number", "Payer", "Paid Date", "Paid", "Allowed", "Patient Responsibility", "Reason Code", "Reference"]
ADJ = ["Date", "Client ID", "Kind", "Amount", "Invoice Number", "Claim Number", "Reason"]
INSURANCE = ["Claim Number", "Client ID", "Payer", "Service Date", "Billed", "Expected Allowed", "Allowed", "Paid",
             "Variance", "Status", "Reason Code", "Appeal Deadline", "Days Outstanding"]


def insurance_rows(path) -> list[tuple]:
    """The Insurance sheet's claim table read back, up to its totals row."""
    rows = list(openpyxl.load_workbook(path)["Insurance"].iter_rows(values_only=True))
    assert list(rows[0][:len(INSURANCE)]) == INSURANCE
    out = []
    for r in rows[1:]:
        if r[0] is None or str(r[0]).startswith("Total ("):
            break
        out.append(tuple(_plain(v) for v in r[:len(INSURANCE)]))
    return out


def negotiation_rows(path) -> list[tuple]:
    rows = list(openpyxl.load_workbook(path)["Insurance"].iter_rows(values_only=True))
    start = next((i for i, r in enumerate(rows) if r[0] == "Payer"), None)
    if start is None:
        return []
    out = []
    for r in rows[start + 1:]:
        if r[0] is None or r[1] is None or str(r[0]).lower().startswith("total"):
            break
        out.append(tuple(_plain(v) for v in r[:6]))
    return out


def _plain(v):
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, float):
        return M(str(v)).quantize(M("0.01"))
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    return v


def invoice_table(path) -> list[list[str]]:
    doc = Document(str(path))
    return [[c.text.strip() for c in row.cells] for t in doc.tables for row in t.rows]


def money(v) -> M:
    return M(str(v)).quantize(M("0.01"))


def test_three_runs_with_two_payers(office: Office):
    office.drop("clients.xlsx", {"Clients": CLIENTS})
    office.drop("rates.xlsx", RATES)
    office.drop("log.xlsx", {"Service Log": LOG})
    first = run_batch(office.settings, D(2026, 3, 2))
    assert not [p for p in first.problems if p.level == "error"], first.problems
    assert first.report["insurance"]["claims"] == [f"CLM-2026-0000{i}" for i in range(1, 6)]
    assert first.report["insurance"]["coverage_notices"] == 2
    assert [(n, str(t)) for n, t in first.invoices] == [("INV-2026-00001", "120.00"), ("INV-2026-00002", "80.00"),
                                                        ("INV-2026-00003", "150.00")]
    engine = create_engine(office.settings.database_url)
    with engine.connect() as c:
        heads = {r.number: (r.client_id, r.payer, r.billed_cents, r.expected_allowed_cents, r.expected_patient_cents)
                 for r in c.execute(select(claims))}
        notices = [(r.client_id, json.loads(r.content)) for r in c.execute(select(coverage_notices))]
    assert heads == {"CLM-2026-00001": ("P3", "Beacon Mutual", 15000, 11000, 2500),
                     "CLM-2026-00002": ("P4", "Beacon Mutual", 15000, 11000, 1000),
                     "CLM-2026-00003": ("P1", "Acme Health", 23000, 16000, 4800),
                     "CLM-2026-00004": ("P2", "Acme Health", 15000, 10000, 1000),
                     "CLM-2026-00005": ("P5", "Acme Health", 30000, 20000, 0)}
    assert sorted((c, [(s["service_code"], s["amount_cents"]) for s in n["services"]]) for c, n in notices) == [
        ("P1", [("COS", 12000)]), ("P3", [("LAB", 8000)])]
    notice_files = sorted((office.root / "output" / "letters" / "2026-03-02").glob("*-coverage_notice-N*.docx"))
    assert len(notice_files) == 2, first.document_failures
    # The submission list: one row per claim line.
    sub = list(openpyxl.load_workbook(office.root / "output" / "reports" / "claims-2026-03-02.xlsx")
               .worksheets[0].iter_rows(values_only=True))
    assert list(sub[0]) == ["Claim Number", "Payer", "Member ID", "Client ID", "Patient Name", "Service Date",
                            "Service Code", "Billing Code", "Quantity", "Billed", "Expected Allowed"]
    lines = [(r[0], r[2], r[3], r[6], r[7], money(r[9]), money(r[10])) for r in sub[1:] if r[0] and r[0].startswith("CLM")]
    assert lines == [("CLM-2026-00001", "B-3", "P3", "OV", "99213", M("150.00"), M("110.00")),
                     ("CLM-2026-00002", "B-4", "P4", "OV", "99213", M("150.00"), M("110.00")),
                     ("CLM-2026-00003", "A-1", "P1", "OV", "99213", M("150.00"), M("100.00")),
                     ("CLM-2026-00003", "A-1", "P1", "LAB", "80053", M("80.00"), M("60.00")),
                     ("CLM-2026-00004", "A-2", "P2", "OV", "99213", M("150.00"), M("100.00")),
                     ("CLM-2026-00005", "A-5", "P5", "OV", "99213", M("300.00"), M("200.00"))]
    aging1 = office.root / "output" / "reports" / "aging-2026-03-02.xlsx"
    assert [r[9] for r in insurance_rows(aging1)] == ["Submitted"] * 5
    recon, proof = verify_ledger(office.settings, D(2026, 3, 2))
    assert proof.ok and recon.ties, (proof.failures, recon.line())
    assert (recon.aging_balance, recon.insurance_open) == (M("350.00"), M("980.00"))

    # -- run 2
    office.drop("pay.xlsx", {"Payments": [["Payment Date", "Client ID", "Amount", "Method", "Reference"],
                                          [D(2026, 3, 10), "S1", M("150.00"), "Check", "101"]]})
    office.drop("era-1.xlsx", {"Remittances": [
        REMIT,
        ["CLM-2026-00003", "Acme Health", D(2026, 3, 15), M("112.00"), M("160.00"), M("48.00"), None, "ERA1"],
        ["CLM-2026-00004", "acme health", D(2026, 3, 15), M("70.00"), None, None, None, "ERA1"],
        ["CLM-2026-00001", "Beacon Mutual", D(2026, 3, 16), M("0.00"), None, None, "CO-197", "ERA2"],
        ["CLM-2026-00099", "Beacon Mutual", D(2026, 3, 16), M("10.00"), None, None, None, "ERA2"],
        ["CLM-2026-00002", "Acme Health", D(2026, 3, 16), M("10.00"), None, None, None, "ERA2"]]})
    second = run_batch(office.settings, D(2026, 3, 20))
    errors = sorted((p.where.row, p.where.column) for p in second.problems if p.level == "error")
    assert errors == [(5, "Claim Number"), (6, "Payer")], second.problems
    assert second.report["insurance"]["remittances_applied"] == 3
    assert second.report["insurance"]["coverage_notices"] == 0  # the uncovered services were noticed once
    assert [(n, str(t)) for n, t in second.invoices] == [("INV-2026-00004", "48.00"), ("INV-2026-00005", "10.00")]
    table = invoice_table(next((office.root / "output" / "invoices" / "2026-03").glob("*-INV-2026-00004.docx")))
    share = [r for r in table if any("CLM-2026-00003" in c for c in r)]
    assert share and any("48.00" in c for c in share[0]) and any("February 27, 2026" in c for c in share[0]), table
    aging2 = office.root / "output" / "reports" / "aging-2026-03-20.xlsx"
    assert insurance_rows(aging2) == [
        ("CLM-2026-00004", "P2", "Acme Health", D(2026, 2, 27), M("150.00"), M("100.00"), M("100.00"), M("70.00"),
         M("20.00"), "Underpaid", None, D(2026, 6, 13), 18),
        ("CLM-2026-00001", "P3", "Beacon Mutual", D(2026, 2, 26), M("150.00"), M("110.00"), None, M("0.00"),
         M("85.00"), "Denied", "CO-197", D(2026, 6, 14), 18),
        ("CLM-2026-00002", "P4", "Beacon Mutual", D(2026, 2, 26), M("150.00"), M("110.00"), None, M("0.00"),
         None, "Submitted", None, None, 18),
        ("CLM-2026-00003", "P1", "Acme Health", D(2026, 2, 27), M("230.00"), M("160.00"), M("160.00"), M("112.00"),
         M("0.00"), "Paid", None, None, 0),
        ("CLM-2026-00005", "P5", "Acme Health", D(2026, 2, 27), M("300.00"), M("200.00"), None, M("0.00"),
         None, "Submitted", None, None, 18)]
    assert negotiation_rows(aging2) == [("Acme Health", 1, M("20.00"), 0, M("0.00"), D(2026, 6, 13)),
                                        ("Beacon Mutual", 0, M("0.00"), 1, M("150.00"), D(2026, 6, 14))]
    summary = {r[0]: _plain(r[1]) for r in openpyxl.load_workbook(aging2)["Summary"].iter_rows(values_only=True) if r[0]}
    assert (summary["Patient A/R"], summary["Insurance A/R"], summary["Total A/R"]) == (M("258.00"), M("620.00"),
                                                                                       M("878.00"))
    recon, proof = verify_ledger(office.settings, D(2026, 3, 20))
    assert proof.ok and recon.ties, (proof.failures, recon.line())
    assert (recon.aging_balance, recon.insurance_open, recon.ledger_balance) == (M("258.00"), M("620.00"),
                                                                                 M("878.00"))

    # -- run 3
    office.drop("era-2.xlsx", {"Remittances": [
        REMIT, ["CLM-2026-00001", "Beacon Mutual", D(2026, 4, 5), M("85.00"), M("110.00"), M("25.00"), None, "ERA3"]]})
    office.drop("adj.xlsx", {"Adjustments": [
        ADJ,
        [D(2026, 4, 8), "P4", "Bill Patient", M("150.00"), None, "CLM-2026-00002", "not a Beacon member"],
        [D(2026, 4, 8), "P2", "Write-off", M("20.00"), None, "CLM-2026-00004", "accept Acme's payment"],
        [D(2026, 4, 8), "P1", "Write-off", M("5.00"), None, "CLM-2026-00003", "nothing is open"]]})
    third = run_batch(office.settings, D(2026, 4, 10))
    errors = sorted((p.where.file, p.where.row, p.where.column) for p in third.problems if p.level == "error")
    assert errors == [("adj.xlsx", 4, "Claim Number")], third.problems
    assert [(n, str(t)) for n, t in third.invoices] == [("INV-2026-00006", "25.00"), ("INV-2026-00007", "150.00")]
    aging3 = office.root / "output" / "reports" / "aging-2026-04-10.xlsx"
    assert insurance_rows(aging3) == [
        ("CLM-2026-00005", "P5", "Acme Health", D(2026, 2, 27), M("300.00"), M("200.00"), None, M("0.00"),
         None, "No Response", None, None, 39),
        ("CLM-2026-00001", "P3", "Beacon Mutual", D(2026, 2, 26), M("150.00"), M("110.00"), M("110.00"), M("85.00"),
         M("0.00"), "Paid", None, None, 0),
        ("CLM-2026-00002", "P4", "Beacon Mutual", D(2026, 2, 26), M("150.00"), M("110.00"), None, M("0.00"),
         None, "Closed", None, None, 0),
        ("CLM-2026-00003", "P1", "Acme Health", D(2026, 2, 27), M("230.00"), M("160.00"), M("160.00"), M("112.00"),
         M("0.00"), "Paid", None, None, 0),
        ("CLM-2026-00004", "P2", "Acme Health", D(2026, 2, 27), M("150.00"), M("100.00"), M("100.00"), M("70.00"),
         M("20.00"), "Closed", None, None, 0)]
    assert negotiation_rows(aging3) == []
    with engine.connect() as c:
        shares = sorted((r.number, r.description, r.amount_cents) for r in c.execute(
            select(invoices.c.number, invoice_lines.c.description, invoice_lines.c.amount_cents)
            .join(invoice_lines, invoice_lines.c.invoice_id == invoices.c.id)
            .where(invoice_lines.c.claim_move_id.is_not(None))))
        moved = {(r.claim_id, r.kind): r.amount_cents for r in c.execute(select(claim_moves))}
    assert [(n, a) for n, _, a in shares] == [("INV-2026-00004", 4800), ("INV-2026-00005", 1000),
                                              ("INV-2026-00006", 2500), ("INV-2026-00007", 15000)]
    assert "CLM-2026-00002" in shares[3][1] and "February 26, 2026" in shares[3][1]
    assert moved[(1, "contractual")] == 4000 and moved[(4, "write_off")] == 2000 and moved[(2, "bill_patient")] == 15000
    recon, proof = verify_ledger(office.settings, D(2026, 4, 10))
    assert proof.ok and recon.ties, (proof.failures, recon.line())
    assert (recon.aging_balance, recon.insurance_open, recon.ledger_balance) == (M("433.00"), M("300.00"),
                                                                                 M("733.00"))
    # The proof replays each claim from its remittance and adjustment rows: a move changed by hand shows.
    with engine.begin() as c:
        c.execute(claim_moves.update().where(claim_moves.c.claim_id == 1, claim_moves.c.kind == "contractual")
                  .values(amount_cents=claim_moves.c.amount_cents + 100))
    _, tampered = verify_ledger(office.settings, D(2026, 4, 10))
    assert any("CLM-2026-00001" in f for f in tampered.failures), tampered.failures
    with engine.begin() as c:
        c.execute(claim_moves.update().where(claim_moves.c.claim_id == 1, claim_moves.c.kind == "contractual")
                  .values(amount_cents=claim_moves.c.amount_cents - 100))
    engine.dispose()
    # A claim waiting for the insurer is never dunned: P5 owes the office nothing of its own.
    assert "P5" not in {l["client_id"] for l in third.report["letters"]}
    # Run again: nothing new is claimed, noticed, remitted or billed.
    again = run_batch(office.settings, D(2026, 4, 10))
    assert again.report["insurance"] == {"claims": [], "coverage_notices": 0, "remittances_applied": 0,
                                         "claim_adjustments_applied": 0}
    assert again.invoices == []


# -- properties ---------------------------------------------------------------------------------------

_POLICY = C.Policy(100, 90, 30)


@st.composite
def _claims_and_events(draw):
    billed = draw(st.integers(1, 100_000))
    allowed = draw(st.integers(0, billed))
    patient = draw(st.integers(0, allowed))
    claim = C.Claim(1, "CLM-2026-00001", "P", "Acme", D(2026, 1, 1), D(2026, 1, 1), billed, allowed, patient)
    events = []
    for i in range(draw(st.integers(0, 6))):
        day = D(2026, 1, 2) + dt.timedelta(days=draw(st.integers(0, 60)))
        if draw(st.booleans()):
            paid = draw(st.integers(0, billed))
            events.append(("r", C.Remit(i, day, paid, draw(st.none() | st.integers(0, billed)),
                                        draw(st.none() | st.integers(0, billed)),
                                        draw(st.none() | st.just("CO-45")))))
        else:
            events.append(("a", (draw(st.sampled_from(["Write-off", "Bill Patient"])), draw(st.integers(1, billed)),
                                 day, i)))
    return claim, sorted(events, key=lambda e: e[1].paid_date if e[0] == "r" else e[1][2])


@hsettings(max_examples=300, deadline=None)
@given(_claims_and_events())
def test_a_claims_money_always_adds_up(case):
    """billed = payer paid + contractual + moved to the patient + written off + open, whatever arrives,
    and nothing open ever goes below zero or above what was billed."""
    claim, events = case
    moves: list[C.Move] = []
    for kind, e in events:
        try:
            new = C.post_remittance(claim, moves, e) if kind == "r" else [C.post_adjustment(claim, moves, *e)]
        except C.Refused:
            continue
        moves += new
        t = C.totals(moves)
        open_ = C.open_cents(claim, moves)
        assert claim.billed_cents == t[C.PAYER_PAID] + t[C.CONTRACTUAL] + t[C.PATIENT] + t[C.BILL_PATIENT] + \
            t[C.WRITE_OFF] + open_
        assert 0 <= open_ <= claim.billed_cents
        assert t[C.CONTRACTUAL] >= 0
        v = C.view(claim, moves, [e for k, e in events if k == "r"], D(2026, 6, 1), _POLICY)
        assert v.open_cents == open_


@st.composite
def _remittance_runs(draw):
    """Two runs of remittances and claim adjustments on the three claims of `_insured_office`: amounts
    anywhere from nothing to more than billed, denials, allowed and patient amounts given or not."""
    runs = []
    for day in (D(2026, 3, 10), D(2026, 3, 25)):
        remits = [[f"CLM-2026-0000{draw(st.integers(1, 3))}", "Acme Health", day - dt.timedelta(days=draw(st.integers(0, 5))),
                   M(draw(st.integers(0, 16000))) / 100, draw(st.none() | st.integers(0, 16000).map(lambda c: M(c) / 100)),
                   draw(st.none() | st.integers(0, 6000).map(lambda c: M(c) / 100)), draw(st.none() | st.just("CO-45")),
                   f"R{i}-{day:%d}"] for i in range(draw(st.integers(0, 4)))]
        adjs = []
        for i in range(draw(st.integers(0, 2))):
            n = draw(st.integers(1, 3))
            adjs.append([day, ("Q1", "Q1", "Q2")[n - 1], draw(st.sampled_from(["Write-off", "Bill Patient"])),
                         M(draw(st.integers(1, 16000))) / 100, None, f"CLM-2026-0000{n}", f"settle {i}"])
        runs.append((day, remits, adjs))
    return runs


@hsettings(max_examples=8, deadline=None)
@given(_remittance_runs())
def test_the_reconciliation_ties_for_any_remittances(tmp_path_factory, runs):
    """Whatever the payers send and the coordinator adjusts, every run proves itself (a run that did not
    would have stopped with an integrity failure), each claim's money adds up, and the balance from the
    inputs equals patients' open items + open claims + shares to invoice on every date."""
    root = tmp_path_factory.mktemp("ins")
    office = Office.create(root / "office", f"sqlite:///{root / 'ledger.sqlite'}")
    office.drop("clients.xlsx", {"Clients": [CLIENTS[0], ["Q1", "Q One", "Individual", "1 Main St", "Springfield",
                                                          "62701", "Acme Health", "A", M("20.00"), 20],
                                             ["Q2", "Q Two", "Individual", "2 Main St", "Springfield", "62701",
                                              "Acme Health", "B", None, 50]]})
    office.drop("rates.xlsx", RATES)
    office.drop("log.xlsx", {"Service Log": [LOG[0], [D(2026, 2, 2), "Q1", "OV", 1], [D(2026, 2, 3), "Q1", "LAB", 2],
                                             [D(2026, 2, 3), "Q2", "OV", 1]]})
    run_batch(office.settings, D(2026, 3, 2))
    for day, remits, adjs in runs:
        if remits:
            office.drop(f"era-{day}.xlsx", {"Remittances": [REMIT, *remits]})
        if adjs:
            office.drop(f"adj-{day}.xlsx", {"Adjustments": [ADJ, *adjs]})
        run_batch(office.settings, day)
    engine = create_engine(office.settings.database_url)
    with engine.connect() as c:
        billed = {r.id: r.billed_cents for r in c.execute(select(claims))}
        moved: dict[int, int] = {}
        for r in c.execute(select(claim_moves)):
            moved[r.claim_id] = moved.get(r.claim_id, 0) + r.amount_cents
            assert r.kind != "contractual" or r.amount_cents != 0
    engine.dispose()
    assert len(billed) == 3 and all(0 <= moved.get(i, 0) <= b for i, b in billed.items())
    for on in (D(2026, 3, 2), D(2026, 3, 8), D(2026, 3, 20), D(2026, 3, 25)):
        recon, proof = verify_ledger(office.settings, on)
        assert proof.ok and recon.ties, (on, proof.failures, recon.line())


def test_what_an_outside_review_found(sqlite_office: Office):
    """One payer however the client list spells it; claim numbers in any case; a remittance typed twice
    posts once; a zero payment needs its reason code; an insured client needs a Member ID; a payer's
    later payment never takes back what the coordinator already billed to the patient."""
    office = sqlite_office
    office.drop("clients.xlsx", {"Clients": [
        CLIENTS[0], ["P1", "Ann", "Individual", "1 Main St", "Springfield", "62701", "ACME HEALTH", "A-1", None, None],
        ["P2", "Bob", "Individual", "2 Main St", "Springfield", "62701", "acme health", "A-2", None, None],
        ["P3", "Cy", "Individual", "3 Main St", "Springfield", "62701", "Acme Health", None, None, None]]})
    office.drop("rates.xlsx", RATES)
    office.drop("log.xlsx", {"Service Log": [LOG[0], [D(2026, 2, 27), "P1", "OV", 1], [D(2026, 2, 27), "P2", "OV", 1]]})
    first = run_batch(office.settings, D(2026, 3, 2))
    assert [(p.where.row, p.where.column) for p in first.problems if p.level == "error"] == [(4, "Member ID")]
    engine = create_engine(office.settings.database_url)
    with engine.connect() as c:
        assert sorted(c.execute(select(claims.c.number, claims.c.payer)).all()) == [
            ("CLM-2026-00001", "Acme Health"), ("CLM-2026-00002", "Acme Health")]
    # Both claims: billed 150, allowed 100, no patient share.
    office.drop("era.xlsx", {"Remittances": [
        REMIT,
        ["clm-2026-00001", "Acme Health", D(2026, 3, 10), M("60.00"), M("100.00"), M("0.00"), None, "E1"],
        ["clm-2026-00001", "Acme Health", D(2026, 3, 10), M("60.00"), M("100.00"), M("0.00"), None, "E1"],
        ["CLM-2026-00002", "Acme Health", D(2026, 3, 10), M("0.00"), None, None, None, "E1"]]})
    office.drop("adj.xlsx", {"Adjustments": [ADJ, [D(2026, 3, 12), "P1", "Bill Patient", M("40.00"), None,
                                                   "clm-2026-00001", "payer will not pay more"]]})
    second = run_batch(office.settings, D(2026, 3, 12))
    assert sorted((p.where.file, p.where.row, p.where.column) for p in second.problems if p.level == "error") == [
        ("era.xlsx", 3, "Reference"), ("era.xlsx", 4, "Reason Code")]
    assert second.report["insurance"]["remittances_applied"] == 1
    assert second.report["insurance"]["claim_adjustments_applied"] == 1
    assert [(n, str(t)) for n, t in second.invoices] == [("INV-2026-00001", "40.00")]
    # The payer pays the 40.00 after all: nothing is open, the allowed stays the contract's: refused.
    office.drop("era2.xlsx", {"Remittances": [
        REMIT, ["CLM-2026-00001", "Acme Health", D(2026, 3, 15), M("40.00"), None, None, None, "E2"]]})
    third = run_batch(office.settings, D(2026, 3, 16))
    assert [(p.where.file, p.where.column) for p in third.problems if p.level == "error"] == [("era2.xlsx", "Paid")]
    aging = office.root / "output" / "reports" / "aging-2026-03-12.xlsx"
    assert [(r[0], r[2], r[9]) for r in insurance_rows(aging)] == [("CLM-2026-00001", "Acme Health", "Closed"),
                                                                   ("CLM-2026-00002", "Acme Health", "Submitted")]
    with engine.connect() as c:
        line = c.execute(select(invoice_lines.c.description)).scalar_one()
    engine.dispose()
    assert line.startswith("Balance not paid by your insurance (Acme Health), claim CLM-2026-00001")


def test_a_payer_is_one_payer_however_spaced_and_an_unknown_payer_is_a_warning(sqlite_office: Office):
    office = sqlite_office
    office.drop("clients.xlsx", {"Clients": [
        CLIENTS[0], ["P1", "Ann", "Individual", "1 Main St", "Springfield", "62701", " ACME  health ", "A-1", None, None],
        ["P2", "Bob", "Individual", "2 Main St", "Springfield", "62701", "Nobody Mutual", "N-2", None, None]]})
    office.drop("rates.xlsx", RATES)
    office.drop("log.xlsx", {"Service Log": [LOG[0], [D(2026, 2, 27), "P1", "OV", 1], [D(2026, 2, 27), "P2", "OV", 1]]})
    result = run_batch(office.settings, D(2026, 3, 2))
    assert result.report["insurance"]["claims"] == ["CLM-2026-00001"]
    assert [(n, str(t)) for n, t in result.invoices] == [("INV-2026-00001", "150.00")]  # P2's visit: no fees
    assert [(f["check"], f["client_id"]) for f in result.report["review"]] == [("Payer without fees", "P2")]
