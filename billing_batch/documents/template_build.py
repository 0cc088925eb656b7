"""Build the Word document templates (docxtpl/Jinja tags) in code, with python-docx only.

The templates are generated rather than hand-edited so that layout changes are reviewable in a
diff, and so the committed ``letter_templates/*.docx`` can be checked against a fresh build.
All of them share one look: letterhead, window-envelope address block, facts table, footer.

Rendering context contracts (values are already-formatted strings unless noted).
Every template takes::

    office:  {name, address_lines: [str], phone, email, tax_id, remit_to_lines: [str],
              payment_instructions}
    client:  {id, name, attention (may be ""), address_lines: [str]}
    draft:   true in a dry run's documents only (test it with ``draft is defined``)

The invoices, the collection letters and the payment-plan letters also take the client's payment
plan (``contexts.plan_context``)::

    plan:    {show (bool: the client is on a plan), id, installment, frequency ("week",
              "two weeks", "month": read as "every month"), next_due_date ("" when nothing is
              left to fall due), paid_to_date, remaining, plan_amount}

When ``show`` is false every other value is "" and the invoices and collection letters print no
plan block.

``invoice_individual.docx`` / ``invoice_business.docx`` also take::

    invoice: {number, date, due_date, terms, subtotal, tax, tax_label, has_credit (bool),
              credit_applied, total, balance_due}
    lines:   [{date, code, description, quantity, unit_price, amount}]
    plan:    (above) printed after the totals when ``plan.show``

``credit_note.docx`` (a Credit or a Void against an issued invoice; both client types) also takes::

    credit_note: {number, date, invoice_number, invoice_date, reason, amount, invoice_total,
                  balance_after, is_void (bool)}

``statement.docx`` (statement of account; both client types) also takes::

    statement:  {date, period_start, period_end, balance_due (never negative), balance_label ("Balance due"
                 or "Credit balance — no payment due"), balance_title (its short form), total_open, unapplied_credit,
                 has_credit (bool)}
    open_items: [{number, date, due_date, days_past_due, amount, paid, balance}]
    activity:   [{date, description, reference, amount}]   (may be empty)
    aging:      [{name, amount}]                            (one row per bucket)
    plan:       as on the invoices (the client's plan in good standing, `show` false when none)

The collection letters ``<level>_<kind>.docx`` (level ``reminder``, ``second_notice``,
``final_notice``; kind ``individual`` or ``business``; the last level, the referral, sends no
letter) also take::

    client:     also greeting (the business letters' "Dear Tom Baker,": the Attention without its
                job title, or "Accounts Payable"; as in the payment-plan letters and coverage notices)
    letter:     {date, level, total_due, oldest_days, pay_by, referral_date (the final notice's
                 first day the account may be referred; "" in the other letters)}
    items:      [{number, date, due_date, days_past_due, balance}]   (the overdue items)
    plan_offer: {show (bool), eligible_balance, installment, months, has_rest (bool: part of the
                 balance is for discretionary services), rest (that part), rest_for (what it is for)}
    plan:       (above) printed after the overdue items when ``plan.show``, saying that the
                balance on the plan is not among them
    insurance:  {show (bool)}: a patient billed as self-pay is asked to call about insurance
    (office.financial_assistance, when set, is printed in every letter to individuals: these, the
    payment-plan letters and the coverage notices)

Each letter's wording is its level's, so ``letter.level`` is not printed.

The payment-plan letters ``plan_missed_<kind>.docx`` (installments were missed: pay what is
due to keep the plan) and ``plan_ended_<kind>.docx`` (the plan has ended after missed
installments: the remaining balance is due in full) also take
(``contexts.plan_letter_context``)::

    letter: {date, pay_by}
    plan:   {the plan fields above, start_date, missed (the number of installments missed, as a
             string), overdue (installment money due and unpaid), missed_dates: [str] (the due
             dates of the missed installments, at least one)}

The coverage notices ``coverage_notice_<kind>.docx`` (services the client's payer does not
cover, billed to the client on the normal invoice; SPEC §4.6) also take
(``contexts.coverage_notice_context``)::

    letter:   {date}
    notice:   {payer, member_id ("" when none on file), total}
    services: [{date, code, description, quantity, amount}]   (at least one)

Render with ``jinja_env=SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)``:
docxtpl does not escape by default, and a ``&`` or ``<`` in a client name breaks the XML.

Regenerate the committed files with ``python -m billing_batch.documents.template_build``.
"""

from __future__ import annotations

import datetime as dt
import io
import pathlib
import zipfile
from collections.abc import Callable
from functools import partial

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_ROW_HEIGHT_RULE, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Emu, Pt, RGBColor
from docx.table import _Cell
from lxml import etree

TEMPLATE_KINDS = ("individual", "business")

# Fixed metadata so two builds are byte-identical (the committed files are compared in tests).
FIXED_TIMESTAMP = dt.datetime(2024, 1, 1, 0, 0, 0)
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)

# Arial maps to the metric-compatible Liberation Sans in LibreOffice, so PDFs made on the
# server wrap lines the way Word does on the office PCs.
FONT = "Arial"
NAVY = "1F3864"
GREY = "595959"
RULE_GREY = "BFBFBF"
HEADER_FILL = "DCE3EE"
BOX_FILL = "F2F4F8"

# US Letter, 2 cm margins all round.
PAGE_WIDTH = Cm(21.59)
PAGE_HEIGHT = Cm(27.94)
MARGIN = Cm(2.0)
TEXT_WIDTH_CM = 21.59 - 2 * 2.0  # 17.59 cm

# #10 double-window envelope (letter-folded in thirds): the recipient window starts 2.125 in from the
# top and 0.875 in from the left edge of the sheet, 4 in wide and 1.125 in high. The letterhead row has
# an exact height so the address's first line starts 2.2 in (5.6 cm) down, and the address is indented
# from the 2 cm margin to 2.3 cm (0.906 in); five 10.5 pt lines end inside the window.
LETTERHEAD_HEIGHT = Cm(5.6 - 2.0)
ADDRESS_INDENT = Cm(0.3)
ADDRESS_WIDTH_CM = 9.0
ADDRESS_MIN_HEIGHT = Cm(3.8)
# Letter-fold marks in the left margin at a third and two thirds of the page (11 in / 3).
FOLD_MARKS_CM = (27.94 / 3, 2 * 27.94 / 3)

# Child order inside tblPr / trPr / tcPr from the WordprocessingML schema: Word rejects files
# whose property children are out of order, so every hand-made element is inserted by this order.
_TBLPR_ORDER = (
    "tblStyle", "tblpPr", "tblOverlap", "bidiVisual", "tblStyleRowBandSize",
    "tblStyleColBandSize", "tblW", "jc", "tblCellSpacing", "tblInd", "tblBorders", "shd",
    "tblLayout", "tblCellMar", "tblLook", "tblCaption", "tblDescription",
)
_TRPR_ORDER = (
    "cnfStyle", "divId", "gridBefore", "gridAfter", "wBefore", "wAfter", "cantSplit",
    "trHeight", "tblHeader", "tblCellSpacing", "jc", "hidden",
)
_TCPR_ORDER = (
    "cnfStyle", "tcW", "gridSpan", "hMerge", "vMerge", "tcBorders", "shd", "noWrap", "tcMar",
    "textDirection", "tcFitText", "vAlign", "hideMark",
)
_BORDER_EDGES = ("top", "left", "bottom", "right", "insideH", "insideV")


# --------------------------------------------------------------------------- low-level XML


def _set_child(parent, tag: str, order: tuple[str, ...], **attrs: str):
    """Replace-or-insert ``<w:tag>`` in ``parent`` at its schema position, with w: attributes."""
    old = parent.find(qn(f"w:{tag}"))
    if old is not None:
        parent.remove(old)
    el = OxmlElement(f"w:{tag}")
    for key, value in attrs.items():
        el.set(qn(f"w:{key}"), str(value))
    rank = order.index(tag)
    for child in parent:
        name = etree.QName(child).localname
        if name in order and order.index(name) > rank:
            child.addprevious(el)
            return el
    parent.append(el)
    return el


def _border_element(tag: str, spec: tuple[int, str] | None):
    """``spec`` is (size in eighths of a point, hex colour); None means no border."""
    el = OxmlElement(f"w:{tag}")
    if spec is None:
        el.set(qn("w:val"), "nil")
    else:
        size, color = spec
        el.set(qn("w:val"), "single")
        el.set(qn("w:sz"), str(size))
        el.set(qn("w:space"), "0")
        el.set(qn("w:color"), color)
    return el


def _twips(length) -> int:
    return int(round(Emu(length).twips))


# --------------------------------------------------------------------------- styles


def _set_run_font(rpr_owner, size_pt: float | None = None) -> None:
    """Pin all four font slots, so no theme font (Calibri/Cambria) leaks into the output."""
    rpr = rpr_owner.get_or_add_rPr()
    rfonts = rpr.find(qn("w:rFonts"))
    if rfonts is None:
        rfonts = OxmlElement("w:rFonts")
        rpr.insert(0, rfonts)
    for attr in list(rfonts.attrib):
        del rfonts.attrib[attr]
    for slot in ("ascii", "hAnsi", "eastAsia", "cs"):
        rfonts.set(qn(f"w:{slot}"), FONT)


def _paragraph_style(
    doc,
    name: str,
    *,
    size: float = 10,
    bold: bool = False,
    italic: bool = False,
    color: str | None = None,
    align=None,
    space_before: float = 0,
    space_after: float = 0,
    keep_with_next: bool = False,
    base: str = "Normal",
):
    """Add a named paragraph style; named styles let office staff restyle the template in Word."""
    style = doc.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
    style.base_style = doc.styles[base]
    style.quick_style = True
    font = style.font
    font.size = Pt(size)
    font.bold = bold
    font.italic = italic
    if color:
        font.color.rgb = RGBColor.from_string(color)
    fmt = style.paragraph_format
    fmt.space_before = Pt(space_before)
    fmt.space_after = Pt(space_after)
    if align is not None:
        fmt.alignment = align
    if keep_with_next:
        fmt.keep_with_next = True
    return style


def _define_styles(doc) -> None:
    # docDefaults in python-docx's template use theme fonts, 11 pt and 10 pt after each
    # paragraph; an invoice wants a tight single-spaced 10 pt Arial everywhere.
    defaults = doc.styles.element.find(qn("w:docDefaults"))
    rpr_default = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr"))
    rfonts = rpr_default.find(qn("w:rFonts"))
    for attr in list(rfonts.attrib):
        del rfonts.attrib[attr]
    for slot in ("ascii", "hAnsi", "eastAsia", "cs"):
        rfonts.set(qn(f"w:{slot}"), FONT)
    for tag in ("w:sz", "w:szCs"):
        rpr_default.find(qn(tag)).set(qn("w:val"), "20")
    spacing = defaults.find(qn("w:pPrDefault")).find(qn("w:pPr")).find(qn("w:spacing"))
    spacing.set(qn("w:after"), "0")
    spacing.set(qn("w:line"), "240")

    normal = doc.styles["Normal"]
    _set_run_font(normal.element)
    normal.font.size = Pt(10)
    normal.paragraph_format.space_after = Pt(0)
    normal.paragraph_format.line_spacing = 1.0

    right = WD_ALIGN_PARAGRAPH.RIGHT
    _paragraph_style(doc, "Office Name", size=17, bold=True, color=NAVY, space_after=2)
    _paragraph_style(doc, "Letterhead", size=9, color=GREY)
    _paragraph_style(doc, "Letterhead Right", size=9, color=GREY, align=right)
    _paragraph_style(doc, "Letterhead Small", size=8, color=GREY, align=right, space_before=2)
    _paragraph_style(doc, "Address", size=10.5).paragraph_format.left_indent = ADDRESS_INDENT
    _paragraph_style(doc, "Document Title", size=20, bold=True, color=NAVY, align=right,
                     space_after=6)
    _paragraph_style(doc, "Notice", size=9.5, italic=True, color=GREY, space_before=10,
                     space_after=10)
    _paragraph_style(doc, "Table Text", size=9, space_before=2, space_after=2)
    _paragraph_style(doc, "Table Number", size=9, space_before=2, space_after=2, align=right)
    _paragraph_style(doc, "Table Label", size=9, bold=True, color=NAVY, space_before=2,
                     space_after=2)
    _paragraph_style(doc, "Table Header", size=9, bold=True, color=NAVY, space_before=3,
                     space_after=3)
    _paragraph_style(doc, "Table Header Number", size=9, bold=True, color=NAVY,
                     space_before=3, space_after=3, align=right)
    # Totals keep-with-next so the block never breaks across a page.
    _paragraph_style(doc, "Total Label", size=9.5, space_before=2, space_after=2, align=right,
                     keep_with_next=True)
    _paragraph_style(doc, "Total Amount", size=9.5, space_before=2, space_after=2, align=right,
                     keep_with_next=True)
    _paragraph_style(doc, "Balance Label", size=11, bold=True, color=NAVY, space_before=3,
                     space_after=3, align=right, keep_with_next=True)
    _paragraph_style(doc, "Balance Amount", size=11, bold=True, color=NAVY, space_before=3,
                     space_after=3, align=right, keep_with_next=True)
    _paragraph_style(doc, "Box Heading", size=10, bold=True, color=NAVY, space_after=3,
                     keep_with_next=True)
    _paragraph_style(doc, "Box Text", size=9, space_after=3)
    _paragraph_style(doc, "Box Strong", size=9, bold=True, space_before=3)
    _paragraph_style(doc, "Spacer", size=4)

    for name in ("Header", "Footer"):
        style = doc.styles[name]
        # The stock centre/right tab stops are for 1-inch margins; the footer sets its own.
        tabs = style.element.pPr.find(qn("w:tabs"))
        if tabs is not None:
            style.element.pPr.remove(tabs)
        style.font.size = Pt(8)
        style.font.color.rgb = RGBColor.from_string(GREY)


def _define_account_styles(doc) -> None:
    """Styles the credit note and statement add to the invoice's (the invoices do not use them,
    so they are not added there and the invoice templates stay as they were)."""
    _paragraph_style(doc, "Section Heading", size=10.5, bold=True, color=NAVY, space_before=12,
                     space_after=4, keep_with_next=True)
    _paragraph_style(doc, "Letter Text", size=10.5, space_before=4, space_after=8)
    # "STATEMENT OF ACCOUNT" does not fit the facts column at the invoice title's 20 pt.
    _paragraph_style(doc, "Document Title Long", size=15, bold=True, color=NAVY,
                     align=WD_ALIGN_PARAGRAPH.RIGHT, space_before=4, space_after=8,
                     base="Document Title")


# --------------------------------------------------------------------------- paragraphs


def _para(container, text: str = "", style: str | None = None, *, first: bool = False):
    """Add a paragraph holding ``text`` in a single run.

    One run per paragraph keeps each Jinja tag inside one ``<w:t>``, which docxtpl needs.
    ``first=True`` fills a table cell's initial empty paragraph instead of adding one.
    """
    paragraph = container.paragraphs[0] if first else container.add_paragraph()
    if style:
        paragraph.style = style
    if text:
        paragraph.add_run(text)
    return paragraph


def _cell_paragraphs(cell, items: list[tuple[str, str]]) -> None:
    """Fill a cell with (text, style) paragraphs."""
    for index, (text, style) in enumerate(items):
        _para(cell, text, style, first=(index == 0))


def _add_field(paragraph, instruction: str, placeholder: str = "1") -> None:
    """Append a complex field (PAGE, NUMPAGES); Word and LibreOffice recompute it on layout."""

    def run_with(child):
        run = paragraph.add_run()
        run._r.append(child)

    begin = OxmlElement("w:fldChar")
    begin.set(qn("w:fldCharType"), "begin")
    run_with(begin)
    instr = OxmlElement("w:instrText")
    instr.set(qn("xml:space"), "preserve")
    instr.text = f" {instruction} "
    run_with(instr)
    separate = OxmlElement("w:fldChar")
    separate.set(qn("w:fldCharType"), "separate")
    run_with(separate)
    paragraph.add_run(placeholder)
    end = OxmlElement("w:fldChar")
    end.set(qn("w:fldCharType"), "end")
    run_with(end)


def _rule_above(paragraph, color: str = RULE_GREY) -> None:
    """A thin line above a paragraph (used to separate the footer from the body)."""
    ppr = paragraph._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    borders.append(_border_element("top", (4, color)))
    # pBdr sits before shd/tabs/spacing/jc etc.; after pStyle/keepNext/... is fine for Word.
    anchor = ppr.find(qn("w:tabs"))
    if anchor is None:
        anchor = ppr.find(qn("w:spacing"))
    if anchor is None:
        anchor = ppr.find(qn("w:jc"))
    if anchor is not None:
        anchor.addprevious(borders)
    else:
        ppr.append(borders)


# --------------------------------------------------------------------------- tables


def _add_table(container, widths_cm: list[float], rows: int, *, align=None):
    """A fixed-layout table with exact column widths (Word and LibreOffice agree on fixed)."""
    table = container.add_table(rows, len(widths_cm))
    if isinstance(container, _Cell):
        # python-docx appends an empty paragraph after a nested table (a cell must end with
        # one); make it tiny so it does not add visible space.
        container.paragraphs[-1].style = "Spacer"
    table.autofit = False
    tbl_pr = table._tbl.tblPr
    total = sum(_twips(Cm(w)) for w in widths_cm)
    _set_child(tbl_pr, "tblW", _TBLPR_ORDER, w=str(total), type="dxa")
    _set_child(tbl_pr, "tblInd", _TBLPR_ORDER, w="0", type="dxa")
    if align is not None:
        table.alignment = align
    for col, width in zip(table._tbl.tblGrid.findall(qn("w:gridCol")), widths_cm):
        col.set(qn("w:w"), str(_twips(Cm(width))))
    for row in table.rows:
        for cell, width in zip(row.cells, widths_cm):
            cell.width = Cm(width)
    return table


def _set_table_borders(table, **edges: tuple[int, str] | None) -> None:
    """Borders for the whole table; edges not named get no border."""
    tbl_pr = table._tbl.tblPr
    borders = _set_child(tbl_pr, "tblBorders", _TBLPR_ORDER)
    for edge in _BORDER_EDGES:
        borders.append(_border_element(edge, edges.get(edge)))


def _set_cell_margins(table, *, top=0.0, bottom=0.0, left=0.19, right=0.19) -> None:
    """Default cell padding for a table, in cm."""
    mar = _set_child(table._tbl.tblPr, "tblCellMar", _TBLPR_ORDER)
    for edge, value in (("top", top), ("left", left), ("bottom", bottom), ("right", right)):
        el = OxmlElement(f"w:{edge}")
        el.set(qn("w:w"), str(_twips(Cm(value))))
        el.set(qn("w:type"), "dxa")
        mar.append(el)


def _set_cell_shading(cell, fill: str) -> None:
    _set_child(cell._tc.get_or_add_tcPr(), "shd", _TCPR_ORDER, val="clear", color="auto",
               fill=fill)


def _set_cell_borders(cell, **edges: tuple[int, str] | None) -> None:
    """Per-cell borders; only the edges named are written (others follow the table)."""
    borders = _set_child(cell._tc.get_or_add_tcPr(), "tcBorders", _TCPR_ORDER)
    for edge in _BORDER_EDGES:
        if edge in edges:
            borders.append(_border_element(edge, edges[edge]))


def _set_row(row, *, header: bool = False, cant_split: bool = True, height=None,
             rule=None) -> None:
    """Row properties: repeat as header on every page, never split across pages, height."""
    tr_pr = row._tr.get_or_add_trPr()
    if cant_split:
        _set_child(tr_pr, "cantSplit", _TRPR_ORDER)
    if height is not None:
        row.height = height
        row.height_rule = rule or WD_ROW_HEIGHT_RULE.AT_LEAST
    if header:
        _set_child(tr_pr, "tblHeader", _TRPR_ORDER)


# --------------------------------------------------------------------------- sections


def _setup_page(doc) -> None:
    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width = PAGE_WIDTH
    section.page_height = PAGE_HEIGHT
    for side in ("top_margin", "bottom_margin", "left_margin", "right_margin"):
        setattr(section, side, MARGIN)
    section.header_distance = Cm(1.0)
    section.footer_distance = Cm(1.0)
    section.gutter = Cm(0)


DRAFT_IF = "{% if draft is defined and draft %}"
DRAFT_MARK = DRAFT_IF + "DRAFT — NOT ISSUED (dry run) · {% endif %}"


def _build_header_footer(doc, continuation: str) -> None:
    """No header on page 1 (the letterhead is there); a continuation header on later pages
    (``continuation`` names the document, e.g. "Invoice {{ invoice.number }}"), and the same
    footer with "Page X of Y" on every page."""
    section = doc.sections[0]
    section.different_first_page_header_footer = True

    # A dry run's documents say on every page that they were never issued (`draft` is set only then;
    # `is defined` keeps an office's older copy of a template working).
    draft = _para(section.first_page_header, DRAFT_IF + "DRAFT — NOT ISSUED (dry run){% endif %}", "Header",
                  first=True)
    draft.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    for run in draft.runs:
        run.bold, run.font.color.rgb = True, RGBColor(0xC0, 0x00, 0x00)

    # One mark before the DRAFT line and one after it, then an empty paragraph: LibreOffice merges two
    # framed paragraphs that are next to each other, and drops the frame of a header's last paragraph.
    header = section.first_page_header
    draft_line = header.paragraphs[0]
    _fold_mark(header, FOLD_MARKS_CM[0])
    draft_line._p.addprevious(header.paragraphs[-1]._p)
    _fold_mark(header, FOLD_MARKS_CM[1])
    _para(header, "", "Header")

    cont = _para(
        section.header,
        DRAFT_MARK + "{{ office.name }} · %s · {{ client.name }} (continued)" % continuation,
        "Header",
        first=True,
    )
    cont.alignment = WD_ALIGN_PARAGRAPH.RIGHT

    right_edge = Cm(TEXT_WIDTH_CM)
    for footer in (section.first_page_footer, section.footer):
        paragraph = _para(footer, "{{ office.name }} · {{ office.phone }}", "Footer",
                          first=True)
        tabs = paragraph.paragraph_format.tab_stops
        tabs.clear_all()
        tabs.add_tab_stop(right_edge, WD_TAB_ALIGNMENT.RIGHT)
        paragraph.paragraph_format.space_before = Pt(0)
        paragraph.add_run("\tPage ")
        _add_field(paragraph, "PAGE")
        paragraph.add_run(" of ")
        _add_field(paragraph, "NUMPAGES")
        _rule_above(paragraph)


def _fold_mark(header, y_cm: float) -> None:
    """A short rule in the left margin at ``y_cm`` from the top of the sheet: an empty paragraph in a
    page-anchored frame with a top border, which Word and LibreOffice both place exactly."""
    paragraph = header.add_paragraph(style="Header")
    ppr = paragraph._p.get_or_add_pPr()
    frame = OxmlElement("w:framePr")
    for key, value in (("w", _twips(Cm(0.6))), ("h", _twips(Cm(0.05))), ("hRule", "exact"),
                       ("hAnchor", "page"), ("vAnchor", "page"), ("x", _twips(Cm(0.5))),
                       ("y", _twips(Cm(y_cm))), ("wrap", "around")):
        frame.set(qn(f"w:{key}"), str(value))
    ppr.insert(1 if ppr.find(qn("w:pStyle")) is not None else 0, frame)
    borders = OxmlElement("w:pBdr")
    borders.append(_border_element("top", (6, GREY)))
    frame.addnext(borders)
    paragraph.paragraph_format.space_before = Pt(0)
    paragraph.paragraph_format.space_after = Pt(0)


# --------------------------------------------------------------------------- body blocks


def _build_letterhead_and_address(
    doc,
    *,
    title: str,
    facts: list[tuple[str, str]],
    attention: bool,
    title_style: str = "Document Title",
    label_width: float = 3.2,
) -> None:
    """Top block: letterhead row of exact height, then the window-envelope address on the left
    and the document title and facts (``(label, value)`` rows) on the right.

    Grid: address | gap | facts-a | facts-b. The letterhead name spans the first three columns
    (wide, so long office names fit on one line) and the contact details take the last; the
    document facts span the last two. ``attention`` adds the "Attn:" line (shown only when
    ``client.attention`` is not empty).
    """
    contact_width = 5.6
    facts_width = TEXT_WIDTH_CM - ADDRESS_WIDTH_CM - 0.6
    gap = TEXT_WIDTH_CM - ADDRESS_WIDTH_CM - facts_width
    layout = _add_table(
        doc, [ADDRESS_WIDTH_CM, gap, facts_width - contact_width, contact_width], 2)
    _set_table_borders(layout)
    _set_cell_margins(layout, left=0, right=0)

    # Row 1: letterhead. Exact height pins the address block to the envelope window.
    head = layout.rows[0]
    _set_row(head, height=LETTERHEAD_HEIGHT, rule=WD_ROW_HEIGHT_RULE.EXACTLY)
    name_cell = head.cells[0].merge(head.cells[2])
    _cell_paragraphs(name_cell, [
        ("{{ office.name }}", "Office Name"),
        ("{%p for line in office.address_lines %}", "Letterhead"),
        ("{{ line }}", "Letterhead"),
        ("{%p endfor %}", "Letterhead"),
    ])
    _cell_paragraphs(head.cells[3], [
        ("{{ office.phone }}", "Letterhead Right"),
        ("{{ office.email }}", "Letterhead Right"),
        ("Tax ID {{ office.tax_id }}", "Letterhead Small"),
    ])

    # Row 2: address (left, for the window) and invoice facts (right).
    body = layout.rows[1]
    _set_row(body, height=ADDRESS_MIN_HEIGHT, rule=WD_ROW_HEIGHT_RULE.AT_LEAST)
    address = body.cells[0]
    items = [("{{ client.name }}", "Address")]
    if attention:
        items += [
            ("{%p if client.attention %}", "Address"),
            ("Attn: {{ client.attention }}", "Address"),
            ("{%p endif %}", "Address"),
        ]
    items += [
        ("{%p for line in client.address_lines %}", "Address"),
        ("{{ line }}", "Address"),
        ("{%p endfor %}", "Address"),
    ]
    _cell_paragraphs(address, items)

    facts_cell = body.cells[2].merge(body.cells[3])
    _para(facts_cell, title, title_style, first=True)
    table = _add_table(facts_cell, [label_width, facts_width - label_width], len(facts))
    _set_table_borders(table, top=(4, RULE_GREY), bottom=(4, RULE_GREY),
                       insideH=(4, RULE_GREY))
    _set_cell_margins(table, left=0.15, right=0.15)
    for row, (label, value) in zip(table.rows, facts):
        _set_row(row)
        _para(row.cells[0], label, "Table Label", first=True)
        _set_cell_shading(row.cells[0], HEADER_FILL)
        _para(row.cells[1], value, "Table Number", first=True)
    for cell in layout.rows[1].cells:
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.TOP


def _build_notice(doc, kind: str) -> None:
    if kind == "business":
        _para(doc, "Please forward to your accounts payable department.", "Notice")
    else:
        _para(doc, "Questions about this bill? Call us at {{ office.phone }}.", "Notice")


# The invoice's line table at 10 pt. Widths hold "03/14/2026", a code such as "PROD-SKIN" or "99213-25"
# on one line (the code cells do not wrap either), and "$12,345.67 T" (a taxed line's mark).
AMOUNT_T = "{{ line.amount }}{% if line.tax_mark %} {{ line.tax_mark }}{% endif %}"
PROVIDER = "{{ line.description }}{% if line.provider %} · Provider: {{ line.provider }}{% endif %}"
LINE_COLUMNS = [
    # (header, field or template text, width cm, numeric)
    ("Date", "date", 2.1, False),
    ("Code", "code", 2.5, False),
    ("Description", "description", TEXT_WIDTH_CM - 2.1 - 2.5 - 1.1 - 2.3 - 2.8, False),
    ("Qty", "quantity", 1.1, True),
    ("Unit Price", "unit_price", 2.3, True),
    ("Amount", AMOUNT_T, 2.8, True),
]
# A business's accounts payable matches each line to its PO or authorisation, and to who gave the service.
BUSINESS_LINE_COLUMNS = [
    ("Date", "date", 2.1, False),
    ("Code", "code", 2.5, False),
    ("Description", PROVIDER, TEXT_WIDTH_CM - 2.1 - 2.5 - 2.6 - 1.1 - 2.3 - 2.8, False),
    ("Reference", "reference", 2.6, False),
    ("Qty", "quantity", 1.1, True),
    ("Unit Price", "unit_price", 2.3, True),
    ("Amount", AMOUNT_T, 2.8, True),
]
LINE_STYLES = ("Line Header", "Line Header Number", "Line Text", "Line Number")


def _define_invoice_styles(doc) -> None:
    """The invoice line table's 10 pt styles and the remittance slip's (the invoices and statement)."""
    right = WD_ALIGN_PARAGRAPH.RIGHT
    _paragraph_style(doc, "Line Header", size=10, bold=True, color=NAVY, space_before=3, space_after=3)
    _paragraph_style(doc, "Line Header Number", size=10, bold=True, color=NAVY, space_before=3,
                     space_after=3, align=right)
    _paragraph_style(doc, "Line Text", size=10, space_before=2, space_after=2)
    _paragraph_style(doc, "Line Number", size=10, space_before=2, space_after=2, align=right)
    _define_slip_styles(doc)


def _define_slip_styles(doc) -> None:
    _paragraph_style(doc, "Slip Cut", size=8, italic=True, color=GREY, align=WD_ALIGN_PARAGRAPH.CENTER,
                     space_before=3, space_after=2, keep_with_next=True)
    _paragraph_style(doc, "Slip Heading", size=10, bold=True, color=NAVY, space_after=3, keep_with_next=True)
    _paragraph_style(doc, "Slip Text", size=10, keep_with_next=True)


TABLE_STYLES = ("Table Header", "Table Header Number", "Table Text", "Table Number")


def _build_loop_table(container, columns, item: str, items: str, *, align=None,
                      styles: tuple[str, str, str, str] = TABLE_STYLES):
    """Header row (repeats on every page), then a docxtpl row loop ``for item in items``.

    ``columns`` are (header, field, width cm, numeric) tuples; numeric columns align right.
    ``styles``: the header, header-number, text and number paragraph styles.
    """
    header_text, header_number, text, number = styles
    widths = [c[2] for c in columns]
    table = _add_table(container, widths, 4, align=align)
    _set_table_borders(table, top=(8, NAVY), bottom=(8, NAVY), insideH=(4, RULE_GREY))
    _set_cell_margins(table, left=0.12, right=0.12)

    header, loop_start, data, loop_end = table.rows
    _set_row(header, header=True)
    for cell, (title, _field, _w, numeric) in zip(header.cells, columns):
        _para(cell, title, header_number if numeric else header_text, first=True)
        _set_cell_shading(cell, HEADER_FILL)
        _set_cell_borders(cell, bottom=(8, NAVY))

    # docxtpl replaces a whole row holding a {%tr ...%} tag by the bare Jinja tag, so the
    # loop tags each get a row of their own; only the data row between them is repeated.
    _para(loop_start.cells[0], "{%%tr for %s in %s %%}" % (item, items), text, first=True)
    _para(loop_end.cells[0], "{%tr endfor %}", text, first=True)

    _set_row(data)
    for cell, (_title, field, _w, numeric) in zip(data.cells, columns):
        value = field if "{" in field else "{{ %s.%s }}" % (item, field)
        _para(cell, value, number if numeric else text, first=True)
    return table


def _build_line_table(doc, kind: str) -> None:
    columns = BUSINESS_LINE_COLUMNS if kind == "business" else LINE_COLUMNS
    table = _build_loop_table(doc, columns, "line", "lines", styles=LINE_STYLES)
    # A code never breaks inside ("PROD-" / "SKIN"): its cells do not wrap.
    for row in (table.rows[0], table.rows[2]):
        _set_child(row.cells[1]._tc.get_or_add_tcPr(), "noWrap", _TCPR_ORDER)


def _build_totals_table(container, rows: list[tuple[str, str, str]],
                        widths: tuple[float, float] = (4.6, 3.2)):
    """Right-aligned label/amount rows. Row kinds: "plain"; "total" (rule above); "balance"
    (bold, shaded); "tag" (a ``{%tr %}`` tag row, so rows between tags can be conditional)."""
    table = _add_table(container, list(widths), len(rows), align=WD_TABLE_ALIGNMENT.RIGHT)
    _set_table_borders(table)
    _set_cell_margins(table, left=0.12, right=0.12)
    for row, (label, value, row_kind) in zip(table.rows, rows):
        _set_row(row)
        if row_kind == "tag":
            _para(row.cells[0], label, "Total Label", first=True)
            continue
        strong = row_kind == "balance"
        _para(row.cells[0], label, "Balance Label" if strong else "Total Label", first=True)
        _para(row.cells[1], value, "Balance Amount" if strong else "Total Amount", first=True)
        if row_kind == "total":
            for cell in row.cells:
                _set_cell_borders(cell, top=(6, NAVY))
        if strong:
            for cell in row.cells:
                _set_cell_shading(cell, HEADER_FILL)
    return table


def _build_totals(doc) -> None:
    """Invoice totals as a patient reads them: the tax row only when a line is taxed (those lines are
    marked T), the credit row only when a credit was applied, and the account's older balance only when
    the client still owes on earlier invoices."""
    _para(doc, "", "Spacer")
    _build_totals_table(doc, [
        ("Subtotal", "{{ invoice.subtotal }}", "plain"),
        ("{%tr if invoice.has_tax %}", "", "tag"),
        ("Tax ({{ invoice.tax_label }} on lines marked T)", "{{ invoice.tax }}", "plain"),
        ("{%tr endif %}", "", "tag"),
        ("Invoice total", "{{ invoice.total }}", "total"),
        ("{%tr if invoice.has_credit %}", "", "tag"),
        ("Credit applied", "{{ invoice.credit_applied }}", "plain"),
        ("{%tr endif %}", "", "tag"),
        ("Amount due", "{{ invoice.balance_due }}", "balance"),
        ("{%tr if invoice.has_previous %}", "", "tag"),
        ("Previous balance (earlier invoices)", "{{ invoice.previous_balance }}", "plain"),
        ("Total account balance", "{{ invoice.account_balance }}", "total"),
        ("{%tr endif %}", "", "tag"),
    ], widths=(6.4, 3.2))


INVOICE_PAY_LINES = [
    # A client on a plan who writes the invoice number would send the money past the plan's installments.
    ("{% if plan.show %}Please write your account number {{ client.id }} and plan number {{ plan.id }} on your "
     "payment: it pays your plan's installments due first, then this invoice.{% else %}Please write the invoice "
     "number on your payment.{% endif %}", "Box Text"),
    ("Invoice {{ invoice.number }} · Amount due {{ invoice.balance_due }} by "
     "{{ invoice.due_date }}", "Box Strong"),
]


def _build_how_to_pay(doc, reference_lines: list[tuple[str, str]] = INVOICE_PAY_LINES,
                      slip: list[tuple[str, str]] | None = None, *,
                      before: Callable[[object], None] | None = None,
                      owes: str = "", otherwise: tuple[tuple[str, str], ...] = ()) -> None:
    """Shaded box: how to pay on the left, remit-to address on the right; kept on one page.

    ``reference_lines`` follow the payment instructions: what to write on the payment and the
    amount due, as (text, style) paragraphs. ``slip`` (the invoices and the statement): the remittance
    slip's (label, value) facts. The box and the slip then sit in one row of a borderless table that never
    splits, so neither is ever alone on a page, and the remit-to address goes on the slip instead.

    ``before`` builds what must go with them into that same cell first (the invoice's totals, the
    statement's account summary), so the box never moves to a page of its own. ``owes`` (a Jinja test)
    then wraps the box and the slip, and ``otherwise`` are the (text, style) paragraphs shown instead."""
    container = doc
    # A paragraph between the tables, or Word and LibreOffice join the block to the table above it.
    _para(doc, "", "Spacer")
    if slip is None:
        _para(doc, "", "Spacer")
    else:
        # Two grid columns merged into one cell: no row inside (the slip's are two cells wide) has more
        # cells than the grid, so docxtpl leaves the grid alone and the fast renderer's in-place path holds.
        outer = _add_table(doc, [TEXT_WIDTH_CM / 2, TEXT_WIDTH_CM / 2], 1)
        _set_table_borders(outer)
        _set_cell_margins(outer, left=0, right=0)
        _set_row(outer.rows[0])
        container = outer.rows[0].cells[0].merge(outer.rows[0].cells[1])
        container.paragraphs[0].style = "Spacer"
        if before is not None:
            before(container)
        if owes:
            _para(container, "{%%p if %s %%}" % owes, "Spacer")
    items = [
        ("How to pay", "Box Heading"),
        ("{{ office.payment_instructions }}", "Box Text"),
        *reference_lines,
    ]
    if slip is not None:
        # How to pay goes on the slip beside its remit-to address (said once, not twice), so the whole block
        # is about 2 in and fits under a short statement's or invoice's last lines.
        _para(container, "", "Spacer")
        _build_slip(container, slip, items)
        if owes:
            _para(container, "{%p else %}", "Spacer")
            for text, style in otherwise:
                _para(container, text, style)
            _para(container, "{%p endif %}", "Spacer")
    else:
        remit_width = 6.5
        table = _add_table(container, [TEXT_WIDTH_CM - remit_width, remit_width], 1)
        _set_table_borders(table, top=(4, RULE_GREY), bottom=(4, RULE_GREY), left=(4, RULE_GREY),
                           right=(4, RULE_GREY))
        _set_cell_margins(table, top=0.25, bottom=0.25, left=0.3, right=0.3)
        row = table.rows[0]
        _set_row(row)
        _cell_paragraphs(row.cells[0], items)
        _cell_paragraphs(row.cells[1], [
            ("Remit to", "Box Heading"),
            ("{%p for line in office.remit_to_lines %}", "Box Text"),
            ("{{ line }}", "Box Text"),
            ("{%p endfor %}", "Box Text"),
        ])
        for cell in row.cells:
            _set_cell_shading(cell, BOX_FILL)
    # A document must end with a paragraph, not a table (Word "repairs" it otherwise).
    _para(doc, "", "Spacer")


SLIP_CUT = "✂   Please detach and return this portion with your payment"


def _build_slip(cell, facts: list[tuple[str, str]], how_to_pay: list[tuple[str, str]]) -> None:
    """The remittance slip, at the end of ``cell``: a dashed cut line, then how to pay and the office's
    remit-to address on the left (where a window return envelope shows it) and what the payment is for
    on the right, ending in an "Amount enclosed" box for the client to fill in."""
    cut = cell.paragraphs[-1]  # an empty paragraph the caller just added
    cut.style = "Slip Cut"
    cut.add_run(SLIP_CUT)
    ppr = cut._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    dashed = _border_element("top", (6, GREY))
    dashed.set(qn("w:val"), "dashed")
    dashed.set(qn("w:space"), "4")
    borders.append(dashed)
    ppr.append(borders)  # the paragraph has only its style so far; pBdr follows pStyle
    facts_width = 8.6  # the left column holds how to pay on two or three lines
    layout = _add_table(cell, [TEXT_WIDTH_CM - facts_width, facts_width], 1)
    _set_table_borders(layout)
    _set_cell_margins(layout, left=0, right=0)
    row = layout.rows[0]
    _set_row(row)
    remit, right = row.cells
    _cell_paragraphs(remit, [
        *how_to_pay,
        ("Make payable to and mail to", "Slip Heading"),
        ("{%p for line in office.remit_to_lines %}", "Slip Text"),
        ("{{ line }}", "Slip Text"),
        ("{%p endfor %}", "Slip Text"),
    ])
    for paragraph in remit.paragraphs:
        paragraph.paragraph_format.left_indent = ADDRESS_INDENT
        paragraph.paragraph_format.right_indent = Cm(0.4)  # clear of the facts table
        if paragraph.text == "Make payable to and mail to":
            paragraph.paragraph_format.space_before = Pt(4)
    table = _add_table(right, [3.6, facts_width - 3.6], len(facts) + 1)
    _set_table_borders(table, top=(4, RULE_GREY), bottom=(4, RULE_GREY), insideH=(4, RULE_GREY))
    _set_cell_margins(table, top=0.0, bottom=0.0, left=0.15, right=0.15)
    for r, (label, value) in zip(table.rows, facts):
        _set_row(r)
        _para(r.cells[0], label, "Table Label", first=True)
        _set_cell_shading(r.cells[0], HEADER_FILL)
        strong = label.startswith(("Amount due", "{{ statement.balance_title"))
        _para(r.cells[1], value, "Balance Amount" if strong else "Table Number", first=True)
    enclosed = table.rows[-1]
    _set_row(enclosed, height=Cm(0.85))
    _para(enclosed.cells[0], "Amount enclosed", "Balance Label", first=True).alignment = WD_ALIGN_PARAGRAPH.LEFT
    _set_cell_shading(enclosed.cells[0], HEADER_FILL)
    _para(enclosed.cells[1], "$", "Balance Label", first=True).alignment = WD_ALIGN_PARAGRAPH.LEFT
    _set_cell_borders(enclosed.cells[1], top=(12, NAVY), bottom=(12, NAVY), left=(12, NAVY), right=(12, NAVY))
    enclosed.cells[0].vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
    enclosed.cells[1].vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER


INVOICE_SLIP = [
    ("Client ID", "{{ client.id }}"),
    ("Name", "{{ client.name }}"),
    ("Invoice Number", "{{ invoice.number }}"),
    ("Due Date", "{{ invoice.due_date }}"),
    ("Amount due", "{{ invoice.balance_due }}"),
]

STATEMENT_SLIP = [
    ("Client ID", "{{ client.id }}"),
    ("Name", "{{ client.name }}"),
    ("Statement", "{{ statement.number }}"),
    ("Statement Date", "{{ statement.date }}"),
    ("{{ statement.balance_title }}", "{{ statement.balance_due }}"),
]


# --------------------------------------------------------------------------- credit note


def _build_credit_note_body(doc) -> None:
    """What is credited against which invoice and why, then the invoice's balance after it."""
    _para(doc, "Questions about this credit note? Call us at {{ office.phone }}.", "Notice")
    for text in (
        "{%p if credit_note.is_void %}",
        "Invoice {{ credit_note.invoice_number }} is void: what was still owed on it, "
        "{{ credit_note.amount }}, is credited.",
        "{%p else %}",
        "This credit note reduces invoice {{ credit_note.invoice_number }} by "
        "{{ credit_note.amount }}.",
        "{%p endif %}",
    ):
        _para(doc, text, "Letter Text")

    reason = _add_table(doc, [3.2, TEXT_WIDTH_CM - 3.2], 1)
    _set_table_borders(reason, top=(4, RULE_GREY), bottom=(4, RULE_GREY))
    _set_cell_margins(reason, left=0.15, right=0.15)
    row = reason.rows[0]
    _set_row(row)
    _para(row.cells[0], "Reason", "Table Label", first=True)
    _set_cell_shading(row.cells[0], HEADER_FILL)
    _para(row.cells[1], "{{ credit_note.reason }}", "Table Text", first=True)

    _para(doc, "", "Spacer")
    _para(doc, "", "Spacer")
    _build_totals_table(doc, [
        ("Invoice total", "{{ credit_note.invoice_total }}", "plain"),
        ("This credit", "{{ credit_note.amount }}", "plain"),
        ("Invoice balance after this credit", "{{ credit_note.balance_after }}", "balance"),
    ], widths=(7.4, 3.2))
    # A document must end with a paragraph, not a table.
    _para(doc, "", "Spacer")


# --------------------------------------------------------------------------- statement

# Widths fit the longest values on one line at 9 pt: "September 30, 2026" (3.15 cm),
# "INV-2026-00001", "$123,456.78"; "Days Past Due" wraps under its header on purpose.
DATE_WIDTH = 3.15

OPEN_ITEM_COLUMNS = [
    # (header, field, width cm, numeric)
    ("Invoice", "number", 2.75, False),
    ("Date", "date", DATE_WIDTH, False),
    ("Due", "due_date", DATE_WIDTH, False),
    ("Days Past Due", "days_past_due", 1.7, True),
    ("Amount", "amount", 2.2, True),
    ("Paid/Credited", "paid", 2.4, True),
    ("Balance", "balance", TEXT_WIDTH_CM - 2.75 - 2 * DATE_WIDTH - 1.7 - 2.2 - 2.4, True),
]

ACTIVITY_COLUMNS = [
    ("Date", "date", DATE_WIDTH, False),
    ("Description", "description", TEXT_WIDTH_CM - DATE_WIDTH - 3.2 - 2.6, False),
    ("Reference", "reference", 3.2, False),
    ("Amount", "amount", 2.6, True),
]

AGING_COLUMNS = [
    ("Age", "name", 3.6, False),
    ("Amount", "amount", 2.8, True),
]


def _when_empty(doc, items: str, message: str) -> None:
    """A paragraph shown only when the list ``items`` is empty."""
    _para(doc, "{%%p if not %s %%}" % items, "Letter Text")
    _para(doc, message, "Letter Text")
    _para(doc, "{%p endif %}", "Letter Text")


def _build_statement_body(doc) -> None:
    """Open items, this period's activity, then aging and balance side by side, then how to pay.

    An empty list shows a sentence instead of a table with no rows.
    """
    # Tighter than the invoice's notice and headings: a short statement and its slip fit one page.
    notice = _para(doc, "Questions about your account? Call us at {{ office.phone }}.", "Notice")
    notice.paragraph_format.space_before = notice.paragraph_format.space_after = Pt(4)

    _para(doc, "Open items", "Section Heading").paragraph_format.space_before = Pt(6)
    _para(doc, "{%p if open_items %}", "Spacer")
    _build_loop_table(doc, OPEN_ITEM_COLUMNS, "i", "open_items")
    _para(doc, "{%p endif %}", "Spacer")
    _when_empty(doc, "open_items", "No open items.")

    _para(doc, "Activity this period ({{ statement.period_start }} – "
               "{{ statement.period_end }})", "Section Heading").paragraph_format.space_before = Pt(6)
    _para(doc, "{%p if activity %}", "Spacer")
    _build_loop_table(doc, ACTIVITY_COLUMNS, "a", "activity")
    _para(doc, "{%p endif %}", "Spacer")
    _when_empty(doc, "activity", "No payments or credits in this period.")

    # The summary, the plan, how to pay and the slip share one row that never splits (how to pay never moves
    # to a page of its own). A client in credit owes nothing: no how-to-pay box and no slip, the balance line
    # says so.
    _build_how_to_pay(doc, [
        ("{% if plan.show %}Please write your client ID and plan number {{ plan.id }} on your payment."
         "{% else %}Please write your client ID on your payment.{% endif %}", "Box Text"),
        ("Client {{ client.id }} · {{ statement.balance_label }} {{ statement.balance_due }} as of "
         "{{ statement.date }}", "Box Strong"),
    ], slip=STATEMENT_SLIP, before=_build_account_summary, owes="statement.owes", otherwise=(
        ("{% if statement.in_credit %}{{ statement.balance_label }}: {{ statement.balance_due }} is yours "
         "on account as of {{ statement.date }}. Call us at {{ office.phone }} if you would like it "
         "refunded.{% else %}Nothing is due on your account. Thank you.{% endif %}", "Letter Text"),
    ))


def _build_account_summary(cell) -> None:
    """Aging on the left, the balance on the right, in one borderless row; then the client's plan."""
    right_width = 8.0
    layout = _add_table(cell, [TEXT_WIDTH_CM - right_width, right_width], 1)
    _set_table_borders(layout)
    _set_cell_margins(layout, left=0, right=0)
    row = layout.rows[0]
    _set_row(row)
    aging_cell, balance_cell = row.cells
    _para(aging_cell, "Aging summary", "Section Heading", first=True).paragraph_format.space_before = Pt(4)
    _build_loop_table(aging_cell, AGING_COLUMNS, "b", "aging")
    _para(balance_cell, "Account summary", "Section Heading", first=True).paragraph_format.space_before = Pt(4)
    balance_cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
    # The period's movement (opening + new charges - payments - credits = closing), then what the balance is
    # made of; a credit balance reads "Credit balance", never a negative balance due.
    _build_totals_table(balance_cell, [
        ("{%tr if statement.has_movement %}", "", "tag"),
        ("Opening balance {{ statement.period_start }}", "{{ statement.opening }}", "plain"),
        ("New charges (invoices)", "{{ statement.charges }}", "plain"),
        ("Payments", "{{ statement.payments }}", "plain"),
        ("Credits and adjustments", "{{ statement.credits }}", "plain"),
        ("Closing balance {{ statement.period_end }}", "{{ statement.closing }}", "total"),
        ("{%tr endif %}", "", "tag"),
        ("Total of open items", "{{ statement.total_open }}", "plain"),
        ("{%tr if statement.has_credit %}", "", "tag"),
        ("{{ statement.credit_label }}", "{{ statement.unapplied_credit }}", "plain"),
        ("{%tr endif %}", "", "tag"),
        ("{{ statement.balance_title }}", "{{ statement.balance_due }}", "balance"),
    ], widths=(5.2, 2.8))
    for c in row.cells:
        c.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.TOP
    _build_plan_status(cell, PLAN_STATUS)


# --------------------------------------------------------------------------- collection letters

# The last level, Collections Referral, sends no letter: it puts the client on the referral export for
# a person to approve, so there is no referral template.
COLLECTION_LEVELS = ("reminder", "second_notice", "final_notice")

# Widths hold "September 30, 2026", "INV-2026-00001" and "$123,456.78" on one line at 9 pt.
LETTER_ITEM_COLUMNS = [
    # (header, field, width cm, numeric)
    ("Invoice", "number", 3.5, False),
    ("Invoice Date", "date", 3.7, False),
    ("Due Date", "due_date", 3.7, False),
    ("Days Past Due", "days_past_due", 2.9, True),
    ("Balance", "balance", TEXT_WIDTH_CM - 3.5 - 2 * 3.7 - 2.9, True),
]

# "Dear Tom Baker,": a patient by name; a business's Attention without its job title ("Tom Baker,
# Owner"), or "Dear Accounts Payable," when it has none (contexts.greeting).
SALUTATIONS = {
    "individual": "Dear {{ client.name }},",
    "business": "Dear {{ client.greeting }},",
}

# Pluralized so a one-month plan does not read "1 months". Only non-discretionary services may go
# on a plan: when the balance also has discretionary ones, the offer says what the rest is and that
# it is due in full.
_MONTHS = "{{ plan_offer.months }} month{% if plan_offer.months|string != '1' %}s{% endif %}"
PLAN_OFFER = {
    kind: (
        "{%% if plan_offer.has_rest %%}If paying the full amount at once is difficult, a payment plan can "
        "cover the {{ plan_offer.eligible_balance }} of this balance that is for non-discretionary %s: "
        "{{ plan_offer.installment }} a month for %s. The remaining {{ plan_offer.rest }}, for "
        "{{ plan_offer.rest_for }}, cannot go on a plan and is due in full by {{ letter.pay_by }}."
        "{%% else %%}If paying the full amount at once is difficult, we can set up a payment plan for "
        "this balance of {{ plan_offer.eligible_balance }}: {{ plan_offer.installment }} a month for %s."
        "{%% endif %%} Call us to set it up." % (care, _MONTHS, _MONTHS)
    )
    for kind, care in (("individual", "care"), ("business", "services"))
}


# A plan with nothing left to fall due has no next due date.
PLAN_STATUS = (
    "Your payment plan {{ plan.id }}: {{ plan.installment }} every {{ plan.frequency }}"
    "{% if plan.next_due_date %}; next installment due {{ plan.next_due_date }}{% endif %}; "
    "paid to date {{ plan.paid_to_date }}; remaining {{ plan.remaining }}."
)
PLAN_NOT_OVERDUE = "The balance on this plan is not included in the overdue items above."


class _Letter:
    """What differs between the levels: title, subject, whether there is a pay-by date, and the
    body paragraphs per client type. Everything else is the shared letter layout."""

    def __init__(self, name: str, title: str, subject: str, *, pay_by: bool,
                 individual: tuple[str, ...], business: tuple[str, ...]):
        self.name = name
        self.title = title
        self.subject = subject
        self.pay_by = pay_by
        self.body = {"individual": individual, "business": business}


# The day count quoted is the oldest item's (``letter.oldest_days``), not the level's threshold,
# so the wording stays true when ``collections.levels`` is configured differently.
COLLECTION_LETTERS = {
    "reminder": _Letter(
        "Payment reminder", "PAYMENT REMINDER", "Payment reminder", pay_by=True,
        individual=(
            "Our records show that the balance below is past due. If you have already paid, "
            "thank you, and please disregard this letter.",
            "If not, please pay {{ letter.total_due }} by {{ letter.pay_by }}. If you have a "
            "question about your bill, or think something on it is wrong, please call us. We "
            "are glad to help.",
        ),
        business=(
            "Our records show that the balance below on your account with us is past due. If "
            "you have already paid, thank you, and please disregard this letter.",
            "If not, please arrange payment of {{ letter.total_due }} by {{ letter.pay_by }}. "
            "If an invoice is missing from your records or you have a question about one, "
            "please call us and we will gladly send a copy or look into it.",
        ),
    ),
    "second_notice": _Letter(
        "Second notice", "SECOND NOTICE", "Second notice", pay_by=True,
        individual=(
            "We wrote to you recently about the balance below and have not yet received "
            "payment. Your oldest unpaid invoice is now {{ letter.oldest_days }} days past due.",
            "Please pay {{ letter.total_due }} by {{ letter.pay_by }}. If you cannot pay the "
            "full amount by then, please call us before that date to discuss it. If you have "
            "already sent your payment, thank you; please call us so we can make sure it is "
            "applied to your account.",
        ),
        business=(
            "We wrote to you recently about the past-due balance on your account with us and "
            "have not yet received payment. The oldest unpaid invoice is now "
            "{{ letter.oldest_days }} days past due.",
            "Please arrange payment of {{ letter.total_due }} by {{ letter.pay_by }}, or call "
            "us before then to discuss it. If an invoice below is disputed or missing from your "
            "records, please let us know so we can resolve it.",
        ),
    ),
    # The final notice of intended referral: it names the first day the account may be referred
    # (``letter.referral_date``, from the referral level's days); the referral itself sends no letter.
    "final_notice": _Letter(
        "Final notice", "FINAL NOTICE", "Final notice before referral", pay_by=True,
        individual=(
            "This is our final notice about the balance below. We have written to you about it "
            "before, and it is still unpaid; your oldest unpaid invoice is now "
            "{{ letter.oldest_days }} days past due.",
            "If we have not received payment or heard from you, your account may be referred to a "
            "collection agency{% if letter.referral_date %} on or after {{ letter.referral_date }}"
            "{% endif %}. To avoid this, please pay {{ letter.total_due }} or call us by "
            "{{ letter.pay_by }}. If you cannot pay the full amount, please call us anyway: we "
            "would much rather work this out with you directly.",
        ),
        business=(
            "This is our final notice about the past-due balance on your account with us. We have "
            "written to you about it before, and it is still unpaid; the oldest unpaid invoice is "
            "now {{ letter.oldest_days }} days past due.",
            "If we have not received payment or heard from you, the account may be referred to a "
            "collection agency{% if letter.referral_date %} on or after {{ letter.referral_date }}"
            "{% endif %}. To avoid this, please arrange payment of {{ letter.total_due }}, or call "
            "us, by {{ letter.pay_by }}. If payment has already been sent or an invoice is in "
            "dispute, please call us right away so we can update your account.",
        ),
    ),
}


def _left_bar(style, color: str = NAVY) -> None:
    """Indent a paragraph style a little and draw a bar on its left."""
    style.paragraph_format.left_indent = Cm(0.3)
    borders = OxmlElement("w:pBdr")
    bar = _border_element("left", (18, color))
    bar.set(qn("w:space"), "6")
    borders.append(bar)
    style.element.get_or_add_pPr().find(qn("w:spacing")).addprevious(borders)


def _define_letter_styles(doc) -> None:
    """Styles only the collection letters use (added after the account styles)."""
    _paragraph_style(doc, "Letter Subject", size=10.5, bold=True, color=NAVY, space_before=14,
                     space_after=8, keep_with_next=True)
    # The offer stands out with a navy bar on its left.
    _left_bar(_paragraph_style(doc, "Plan Offer", size=10.5, space_before=10, space_after=4,
                               base="Letter Text"))
    # A plan the client is already on: like the offer, with a grey bar so that the two, one
    # after the other, read as two things (paragraphs with the same border share one bar).
    _left_bar(_paragraph_style(doc, "Plan Status", size=10.5, space_before=10, space_after=4,
                               base="Letter Text"), GREY)
    # "Questions?" and "Sincerely," stay on the page of the signature.
    _paragraph_style(doc, "Letter Closing", size=10.5, space_before=4, space_after=8,
                     keep_with_next=True, base="Letter Text")
    _paragraph_style(doc, "Letter Signature", size=10.5, keep_with_next=True)


def _add_total_row(table, label: str, value: str) -> None:
    """A bold, shaded last row: ``label`` across all columns but the last, ``value`` in it."""
    row = table.add_row()
    _set_row(row)
    cells = row.cells
    label_cell = cells[0].merge(cells[-2])
    amount_cell = cells[-1]
    _para(label_cell, label, "Balance Label", first=True)
    _para(amount_cell, value, "Balance Amount", first=True)
    for cell in (label_cell, amount_cell):
        _set_cell_shading(cell, HEADER_FILL)
        _set_cell_borders(cell, top=(8, NAVY))


def _build_overdue_items(doc) -> None:
    """The overdue items (header row repeats on every page), then the bold "Total due" row."""
    _para(doc, "", "Spacer")
    table = _build_loop_table(doc, LETTER_ITEM_COLUMNS, "i", "items")
    _add_total_row(table, "Total due", "{{ letter.total_due }}")


# For a patient billed as self-pay (letters' ``insurance.show``).
INSURANCE_ASK = ("If you have health insurance we have not billed, please call us at {{ office.phone }}: we "
                 "will bill your insurer, and you pay only what it does not cover.")


def _build_plan_offer(doc, kind: str) -> None:
    """The payment-plan offer paragraph, only when ``plan_offer.show``."""
    _para(doc, "{%p if plan_offer.show %}", "Plan Offer")
    _para(doc, PLAN_OFFER[kind], "Plan Offer")
    _para(doc, "{%p endif %}", "Plan Offer")


def _build_plan_status(doc, text: str) -> None:
    """The plan the client is on, only when ``plan.show``."""
    _para(doc, "{%p if plan.show %}", "Plan Status")
    _para(doc, text, "Plan Status")
    _para(doc, "{%p endif %}", "Plan Status")


def _build_financial_assistance(doc, style: str = "Letter Text") -> None:
    """``office.financial_assistance``, when the office sets it: every letter to a patient says it."""
    _para(doc, "{%p if office.financial_assistance %}", style)
    _para(doc, "{{ office.financial_assistance }}", style)
    _para(doc, "{%p endif %}", style)


def _build_sign_off(doc) -> None:
    _para(doc, "Questions? Call {{ office.phone }} or email {{ office.email }}.",
          "Letter Closing")
    _para(doc, "Sincerely,", "Letter Closing")
    _para(doc, "Billing Office", "Letter Signature")
    _para(doc, "{{ office.name }}", "Letter Signature")


def _build_collection_letter(doc, letter: _Letter, kind: str) -> None:
    """Letterhead and address, subject, salutation, body, overdue items with their total, plan
    offer, how to pay, who to call and the sign-off."""
    facts = [
        ("Date", "{{ letter.date }}"),
        ("Account", "{{ client.id }}"),
        ("Total Due", "{{ letter.total_due }}"),
    ]
    if letter.pay_by:
        facts.append(("Please Pay By", "{{ letter.pay_by }}"))
    _build_letterhead_and_address(doc, title=letter.title, title_style="Document Title Long",
                                  attention=(kind == "business"), facts=facts)
    if kind == "business":
        _build_notice(doc, kind)  # "Please forward to your accounts payable department."
    _para(doc, "%s: account {{ client.id }} — balance {{ letter.total_due }} past due"
          % letter.subject, "Letter Subject")
    _para(doc, SALUTATIONS[kind], "Letter Text")
    for text in letter.body[kind]:
        _para(doc, text, "Letter Text")
    _build_overdue_items(doc)
    _build_plan_status(doc, PLAN_STATUS + " " + PLAN_NOT_OVERDUE)
    _build_plan_offer(doc, kind)
    _para(doc, "{%p if insurance.show %}", "Letter Text")
    _para(doc, INSURANCE_ASK, "Letter Text")
    _para(doc, "{%p endif %}", "Letter Text")
    if kind == "individual":
        _build_financial_assistance(doc)
    amount = "Account {{ client.id }} · Total due {{ letter.total_due }}"
    if letter.pay_by:
        amount += " by {{ letter.pay_by }}"
    _build_how_to_pay(doc, [
        ("Please include your account number {{ client.id }} with your payment.", "Box Text"),
        (amount, "Box Strong"),
    ])
    _build_sign_off(doc)


# --------------------------------------------------------------------------- payment-plan letters

PLAN_LETTER_KINDS = ("plan_missed", "plan_ended")

# "March 1, 2026", "March 1, 2026 and April 1, 2026", "…, April 1, 2026, and May 1, 2026".
MISSED_DATES = (
    "{% for d in plan.missed_dates %}{% if not loop.first %}{% if loop.last %}"
    "{% if loop.length > 2 %},{% endif %} and {% else %}, {% endif %}{% endif %}{{ d }}{% endfor %}"
)
# Plural forms that follow the number of installments missed.
MANY_DATES = "plan.missed_dates|length > 1"
MANY_MISSED = "plan.missed|string != '1'"


def _plural(test: str, one: str, many: str) -> str:
    return "{%% if %s %%}%s{%% else %%}%s{%% endif %%}" % (test, many, one)


INSTALLMENTS_DATES = _plural(MANY_DATES, "installment", "installments")
INSTALLMENTS_MISSED = _plural(MANY_MISSED, "installment", "installments")

# "call us at (217) 555-0142", or just "call us" when the office has no phone number set.
CALL_US = "{% if office.phone %} at {{ office.phone }}{% endif %}"

PLAN_LETTERS = {
    "plan_missed": _Letter(
        "Missed installment", "MISSED INSTALLMENT", "Missed payment plan installment", pay_by=True,
        individual=(
            "We have not received the %s of your payment plan that %s due on %s. The amount now "
            "due on your plan is {{ plan.overdue }}." % (INSTALLMENTS_DATES,
                                                         _plural(MANY_DATES, "was", "were"),
                                                         MISSED_DATES),
            "To keep your payment plan, please pay {{ plan.overdue }} by {{ letter.pay_by }}. "
            "Your other installments stay as agreed. If you have already sent this payment, thank "
            "you, and please disregard this letter.",
            "If your circumstances have changed and the installments no longer work for you, "
            "please call us" + CALL_US + ". We are glad to help.",
        ),
        business=(
            "Our records show that the %s due on %s under payment plan {{ plan.id }} %s not been "
            "received. The amount now due under the plan is {{ plan.overdue }}."
            % (INSTALLMENTS_DATES, MISSED_DATES, _plural(MANY_DATES, "has", "have")),
            "To keep the plan in good standing, please arrange payment of {{ plan.overdue }} by "
            "{{ letter.pay_by }}. The remaining installments stay as agreed. If payment has "
            "already been sent, thank you, and please disregard this letter.",
            "If your circumstances have changed, please call us" + CALL_US + " to discuss "
            "the plan.",
        ),
    ),
    "plan_ended": _Letter(
        "Payment plan ended", "PAYMENT PLAN ENDED", "Your payment plan has ended", pay_by=True,
        individual=(
            "We are sorry to tell you that your payment plan {{ plan.id }}, which started on "
            "{{ plan.start_date }}, has ended because {{ plan.missed }} %s %s missed."
            % (INSTALLMENTS_MISSED, _plural(MANY_MISSED, "was", "were")),
            "The remaining balance of {{ plan.remaining }} is now due in full, and your account "
            "returns to our usual collection process. Please pay {{ plan.remaining }} by "
            "{{ letter.pay_by }}.",
            "If you cannot pay the full amount, or your circumstances have changed, please call "
            "us" + CALL_US + ". We would much rather work this out with you directly.",
        ),
        business=(
            "Payment plan {{ plan.id }} on your account with us, which started on "
            "{{ plan.start_date }}, has ended because {{ plan.missed }} %s %s missed."
            % (INSTALLMENTS_MISSED, _plural(MANY_MISSED, "was", "were")),
            "The remaining balance of {{ plan.remaining }} is now due in full, and the account "
            "returns to our usual collection process. Please arrange payment of "
            "{{ plan.remaining }} by {{ letter.pay_by }}.",
            "To discuss the account, please call us" + CALL_US + ".",
        ),
    ),
}

# (label, value, kind): kind "plain", "tag" (a {%tr %} row) or "strong" (bold, shaded, last).
PLAN_FACTS = {
    "plan_missed": [
        ("Plan number", "{{ plan.id }}", "plain"),
        ("Installment", "{{ plan.installment }} every {{ plan.frequency }}", "plain"),
        ("Paid to date", "{{ plan.paid_to_date }}", "plain"),
        ("Remaining on the plan", "{{ plan.remaining }}", "plain"),
        ("{%tr if plan.next_due_date %}", "", "tag"),
        ("Next installment due", "{{ plan.next_due_date }}", "plain"),
        ("{%tr endif %}", "", "tag"),
        ("Now due by {{ letter.pay_by }}", "{{ plan.overdue }}", "strong"),
    ],
    "plan_ended": [
        ("Plan number", "{{ plan.id }}", "plain"),
        ("Started", "{{ plan.start_date }}", "plain"),
        ("Plan amount", "{{ plan.plan_amount }}", "plain"),
        ("Paid to date", "{{ plan.paid_to_date }}", "plain"),
        ("Installments missed", "{{ plan.missed }}", "plain"),
        ("Now due by {{ letter.pay_by }}", "{{ plan.remaining }}", "strong"),
    ],
}
# "Now due by September 30, 2026" and "$12,345.67 every two weeks" each on one line at 9 pt.
PLAN_FACT_WIDTHS = (5.7, 4.9)


def _build_plan_facts(doc, rows: list[tuple[str, str, str]]) -> None:
    """The plan's numbers: shaded labels on the left, amounts on the right, the amount due last
    in bold; kept together on one page."""
    _para(doc, "Your payment plan", "Section Heading")
    table = _add_table(doc, list(PLAN_FACT_WIDTHS), len(rows))
    _set_table_borders(table, top=(4, RULE_GREY), bottom=(4, RULE_GREY), insideH=(4, RULE_GREY))
    _set_cell_margins(table, left=0.15, right=0.15)
    for row, (label, value, row_kind) in zip(table.rows, rows):
        _set_row(row)
        if row_kind == "tag":
            _para(row.cells[0], label, "Table Label", first=True)
            continue
        strong = row_kind == "strong"
        _para(row.cells[0], label, "Table Label", first=True)
        _para(row.cells[1], value, "Balance Amount" if strong else "Table Number", first=True)
        _set_cell_shading(row.cells[0], HEADER_FILL)
        if strong:
            _set_cell_shading(row.cells[1], HEADER_FILL)
            for cell in row.cells:
                _set_cell_borders(cell, top=(8, NAVY))
        else:  # the rows stay together, down to the amount due
            for cell in row.cells:
                cell.paragraphs[0].paragraph_format.keep_with_next = True


def _build_plan_letter(doc, which: str, kind: str) -> None:
    """Letterhead and address, subject, salutation, body, the plan's numbers, how to pay and the
    sign-off: the collection letters' layout."""
    letter = PLAN_LETTERS[which]
    due = "{{ plan.overdue }}" if which == "plan_missed" else "{{ plan.remaining }}"
    _build_letterhead_and_address(doc, title=letter.title, title_style="Document Title Long",
                                  attention=(kind == "business"), facts=[
                                      ("Date", "{{ letter.date }}"),
                                      ("Account", "{{ client.id }}"),
                                      ("Payment Plan", "{{ plan.id }}"),
                                      ("Amount Due", due),
                                      ("Please Pay By", "{{ letter.pay_by }}"),
                                  ])
    if kind == "business":
        _build_notice(doc, kind)
    _para(doc, "%s: plan {{ plan.id }}, account {{ client.id }}" % letter.subject,
          "Letter Subject")
    _para(doc, SALUTATIONS[kind], "Letter Text")
    for text in letter.body[kind]:
        _para(doc, text, "Letter Text")
    if kind == "individual":
        _build_financial_assistance(doc)
    _build_plan_facts(doc, PLAN_FACTS[which])
    reference = ("your account number {{ client.id }} and plan number {{ plan.id }}"
                 if which == "plan_missed" else "your account number {{ client.id }}")
    _build_how_to_pay(doc, [
        ("Please include %s with your payment." % reference, "Box Text"),
        ("Account {{ client.id }} · Amount due %s by {{ letter.pay_by }}" % due, "Box Strong"),
    ])
    _build_sign_off(doc)


# --------------------------------------------------------------------------- coverage notices

# ", member ID AH-123", or nothing when the client has no member ID on file.
MEMBER_ID = "{% if notice.member_id %}, member ID {{ notice.member_id }}{% endif %}"

COVERAGE_NOTICE_SUBJECTS = {
    "individual": "Services your insurance does not cover: account {{ client.id }}",
    "business": "Services not covered by the insurance on file: account {{ client.id }}",
}

COVERAGE_NOTICE_BODY = {
    "individual": (
        "Your insurance ({{ notice.payer }}%s) does not cover the services below, so they are "
        "billed to you on your next invoice. If you think your plan should cover them, or you "
        "have other insurance we have not billed, please call us%s." % (MEMBER_ID, CALL_US),
        "This letter is not a bill: the services appear on your invoice, which says when "
        "payment is due.",
    ),
    "business": (
        "The insurance on file for your account ({{ notice.payer }}%s) does not cover the "
        "services below, so they are billed to your account on the next invoice. If you believe "
        "the plan should cover them, or there is other insurance we have not billed, please call "
        "us%s." % (MEMBER_ID, CALL_US),
        "This letter is not a bill: the services appear on the invoice, which says when payment "
        "is due.",
    ),
}

# Widths hold "03/14/2026", "99213-25" and "$123,456.78" on one line at 10 pt, and a total of
# "$1,234,567.89" in the total row's 11 pt bold.
SERVICE_COLUMNS = [
    # (header, field, width cm, numeric)
    ("Date", "date", 2.3, False),
    ("Code", "code", 2.1, False),
    ("Description", "description", TEXT_WIDTH_CM - 2.3 - 2.1 - 1.2 - 3.3, False),
    ("Qty", "quantity", 1.2, True),
    ("Amount", "amount", 3.3, True),
]
# The services table is what the client reads to call about, so it is a point larger than the
# other documents' 9 pt tables.
SERVICE_STYLES = ("Service Header", "Service Header Number", "Service Text", "Service Number")


def _define_notice_styles(doc) -> None:
    """The services table's styles (only the coverage notices use them)."""
    right = WD_ALIGN_PARAGRAPH.RIGHT
    _paragraph_style(doc, "Service Header", size=10, bold=True, color=NAVY, space_before=3,
                     space_after=3)
    _paragraph_style(doc, "Service Header Number", size=10, bold=True, color=NAVY,
                     space_before=3, space_after=3, align=right)
    _paragraph_style(doc, "Service Text", size=10, space_before=2, space_after=2)
    _paragraph_style(doc, "Service Number", size=10, space_before=2, space_after=2, align=right)


def _add_last_service_row(table) -> None:
    """A ``{%tr for s in services[-1:] %}`` loop round one data row that keeps with the next."""
    text, number = SERVICE_STYLES[2:]
    start, data, end = table.add_row(), table.add_row(), table.add_row()
    _para(start.cells[0], "{%tr for s in services[-1:] %}", text, first=True)
    _para(end.cells[0], "{%tr endfor %}", text, first=True)
    _set_row(data)
    for cell, (_title, field, _w, numeric) in zip(data.cells, SERVICE_COLUMNS):
        paragraph = _para(cell, "{{ s.%s }}" % field, number if numeric else text, first=True)
        paragraph.paragraph_format.keep_with_next = True


def _build_coverage_notice(doc, kind: str) -> None:
    """Letterhead and address, subject, salutation, why the services are billed to the client and
    whom to call, the services with their total, and the sign-off. No how-to-pay box: the
    invoice asks for the money."""
    _build_letterhead_and_address(doc, title="COVERAGE NOTICE", title_style="Document Title Long",
                                  attention=(kind == "business"), facts=[
                                      ("Date", "{{ letter.date }}"),
                                      ("Account", "{{ client.id }}"),
                                      ("Insurance", "{{ notice.payer }}"),
                                      ("{%tr if notice.member_id %}", ""),
                                      ("Member ID", "{{ notice.member_id }}"),
                                      ("{%tr endif %}", ""),
                                      ("Not Covered", "{{ notice.total }}"),
                                  ])
    if kind == "business":
        _build_notice(doc, kind)  # "Please forward to your accounts payable department."
    _para(doc, COVERAGE_NOTICE_SUBJECTS[kind], "Letter Subject")
    _para(doc, SALUTATIONS[kind], "Letter Text")
    explain, not_a_bill = COVERAGE_NOTICE_BODY[kind]
    _para(doc, explain, "Letter Text")
    _para(doc, "", "Spacer")
    # Every service but the last, then the last on a row kept with the total, so a page break
    # never leaves the total alone under the repeated header row.
    table = _build_loop_table(doc, SERVICE_COLUMNS, "s", "services[:-1]", styles=SERVICE_STYLES)
    _add_last_service_row(table)
    _add_total_row(table, "Total not covered", "{{ notice.total }}")
    # Kept with the total and the sign-off, so a page never holds the signature alone.
    _para(doc, not_a_bill, "Letter Closing").paragraph_format.space_before = Pt(10)
    if kind == "individual":  # kept with the sign-off, like the line above
        _build_financial_assistance(doc, "Letter Closing")
    _build_sign_off(doc)


# --------------------------------------------------------------------------- package


def _drop_part(source_part, reltype: str) -> None:
    """Remove a relationship (and so its part) that the template does not need."""
    rels = source_part.rels
    for rid, rel in list(rels.items()):
        if rel.reltype == reltype:
            rels.pop(rid)


def _set_core_properties(doc, title: str, subject: str) -> None:
    # Only author/title/subject/created/modified: with docxtpl imported, setting
    # last_modified_by/revision/keywords yields files Word calls corrupt (docxtpl #471).
    props = doc.core_properties
    props.author = "billing-batch"
    props.title = title
    props.subject = subject
    props.created = FIXED_TIMESTAMP
    props.modified = FIXED_TIMESTAMP


def _reproducible_zip(data: bytes) -> bytes:
    """Rewrite the package with fixed timestamps/attributes, keeping python-docx's entry order
    (which is deterministic) so identical input gives identical bytes."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            info = zipfile.ZipInfo(entry.filename, date_time=ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 0
            info.external_attr = 0
            target.writestr(info, source.read(entry.filename))
    return out.getvalue()


def _new_document(continuation: str, *, account_styles: bool = False,
                  letter_styles: bool = False, notice_styles: bool = False):
    """A blank document with the shared styles, page setup, continuation header and footer.
    ``letter_styles`` (the collection letters) needs ``account_styles``, whose styles it uses;
    ``notice_styles`` (the coverage notices) adds the services table's."""
    doc = Document()
    # The stock thumbnail shows an unrelated page, and stylesWithEffects only duplicates
    # styles.xml for Word 2010 while costing ~0.4 MB to re-compress on every render.
    _drop_part(doc.part.package, RT.THUMBNAIL)
    _drop_part(doc.part, "http://schemas.microsoft.com/office/2007/relationships/"
                              "stylesWithEffects")
    _define_styles(doc)
    if account_styles:
        _define_account_styles(doc)
    if letter_styles:
        _define_letter_styles(doc)
    if notice_styles:
        _define_notice_styles(doc)
    _setup_page(doc)
    _build_header_footer(doc, continuation)
    # python-docx's blank document starts with no paragraphs; blocks are appended in order.
    return doc


def _package(doc, title: str, subject: str) -> bytes:
    _set_core_properties(doc, title, subject)
    buffer = io.BytesIO()
    doc.save(buffer)
    return _reproducible_zip(buffer.getvalue())


def _plan_status_style(doc) -> None:
    """The plan block's style, for documents that take no letter styles (invoices, statements)."""
    _left_bar(_paragraph_style(doc, "Plan Status", size=10, space_before=10, space_after=4), GREY)


def build_template_bytes(kind: str) -> bytes:
    """The bytes of one invoice template (``kind`` is "individual" or "business")."""
    if kind not in TEMPLATE_KINDS:
        raise ValueError(f"unknown template kind {kind!r}")
    doc = _new_document("Invoice {{ invoice.number }}")
    # Only the plan block's style: the invoices take no other letter or account style.
    _plan_status_style(doc)
    _define_invoice_styles(doc)
    _build_letterhead_and_address(doc, title="INVOICE", attention=(kind == "business"), facts=[
        ("Invoice Number", "{{ invoice.number }}"),
        ("Invoice Date", "{{ invoice.date }}"),
        ("Due Date", "{{ invoice.due_date }}"),
        ("Terms", "{{ invoice.terms }}"),
        ("Client ID", "{{ client.id }}"),
    ])
    _build_notice(doc, kind)
    _build_line_table(doc, kind)

    def totals_and_plan(cell) -> None:
        _build_totals(cell)
        _build_plan_status(cell, PLAN_STATUS)

    # The totals, the plan, how to pay and the slip share one row that never splits: how to pay never moves
    # to a page of its own. Paid in full from the client's credit: no "Amount due $0.00 by …" and no slip to
    # send back (a context made before `owes` existed keeps the slip).
    _build_how_to_pay(doc, slip=INVOICE_SLIP, before=totals_and_plan,
                      owes="invoice.owes is not defined or invoice.owes", otherwise=(
        ("", "Spacer"),
        ("Nothing to pay on this invoice: it was paid from the credit on your account."
         "{% if invoice.has_previous %} Your earlier invoices still have {{ invoice.previous_balance }} "
         "to pay.{% endif %}", "Box Strong"),
    ))
    return _package(doc, f"Invoice template ({kind} client)", "billing-batch invoice")


def build_credit_note_bytes() -> bytes:
    """The bytes of ``credit_note.docx`` (a Credit or Void; "VOID NOTICE" when is_void)."""
    doc = _new_document("Credit note {{ credit_note.number }}", account_styles=True)
    _build_letterhead_and_address(
        doc,
        title="{% if credit_note.is_void %}VOID NOTICE{% else %}CREDIT NOTE{% endif %}",
        attention=True,
        label_width=3.9,
        facts=[
            ("Credit Note Number", "{{ credit_note.number }}"),
            ("Date", "{{ credit_note.date }}"),
            ("For Invoice", "{{ credit_note.invoice_number }}"),
            ("Invoice Date", "{{ credit_note.invoice_date }}"),
            ("Client ID", "{{ client.id }}"),
        ],
    )
    _build_credit_note_body(doc)
    return _package(doc, "Credit note template", "billing-batch credit note")


def build_statement_bytes() -> bytes:
    """The bytes of ``statement.docx`` (one template for individual and business clients)."""
    doc = _new_document("Statement {{ statement.date }}", account_styles=True)
    _plan_status_style(doc)
    _define_slip_styles(doc)
    _build_letterhead_and_address(
        doc,
        title="STATEMENT OF ACCOUNT",
        title_style="Document Title Long",
        attention=True,
        facts=[
            ("Statement Date", "{{ statement.date }}"),
            ("Client ID", "{{ client.id }}"),
            ("{{ statement.balance_title|title }}", "{{ statement.balance_due }}"),
        ],
    )
    _build_statement_body(doc)
    return _package(doc, "Statement of account template", "billing-batch statement")


def build_collection_letter_bytes(level: str, kind: str) -> bytes:
    """The bytes of ``<level>_<kind>.docx``: ``level`` in ``COLLECTION_LEVELS``, ``kind``
    "individual" or "business"."""
    if level not in COLLECTION_LETTERS:
        raise ValueError(f"unknown collection level {level!r}")
    if kind not in TEMPLATE_KINDS:
        raise ValueError(f"unknown template kind {kind!r}")
    letter = COLLECTION_LETTERS[level]
    doc = _new_document("%s, account {{ client.id }}" % letter.name, account_styles=True,
                        letter_styles=True)
    _build_collection_letter(doc, letter, kind)
    return _package(doc, f"{letter.name} letter template ({kind} client)",
                    "billing-batch collection letter")


def build_plan_letter_bytes(which: str, kind: str) -> bytes:
    """The bytes of ``<which>_<kind>.docx``: ``which`` in ``PLAN_LETTER_KINDS``, ``kind``
    "individual" or "business"."""
    if which not in PLAN_LETTERS:
        raise ValueError(f"unknown payment-plan letter {which!r}")
    if kind not in TEMPLATE_KINDS:
        raise ValueError(f"unknown template kind {kind!r}")
    letter = PLAN_LETTERS[which]
    doc = _new_document("%s, plan {{ plan.id }}, account {{ client.id }}" % letter.name,
                        account_styles=True, letter_styles=True)
    _build_plan_letter(doc, which, kind)
    return _package(doc, f"{letter.name} letter template ({kind} client)",
                    "billing-batch payment-plan letter")


def build_coverage_notice_bytes(kind: str) -> bytes:
    """The bytes of ``coverage_notice_<kind>.docx`` (``kind`` "individual" or "business")."""
    if kind not in TEMPLATE_KINDS:
        raise ValueError(f"unknown template kind {kind!r}")
    doc = _new_document("Coverage notice, account {{ client.id }}", account_styles=True,
                        letter_styles=True, notice_styles=True)
    _build_coverage_notice(doc, kind)
    return _package(doc, f"Coverage notice template ({kind} client)",
                    "billing-batch coverage notice")


# File name -> builder, in the order they are written.
TEMPLATE_BUILDERS: dict[str, Callable[[], bytes]] = {
    **{f"invoice_{kind}.docx": partial(build_template_bytes, kind) for kind in TEMPLATE_KINDS},
    "credit_note.docx": build_credit_note_bytes,
    "statement.docx": build_statement_bytes,
    **{f"{level}_{kind}.docx": partial(build_collection_letter_bytes, level, kind)
       for level in COLLECTION_LEVELS for kind in TEMPLATE_KINDS},
    **{f"{which}_{kind}.docx": partial(build_plan_letter_bytes, which, kind)
       for which in PLAN_LETTER_KINDS for kind in TEMPLATE_KINDS},
    **{f"coverage_notice_{kind}.docx": partial(build_coverage_notice_bytes, kind)
       for kind in TEMPLATE_KINDS},
}


def build_letter_templates(out_dir: pathlib.Path) -> list[pathlib.Path]:
    """Write every template in ``TEMPLATE_BUILDERS`` (invoices, credit note, statement,
    collection letters, payment-plan letters, coverage notices) into ``out_dir``."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, build in TEMPLATE_BUILDERS.items():
        path = out_dir / name
        path.write_bytes(build())
        written.append(path)
    return written


def default_output_dir() -> pathlib.Path:
    """``<repo>/letter_templates``, where the committed templates live."""
    return pathlib.Path(__file__).resolve().parents[2] / "letter_templates"


if __name__ == "__main__":
    for written_path in build_letter_templates(default_output_dir()):
        print(written_path)
