"""`billing-batch templates check`: render every template the run uses with sample data, so an
office that edits its Word templates learns of a mistake before the nightly run does."""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from jinja2 import TemplateError, UndefinedError

from billing_batch.billing.aging import AgedItem
from billing_batch.billing.records import OpenItem
from billing_batch.config import Settings
from billing_batch.documents.contexts import (
    coverage_notice_context, credit_note_context, invoice_context, letter_context, plan_letter_context,
    statement_context,
)
from billing_batch.documents import pdf
from billing_batch.documents.render import render_docx, write_atomic
from billing_batch.resources import data_path
from billing_batch.statements import Movement

DAY = date(2026, 3, 14)
CLIENT = {"client_id": "C0042", "name": 'Sample & Sons <Ltd> "Zoë"', "type": "Business", "attention": "Jane Roe",
          "address_line_1": "1 Sample Street", "address_line_2": None, "city": "Springfield", "region": "IL",
          "postal_code": "62701", "country": None, "delivery": "Mail"}
BILL_TO = json.dumps({"client_id": "C0042", "name": CLIENT["name"], "type": "Business", "attention": "Jane Roe",
                      "address_lines": ["1 Sample Street", "Springfield, IL 62701"], "postal_code": "62701",
                      "delivery": "Mail"})
INVOICE = {"id": 1, "number": "INV-2026-00042", "invoice_date": DAY, "due_date": DAY + timedelta(days=30),
           "terms_days": 30, "subtotal_cents": 12345, "tax_cents": 100, "tax_rate": "8.25", "total_cents": 12445,
           "bill_to": BILL_TO}
# A plan the sample client is on, so previews show the plan block.
# A plan the sample client is on (six monthly installments from December 1; two paid, the February
# and March ones missed), so previews show the plan block and the plan letters read true.
PLAN = {"id": "PLN-2026-00001", "installment_cents": 5000, "frequency": "Monthly", "next_due_date": "2026-04-01",
        "paid_cents": 10000, "remaining_cents": 20000, "plan_amount_cents": 30000}
PLAN_LETTER = {**PLAN, "start_date": "2025-12-01", "missed": 2, "overdue_cents": 10000,
               "missed_dates": ["2026-02-01", "2026-03-01"]}
# Two services the sample client's payer does not cover (ledger `coverage_notices.content`).
COVERAGE_NOTICE = {"template": "coverage_notice", "bill_to": json.loads(BILL_TO), "date": str(DAY),
                   "payer": "Acme Health", "member_id": "AH-123",
                   "services": [{"service_date": str(DAY - timedelta(days=3)), "service_code": "97110",
                                 "description": "Therapeutic exercise", "quantity": "2", "amount_cents": 9000},
                                {"service_date": str(DAY), "service_code": "99213", "description": "Office visit",
                                 "quantity": "1", "amount_cents": 12500}],
                   "total_cents": 21500}
LINES = [{"service_date": DAY, "service_code": "OV", "description": "Office visit", "quantity": "1",
          "unit_price_cents": 12345, "amount_cents": 12345, "taxable": True, "provider": "Dr. Sample",
          "reference": "PO-1001"}]


@dataclass(frozen=True)
class TemplateCheck:
    name: str
    path: Path
    own: bool  # the office's copy (False: the built-in one is used)
    error: str | None = None


def sample_contexts(settings: Settings) -> dict[str, dict]:
    item = AgedItem(OpenItem("INV-2026-00042", "C0042", DAY, DAY + timedelta(days=30), Decimal("124.45"),
                             Decimal("0"), Decimal("0")), 45, "31-60")
    letter = {"template": "reminder", "level": "Reminder", "bill_to": json.loads(BILL_TO), "date": DAY,
              "pay_by": DAY + timedelta(days=14), "oldest_days": 45, "total_cents": 12445,
              "items": [{"number": "INV-2026-00042", "date": DAY, "due_date": DAY, "days_past_due": 45,
                         "balance_cents": 12445}],
              "plan": {"show": True, "eligible_cents": 10445, "installment_cents": 2500, "months": 5,
                       "rest_cents": 2000, "rest_for": ["Teeth whitening"]},
              "referral_date": DAY + timedelta(days=30), "on_plan": PLAN}
    contexts = {
        "invoice_individual.docx": invoice_context(settings, INVOICE, LINES, 500, plan=PLAN),
        "invoice_business.docx": invoice_context(settings, INVOICE, LINES, 0, plan=PLAN),
        "credit_note.docx": credit_note_context(
            settings, {"number": "CN-2026-00007", "issue_date": DAY, "reason": "Sample", "amount_cents": 2000,
                       "kind": "credit"}, INVOICE, 10445),
        "statement.docx": statement_context(
            settings, CLIENT, {"as_of": DAY, "period_start": DAY.replace(day=1), "total_open": Decimal("124.45"),
                               "unapplied_credit": Decimal("0"), "balance": Decimal("124.45"),
                               "movement": Movement(Decimal("50.00"), Decimal("124.45"), Decimal(50),
                                                    Decimal(0), Decimal("124.45"))},
            [item], [(DAY, "Payment received", "1001", -5000)], [("31-60", Decimal("124.45"))], plan=PLAN),
    }
    # The last level (the referral) sends no letter, so it has no template to check.
    for level in sorted(settings.collections.levels, key=lambda l: l.days)[:-1]:
        for kind in ("individual", "business"):
            contexts[f"{level.template}_{kind}.docx"] = letter_context(settings, {**letter, "level": level.name})
    for which in ("plan_missed", "plan_ended"):
        content = {"template": which, "bill_to": json.loads(BILL_TO), "date": str(DAY),
                   "pay_by": str(DAY + timedelta(days=14)), "plan": PLAN_LETTER}
        for kind in ("individual", "business"):
            contexts[f"{which}_{kind}.docx"] = plan_letter_context(settings, content)
    for kind in ("individual", "business"):
        contexts[f"coverage_notice_{kind}.docx"] = coverage_notice_context(settings, COVERAGE_NOTICE)
    return contexts


def check_templates(settings: Settings, preview_dir: Path | None = None) -> list[TemplateCheck]:
    """Render each template with sample data; each that renders is written to `preview_dir` (to open
    in Word and look at), each that fails says why in words an office can act on."""
    results = []
    for name, context in sample_contexts(settings).items():
        own = settings.templates / name
        path = own if own.exists() else data_path("letter_templates") / name
        try:
            data = render_docx(path, context)
            # The sample takes one branch of each {% if %}: a misspelt field in another branch renders
            # here but fails on the night for the client it applies to, so every placeholder is looked up.
            error = unknown_field(path, context)
            if error:
                error += " (the sample does not print that part, but a document that does would fail)"
            elif preview_dir is not None:
                write_atomic(preview_dir / name, data)
        except UndefinedError as exc:
            error = unknown_field(path, context) or _undefined_words(str(exc))
        except TemplateError as exc:
            error = f"a placeholder or {{% tag %}} is not written correctly ({exc})"
        except Exception:  # a damaged .docx, or another kind of file saved under the name
            error = ("the file is damaged or is not a Word document; save it again from Word as .docx, or start "
                     "from a fresh copy")
        if error and preview_dir is not None:  # an earlier pass's preview would show what no longer renders
            for stale in (preview_dir / name, (preview_dir / name).with_suffix(".pdf")):
                stale.unlink(missing_ok=True)
        results.append(TemplateCheck(name, path, own.exists(), error))
    return results


def preview_pdfs(settings: Settings, previews: list[Path]) -> dict[Path, str | None]:
    """A PDF beside each preview (one LibreOffice call, as the run makes them): {pdf: None, or why
    not}. Empty when LibreOffice is not installed: the Word previews are then all there is."""
    if not previews or pdf.soffice(settings.documents.libreoffice) is None:
        return {}
    d = settings.documents
    return pdf.convert([(p, p.with_suffix(".pdf")) for p in previews],
                       pdf.Limits(d.pdf_timeout_seconds, float(d.pdf_seconds_per_document)), d.libreoffice)


def _undefined_words(message: str) -> str:
    """Jinja's "'dict object' has no attribute 'nme'" / "'nme' is undefined" in the words of the check."""
    m = re.search(r"has no attribute '([^']+)'|'([^']+)' is undefined", message)
    name = m and (m.group(1) or m.group(2))
    return (f"{{{{ … {name} }}}} is not a field; check its spelling in the template" if name
            else "a placeholder names something that is not a field; check its spelling in the template")


_PLACEHOLDER = re.compile(r"{{-?\s*([A-Za-z_][\w.]*)")
_LOOP = re.compile(r"{%-?\s*(?:tr\s+|p\s+)?for\s+([\w, ]+?)\s+in\s+([A-Za-z_][\w.]*)")


def _lookup(context: dict, dotted: str) -> object:
    here: object = context
    for part in dotted.split("."):
        if not isinstance(here, dict) or part not in here:
            return None
        here = here[part]
    return here


def unknown_field(template: Path, context: dict) -> str | None:
    """`{{ nme }} is not a field; the fields are: …` for the first placeholder of `template` that the
    sample context cannot answer; inside `{% for line in lines %}`, `line` stands for one of `lines`
    (None when the culprit cannot be told)."""
    with zipfile.ZipFile(template) as z:
        text = " ".join(re.sub(r"<[^>]+>", "", z.read(n).decode("utf-8", "replace"))
                        for n in z.namelist() if n.startswith("word/") and n.endswith(".xml"))
    # Each loop's opening: where, the names it binds, one element of what it loops over (None: cannot tell).
    loops: list[tuple[int, list[str], object]] = []
    for m in _LOOP.finditer(text):
        names = [v.strip() for v in m.group(1).split(",")]
        items = _lookup(context, m.group(2))
        loops.append((m.start(), names, items[0] if isinstance(items, list) and items and len(names) == 1 else None))
    for m in _PLACEHOLDER.finditer(text):
        parts = m.group(1).split(".")
        here: object = context
        start = 0
        if parts[0] == "loop" and "loop" not in context:
            continue  # Jinja's own loop.index, loop.first ...
        bound = [first for at, names, first in loops if at < m.start() and parts[0] in names]
        if bound and parts[0] not in context:
            here, start = bound[-1], 1  # the nearest loop before it that binds the name
            if not isinstance(here, dict):
                continue  # a loop over something the sample cannot show
        for depth in range(start, len(parts)):
            part = parts[depth]
            if isinstance(here, dict) and part in here:
                here = here[part]
                continue
            if not isinstance(here, dict):
                break  # a method or attribute of a value (e.g. a date's strftime): not a field name
            owner = "" if depth == 0 else f" of {'.'.join(parts[:depth])}"
            return (f"{{{{ {'.'.join(parts[:depth + 1])} }}}} is not a field{owner}; the fields{owner} are: "
                    f"{', '.join(sorted(here))}")
    return None
