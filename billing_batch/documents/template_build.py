"""Build the Word invoice templates (docxtpl/Jinja tags) in code, with python-docx only.

The templates are generated rather than hand-edited so that layout changes are reviewable in a
diff, and so the committed ``letter_templates/*.docx`` can be checked against a fresh build.

Rendering context contract (values are already-formatted strings unless noted)::

    office:  {name, address_lines: [str], phone, email, tax_id, remit_to_lines: [str],
              payment_instructions}
    client:  {id, name, attention (may be ""), address_lines: [str]}
    invoice: {number, date, due_date, terms, subtotal, tax, tax_label, has_credit (bool),
              credit_applied, total, balance_due}
    lines:   [{date, code, description, quantity, unit_price, amount}]

Render with ``jinja_env=SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)``:
docxtpl does not escape by default, and a ``&`` or ``<`` in a client name breaks the XML.

Regenerate the committed files with ``python -m billing_batch.documents.template_build``.
"""

from __future__ import annotations

import datetime as dt
import io
import pathlib
import zipfile

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

# Window envelope: the address block starts ~5 cm from the top edge of the page, so the
# letterhead row above it has an exact height of (5 cm - top margin).
LETTERHEAD_HEIGHT = Cm(5.0 - 2.0)
ADDRESS_WIDTH_CM = 9.0
ADDRESS_MIN_HEIGHT = Cm(3.8)

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
    _paragraph_style(doc, "Address", size=10.5)
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


def _build_header_footer(doc) -> None:
    """No header on page 1 (the letterhead is there); a continuation header on later pages,
    and the same footer with "Page X of Y" on every page."""
    section = doc.sections[0]
    section.different_first_page_header_footer = True

    _para(section.first_page_header, "", "Header", first=True)

    cont = _para(
        section.header,
        "{{ office.name }} · Invoice {{ invoice.number }} · {{ client.name }} (continued)",
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


# --------------------------------------------------------------------------- body blocks


def _build_letterhead_and_address(doc, kind: str) -> None:
    """Top block: letterhead row of exact height, then the window-envelope address on the left
    and the invoice facts on the right.

    Grid: address | gap | facts-a | facts-b. The letterhead name spans the first three columns
    (wide, so long office names fit on one line) and the contact details take the last; the
    invoice facts span the last two.
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
    if kind == "business":
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
    _para(facts_cell, "INVOICE", "Document Title", first=True)
    facts = _add_table(facts_cell, [3.2, facts_width - 3.2], 5)
    _set_table_borders(facts, top=(4, RULE_GREY), bottom=(4, RULE_GREY),
                       insideH=(4, RULE_GREY))
    _set_cell_margins(facts, left=0.15, right=0.15)
    rows = [
        ("Invoice Number", "{{ invoice.number }}"),
        ("Invoice Date", "{{ invoice.date }}"),
        ("Due Date", "{{ invoice.due_date }}"),
        ("Terms", "{{ invoice.terms }}"),
        ("Client ID", "{{ client.id }}"),
    ]
    for row, (label, value) in zip(facts.rows, rows):
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


LINE_COLUMNS = [
    # (header, field, width cm, numeric)
    ("Date", "date", 2.1, False),
    ("Code", "code", 1.9, False),
    ("Description", "description", TEXT_WIDTH_CM - 2.1 - 1.9 - 1.2 - 2.3 - 2.5, False),
    ("Qty", "quantity", 1.2, True),
    ("Unit Price", "unit_price", 2.3, True),
    ("Amount", "amount", 2.5, True),
]


def _build_line_table(doc) -> None:
    """Header row (repeats on every page), then a docxtpl row loop over ``lines``."""
    widths = [c[2] for c in LINE_COLUMNS]
    table = _add_table(doc, widths, 4)
    _set_table_borders(table, top=(8, NAVY), bottom=(8, NAVY), insideH=(4, RULE_GREY))
    _set_cell_margins(table, left=0.12, right=0.12)

    header, loop_start, data, loop_end = table.rows
    _set_row(header, header=True)
    for cell, (title, _field, _w, numeric) in zip(header.cells, LINE_COLUMNS):
        _para(cell, title, "Table Header Number" if numeric else "Table Header", first=True)
        _set_cell_shading(cell, HEADER_FILL)
        _set_cell_borders(cell, bottom=(8, NAVY))

    # docxtpl replaces a whole row holding a {%tr ...%} tag by the bare Jinja tag, so the
    # loop tags each get a row of their own; only the data row between them is repeated.
    _para(loop_start.cells[0], "{%tr for line in lines %}", "Table Text", first=True)
    _para(loop_end.cells[0], "{%tr endfor %}", "Table Text", first=True)

    _set_row(data)
    for cell, (_title, field, _w, numeric) in zip(data.cells, LINE_COLUMNS):
        _para(cell, "{{ line.%s }}" % field, "Table Number" if numeric else "Table Text",
              first=True)


def _build_totals(doc) -> None:
    """Right-aligned totals; the credit row exists only when a credit was applied."""
    _para(doc, "", "Spacer")
    table = _add_table(doc, [4.6, 3.2], 7, align=WD_TABLE_ALIGNMENT.RIGHT)
    _set_table_borders(table)
    _set_cell_margins(table, left=0.12, right=0.12)
    rows = [
        ("Subtotal", "{{ invoice.subtotal }}", "plain"),
        ("Tax ({{ invoice.tax_label }})", "{{ invoice.tax }}", "plain"),
        ("{%tr if invoice.has_credit %}", "", "tag"),
        ("Credit applied", "{{ invoice.credit_applied }}", "plain"),
        ("{%tr endif %}", "", "tag"),
        ("Total", "{{ invoice.total }}", "total"),
        ("Balance Due", "{{ invoice.balance_due }}", "balance"),
    ]
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


def _build_how_to_pay(doc) -> None:
    """Shaded box: how to pay on the left, remit-to address on the right; kept on one page."""
    _para(doc, "", "Spacer")
    _para(doc, "", "Spacer")
    remit_width = 6.5
    table = _add_table(doc, [TEXT_WIDTH_CM - remit_width, remit_width], 1)
    _set_table_borders(table, top=(4, RULE_GREY), bottom=(4, RULE_GREY), left=(4, RULE_GREY),
                       right=(4, RULE_GREY))
    _set_cell_margins(table, top=0.25, bottom=0.25, left=0.3, right=0.3)
    row = table.rows[0]
    _set_row(row)
    pay, remit = row.cells
    items = [
        ("How to pay", "Box Heading"),
        ("{{ office.payment_instructions }}", "Box Text"),
        ("Please write the invoice number on your payment.", "Box Text"),
        ("Invoice {{ invoice.number }} · Balance due {{ invoice.balance_due }} by "
         "{{ invoice.due_date }}", "Box Strong"),
    ]
    _cell_paragraphs(pay, items)
    _cell_paragraphs(remit, [
        ("Remit to", "Box Heading"),
        ("{%p for line in office.remit_to_lines %}", "Box Text"),
        ("{{ line }}", "Box Text"),
        ("{%p endfor %}", "Box Text"),
    ])
    for cell in row.cells:
        _set_cell_shading(cell, BOX_FILL)
    # A document must end with a paragraph, not a table (Word "repairs" it otherwise).
    _para(doc, "", "Spacer")


# --------------------------------------------------------------------------- package


def _drop_part(source_part, reltype: str) -> None:
    """Remove a relationship (and so its part) that the invoice does not need."""
    rels = source_part.rels
    for rid, rel in list(rels.items()):
        if rel.reltype == reltype:
            rels.pop(rid)


def _set_core_properties(doc, kind: str) -> None:
    # Only author/title/subject/created/modified: with docxtpl imported, setting
    # last_modified_by/revision/keywords yields files Word calls corrupt (docxtpl #471).
    props = doc.core_properties
    props.author = "billing-batch"
    props.title = f"Invoice template ({kind} client)"
    props.subject = "billing-batch invoice"
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


def build_template_bytes(kind: str) -> bytes:
    """The bytes of one template (``kind`` is "individual" or "business")."""
    if kind not in TEMPLATE_KINDS:
        raise ValueError(f"unknown template kind {kind!r}")
    doc = Document()
    # The stock thumbnail shows an unrelated page, and stylesWithEffects only duplicates
    # styles.xml for Word 2010 while costing ~0.4 MB to re-compress on every render.
    _drop_part(doc.part.package, RT.THUMBNAIL)
    _drop_part(doc.part, "http://schemas.microsoft.com/office/2007/relationships/"
                              "stylesWithEffects")
    _define_styles(doc)
    _setup_page(doc)
    _build_header_footer(doc)

    # python-docx's blank document starts with no paragraphs; blocks are appended in order.
    _build_letterhead_and_address(doc, kind)
    _build_notice(doc, kind)
    _build_line_table(doc)
    _build_totals(doc)
    _build_how_to_pay(doc)
    _set_core_properties(doc, kind)

    buffer = io.BytesIO()
    doc.save(buffer)
    return _reproducible_zip(buffer.getvalue())


def build_letter_templates(out_dir: pathlib.Path) -> list[pathlib.Path]:
    """Write ``invoice_individual.docx`` and ``invoice_business.docx`` into ``out_dir``."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in TEMPLATE_KINDS:
        path = out_dir / f"invoice_{kind}.docx"
        path.write_bytes(build_template_bytes(kind))
        written.append(path)
    return written


def default_output_dir() -> pathlib.Path:
    """``<repo>/letter_templates``, where the committed templates live."""
    return pathlib.Path(__file__).resolve().parents[2] / "letter_templates"


if __name__ == "__main__":
    for written_path in build_letter_templates(default_output_dir()):
        print(written_path)
