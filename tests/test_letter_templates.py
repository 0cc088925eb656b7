"""The generated Word templates (invoices, credit note, statement of account, collection
letters, payment-plan letters, coverage notices): reproducible,
committed up to date, and rendering hostile text safely with docxtpl under an autoescaping,
strict Jinja environment."""

from __future__ import annotations

import copy
import io
import pathlib
import shutil
import subprocess
import sys
import zipfile

import docx
import jinja2
import pytest
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.text.paragraph import Paragraph
from docxtpl import DocxTemplate
from jinja2.sandbox import SandboxedEnvironment

REPO = pathlib.Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # plain `pytest` (not `python -m pytest`) from any directory
    sys.path.insert(0, str(REPO))

from billing_batch.documents.template_build import (  # noqa: E402
    build_letter_templates,
    default_output_dir,
)

KINDS = ("individual", "business")
LEVELS = ("reminder", "second_notice", "final_notice")  # the referral level sends no letter
LETTER_FILES = [f"{level}_{kind}.docx" for level in LEVELS for kind in KINDS]
PLAN_LETTERS = ("plan_missed", "plan_ended")
PLAN_LETTER_FILES = [f"{which}_{kind}.docx" for which in PLAN_LETTERS for kind in KINDS]
NOTICE_FILES = [f"coverage_notice_{kind}.docx" for kind in KINDS]
TEMPLATE_FILES = ["invoice_individual.docx", "invoice_business.docx", "credit_note.docx",
                  "statement.docx", *LETTER_FILES, *PLAN_LETTER_FILES, *NOTICE_FILES]
HOSTILE_NAME = 'Smith & Sons <Ltd> "Ünïcode" O\'Brien'
REBUILD_HINT = "run: python -m billing_batch.documents.template_build"


def make_office() -> dict:
    return {
        "name": "Riverside Family Clinic & Therapy",
        "address_lines": ["1200 Harbor Blvd, Suite 4", "Springfield, IL 62704"],
        "phone": "(217) 555-0142",
        "email": "billing@riverside.example",
        "tax_id": "12-3456789",
        "remit_to_lines": ["Riverside Family Clinic", "PO Box 889", "Springfield, IL 62705"],
        "payment_instructions": "Pay by check payable to Riverside Family Clinic, or by "
                                "ACH to account 000123456 (routing 071000013).",
        "financial_assistance": "Ask us about our sliding-scale assistance & <help> program.",
    }


def make_client(attention: str = "Accounts Payable") -> dict:
    return {
        "id": "C-00417",
        "name": HOSTILE_NAME,
        "attention": attention,
        # contexts.greeting: the business letters' "Dear …," (the Attention without a job title).
        "greeting": attention.split(",")[0] or "Accounts Payable",
        "address_lines": ["77 Elm Street", "Apt <3B> & Annex", "Springfield, IL 62701"],
    }


def make_plan(show: bool = True) -> dict:
    """`plan_context`'s output: a plan the client is on, or (show False) none."""
    if not show:
        return {"show": False, "id": "", "installment": "", "frequency": "", "next_due_date": "",
                "paid_to_date": "", "remaining": "", "plan_amount": ""}
    return {"show": True, "id": "PLN-2025-00031", "installment": "$137.50", "frequency": "two weeks",
            "next_due_date": "October 3, 2025", "paid_to_date": "$412.50", "remaining": "$962.50",
            "plan_amount": "$1,375.00"}


def plan_status_text(plan: dict) -> str:
    return (f"Your payment plan {plan['id']}: {plan['installment']} every {plan['frequency']}; "
            f"next installment due {plan['next_due_date']}; paid to date {plan['paid_to_date']}; "
            f"remaining {plan['remaining']}.")


def make_credit_note_context(*, is_void: bool = False, attention: str = "") -> dict:
    return {
        "office": make_office(),
        "client": make_client(attention),
        "credit_note": {
            "number": "CN-2025-00007",
            "date": "April 2, 2025",
            "invoice_number": "INV-2025-00123",
            "invoice_date": "March 31, 2025",
            "reason": 'Billed twice for <session> on 3/14 & 3/15 "duplicate"',
            "amount": "$10,941.50" if is_void else "$170.00",
            "invoice_total": "$10,941.50",
            "balance_after": "$0.00" if is_void else "$10,771.50",
            "is_void": is_void,
        },
    }


def make_statement_context(*, n_open: int = 45, n_activity: int = 12, attention: str = "",
                           has_credit: bool = True) -> dict:
    open_items = [
        {
            "number": f"INV-2025-{i:05d}",
            "date": f"March {(i % 28) + 1}, 2025",
            "due_date": f"April {(i % 28) + 1}, 2025",
            "days_past_due": str(i * 3),
            "amount": f"${100 + i:,.2f}",
            "paid": f"${i:,.2f}",
            "balance": f"${100:,.2f}",
        }
        for i in range(1, n_open + 1)
    ]
    activity = [
        {
            "date": f"May {(i % 28) + 1}, 2025",
            "description": f"Payment #{i} by check & <ACH> \"thanks\"",
            "reference": f"PAY-{i:04d}",
            "amount": f"-${25 * i:,.2f}",
        }
        for i in range(1, n_activity + 1)
    ]
    buckets = ["Not Yet Due", "1-30", "31-60", "61-90", "91-120", "Over 120"]
    return {
        "office": make_office(),
        "client": make_client(attention),
        "statement": {
            "date": "May 31, 2025",
            "period_start": "May 1, 2025",
            "period_end": "May 31, 2025",
            "balance_due": "$4,375.00",
            "balance_label": "Balance due",
            "balance_title": "Balance due",
            "total_open": "$4,500.00",
            "unapplied_credit": "-$125.00",
            "has_credit": has_credit,
            "credit_label": "Unapplied credit",
            "number": "C-1001-20250531",
            "owes": True,
            "in_credit": False,
            "has_movement": True,
            "opening": "$4,000.00",
            "charges": "$800.00",
            "payments": "-$300.00",
            "credits": "-$125.00",
            "closing": "$4,375.00",
        },
        "open_items": open_items,
        "activity": activity,
        "aging": [{"name": name, "amount": f"${750 * (k + 1):,.2f}"}
                  for k, name in enumerate(buckets)],
        "plan": make_plan(False),
    }


def make_context(*, attention: str = "Accounts Payable", n_lines: int = 60,
                 has_credit: bool = True, on_plan: bool = False) -> dict:
    lines = [
        {
            "date": f"2025-03-{(i % 28) + 1:02d}",
            "code": f"SVC-{i:03d}",
            "description": f"Consultation #{i} & follow-up <room {i % 7}> \"line-{i:03d}\"",
            "quantity": f"{(i % 3) + 1}",
            "unit_price": "$85.00",
            "amount": f"${85 * ((i % 3) + 1):,.2f}",
            "tax_mark": "T" if i % 2 else "",
            "provider": f"Dr. Lee <{i}>" if i % 3 else "",
            "reference": f"PO-{i:05d}" if i % 4 else "",
        }
        for i in range(1, n_lines + 1)
    ]
    return {
        "office": make_office(),
        "client": make_client(attention),
        "invoice": {
            "number": "INV-2025-000123",
            "date": "2025-03-31",
            "due_date": "2025-04-30",
            "terms": "Net 30",
            "subtotal": "$10,200.00",
            "tax": "$841.50",
            "tax_label": "8.25%",
            "has_credit": has_credit,
            "credit_applied": "-$100.00",
            "total": "$10,941.50",
            "balance_due": "$10,841.50",
            "has_tax": True,
            "has_previous": True,
            "previous_balance": "$250.00",
            "account_balance": "$11,091.50",
        },
        "lines": lines,
        "plan": make_plan(on_plan),
    }


def strict_env() -> SandboxedEnvironment:
    return SandboxedEnvironment(autoescape=True, undefined=jinja2.StrictUndefined)


def render(template: pathlib.Path, context: dict, out: pathlib.Path) -> docx.Document:
    tpl = DocxTemplate(str(template))
    tpl.render(context, jinja_env=strict_env())
    tpl.save(str(out))
    return docx.Document(str(out))


def paragraph_texts(document) -> list[str]:
    """Text of every paragraph in the body, including (nested) table cells."""
    return [Paragraph(p, None).text for p in document.element.body.iter(qn("w:p"))]


def effective_alignment(paragraph):
    """Direct alignment, else the first one set along the paragraph's style chain."""
    if paragraph.alignment is not None:
        return paragraph.alignment
    style = paragraph.style
    while style is not None:
        if style.paragraph_format.alignment is not None:
            return style.paragraph_format.alignment
        style = style.base_style
    return None


def zip_parts(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, pathlib.Path]:
    out = tmp_path_factory.mktemp("templates")
    # Keys: "individual", "business" (the invoices), "credit_note", "statement", and the
    # letters' stems ("reminder_individual", ...).
    return {p.stem.removeprefix("invoice_"): p for p in build_letter_templates(out)}


def test_build_is_byte_reproducible(tmp_path):
    first = build_letter_templates(tmp_path / "a")
    second = build_letter_templates(tmp_path / "b")
    assert [p.name for p in first] == TEMPLATE_FILES
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name
    for path in first:
        with zipfile.ZipFile(path) as archive:
            assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


@pytest.mark.parametrize("file_name", TEMPLATE_FILES)
def test_committed_templates_match_fresh_build(file_name, built):
    committed = default_output_dir() / file_name
    assert committed.is_file(), f"{committed} missing; {REBUILD_HINT}"
    # Compared part by part (uncompressed), so another zlib build does not fail the check.
    fresh = zip_parts(built[pathlib.Path(file_name).stem.removeprefix("invoice_")].read_bytes())
    saved = zip_parts(committed.read_bytes())
    assert sorted(saved) == sorted(fresh), REBUILD_HINT
    for name in fresh:
        assert saved[name] == fresh[name], f"{committed.name}:{name} is stale; {REBUILD_HINT}"


def test_committed_folder_has_no_unknown_templates():
    committed = sorted(p.name for p in default_output_dir().glob("*.docx"))
    assert committed == sorted(TEMPLATE_FILES), REBUILD_HINT


@pytest.mark.parametrize("key,expected", [
    ("individual", {"office", "client", "invoice", "lines", "plan"}),
    ("business", {"office", "client", "invoice", "lines", "plan"}),
    ("credit_note", {"office", "client", "credit_note"}),
    ("statement", {"office", "client", "statement", "open_items", "activity", "aging", "plan"}),
    *[(pathlib.Path(name).stem, {"office", "client", "letter", "items", "plan_offer", "plan", "insurance"})
      for name in LETTER_FILES],
    *[(pathlib.Path(name).stem, {"office", "client", "letter", "plan"}) for name in PLAN_LETTER_FILES],
    *[(pathlib.Path(name).stem, {"office", "client", "letter", "notice", "services"})
      for name in NOTICE_FILES],
])
def test_template_uses_only_the_contract_variables(key, expected, built):
    variables = DocxTemplate(str(built[key])).get_undeclared_template_variables(
        jinja_env=strict_env())
    assert variables == expected | {"draft"}  # draft: set only in a dry run (tested `is defined`)


@pytest.mark.parametrize("kind", KINDS)
def test_render_hostile_text_and_many_lines(kind, built, tmp_path):
    context = make_context()
    document = render(built[kind], context, tmp_path / f"{kind}.docx")
    texts = paragraph_texts(document)
    joined = "\n".join(texts)

    assert context["invoice"]["number"] in joined
    assert HOSTILE_NAME in texts  # the whole name, unescaped and in its own paragraph
    assert context["invoice"]["total"] in texts
    assert context["invoice"]["balance_due"] in texts
    assert "Apt <3B> & Annex" in texts
    for line in context["lines"]:
        # A business's line names its provider with the description; its PO has a column of its own.
        provider = f" · Provider: {line['provider']}" if kind == "business" and line["provider"] else ""
        assert line["description"] + provider in texts
        assert (line["amount"] + " T" if line["tax_mark"] else line["amount"]) in texts
    assert "Credit applied" in texts
    assert "Tax (8.25% on lines marked T)" in texts
    assert "{{" not in joined and "{%" not in joined

    # The line table: header row repeats on every page, 60 data rows that never split.
    line_table = next(t for t in document.tables if t.rows[0].cells[0].text == "Date")
    assert [c.text for c in line_table.rows[0].cells] == [
        "Date", "Code", "Description", *(["Reference"] if kind == "business" else []), "Qty", "Unit Price", "Amount"]
    first_tr_pr = line_table.rows[0]._tr.trPr
    assert first_tr_pr is not None and first_tr_pr.find(qn("w:tblHeader")) is not None
    assert len(line_table.rows) == 1 + 60
    for row in line_table.rows:
        assert row._tr.trPr.find(qn("w:cantSplit")) is not None
    amounts = [effective_alignment(row.cells[5].paragraphs[0]) for row in line_table.rows]
    assert set(amounts) == {WD_ALIGN_PARAGRAPH.RIGHT}

    # Header/footer were rendered too (docxtpl renders them with the same environment).
    footer_text = "\n".join(p.text for p in document.sections[0].footer.paragraphs)
    assert "Riverside Family Clinic & Therapy" in footer_text and "Page" in footer_text
    header_text = "\n".join(p.text for p in document.sections[0].header.paragraphs)
    assert HOSTILE_NAME in header_text


@pytest.mark.parametrize("kind", KINDS)
def test_invoice_plan_block_only_when_on_a_plan(kind, built, tmp_path):
    context = make_context(n_lines=3, on_plan=True)
    texts = paragraph_texts(render(built[kind], context, tmp_path / "plan.docx"))
    assert plan_status_text(context["plan"]) in texts
    assert texts.index(plan_status_text(context["plan"])) < texts.index("How to pay")

    context["plan"]["next_due_date"] = ""  # nothing left to fall due
    texts = paragraph_texts(render(built[kind], context, tmp_path / "plan-done.docx"))
    assert ("Your payment plan PLN-2025-00031: $137.50 every two weeks; paid to date $412.50; "
            "remaining $962.50.") in texts

    joined = "\n".join(paragraph_texts(render(built[kind], make_context(n_lines=3),
                                              tmp_path / "noplan.docx")))
    assert "payment plan" not in joined.lower() and "PLN-" not in joined
    assert "{{" not in joined and "{%" not in joined


def test_credit_row_only_when_credit_applied(built, tmp_path):
    document = render(built["individual"], make_context(has_credit=False),
                      tmp_path / "nocredit.docx")
    assert "Credit applied" not in paragraph_texts(document)


def test_business_attention_line(built, tmp_path):
    with_attn = paragraph_texts(render(built["business"], make_context(attention="Jane Roe"),
                                       tmp_path / "attn.docx"))
    assert "Attn: Jane Roe" in with_attn
    assert "Please forward to your accounts payable department." in with_attn

    without = paragraph_texts(render(built["business"], make_context(attention=""),
                                     tmp_path / "noattn.docx"))
    assert not any(t.startswith("Attn:") for t in without)
    assert HOSTILE_NAME in without and "77 Elm Street" in without


def test_individual_has_no_attention_but_a_phone_line(built, tmp_path):
    texts = paragraph_texts(render(built["individual"], make_context(attention="Jane Roe"),
                                   tmp_path / "ind.docx"))
    assert not any(t.startswith("Attn:") for t in texts)
    assert "Questions about this bill? Call us at (217) 555-0142." in texts


@pytest.mark.parametrize("kind", KINDS)
def test_missing_key_raises(kind, built, tmp_path):
    context = make_context()
    broken = copy.deepcopy(context)
    del broken["invoice"]["balance_due"]
    with pytest.raises(jinja2.UndefinedError):
        render(built[kind], broken, tmp_path / "broken.docx")


# --------------------------------------------------------------------------- credit note and statement


def all_tables(document):
    """Every table in the body, nested ones included, in document order."""
    from docx.table import Table
    return [Table(tbl, document) for tbl in document.element.body.iter(qn("w:tbl"))]


def table_with_header(document, first_header: str, second_header: str):
    return next(t for t in all_tables(document)
                if [c.text for c in t.rows[0].cells][:2] == [first_header, second_header])


def row_texts(table) -> list[list[str]]:
    return [[c.text for c in row.cells] for row in table.rows]


@pytest.mark.parametrize("attention", ["", "Jane Roe"])
def test_credit_note_renders_hostile_text(built, tmp_path, attention):
    context = make_credit_note_context(attention=attention)
    document = render(built["credit_note"], context, tmp_path / "cn.docx")
    texts = paragraph_texts(document)
    joined = "\n".join(texts)
    note = context["credit_note"]

    assert "CREDIT NOTE" in texts and "VOID NOTICE" not in joined
    assert HOSTILE_NAME in texts
    assert "Apt <3B> & Annex" in texts
    assert "This credit note reduces invoice INV-2025-00123 by $170.00." in texts
    assert "is void" not in joined
    assert note["reason"] in texts
    for label, value in [("Credit Note Number", note["number"]), ("Date", note["date"]),
                         ("For Invoice", note["invoice_number"]),
                         ("Invoice Date", note["invoice_date"]), ("Client ID", "C-00417")]:
        assert any(row == [label, value] for t in all_tables(document) for row in row_texts(t)), \
            label
    totals = table_with_header(document, "Invoice total", note["invoice_total"])
    assert row_texts(totals) == [
        ["Invoice total", "$10,941.50"],
        ["This credit", "$170.00"],
        ["Invoice balance after this credit", "$10,771.50"],
    ]
    assert ("Attn: Jane Roe" in texts) == bool(attention)
    assert not any(t.startswith("Attn:") for t in texts if not attention)
    assert "{{" not in joined and "{%" not in joined

    footer_text = "\n".join(p.text for p in document.sections[0].footer.paragraphs)
    assert "Riverside Family Clinic & Therapy" in footer_text and "Page" in footer_text
    header_text = "\n".join(p.text for p in document.sections[0].header.paragraphs)
    assert f"Credit note CN-2025-00007 · {HOSTILE_NAME} (continued)" in header_text


def test_void_credit_note_is_a_void_notice(built, tmp_path):
    context = make_credit_note_context(is_void=True)
    document = render(built["credit_note"], context, tmp_path / "void.docx")
    texts = paragraph_texts(document)
    everything = "\n".join(texts + [p.text for p in document.sections[0].header.paragraphs])

    assert "VOID NOTICE" in texts
    assert "CREDIT NOTE" not in everything
    assert "Invoice INV-2025-00123 is void: what was still owed on it, $10,941.50, is credited." in texts
    assert "reduces invoice" not in everything
    assert "$0.00" in texts and HOSTILE_NAME in texts


@pytest.mark.parametrize("attention", ["", "Accounts Payable & <Billing>"])
def test_statement_renders_hostile_text_and_every_item(built, tmp_path, attention):
    context = make_statement_context(attention=attention)
    document = render(built["statement"], context, tmp_path / "st.docx")
    texts = paragraph_texts(document)
    joined = "\n".join(texts)
    statement = context["statement"]

    assert "STATEMENT OF ACCOUNT" in texts
    assert HOSTILE_NAME in texts  # exactly as given, in its own paragraph
    assert ("Attn: " + attention in texts) == bool(attention)
    if not attention:
        assert not any(t.startswith("Attn:") for t in texts)
    assert "{{" not in joined and "{%" not in joined

    # Facts: date, client, balance due.
    facts = table_with_header(document, "Statement Date", statement["date"])
    assert row_texts(facts) == [["Statement Date", "May 31, 2025"], ["Client ID", "C-00417"],
                                ["Balance Due", "$4,375.00"]]

    # Open items: repeating header row, one row per item that never splits, amounts right.
    open_table = table_with_header(document, "Invoice", "Date")
    assert row_texts(open_table)[0] == [
        "Invoice", "Date", "Due", "Days Past Due", "Amount", "Paid/Credited", "Balance"]
    assert open_table.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None
    assert row_texts(open_table)[1:] == [
        [i["number"], i["date"], i["due_date"], i["days_past_due"], i["amount"], i["paid"],
         i["balance"]] for i in context["open_items"]]
    for row in open_table.rows:
        assert row._tr.trPr.find(qn("w:cantSplit")) is not None
        assert {effective_alignment(c.paragraphs[0]) for c in row.cells[3:]} == {
            WD_ALIGN_PARAGRAPH.RIGHT}

    # Activity: heading with the period, then every line exactly.
    assert "Activity this period (May 1, 2025 – May 31, 2025)" in texts
    activity = table_with_header(document, "Date", "Description")
    assert row_texts(activity) == [["Date", "Description", "Reference", "Amount"]] + [
        [a["date"], a["description"], a["reference"], a["amount"]] for a in context["activity"]]
    assert activity.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None
    assert "No payments or credits in this period." not in texts
    assert "No open items." not in texts

    # Aging: one row per bucket; then the balance block.
    aging = table_with_header(document, "Age", "Amount")
    assert row_texts(aging)[1:] == [[b["name"], b["amount"]] for b in context["aging"]]
    totals = table_with_header(document, "Opening balance May 1, 2025", "$4,000.00")
    assert row_texts(totals) == [["Opening balance May 1, 2025", "$4,000.00"],
                                 ["New charges (invoices)", "$800.00"],
                                 ["Payments", "-$300.00"],
                                 ["Credits and adjustments", "-$125.00"],
                                 ["Closing balance May 31, 2025", "$4,375.00"],
                                 ["Total of open items", "$4,500.00"],
                                 ["Unapplied credit", "-$125.00"],
                                 ["Balance due", "$4,375.00"]]
    balance_label = totals.rows[-1].cells[0].paragraphs[0]
    assert balance_label.style.font.bold

    # How to pay, as on the invoices.
    assert context["office"]["payment_instructions"] in texts
    assert "Client C-00417 · Balance due $4,375.00 as of May 31, 2025" in texts
    for line in context["office"]["remit_to_lines"]:
        assert line in texts

    header_text = "\n".join(p.text for p in document.sections[0].header.paragraphs)
    assert f"Statement May 31, 2025 · {HOSTILE_NAME} (continued)" in header_text
    footer_text = "\n".join(p.text for p in document.sections[0].footer.paragraphs)
    assert "Riverside Family Clinic & Therapy · (217) 555-0142" in footer_text


def test_statement_without_activity_or_credit(built, tmp_path):
    context = make_statement_context(n_activity=0, has_credit=False)
    document = render(built["statement"], context, tmp_path / "quiet.docx")
    texts = paragraph_texts(document)

    assert "No payments or credits in this period." in texts
    assert not any([c.text for c in t.rows[0].cells][:2] == ["Date", "Description"]
                   for t in all_tables(document))
    assert "Unapplied credit" not in texts
    assert "Balance due" in texts and "$4,375.00" in texts
    for item in context["open_items"]:
        assert item["number"] in texts


def test_statement_without_open_items(built, tmp_path):
    context = make_statement_context(n_open=0)
    texts = paragraph_texts(render(built["statement"], context, tmp_path / "none.docx"))
    assert "No open items." in texts
    assert "Paid/Credited" not in texts
    assert "Unapplied credit" in texts


@pytest.mark.parametrize("key,make,path", [
    ("credit_note", make_credit_note_context, ("credit_note", "balance_after")),
    ("credit_note", make_credit_note_context, ("credit_note", "is_void")),
    ("credit_note", make_credit_note_context, ("client", "attention")),
    ("statement", make_statement_context, ("statement", "balance_due")),
    ("statement", make_statement_context, ("statement", "has_credit")),
    ("statement", make_statement_context, ("open_items", 7, "paid")),
    ("statement", make_statement_context, ("activity", 0, "reference")),
    ("statement", make_statement_context, ("aging", 2, "amount")),
    ("statement", make_statement_context, ("activity",)),
], ids=lambda v: v if isinstance(v, str) else None)
def test_new_templates_missing_key_raises(key, make, path, built, tmp_path):
    context = make()
    owner = context
    for step in path[:-1]:
        owner = owner[step]
    del owner[path[-1]]
    with pytest.raises(jinja2.UndefinedError):
        render(built[key], context, tmp_path / "broken.docx")


@pytest.mark.skipif(shutil.which("soffice") is None or shutil.which("pdftotext") is None,
                    reason="LibreOffice / poppler not installed")
def test_statement_pdf_repeats_the_open_items_header(built, tmp_path):
    """A long statement lays out over pages: page 2 carries the continuation header and the
    open-items header row again, and the totals and how-to-pay box are present."""
    context = make_statement_context(n_open=45, n_activity=12)
    # The longest date and amount a column must hold on one line.
    context["open_items"][0].update(date="September 30, 2025", due_date="December 30, 2025",
                                    amount="$123,456.78", paid="$123,456.78",
                                    balance="$123,456.78")
    context["activity"][0]["date"] = "September 30, 2025"
    render(built["statement"], context, tmp_path / "statement.docx")
    subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{tmp_path}/lo-profile", "--headless",
         "--convert-to", "pdf", "--outdir", str(tmp_path), str(tmp_path / "statement.docx")],
        check=True, capture_output=True, timeout=180)
    pdf = tmp_path / "statement.pdf"
    pages = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True,
                           capture_output=True, text=True).stdout.split("\f")
    pages = [p for p in pages if p.strip()]
    assert len(pages) >= 2
    assert "STATEMENT OF ACCOUNT" in pages[0] and "(continued)" not in pages[0]
    assert "Page 1 of %d" % len(pages) in pages[0]
    second = pages[1]
    assert "Statement May 31, 2025" in second and "(continued)" in second
    assert "Past Due" in second and "Paid/Credited" in second  # the repeated header row
    lines = pages[0].splitlines()
    first_item = next(line for line in lines if "INV-2025-00001" in line)
    assert "September 30, 2025" in first_item and "December 30, 2025" in first_item
    assert first_item.count("$123,456.78") == 3
    assert any("September 30, 2025" in line and "PAY-0001" in line
               for page in pages for line in page.splitlines())
    everything = "\n".join(pages)
    for item in context["open_items"]:
        assert item["number"] in everything
    assert "How to pay" in everything and "Balance due" in everything


# --------------------------------------------------------------------------- collection letters

LETTER_NAME = 'Smith & Sons <Ltd> "Ünïcode"'

# A phrase only that level's letters say (checked case-insensitively in body and header).
LEVEL_WORDING = {
    "reminder": "please disregard this letter",
    "second_notice": "second notice",
    "final_notice": "final notice",
}
LEVEL_TITLES = {
    "reminder": "PAYMENT REMINDER",
    "second_notice": "SECOND NOTICE",
    "final_notice": "FINAL NOTICE",
}
LEVEL_SUBJECTS = {
    "reminder": "Payment reminder",
    "second_notice": "Second notice",
    "final_notice": "Final notice before referral",
}


def make_letter_context(*, level: str = "second_notice", n_items: int = 3,
                        attention: str = "", show_plan: bool = True, on_plan: bool = False) -> dict:
    items = [
        {
            "number": f"INV-2025-{i:05d}",
            "date": f"June {(i % 28) + 1}, 2025",
            "due_date": f"July {(i % 28) + 1}, 2025",
            "days_past_due": str(140 - i),
            "balance": f"${1000 + 17 * i:,.2f}",  # distinct per item, none equal the total
        }
        for i in range(1, n_items + 1)
    ]
    client = make_client(attention)
    client["name"] = LETTER_NAME
    client["id"] = "C1004"
    return {
        "office": make_office(),
        "client": client,
        "letter": {
            "date": "September 30, 2025",
            "level": {"reminder": "Reminder", "second_notice": "Second Notice",
                      "final_notice": "Final Notice"}[level],
            "total_due": "$98,765.43",
            "oldest_days": "139",
            "pay_by": "October 14, 2025",
            "referral_date": "October 30, 2025" if level == "final_notice" else "",
        },
        "items": items,
        "plan_offer": {"show": show_plan, "eligible_balance": "$2,400.00",
                       "installment": "$200.00", "months": "12", "has_rest": False, "rest": "$0.00",
                       "rest_for": "other services"},
        "plan": make_plan(on_plan),
        "insurance": {"show": show_plan},
    }


def plan_offer_text(context: dict) -> str:
    offer = context["plan_offer"]
    return (f"If paying the full amount at once is difficult, we can set up a payment plan for "
            f"this balance of {offer['eligible_balance']}: {offer['installment']} a month for "
            f"{offer['months']} months. Call us to set it up.")


LETTER_CASES = [
    # (n_items, show_plan, attention): the business letter greets the attention when given,
    # else accounts payable; the individual letter ignores the attention.
    (3, True, "Jane O'Hara & <AP>"),
    (40, False, ""),
]


@pytest.mark.parametrize("n_items,show_plan,attention", LETTER_CASES,
                         ids=["3-items-plan-attn", "40-items-no-plan"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("level", LEVELS)
def test_collection_letter_renders(level, kind, n_items, show_plan, attention, built,
                                   tmp_path):
    context = make_letter_context(level=level, n_items=n_items, attention=attention,
                                  show_plan=show_plan)
    document = render(built[f"{level}_{kind}"], context, tmp_path / f"{level}_{kind}.docx")
    texts = paragraph_texts(document)
    joined = "\n".join(texts)
    header_text = "\n".join(p.text for p in document.sections[0].header.paragraphs)
    letter = context["letter"]

    assert "{{" not in joined and "{%" not in joined
    assert LETTER_NAME in texts  # exactly, unescaped, its own paragraph (address block)
    assert "Apt <3B> & Annex" in texts
    assert LEVEL_TITLES[level] in texts
    assert (f"{LEVEL_SUBJECTS[level]}: account C1004 — balance $98,765.43 past due"
            in texts)

    # Salutation and the reader: individual speaks to the client, business to accounts payable.
    if kind == "individual":
        assert f"Dear {LETTER_NAME}," in texts
        assert not any(t.startswith("Attn:") for t in texts)
        assert "accounts payable" not in joined.lower()
        assert "your account with us" not in joined
    else:
        expected = f"Dear {attention}," if attention else "Dear Accounts Payable,"
        assert expected in texts
        assert ("Attn: " + attention in texts) == bool(attention)
        if not attention:
            assert not any(t.startswith("Attn:") for t in texts)
        assert "Please forward to your accounts payable department." in texts
        assert "your account with us" in joined

    # Level wording: each level's phrase appears in its letter and in no other level's.
    lowered = (joined + "\n" + header_text).lower()
    for other, phrase in LEVEL_WORDING.items():
        assert (phrase in lowered) == (other == level), (other, phrase)
    if level in ("second_notice", "final_notice"):
        assert f"now {letter['oldest_days']} days past due" in joined
    if level == "final_notice":  # a notice of intended referral, naming its first day
        assert letter["pay_by"] in joined
        assert ("may be referred to a collection agency on or after October 30, 2025." in joined)
    else:
        assert "referred" not in joined
    assert ["Please Pay By", letter["pay_by"]] in [
        row for t in all_tables(document) for row in row_texts(t)]
    if level == "reminder":
        assert "collection agency" not in joined

    # Overdue items: repeating header, every item exactly, rows never split, bold total row.
    table = table_with_header(document, "Invoice", "Invoice Date")
    rows = row_texts(table)
    assert rows[0] == ["Invoice", "Invoice Date", "Due Date", "Days Past Due", "Balance"]
    assert table.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None
    assert rows[1:-1] == [[i["number"], i["date"], i["due_date"], i["days_past_due"],
                           i["balance"]] for i in context["items"]]
    assert len(rows) == n_items + 2
    assert rows[-1] == ["Total due"] * 4 + [letter["total_due"]]
    total_row = table.rows[-1]
    assert all(c.paragraphs[0].style.font.bold for c in total_row.cells)
    for row in table.rows:
        assert row._tr.trPr.find(qn("w:cantSplit")) is not None
        assert {effective_alignment(c.paragraphs[0]) for c in row.cells[3:]} == {
            WD_ALIGN_PARAGRAPH.RIGHT}

    # Plan offer only when offered, with its numbers.
    if show_plan:
        assert plan_offer_text(context) in texts
    else:
        assert "payment plan" not in joined.lower()
        assert context["plan_offer"]["installment"] not in joined
    assert "PLN-" not in joined  # not on a plan: no plan block

    # Patients are asked about insurance we could bill (when self-pay) and told of financial assistance.
    assert ("If you have health insurance we have not billed, please call us at (217) 555-0142: we will bill "
            "your insurer, and you pay only what it does not cover." in texts) == context["insurance"]["show"]
    assert (context["office"]["financial_assistance"] in texts) == (kind == "individual")

    # How to pay, who to call, sign-off.
    assert context["office"]["payment_instructions"] in texts
    assert "Please include your account number C1004 with your payment." in texts
    pay_line = "Account C1004 · Total due $98,765.43"
    assert pay_line + " by October 14, 2025" in texts
    for line in context["office"]["remit_to_lines"]:
        assert line in texts
    assert "Questions? Call (217) 555-0142 or email billing@riverside.example." in texts
    assert texts[-3:] == ["Sincerely,", "Billing Office", "Riverside Family Clinic & Therapy"]

    assert f"account C1004 · {LETTER_NAME} (continued)" in header_text
    footer_text = "\n".join(p.text for p in document.sections[0].footer.paragraphs)
    assert "Riverside Family Clinic & Therapy · (217) 555-0142" in footer_text
    assert "Page" in footer_text


def test_no_financial_assistance_line_when_the_office_offers_none(built, tmp_path):
    context = make_letter_context()
    context["office"]["financial_assistance"] = ""
    texts = paragraph_texts(render(built["reminder_individual"], context, tmp_path / "none.docx"))
    assert not any("assistance" in t for t in texts)


def test_plan_offer_for_one_month_is_singular(built, tmp_path):
    context = make_letter_context()
    context["plan_offer"].update(months="1", installment="$40.00", eligible_balance="$40.00")
    texts = paragraph_texts(render(built["reminder_individual"], context, tmp_path / "one.docx"))
    assert any(t.endswith("$40.00 a month for 1 month. Call us to set it up.") for t in texts)


@pytest.mark.parametrize("path", [
    ("letter", "total_due"),
    ("letter", "date"),
    ("plan_offer", "show"),
    ("plan_offer", "installment"),
    ("items", 1, "balance"),
    ("client", "attention"),
    ("items",),
], ids=lambda v: v if isinstance(v, str) else None)
@pytest.mark.parametrize("letter_name", ["second_notice_business", "final_notice_business"])
def test_letter_missing_key_raises(letter_name, path, built, tmp_path):
    _without_key_raises(built[letter_name], make_letter_context(attention="Jane Roe"), path, tmp_path)


def _without_key_raises(template, context: dict, path: tuple, tmp_path) -> None:
    owner = context
    for step in path[:-1]:
        owner = owner[step]
    del owner[path[-1]]
    with pytest.raises(jinja2.UndefinedError):
        render(template, context, tmp_path / "broken.docx")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("level", LEVELS)
def test_collection_letter_shows_the_plan_the_client_is_on(level, kind, built, tmp_path):
    context = make_letter_context(level=level, show_plan=False, on_plan=True)
    texts = paragraph_texts(render(built[f"{level}_{kind}"], context, tmp_path / "on-plan.docx"))
    block = (plan_status_text(context["plan"])
             + " The balance on this plan is not included in the overdue items above.")
    assert block in texts
    assert texts.index("Total due") < texts.index(block) < texts.index("How to pay")


# --------------------------------------------------------------------------- payment-plan letters

PLAN_LETTER_NAME = "Sam & <Co>"


def make_plan_letter_context(*, missed_dates: tuple[str, ...] = ("August 29, 2025", "September 12, 2025"),
                             next_due_date: str = "October 3, 2025", attention: str = "") -> dict:
    client = make_client(attention)
    client["name"] = PLAN_LETTER_NAME
    client["id"] = "C1004"
    return {
        "office": make_office(),
        "client": client,
        "letter": {"date": "September 30, 2025", "pay_by": "October 14, 2025"},
        "plan": {**make_plan(), "next_due_date": next_due_date, "start_date": "July 18, 2025",
                 "missed": str(len(missed_dates)), "overdue": "$275.00", "missed_dates": list(missed_dates)},
    }


def all_rows(document) -> list[list[str]]:
    return [row for t in all_tables(document) for row in row_texts(t)]


def assert_plan_letter_frame(document, kind: str, attention: str, title: str, subject: str) -> list[str]:
    """What every payment-plan letter has: the hostile name as written, title, subject, greeting,
    facts, how to pay, sign-off, continuation header and footer. Returns the body's texts."""
    texts = paragraph_texts(document)
    joined = "\n".join(texts)
    assert "{{" not in joined and "{%" not in joined
    assert PLAN_LETTER_NAME in texts and "Apt <3B> & Annex" in texts
    assert title in texts
    assert f"{subject}: plan PLN-2025-00031, account C1004" in texts
    if kind == "individual":
        assert f"Dear {PLAN_LETTER_NAME}," in texts
        assert not any(t.startswith("Attn:") for t in texts)
        assert "accounts payable" not in joined.lower()
    else:
        assert (f"Dear {attention}," if attention else "Dear Accounts Payable,") in texts
        assert ("Attn: " + attention in texts) == bool(attention)
        assert "Please forward to your accounts payable department." in texts
    rows = all_rows(document)
    for fact in (["Date", "September 30, 2025"], ["Account", "C1004"], ["Payment Plan", "PLN-2025-00031"],
                 ["Please Pay By", "October 14, 2025"]):
        assert fact in rows, fact
    office = make_office()
    assert office["payment_instructions"] in texts
    # Every letter to a patient tells of the office's financial assistance.
    assert (office["financial_assistance"] in texts) == (kind == "individual")
    for line in office["remit_to_lines"]:
        assert line in texts
    assert "Questions? Call (217) 555-0142 or email billing@riverside.example." in texts
    assert texts[-3:] == ["Sincerely,", "Billing Office", "Riverside Family Clinic & Therapy"]
    header_text = "\n".join(p.text for p in document.sections[0].header.paragraphs)
    assert f"plan PLN-2025-00031, account C1004 · {PLAN_LETTER_NAME} (continued)" in header_text
    footer_text = "\n".join(p.text for p in document.sections[0].footer.paragraphs)
    assert "Riverside Family Clinic & Therapy · (217) 555-0142" in footer_text and "Page" in footer_text
    return texts


@pytest.mark.parametrize("attention", ["", "Jane O'Hara & <AP>"])
@pytest.mark.parametrize("kind", KINDS)
def test_plan_missed_letter_renders(kind, attention, built, tmp_path):
    context = make_plan_letter_context(attention=attention)
    document = render(built[f"plan_missed_{kind}"], context, tmp_path / "missed.docx")
    texts = assert_plan_letter_frame(document, kind, attention, "MISSED INSTALLMENT",
                                     "Missed payment plan installment")
    joined = "\n".join(texts)
    if kind == "individual":
        assert ("We have not received the installments of your payment plan that were due on "
                "August 29, 2025 and September 12, 2025. The amount now due on your plan is $275.00.") in texts
        assert "To keep your payment plan, please pay $275.00 by October 14, 2025." in joined
    else:
        assert ("Our records show that the installments due on August 29, 2025 and September 12, 2025 "
                "under payment plan PLN-2025-00031 have not been received. The amount now due under the "
                "plan is $275.00.") in texts
        assert "please arrange payment of $275.00 by October 14, 2025." in joined
    assert "If your circumstances have changed" in joined and "call us at (217) 555-0142" in joined
    rows = all_rows(document)
    for fact in (["Amount Due", "$275.00"], ["Plan number", "PLN-2025-00031"],
                 ["Installment", "$137.50 every two weeks"], ["Paid to date", "$412.50"],
                 ["Remaining on the plan", "$962.50"], ["Next installment due", "October 3, 2025"],
                 ["Now due by October 14, 2025", "$275.00"]):
        assert fact in rows, fact
    assert "Please include your account number C1004 and plan number PLN-2025-00031 with your payment." in texts
    assert "Account C1004 · Amount due $275.00 by October 14, 2025" in texts
    assert "ended" not in joined.lower()


@pytest.mark.parametrize("kind", KINDS)
def test_plan_missed_letter_one_or_three_installments(kind, built, tmp_path):
    one = paragraph_texts(render(built[f"plan_missed_{kind}"],
                                 make_plan_letter_context(missed_dates=("August 29, 2025",), next_due_date=""),
                                 tmp_path / "one.docx"))
    joined = "\n".join(one)
    if kind == "individual":
        assert "We have not received the installment of your payment plan that was due on August 29, 2025." in joined
    else:
        assert ("the installment due on August 29, 2025 under payment plan PLN-2025-00031 has not been "
                "received.") in joined
    assert "Next installment due" not in one  # nothing left to fall due: no row

    three = "\n".join(paragraph_texts(render(
        built[f"plan_missed_{kind}"],
        make_plan_letter_context(missed_dates=("August 1, 2025", "August 15, 2025", "August 29, 2025")),
        tmp_path / "three.docx")))
    assert "due on August 1, 2025, August 15, 2025, and August 29, 2025" in three


@pytest.mark.parametrize("missed", [2, 1])
@pytest.mark.parametrize("kind", KINDS)
def test_plan_ended_letter_renders(kind, missed, built, tmp_path):
    context = make_plan_letter_context(missed_dates=("August 29, 2025", "September 12, 2025")[:missed],
                                       attention="Jane Roe")
    document = render(built[f"plan_ended_{kind}"], context, tmp_path / "ended.docx")
    texts = assert_plan_letter_frame(document, kind, "Jane Roe", "PAYMENT PLAN ENDED", "Your payment plan has ended")
    joined = "\n".join(texts)
    because = ("has ended because 2 installments were missed." if missed == 2 else
               "has ended because 1 installment was missed.")
    if kind == "individual":
        assert ("We are sorry to tell you that your payment plan PLN-2025-00031, which started on July 18, 2025, "
                + because) in texts
        assert ("The remaining balance of $962.50 is now due in full, and your account returns to our usual "
                "collection process. Please pay $962.50 by October 14, 2025.") in texts
    else:
        assert ("Payment plan PLN-2025-00031 on your account with us, which started on July 18, 2025, "
                + because) in texts
        assert ("The remaining balance of $962.50 is now due in full, and the account returns to our usual "
                "collection process. Please arrange payment of $962.50 by October 14, 2025.") in texts
    assert "call us at (217) 555-0142" in joined
    rows = all_rows(document)
    for fact in (["Amount Due", "$962.50"], ["Plan number", "PLN-2025-00031"], ["Started", "July 18, 2025"],
                 ["Plan amount", "$1,375.00"], ["Paid to date", "$412.50"], ["Installments missed", str(missed)],
                 ["Now due by October 14, 2025", "$962.50"]):
        assert fact in rows, fact
    assert "Account C1004 · Amount due $962.50 by October 14, 2025" in texts
    assert "$275.00" not in joined  # the overdue installments are part of the remaining balance


@pytest.mark.parametrize("letter_name,path", [
    *[(f"plan_{which}_business", path) for which in ("missed", "ended")
      for path in (("plan", "id"), ("plan", "remaining"), ("letter", "pay_by"), ("client", "attention"))],
    ("plan_missed_individual", ("plan", "overdue")),
    ("plan_missed_individual", ("plan", "missed_dates")),
    ("plan_missed_individual", ("plan", "next_due_date")),
    ("plan_ended_individual", ("plan", "start_date")),
    ("plan_ended_individual", ("plan", "missed")),
], ids=lambda v: v if isinstance(v, str) else ".".join(v))
def test_plan_letter_missing_key_raises(letter_name, path, built, tmp_path):
    _without_key_raises(built[letter_name], make_plan_letter_context(attention="Jane Roe"), path, tmp_path)


@pytest.mark.skipif(shutil.which("soffice") is None or shutil.which("pdftotext") is None,
                    reason="LibreOffice / poppler not installed")
def test_second_notice_pdf_layout(built, tmp_path):
    """A 40-item second notice lays out over two pages: page 2 has the continuation header and
    the items header row again, and the total, plan offer, box and sign-off come after."""
    context = make_letter_context(n_items=40, attention="Jane Roe")
    context["items"][0].update(date="September 30, 2025", due_date="December 30, 2025",
                               balance="$123,456.78")
    render(built["second_notice_business"], context, tmp_path / "letter.docx")
    subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{tmp_path}/lo-profile", "--headless",
         "--convert-to", "pdf", "--outdir", str(tmp_path), str(tmp_path / "letter.docx")],
        check=True, capture_output=True, timeout=180)
    pages = subprocess.run(["pdftotext", "-layout", str(tmp_path / "letter.pdf"), "-"],
                           check=True, capture_output=True, text=True).stdout.split("\f")
    pages = [p for p in pages if p.strip()]
    assert len(pages) == 2
    first, second = pages
    assert "SECOND NOTICE" in first and "(continued)" not in first
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    first_item = next(line for line in first.splitlines() if "INV-2025-00001" in line)
    for value in ("September 30, 2025", "December 30, 2025", "$123,456.78"):
        assert value in first_item  # each on the item's one line
    assert "Second notice, account C1004" in second and "(continued)" in second
    assert "Invoice Date" in second and "Days Past Due" in second  # repeated header row
    everything = "\n".join(pages)
    for item in context["items"]:
        assert item["number"] in everything
    assert "Total due" in second and "How to pay" in second
    assert second.index("Total due") < second.index("payment plan") < second.index(
        "How to pay") < second.index("Sincerely,") < second.index("Billing Office")


def test_plan_letter_without_an_office_phone_says_call_us(built, tmp_path):
    context = make_plan_letter_context()
    context["office"]["phone"] = ""
    joined = "\n".join(paragraph_texts(render(built["plan_ended_individual"], context, tmp_path / "nophone.docx")))
    assert "please call us. We would much rather work this out with you directly." in joined
    assert "call us at" not in joined


# --------------------------------------------------------------------------- coverage notices

NOTICE_NAME = "Ann & <Bo> Lee"


def make_coverage_notice_context(*, n_services: int = 3, member_id: str = "AH-123", attention: str = "") -> dict:
    """The coverage notices' contract (documents/template_build.py): letter, notice, services."""
    client = make_client(attention)
    client["name"] = NOTICE_NAME
    client["id"] = "C1004"
    return {
        "office": make_office(),
        "client": client,
        "letter": {"date": "September 30, 2025"},
        "notice": {"payer": "Acme Health & <Co>", "member_id": member_id, "total": "$98,765.43"},
        "services": [{"date": f"09/{i:02d}/2025", "code": f"99{200 + i}",
                      "description": f"Office visit #{i} & <follow-up>", "quantity": str(i % 3 + 1),
                      "amount": f"${125 * i:,.2f}"} for i in range(1, n_services + 1)],
    }


NOTICE_BODY = {
    "individual": ("Your insurance (Acme Health & <Co>{member}) does not cover the services below, so they are "
                   "billed to you on your next invoice. If you think your plan should cover them, or you have "
                   "other insurance we have not billed, please call us at (217) 555-0142."),
    "business": ("The insurance on file for your account (Acme Health & <Co>{member}) does not cover the services "
                 "below, so they are billed to your account on the next invoice. If you believe the plan should "
                 "cover them, or there is other insurance we have not billed, please call us at (217) 555-0142."),
}


@pytest.mark.parametrize("member_id", ["AH-123", ""])
@pytest.mark.parametrize("attention", ["", "Jane O'Hara & <AP>"])
@pytest.mark.parametrize("kind", KINDS)
def test_coverage_notice_renders(kind, attention, member_id, built, tmp_path):
    context = make_coverage_notice_context(member_id=member_id, attention=attention)
    document = render(built[f"coverage_notice_{kind}"], context, tmp_path / "notice.docx")
    texts = paragraph_texts(document)
    joined = "\n".join(texts)
    assert "{{" not in joined and "{%" not in joined
    assert NOTICE_NAME in texts and "Apt <3B> & Annex" in texts
    assert "COVERAGE NOTICE" in texts
    if kind == "individual":
        assert "Services your insurance does not cover: account C1004" in texts
        assert f"Dear {NOTICE_NAME}," in texts
        assert not any(t.startswith("Attn:") for t in texts)
        assert "accounts payable" not in joined.lower()
    else:
        assert "Services not covered by the insurance on file: account C1004" in texts
        assert (f"Dear {attention}," if attention else "Dear Accounts Payable,") in texts
        assert ("Attn: " + attention in texts) == bool(attention)
        assert "Please forward to your accounts payable department." in texts
    member = f", member ID {member_id}" if member_id else ""
    assert NOTICE_BODY[kind].format(member=member) in texts
    assert (make_office()["financial_assistance"] in texts) == (kind == "individual")
    assert ("member ID" in joined) == bool(member_id)

    rows = all_rows(document)
    for fact in (["Date", "September 30, 2025"], ["Account", "C1004"], ["Insurance", "Acme Health & <Co>"],
                 ["Not Covered", "$98,765.43"]):
        assert fact in rows, fact
    assert (["Member ID", member_id] in rows) == bool(member_id)
    assert member_id or not any(r and r[0] == "Member ID" for r in rows)  # no empty row left behind

    # Every service on its own row under a header that repeats on every page, then the total.
    table = table_with_header(document, "Date", "Code")
    services = row_texts(table)
    assert services[0] == ["Date", "Code", "Description", "Qty", "Amount"]
    assert table.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None
    assert services[1:-1] == [[s["date"], s["code"], s["description"], s["quantity"], s["amount"]]
                              for s in context["services"]]
    assert services[-1] == ["Total not covered"] * 4 + ["$98,765.43"]
    for row in table.rows:
        assert row._tr.trPr.find(qn("w:cantSplit")) is not None
        for cell in row.cells:
            style = cell.paragraphs[0].style
            assert style.font.size.pt >= 10, style.name  # readable: a point larger than the 9 pt tables
    # The last service keeps with the total, the total with the closing lines down to the signature.
    assert all(c.paragraphs[0].paragraph_format.keep_with_next for c in table.rows[-2].cells)
    assert not any(c.paragraphs[0].paragraph_format.keep_with_next for c in table.rows[-3].cells)

    office = make_office()
    assert office["payment_instructions"] not in texts  # not a bill: the invoice asks for the money
    closing = [t for t in texts if t != office["financial_assistance"]]  # individual: just before the sign-off
    assert closing[-5:] == [
        "This letter is not a bill: the services appear on %s invoice, which says when payment is due."
        % ("your" if kind == "individual" else "the"),
        "Questions? Call (217) 555-0142 or email billing@riverside.example.",
        "Sincerely,", "Billing Office", "Riverside Family Clinic & Therapy"]
    header_text = "\n".join(p.text for p in document.sections[0].header.paragraphs)
    assert f"Coverage notice, account C1004 · {NOTICE_NAME} (continued)" in header_text
    footer_text = "\n".join(p.text for p in document.sections[0].footer.paragraphs)
    assert "Riverside Family Clinic & Therapy · (217) 555-0142" in footer_text and "Page" in footer_text


def test_coverage_notice_without_an_office_phone_says_call_us(built, tmp_path):
    context = make_coverage_notice_context()
    context["office"]["phone"] = ""
    joined = "\n".join(paragraph_texts(render(built["coverage_notice_individual"], context, tmp_path / "n.docx")))
    assert "or you have other insurance we have not billed, please call us." in joined
    assert "call us at" not in joined


@pytest.mark.parametrize("letter_name,path", [
    *[(f"coverage_notice_{kind}", path) for kind in KINDS
      for path in (("notice", "payer"), ("notice", "member_id"), ("notice", "total"), ("letter", "date"),
                   ("services", 0, "code"), ("services", 2, "amount"), ("services",))],
    ("coverage_notice_business", ("client", "attention")),
], ids=lambda v: v if isinstance(v, str) else ".".join(map(str, v)))
def test_coverage_notice_missing_key_raises(letter_name, path, built, tmp_path):
    _without_key_raises(built[letter_name], make_coverage_notice_context(attention="Jane Roe"), path, tmp_path)


def notice_content(name: str, kind: str = "Individual", member_id: str | None = "AH-123") -> dict:
    """What the ledger records for a notice (`coverage_notices.content`)."""
    return {
        "template": "coverage_notice",
        "bill_to": {"client_id": "C1004", "name": name, "type": kind, "attention": "",
                    "address_lines": ["77 Elm Street", "Springfield, IL 62701"], "postal_code": "62701",
                    "delivery": "Mail"},
        "date": "2026-03-14", "payer": "Acme Health", "member_id": member_id,
        "services": [
            {"service_date": "2026-03-02", "service_code": "99213", "description": "Office visit",
             "quantity": "1", "amount_cents": 12500},
            {"service_date": "2026-03-09", "service_code": "97110", "description": "Therapeutic exercise",
             "quantity": "2.50", "amount_cents": 11250},
            {"service_date": "2026-03-11", "service_code": "90837", "description": 'Psychotherapy =SUM(A1) "60 min"',
             "quantity": "1", "amount_cents": 123456},
        ],
        "total_cents": 147206,
    }


@pytest.mark.parametrize("name", ['=HYPERLINK("x")', "{{ 7*7 }}", "{% raw %}<b>&amp;"])
@pytest.mark.parametrize("kind", ["Individual", "Business"])
def test_coverage_notice_from_recorded_content(name, kind, tmp_path):
    """From what the ledger records to the .docx the run writes (fast renderer, committed template):
    payer, member ID, every service and the total read back; a client name is text, never a
    formula or template code."""
    from billing_batch.config import Settings
    from billing_batch.documents.contexts import coverage_notice_context
    from billing_batch.documents.render import render_docx

    settings = Settings()
    template = default_output_dir() / f"coverage_notice_{kind.lower()}.docx"
    out = tmp_path / "notice.docx"
    out.write_bytes(render_docx(template, coverage_notice_context(settings, notice_content(name, kind))))
    document = docx.Document(str(out))
    texts = paragraph_texts(document)
    joined = "\n".join(texts)
    assert name in texts  # the address block, exactly as recorded
    if "7*7" in name:
        assert "49" not in joined  # printed, never evaluated
    assert "Acme Health, member ID AH-123)" in joined
    rows = all_rows(document)
    assert ["Insurance", "Acme Health"] in rows and ["Member ID", "AH-123"] in rows
    services = row_texts(table_with_header(document, "Date", "Code"))
    assert services[1:] == [
        ["03/02/2026", "99213", "Office visit", "1", "$125.00"],
        ["03/09/2026", "97110", "Therapeutic exercise", "2.5", "$112.50"],
        ["03/11/2026", "90837", 'Psychotherapy =SUM(A1) "60 min"', "1", "$1,234.56"],
        ["Total not covered"] * 4 + ["$1,472.06"],
    ]
    assert ["Not Covered", "$1,472.06"] in rows
    assert (f"Dear {name}," if kind == "Individual" else "Dear Accounts Payable,") in texts


def test_coverage_notice_context_formats_what_was_recorded():
    from billing_batch.config import Settings
    from billing_batch.documents.contexts import coverage_notice_context

    ctx = coverage_notice_context(Settings(), notice_content("Ann Lee", member_id=None))
    assert set(ctx) == {"office", "client", "letter", "notice", "services"}
    assert ctx["letter"] == {"date": "March 14, 2026"}
    assert ctx["notice"] == {"payer": "Acme Health", "member_id": "", "total": "$1,472.06"}
    assert ctx["client"] == {"id": "C1004", "name": "Ann Lee", "attention": "", "greeting": "Ann Lee",
                             "address_lines": ["77 Elm Street", "Springfield, IL 62701"]}
    assert ctx["services"][1] == {"date": "03/09/2026", "code": "97110", "description": "Therapeutic exercise",
                                  "quantity": "2.5", "amount": "$112.50"}


@pytest.mark.skipif(shutil.which("soffice") is None or shutil.which("pdftotext") is None,
                    reason="LibreOffice / poppler not installed")
def test_coverage_notice_pdf_layout(built, tmp_path):
    """A short notice is one page. A longer one breaks where it must, but the last service, the
    total and the sign-off always share a page (never the total or the signature alone), for
    each length around the page break."""
    names = []
    for n in (2, *range(12, 19)):
        context = make_coverage_notice_context(n_services=n, attention="Jane Roe")
        context["services"][0].update(description="Psychotherapy, 60 minutes, with patient and family member "
                                                  "present", amount="$123,456.78", code="99213-25")
        render(built["coverage_notice_business"], context, tmp_path / f"notice-{n:02d}.docx")
        names.append(str(tmp_path / f"notice-{n:02d}.docx"))
    subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{tmp_path}/lo-profile", "--headless",
         "--convert-to", "pdf", "--outdir", str(tmp_path), *names],
        check=True, capture_output=True, timeout=300)
    for n in (2, *range(12, 19)):
        pages = subprocess.run(["pdftotext", "-layout", str(tmp_path / f"notice-{n:02d}.pdf"), "-"],
                               check=True, capture_output=True, text=True).stdout.split("\f")
        pages = [p for p in pages if p.strip()]
        if n == 2:
            assert len(pages) == 1
        assert len(pages) <= 2, n
        everything = "\n".join(pages)
        first_line = next(line for line in everything.splitlines() if "09/01/2025" in line)
        for value in ("99213-25", "$123,456.78"):
            assert value in first_line  # each on the service's one line
        for i in range(1, n + 1):
            assert f"09/{i:02d}/2025" in everything
        last = next(p for p in pages if "Total not covered" in p)
        assert f"09/{n:02d}/2025" in last and "Sincerely," in last and "Billing Office" in last, n
        if len(pages) == 2:
            assert "(continued)" in pages[1] and "Description" in pages[1]  # repeated header row


# --------------------------------------------------------------------------- plan contexts

def test_plan_context_formats_a_summary_and_is_empty_without_one():
    from billing_batch.config import Settings
    from billing_batch.documents.contexts import plan_context

    settings = Settings()
    summary = {"id": "PLN-2026-00001", "installment_cents": 123456, "frequency": "Biweekly",
               "next_due_date": "2026-04-01", "paid_cents": 0, "remaining_cents": 370368,
               "plan_amount_cents": 370368}
    assert plan_context(settings, summary) == {
        "show": True, "id": "PLN-2026-00001", "installment": "$1,234.56", "frequency": "two weeks",
        "next_due_date": "April 1, 2026", "paid_to_date": "$0.00", "remaining": "$3,703.68",
        "plan_amount": "$3,703.68"}
    assert plan_context(settings, {**summary, "frequency": "Weekly"})["frequency"] == "week"
    assert plan_context(settings, {**summary, "frequency": "Monthly"})["frequency"] == "month"
    assert plan_context(settings, {**summary, "next_due_date": None})["next_due_date"] == ""
    empty = plan_context(settings, None)
    assert empty["show"] is False and set(empty) == set(plan_context(settings, summary))
    assert all(v == "" for k, v in empty.items() if k != "show")


def test_letter_and_invoice_contexts_carry_the_plan():
    import json
    from datetime import date

    from billing_batch.config import Settings
    from billing_batch.documents.contexts import invoice_context, letter_context, plan_letter_context
    from billing_batch.documents.samples import BILL_TO, INVOICE, LINES, PLAN, PLAN_LETTER

    settings = Settings()
    assert invoice_context(settings, INVOICE, LINES, 0)["plan"]["show"] is False
    assert invoice_context(settings, INVOICE, LINES, 0, plan=PLAN)["plan"]["id"] == "PLN-2026-00001"
    old_letter = {"template": "reminder", "level": "Reminder", "bill_to": json.loads(BILL_TO), "date": "2026-03-14",
                  "pay_by": "2026-03-28", "oldest_days": 45, "total_cents": 100, "items": [],
                  "plan": {"show": False, "eligible_cents": 0, "installment_cents": 0, "months": 0}}
    assert letter_context(settings, old_letter)["plan"]["show"] is False  # recorded before plans
    on_plan = letter_context(settings, {**old_letter, "on_plan": PLAN})["plan"]
    assert on_plan["show"] is True and on_plan["remaining"] == "$200.00"

    content = {"template": "plan_missed", "bill_to": json.loads(BILL_TO), "date": date(2026, 3, 14),
               "pay_by": "2026-03-28", "plan": PLAN_LETTER}
    ctx = plan_letter_context(settings, content)
    assert ctx["letter"] == {"date": "March 14, 2026", "pay_by": "March 28, 2026"}
    assert ctx["client"]["name"] == json.loads(BILL_TO)["name"]
    plan = ctx["plan"]
    assert plan["show"] is True and plan["start_date"] == "December 1, 2025" and plan["missed"] == "2"
    assert plan["overdue"] == "$100.00" and plan["missed_dates"] == ["February 1, 2026", "March 1, 2026"]
    assert plan["installment"] == "$50.00" and plan["frequency"] == "month"


@pytest.mark.parametrize("bill_to,expected", [
    ({"type": "Individual", "name": "Tom Baker", "attention": ""}, "Tom Baker"),
    ({"type": "Business", "name": "Baker & Sons", "attention": "Tom Baker, Owner"}, "Tom Baker"),
    ({"type": "Business", "name": "Baker & Sons", "attention": "Attn: Maria Gomez, HR Manager"}, "Maria Gomez"),
    ({"type": "Business", "name": "Baker & Sons", "attention": "Accounts Payable"}, "Accounts Payable"),
    ({"type": "Business", "name": "Baker & Sons", "attention": "ATTN Maria Gomez"}, "Maria Gomez"),
    ({"type": "Business", "name": "Baker & Sons", "attention": "Attention - Maria Gomez, CFO"}, "Maria Gomez"),
    ({"type": "Business", "name": "Attenborough", "attention": "Attenborough Ltd"}, "Attenborough Ltd"),
    ({"type": "Business", "name": "Baker & Sons", "attention": ""}, "Accounts Payable"),
    ({"type": "Business", "name": "Baker & Sons"}, "Accounts Payable"),
])
def test_the_greeting_has_no_job_title(bill_to, expected):
    from billing_batch.documents.contexts import greeting

    assert greeting(bill_to) == expected


def test_a_letter_context_says_what_no_plan_can_hold():
    """The recorded plan offer's rest (what is for discretionary services) as the letter prints it."""
    from billing_batch.config import Settings
    from billing_batch.documents.contexts import letter_context

    content = {"template": "reminder", "level": "Reminder", "date": "2026-05-01", "pay_by": "2026-05-15",
               "bill_to": {"client_id": "C1", "name": "Ann Lee", "type": "Individual", "attention": "",
                           "address_lines": ["1 Main St"]},
               "oldest_days": 1, "total_cents": 50000, "items": [], "referral_date": None,
               "plan": {"show": True, "eligible_cents": 20000, "installment_cents": 2500, "months": 8,
                        "rest_cents": 30000, "rest_for": ["Teeth whitening", "Veneers", "Bleaching", "Crowns"]}}
    ctx = letter_context(Settings(), content)
    assert ctx["plan_offer"] | {} == {"show": True, "eligible_balance": "$200.00", "installment": "$25.00",
                                      "months": "8", "has_rest": True, "rest": "$300.00",
                                      "rest_for": "Teeth whitening, Veneers, Bleaching and other services"}
    assert ctx["letter"]["referral_date"] == ""
    ctx = letter_context(Settings(), {**content, "referral_date": "2026-07-30"})
    assert ctx["letter"]["referral_date"] == "July 30, 2026"
