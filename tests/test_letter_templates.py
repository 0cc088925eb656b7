"""The generated Word invoice templates: reproducible, committed up to date, and rendering
hostile text safely with docxtpl under an autoescaping, strict Jinja environment."""

from __future__ import annotations

import copy
import io
import pathlib
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
HOSTILE_NAME = 'Smith & Sons <Ltd> "Ünïcode" O\'Brien'
REBUILD_HINT = "run: python -m billing_batch.documents.template_build"


def make_context(*, attention: str = "Accounts Payable", n_lines: int = 60,
                 has_credit: bool = True) -> dict:
    lines = [
        {
            "date": f"2025-03-{(i % 28) + 1:02d}",
            "code": f"SVC-{i:03d}",
            "description": f"Consultation #{i} & follow-up <room {i % 7}> \"line-{i:03d}\"",
            "quantity": f"{(i % 3) + 1}",
            "unit_price": "$85.00",
            "amount": f"${85 * ((i % 3) + 1):,.2f}",
        }
        for i in range(1, n_lines + 1)
    ]
    return {
        "office": {
            "name": "Riverside Family Clinic & Therapy",
            "address_lines": ["1200 Harbor Blvd, Suite 4", "Springfield, IL 62704"],
            "phone": "(217) 555-0142",
            "email": "billing@riverside.example",
            "tax_id": "12-3456789",
            "remit_to_lines": ["Riverside Family Clinic", "PO Box 889",
                               "Springfield, IL 62705"],
            "payment_instructions": "Pay by check payable to Riverside Family Clinic, or by "
                                    "ACH to account 000123456 (routing 071000013).",
        },
        "client": {
            "id": "C-00417",
            "name": HOSTILE_NAME,
            "attention": attention,
            "address_lines": ["77 Elm Street", "Apt <3B> & Annex", "Springfield, IL 62701"],
        },
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
        },
        "lines": lines,
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
    return {p.stem.removeprefix("invoice_"): p for p in build_letter_templates(out)}


def test_build_is_byte_reproducible(tmp_path):
    first = build_letter_templates(tmp_path / "a")
    second = build_letter_templates(tmp_path / "b")
    assert [p.name for p in first] == ["invoice_individual.docx", "invoice_business.docx"]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name
    with zipfile.ZipFile(first[0]) as archive:
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


@pytest.mark.parametrize("kind", KINDS)
def test_committed_templates_match_fresh_build(kind, built):
    committed = default_output_dir() / f"invoice_{kind}.docx"
    assert committed.is_file(), f"{committed} missing; {REBUILD_HINT}"
    fresh = zip_parts(built[kind].read_bytes())
    saved = zip_parts(committed.read_bytes())
    assert sorted(saved) == sorted(fresh), REBUILD_HINT
    for name in fresh:
        assert saved[name] == fresh[name], f"{committed.name}:{name} is stale; {REBUILD_HINT}"


@pytest.mark.parametrize("kind", KINDS)
def test_template_uses_only_the_contract_variables(kind, built):
    variables = DocxTemplate(str(built[kind])).get_undeclared_template_variables(
        jinja_env=strict_env())
    assert variables == {"office", "client", "invoice", "lines"}


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
        assert line["description"] in texts
    assert "Credit applied" in texts
    assert "Tax (8.25%)" in texts
    assert "{{" not in joined and "{%" not in joined

    # The line table: header row repeats on every page, 60 data rows that never split.
    line_table = next(t for t in document.tables if t.rows[0].cells[0].text == "Date")
    assert [c.text for c in line_table.rows[0].cells] == [
        "Date", "Code", "Description", "Qty", "Unit Price", "Amount"]
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
