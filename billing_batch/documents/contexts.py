"""Template contexts: the ledger's records as the strings a document shows."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal

from billing_batch.config import Settings
from billing_batch.money import fmt_money


def fmt_date(d: date) -> str:
    return f"{d:%B} {d.day}, {d.year}"  # "March 14, 2026": unambiguous for every reader


def fmt_quantity(q: str | Decimal) -> str:
    q = Decimal(q)
    return f"{q.normalize():f}" if q == q.to_integral_value() else f"{q:f}".rstrip("0")


def office_context(settings: Settings) -> dict:
    o = settings.office
    return {"name": o.name, "address_lines": list(o.address_lines), "phone": o.phone, "email": o.email,
            "tax_id": o.tax_id, "remit_to_lines": list(o.remit_to_lines or [o.name, *o.address_lines]),
            "payment_instructions": o.payment_instructions, "financial_assistance": o.financial_assistance}


# The office mails within the US: a country line naming it is left off the envelope (USPS asks for none).
DOMESTIC_COUNTRIES = {"us", "usa", "u.s.", "u.s.a.", "united states", "united states of america", "america"}


def mailing_lines(lines: list[str]) -> list[str]:
    """An address as it goes in the envelope window: a domestic country line dropped, so a snapshot taken
    before this rule prints the same as a new one."""
    return [l for l in lines if l.strip().casefold() not in DOMESTIC_COUNTRIES]


# A leading "Attn:" / "ATTN" / "Attention -" that staff typed into the Attention column: the templates
# print their own "Attn:", so it would read "Attn: Attn: Jane Roe".
_ATTN = re.compile(r"^\s*(?:attn|attention)\b\s*[:.\-\u2013\u2014]?\s*", re.IGNORECASE)


def attention_of(bill_to: dict) -> str:
    """The Attention as the "Attn: …" line and the greeting use it: without a typed "Attn:" prefix."""
    return _ATTN.sub("", (bill_to.get("attention") or "").strip(), count=1)


def client_context(bill_to: dict) -> dict:
    return {"id": bill_to["client_id"], "name": bill_to["name"], "attention": attention_of(bill_to),
            "address_lines": mailing_lines(list(bill_to["address_lines"]))}


def greeting(bill_to: dict) -> str:
    """Who a letter's "Dear …," greets: a patient by name; a business's Attention without its job title
    ("Tom Baker, Owner" -> "Tom Baker", "Attn: Tom Baker" -> "Tom Baker"), else its accounts payable."""
    if bill_to.get("type", "Individual") != "Business":
        return bill_to["name"]
    return attention_of(bill_to).split(",")[0].strip() or "Accounts Payable"


def letter_client(bill_to: dict) -> dict:
    """`client_context` and the letter's greeting (`client.greeting`)."""
    return {**client_context(bill_to), "greeting": greeting(bill_to)}


def names_list(names: list[str], most: int = 3) -> str:
    """"A", "A and B", "A, B and C"; more than `most` names end "and other services"."""
    if len(names) > most:
        return ", ".join(names[:most]) + " and other services"
    return " and ".join(filter(None, [", ".join(names[:-1]), names[-1] if names else ""]))


def bill_to_snapshot(client: dict) -> dict:
    """Name and address as they stood when the invoice was issued (an invoice never changes)."""
    city_line = " ".join(filter(None, [client["city"] + ("," if client.get("region") else ""),
                                      client.get("region"), client["postal_code"]]))
    lines = [client["address_line_1"], client.get("address_line_2"), city_line, client.get("country")]
    return {"client_id": client["client_id"], "name": client["name"], "type": client["type"],
            "attention": client.get("attention") or "", "address_lines": [l for l in lines if l],
            "postal_code": client["postal_code"], "delivery": client["delivery"]}


# "every month": how a plan's frequency reads in a sentence.
FREQUENCY_WORDS = {"Weekly": "week", "Biweekly": "two weeks", "Monthly": "month"}


def _iso_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def plan_context(settings: Settings, summary: dict | None) -> dict:
    """A client's payment plan as a document shows it; `summary` is None when there is none (or
    from a letter recorded before plans existed): `show` is then False and every string empty.

    `summary`: {id, installment_cents, frequency (Weekly | Biweekly | Monthly), next_due_date (ISO
    date or None once nothing is left to fall due), paid_cents, remaining_cents, plan_amount_cents}."""
    if summary is None:
        return {"show": False, "id": "", "installment": "", "frequency": "", "next_due_date": "",
                "paid_to_date": "", "remaining": "", "plan_amount": ""}
    sym = settings.currency_symbol
    next_due = summary.get("next_due_date")
    return {
        "show": True, "id": summary["id"], "installment": fmt_money(summary["installment_cents"], sym),
        "frequency": FREQUENCY_WORDS[summary["frequency"]],
        "next_due_date": fmt_date(_iso_date(next_due)) if next_due else "",
        "paid_to_date": fmt_money(summary["paid_cents"], sym), "remaining": fmt_money(summary["remaining_cents"], sym),
        "plan_amount": fmt_money(summary["plan_amount_cents"], sym),
    }


def invoice_context(settings: Settings, invoice: dict, lines: list[dict], credit_applied_cents: int, *,
                    plan: dict | None = None) -> dict:
    """`plan`: the client's payment plan (`plan_context`'s summary), None when not on one. `invoice`'s
    `previous_balance_cents` (what the client owed on earlier invoices on its date, `issued.previous_balances`)
    adds the "Previous balance" and "Total account balance" lines when above zero. `lines` may carry the
    service log's `provider` and `reference` (None on a claim's share)."""
    sym = settings.currency_symbol
    total = invoice["total_cents"]
    due = total - credit_applied_cents
    previous = int(invoice.get("previous_balance_cents") or 0)
    rate = Decimal(invoice["tax_rate"])
    # Tax shows only when a line is taxed; those lines are marked "T" beside their amount.
    taxed = rate > 0 and any(l["taxable"] for l in lines)
    return {
        "office": office_context(settings),
        "client": client_context(json.loads(invoice["bill_to"])),
        "invoice": {
            "number": invoice["number"], "date": fmt_date(invoice["invoice_date"]),
            "due_date": fmt_date(invoice["due_date"]), "terms": f"Net {invoice['terms_days']}",
            "subtotal": fmt_money(invoice["subtotal_cents"], sym), "tax": fmt_money(invoice["tax_cents"], sym),
            "tax_label": f"{rate.normalize():f}%", "has_tax": taxed, "has_credit": credit_applied_cents > 0,
            "credit_applied": fmt_money(-credit_applied_cents, sym), "total": fmt_money(total, sym),
            "balance_due": fmt_money(due, sym), "owes": due > 0,
            "has_previous": previous > 0, "previous_balance": fmt_money(previous, sym),
            "account_balance": fmt_money(previous + due, sym),
        },
        "lines": [{"date": f"{l['service_date']:%m/%d/%Y}", "code": l["service_code"],
                   "description": l["description"], "quantity": fmt_quantity(l["quantity"]),
                   "unit_price": fmt_money(l["unit_price_cents"], sym), "amount": fmt_money(l["amount_cents"], sym),
                   "tax_mark": "T" if taxed and l["taxable"] else "",
                   "provider": l.get("provider") or "", "reference": l.get("reference") or ""}
                  for l in lines],
        "plan": plan_context(settings, plan),
    }


def credit_note_context(settings: Settings, credit_note: dict, invoice: dict, balance_after_cents: int) -> dict:
    sym = settings.currency_symbol
    return {
        "office": office_context(settings),
        "client": client_context(json.loads(invoice["bill_to"])),
        "credit_note": {
            "number": credit_note["number"], "date": fmt_date(credit_note["issue_date"]),
            "invoice_number": invoice["number"], "invoice_date": fmt_date(invoice["invoice_date"]),
            "reason": credit_note["reason"], "amount": fmt_money(credit_note["amount_cents"], sym),
            "invoice_total": fmt_money(invoice["total_cents"], sym),
            "balance_after": fmt_money(balance_after_cents, sym), "is_void": credit_note["kind"] == "void",
        },
    }


def statement_context(settings: Settings, client: dict, statement: dict, open_items: list, activity: list,
                      aging: list[tuple[str, Decimal]], *, plan: dict | None = None) -> dict:
    """`open_items`: AgedItem; `activity`: (date, description, reference, cents); amounts signed as the
    client reads them (a payment reduces what they owe: negative). `statement` may hold `period_end` (else the
    as-of date) and `movement` (statements.Movement: opening, charges, payments, credits, closing)."""
    sym = settings.currency_symbol
    m = statement.get("movement")
    moves = {"has_movement": m is not None}
    if m is not None:
        moves |= {"opening": signed_balance(m.opening, sym), "charges": fmt_money(m.charges, sym),
                  "payments": fmt_money(-m.payments, sym), "credits": fmt_money(-m.credits, sym),
                  "closing": signed_balance(m.closing, sym)}
    return {
        "office": office_context(settings),
        "client": client_context(bill_to_snapshot(client)),
        "statement": {
            "date": fmt_date(statement["as_of"]), "period_start": fmt_date(statement["period_start"]),
            "period_end": fmt_date(statement.get("period_end") or statement["as_of"]), **moves,
            # A credit balance is never "Balance due −$18.00": the client owes nothing.
            "balance_due": fmt_money(abs(statement["balance"]), sym),
            # Printed on the remittance slip: the client and the date identify the statement.
            "number": f"{client['client_id']}-{statement['as_of']:%Y%m%d}", "owes": statement["balance"] > 0,
            "in_credit": statement["balance"] < 0,
            "balance_label": "Balance due" if statement["balance"] >= 0 else "Credit balance — no payment due",
            "balance_title": "Balance due" if statement["balance"] >= 0 else "Credit balance",
            "total_open": fmt_money(statement["total_open"], sym),
            "unapplied_credit": fmt_money(-statement["unapplied_credit"], sym),
            # Below zero when a refund was paid out of a payment later returned: the client owes it.
            "has_credit": statement["unapplied_credit"] != 0,
            "credit_label": "Unapplied credit" if statement["unapplied_credit"] > 0
            else "Owed on account (refund of a returned payment)",
        },
        "open_items": [{"number": a.item.invoice_number, "date": f"{a.item.invoice_date:%m/%d/%Y}",
                        "due_date": f"{a.item.due_date:%m/%d/%Y}", "days_past_due": str(max(a.days_past_due, 0)),
                        "amount": fmt_money(a.item.amount, sym), "paid": fmt_money(a.item.paid + a.item.adjusted, sym),
                        "balance": fmt_money(a.item.balance, sym)} for a in open_items],
        "activity": [{"date": f"{d:%m/%d/%Y}", "description": desc, "reference": ref or "",
                      "amount": fmt_money(cents, sym)} for d, desc, ref, cents in activity],
        "aging": [{"name": name, "amount": fmt_money(amount, sym)} for name, amount in aging],
        "plan": plan_context(settings, plan),
    }


def signed_balance(amount: Decimal, sym: str) -> str:
    """A balance as a line of the account summary: a credit reads "$18.00 credit", never "−$18.00"."""
    return fmt_money(amount, sym) if amount >= 0 else f"{fmt_money(-amount, sym)} credit"


def letter_context(settings: Settings, content: dict) -> dict:
    """A collection letter from what was recorded when it was decided (ledger `letters.content`);
    `on_plan` is the client's payment plan then (absent in letters recorded before plans)."""
    sym = settings.currency_symbol
    day = date.fromisoformat(str(content["date"]))
    plan = content["plan"]
    return {
        "office": office_context(settings),
        "client": letter_client(content["bill_to"]),
        "letter": {"date": fmt_date(day), "level": content["level"], "total_due": fmt_money(content["total_cents"], sym),
                   "oldest_days": str(content["oldest_days"]),
                   "pay_by": fmt_date(date.fromisoformat(str(content["pay_by"]))),
                   # The final notice's first day of a possible referral ("" in other letters).
                   "referral_date": fmt_date(_iso_date(content["referral_date"])) if content.get("referral_date")
                   else ""},
        "items": [{"number": i["number"], "date": f"{date.fromisoformat(str(i['date'])):%m/%d/%Y}",
                   "due_date": f"{date.fromisoformat(str(i['due_date'])):%m/%d/%Y}",
                   "days_past_due": str(i["days_past_due"]), "balance": fmt_money(i["balance_cents"], sym)}
                  for i in content["items"]],
        # `rest`: the part of the total due no plan can hold (discretionary services), and what it is for.
        "plan_offer": {"show": plan["show"], "eligible_balance": fmt_money(plan["eligible_cents"], sym),
                       "installment": fmt_money(plan["installment_cents"], sym), "months": str(plan["months"]),
                       "has_rest": plan.get("rest_cents", 0) > 0, "rest": fmt_money(plan.get("rest_cents", 0), sym),
                       "rest_for": names_list(plan.get("rest_for", [])) or "other services"},
        "plan": plan_context(settings, content.get("on_plan")),
        "insurance": {"show": bool(content.get("self_pay"))},  # absent in letters recorded before it
    }


def plan_letter_context(settings: Settings, content: dict) -> dict:
    """A payment-plan letter (`plan_missed`, `plan_ended`) from what was recorded when it was decided:
    {template, bill_to, date, pay_by, plan: {plan_context's summary, start_date, missed (installments
    missed), overdue_cents (installments due and unpaid), missed_dates (their due dates)}}."""
    sym = settings.currency_symbol
    plan = content["plan"]
    return {
        "office": office_context(settings),
        "client": letter_client(content["bill_to"]),
        "letter": {"date": fmt_date(_iso_date(content["date"])), "pay_by": fmt_date(_iso_date(content["pay_by"]))},
        "plan": {**plan_context(settings, plan), "start_date": fmt_date(_iso_date(plan["start_date"])),
                 "missed": str(plan["missed"]), "overdue": fmt_money(plan["overdue_cents"], sym),
                 "missed_dates": [fmt_date(_iso_date(d)) for d in plan["missed_dates"]]},
    }


def coverage_notice_context(settings: Settings, content: dict) -> dict:
    """A coverage notice from what was recorded when it was decided (ledger `coverage_notices.content`):
    {template, bill_to, date, payer, member_id (None when none is on file), services: [{service_date,
    service_code, description, quantity, amount_cents}], total_cents}."""
    sym = settings.currency_symbol
    return {
        "office": office_context(settings),
        "client": letter_client(content["bill_to"]),
        "letter": {"date": fmt_date(_iso_date(content["date"]))},
        "notice": {"payer": content["payer"], "member_id": content.get("member_id") or "",
                   "total": fmt_money(content["total_cents"], sym)},
        "services": [{"date": f"{_iso_date(s['service_date']):%m/%d/%Y}", "code": s["service_code"],
                      "description": s["description"], "quantity": fmt_quantity(s["quantity"]),
                      "amount": fmt_money(s["amount_cents"], sym)} for s in content["services"]],
    }
