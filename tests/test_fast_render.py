"""The prepared-template renderer writes the document docxtpl writes: every zip part, in the same
order, byte for byte, for every template in letter_templates/ and contexts that stress escaping,
long tables, empty lists and both branches of every condition; and `render_many` writes the same
files over several processes, reporting a broken document without stopping the others.

Only zip metadata may differ (docxtpl stamps entries with the time of saving, the fast path with
1980-01-01 so output is reproducible); the comparison is of part names, order and contents.
"""

from __future__ import annotations

import copy
import io
import os
import pathlib
import sys
import zipfile

import docx
import jinja2
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from billing_batch.documents import fast_render  # noqa: E402
from billing_batch.documents.fast_render import PreparedTemplate, render_with_docxtpl  # noqa: E402
from billing_batch.documents.render import render_docx, render_many  # noqa: E402
from tests.test_letter_templates import (  # noqa: E402
    make_context,
    make_coverage_notice_context,
    make_credit_note_context,
    make_plan,
    make_plan_letter_context,
    make_statement_context,
)

TEMPLATES = REPO / "letter_templates"
HOSTILE = 'Smith & Sons <Ltd> "Quoted" O\'Brien — Zoë Núñez Ünïcode ½ {{ not.a.tag }} {% raw %}'


def parts(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None  # every CRC checks
        return [(name, archive.read(name)) for name in archive.namelist()]


def assert_same_document(fast: bytes, reference: bytes) -> None:
    got, want = parts(fast), parts(reference)
    assert [n for n, _ in got] == [n for n, _ in want]
    for (name, a), (_, b) in zip(got, want):
        assert a == b, f"part {name} differs"


def hostile(ctx: dict) -> dict:
    ctx = copy.deepcopy(ctx)
    ctx["client"]["name"] = HOSTILE
    ctx["client"]["address_lines"] = ["1 Rue de l'Église & Co", "Apt <3B>", "Montréal, QC H2X 1Y4"]
    ctx["office"]["name"] = "Riverside Clinic & <Therapy> \"Ltd\""
    return ctx


def invoice_contexts() -> dict[str, dict]:
    one = make_context(n_lines=1)
    one["lines"][0]["description"] = HOSTILE
    long_ = make_context(n_lines=200, has_credit=False)
    newline = make_context(n_lines=3)
    newline["lines"][1]["description"] = "Line one\nline two\tafter a tab"  # docxtpl's listing characters
    return {
        "1 line, credit": one,
        "200 lines, no credit": long_,
        "hostile text": hostile(make_context(n_lines=12)),
        "no attention": make_context(attention="", n_lines=5),
        "no lines": make_context(n_lines=0),
        "on a plan": make_context(n_lines=2, on_plan=True),
        "newline and tab": newline,
    }


def credit_note_contexts() -> dict[str, dict]:
    return {
        "credit": make_credit_note_context(),
        "void, attention": make_credit_note_context(is_void=True, attention="Accounts Payable"),
        "hostile text": hostile(make_credit_note_context()),
    }


def statement_contexts() -> dict[str, dict]:
    return {
        "long, credit": make_statement_context(n_open=200, n_activity=60),
        "no activity, no credit": make_statement_context(n_open=1, n_activity=0, has_credit=False),
        "nothing open": make_statement_context(n_open=0, n_activity=0, has_credit=False),
        "hostile text": hostile(make_statement_context(n_open=3, n_activity=2, attention="Jane & <Roe>")),
    }


def make_letter_context(*, level: str, n_items: int, show_plan: bool, attention: str = "",
                        on_plan: bool = False) -> dict:
    """The collection letters' contract (documents/template_build.py): letter, items, plan_offer, plan."""
    base = make_credit_note_context(attention=attention)
    return {
        "office": base["office"],
        "client": base["client"],
        "letter": {"date": "May 31, 2026", "level": level, "total_due": "$1,234.50", "oldest_days": "47",
                   "pay_by": "June 14, 2026", "referral_date": "June 30, 2026" if level == "final_notice" else ""},
        "items": [{"number": f"INV-2026-{i:05d}", "date": f"03/{i % 28 + 1:02d}/2026",
                   "due_date": f"04/{i % 28 + 1:02d}/2026", "days_past_due": str(30 + i),
                   "balance": f"${i * 12.5:,.2f}"} for i in range(1, n_items + 1)],
        "plan_offer": {"show": show_plan, "eligible_balance": "$1,000.00", "installment": "$84.00",
                       "months": "12", "has_rest": False, "rest": "$0.00", "rest_for": "other services"},
        "plan": make_plan(on_plan),
        "insurance": {"show": not show_plan},
    }


def with_rest(context: dict) -> dict:
    context["plan_offer"].update(has_rest=True, rest="$300.00", rest_for="Teeth whitening & <bleach>")
    return context


def letter_contexts(level: str):
    def make() -> dict[str, dict]:
        return {
            "1 item, plan offer": make_letter_context(level=level, n_items=1, show_plan=True),
            "200 items, no offer": make_letter_context(level=level, n_items=200, show_plan=False,
                                                       attention="Accounts Payable"),
            "no items": make_letter_context(level=level, n_items=0, show_plan=False),
            "hostile text": hostile(make_letter_context(level=level, n_items=3, show_plan=True,
                                                        attention="Jane & <Roe>")),
            "on a plan": make_letter_context(level=level, n_items=2, show_plan=False, on_plan=True),
            "plan offer with a discretionary rest": with_rest(make_letter_context(level=level, n_items=2, show_plan=True)),
        }
    return make


def plan_letter_contexts() -> dict[str, dict]:
    return {
        "two missed": make_plan_letter_context(),
        "one missed, nothing more due": make_plan_letter_context(missed_dates=("May 1, 2026",), next_due_date=""),
        "three missed": make_plan_letter_context(missed_dates=("May 1, 2026", "May 15, 2026", "May 29, 2026")),
        "hostile text": hostile(make_plan_letter_context(attention="Jane & <Roe>")),
    }


def coverage_notice_contexts() -> dict[str, dict]:
    return {
        "3 services": make_coverage_notice_context(),
        "1 service, no member ID": make_coverage_notice_context(n_services=1, member_id=""),
        "200 services, attention": make_coverage_notice_context(n_services=200, attention="Accounts Payable"),
        "hostile text": hostile(make_coverage_notice_context(attention="Jane & <Roe>")),
    }


LEVELS = ("reminder", "second_notice", "final_notice")
CONTEXTS = {
    "invoice_individual.docx": invoice_contexts,
    "invoice_business.docx": invoice_contexts,
    "credit_note.docx": credit_note_contexts,
    "statement.docx": statement_contexts,
    **{f"{level}_{kind}.docx": letter_contexts(level) for level in LEVELS for kind in ("individual", "business")},
    **{f"{which}_{kind}.docx": plan_letter_contexts for which in ("plan_missed", "plan_ended")
       for kind in ("individual", "business")},
    **{f"coverage_notice_{kind}.docx": coverage_notice_contexts for kind in ("individual", "business")},
}
CASES = [(t, c) for t, make in CONTEXTS.items() for c in make()]


def test_every_template_is_covered():
    assert sorted(p.name for p in TEMPLATES.glob("*.docx")) == sorted(CONTEXTS)


@pytest.fixture(scope="module")
def prepared_templates() -> dict[str, PreparedTemplate]:
    return {name: PreparedTemplate(TEMPLATES / name) for name in CONTEXTS}


@pytest.mark.parametrize(("template", "case"), CASES)
def test_same_parts_as_docxtpl(template, case, prepared_templates):
    ctx = CONTEXTS[template]()[case]
    reference = render_with_docxtpl(TEMPLATES / template, ctx)
    assert_same_document(prepared_templates[template].render(ctx), reference)
    assert_same_document(render_docx(TEMPLATES / template, ctx), reference)


@pytest.mark.parametrize("template", sorted(CONTEXTS))
def test_in_place_path_is_the_one_taken(template, prepared_templates, monkeypatch):
    """The committed templates take the fast in-place path (no per-document fallback)."""
    prep = prepared_templates[template]
    assert prep._bare_body_tag is not None
    ctx = next(iter(CONTEXTS[template]().values()))
    monkeypatch.setattr(prep, "_document_exact", lambda xml: pytest.fail("took the exact path"))
    prep.render(ctx)


@pytest.mark.parametrize(("template", "case"), CASES[::3])
def test_exact_path_matches_docxtpl_too(template, case, monkeypatch):
    """The fallback (docxtpl's own fix_tables and map_tree) gives the same document."""
    monkeypatch.setattr(fast_render, "_tables_need_fixing", lambda body: True)
    ctx = CONTEXTS[template]()[case]
    assert_same_document(PreparedTemplate(TEMPLATES / template).render(ctx),
                         render_with_docxtpl(TEMPLATES / template, ctx))


def column_loop_template(path: pathlib.Path, total_row: bool = True) -> pathlib.Path:
    """A table whose columns come from a `{%tc for %}` loop: with more or fewer columns than the
    grid, docxtpl's fix_tables rewrites the grid, which the in-place path leaves to the exact path."""
    document = docx.Document()
    document.add_paragraph("Dear {{ name }},")
    table = document.add_table(rows=2 if total_row else 1, cols=3)
    for cell, text in zip(table.rows[0].cells, ("{%tc for c in cols %}", "{{ c }}", "{%tc endfor %}")):
        cell.text = text
    if total_row:
        for cell, text in zip(table.rows[1].cells, ("Total", "{{ total }}", "")):
            cell.text = text
    document.save(path)
    return path


@pytest.mark.parametrize(("cols", "total_row", "grid_rewritten"), [
    (["A"], True, False), (["A"], False, True), (["A", "B", "C", "D", "E"], True, True)])
def test_table_rewritten_by_fix_tables(tmp_path, cols, total_row, grid_rewritten):
    template = column_loop_template(tmp_path / "columns.docx", total_row)
    ctx = {"name": "Zoë & <Co>", "cols": cols, "total": "$1.00"}
    prep = PreparedTemplate(template)
    assert (prep._document_in_frame(fast_render._finish(prep._body.render(ctx))) is None) == grid_rewritten
    assert_same_document(prep.render(ctx), render_with_docxtpl(template, ctx))


def test_missing_key_is_an_error(prepared_templates):
    ctx = make_context(n_lines=2)
    del ctx["invoice"]["total"]
    with pytest.raises(jinja2.UndefinedError, match="total"):
        prepared_templates["invoice_individual.docx"].render(ctx)


def test_values_are_escaped_once(prepared_templates):
    data = prepared_templates["invoice_individual.docx"].render(hostile(make_context(n_lines=1)))
    body = dict(parts(data))["word/document.xml"].decode()
    assert "Smith &amp; Sons &lt;Ltd&gt;" in body and "&amp;amp;" not in body
    assert "{{ not.a.tag }}" in body  # a value is never template code


def test_reproducible_and_opens_in_python_docx(prepared_templates):
    ctx = make_context(n_lines=4)
    a = prepared_templates["invoice_business.docx"].render(ctx)
    assert a == prepared_templates["invoice_business.docx"].render(ctx)
    assert docx.Document(io.BytesIO(a)).tables


def test_edited_template_is_prepared_again(tmp_path):
    template = tmp_path / "t.docx"
    column_loop_template(template)
    ctx = {"name": "A", "cols": ["x"], "total": "1"}
    first = render_docx(template, ctx)
    d = docx.Document(str(template))
    d.add_paragraph("Regards, {{ name }}")
    d.save(str(template))
    second = render_docx(template, ctx)
    assert first != second
    assert_same_document(second, render_with_docxtpl(template, ctx))


@pytest.mark.parametrize("workers", [1, 2])
def test_render_many_writes_every_file_and_reports_failures(tmp_path, workers, prepared_templates):
    jobs, expected = [], {}
    for i in range(fast_render.PARALLEL_MIN_JOBS + 40):
        name = ("invoice_individual.docx", "invoice_business.docx")[i % 2]
        ctx = make_context(n_lines=1 + i % 7)
        ctx["invoice"]["number"] = f"INV-2026-{i:05d}"
        out = tmp_path / "out" / f"{i % 3}" / f"{i:03d}.docx"
        jobs.append((TEMPLATES / name, ctx, out))
        expected[out] = prepared_templates[name].render(ctx)
    broken = copy.deepcopy(jobs[5][1])
    del broken["client"]
    jobs[5] = (jobs[5][0], broken, jobs[5][2])
    results = render_many((job for job in jobs), workers=workers)  # a generator, as a caller may pass
    assert [r.path for r in results] == [j[2] for j in jobs]
    assert [i for i, r in enumerate(results) if not r.ok] == [5]
    assert "client" in results[5].error and not jobs[5][2].exists()
    for i, (_, _, out) in enumerate(jobs):
        if i != 5:
            assert out.read_bytes() == expected[out]
    for template, ctx, out in jobs[10:12]:
        assert_same_document(out.read_bytes(), render_with_docxtpl(template, ctx))
    assert not list((tmp_path / "out").rglob(".tmp-*"))


class DiesInWorker:
    """A value whose rendering kills a worker process (as the OOM killer would) but not this one."""

    def __init__(self, parent_pid: int):
        self.parent_pid = parent_pid

    def __str__(self) -> str:
        if os.getpid() != self.parent_pid:
            os._exit(1)
        return "Rendered by the parent"


def test_render_many_survives_a_dead_worker(tmp_path):
    jobs = []
    for i in range(fast_render.PARALLEL_MIN_JOBS + 8):
        ctx = make_context(n_lines=2)
        if i == 0:
            ctx["client"]["name"] = DiesInWorker(os.getpid())
        jobs.append((TEMPLATES / "invoice_individual.docx", ctx, tmp_path / f"{i:03d}.docx"))
    results = render_many(jobs, workers=2)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
    assert all(out.exists() for _, _, out in jobs)
    assert b"Rendered by the parent" in dict(parts(jobs[0][2].read_bytes()))["word/document.xml"]


def test_write_durably_reports_each_file(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    files = [(tmp_path / "ok" / "1.docx", b"one"), (tmp_path / "a-file" / "2.docx", b"two"),
             (tmp_path / "ok" / "3.docx", b"three")]
    errors = fast_render.write_durably(files)
    assert errors[0] is None and errors[2] is None and errors[1]
    assert (tmp_path / "ok" / "1.docx").read_bytes() == b"one" and (tmp_path / "ok" / "3.docx").read_bytes() == b"three"
    assert not list(tmp_path.rglob(".tmp-*"))


def test_unsupported_template_falls_back_to_docxtpl(tmp_path):
    template = tmp_path / "titled.docx"
    d = docx.Document()
    d.core_properties.title = "Invoice {{ number }}"
    d.add_paragraph("Invoice {{ number }}")
    d.save(str(template))
    assert fast_render.prepared(template) is None
    ctx = {"number": "INV-1 & <2>"}
    assert_same_document(render_docx(template, ctx), render_with_docxtpl(template, ctx))
