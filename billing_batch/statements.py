"""`billing-batch statement CLIENT_ID`: a Word statement of account from the ledger (SPEC §7)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from billing_batch.billing.aging import age
from billing_batch.config import Settings
from billing_batch.documents.contexts import statement_context
from billing_batch.documents.render import render_docx, write_atomic
from billing_batch.ledger import balances, inputs, plans
from billing_batch.ledger.db import open_ledger
from billing_batch.resources import data_path


class UnknownClient(Exception):
    pass


def statement_period(as_of: date) -> date:
    """Activity shown: from the first day of the as-of date's month."""
    return as_of.replace(day=1)


def write_statement(settings: Settings, client_id: str, as_of: date) -> Path:
    engine = open_ledger(settings.database_url, **settings.ledger_options)
    try:
        with engine.connect() as conn:
            client = inputs.client_rows(conn).get(client_id)
            if client is None:
                raise UnknownClient(f"no client with ID {client_id} in the ledger")
            items = [i for i in balances.open_items(conn, as_of) if i.client_id == client_id]
            credit = balances.unapplied_credits(conn, as_of).get(client_id)
            aging = age(items, {client_id: credit} if credit else {}, as_of, settings.aging.buckets)
            start = statement_period(as_of)
            activity = balances.client_activity(conn, client_id, start, as_of)
            p = settings.plans
            on_plan = [plans.summary(b, s, as_of) for b, s in plans.in_good_standing(
                conn, as_of, p.grace_days, p.default_after_missed, [client_id]).values()]
    finally:
        engine.dispose()
    totals = aging.clients[0] if aging.clients else None
    summary = {"as_of": as_of, "period_start": start,
               "total_open": aging.open_total, "unapplied_credit": aging.unapplied_credit, "balance": aging.balance}
    ctx = statement_context(settings, client, summary, aging.items, activity,
                            [(n, totals.buckets[n] if totals else 0) for n in aging.names],
                            plan=on_plan[0] if on_plan else None)
    template = settings.templates / "statement.docx"
    if not template.exists():
        template = data_path("letter_templates") / "statement.docx"
    safe_id = re.sub(r"[^A-Za-z0-9._-]", "_", client_id)  # an ID, never a name, and no path tricks
    path = settings.output / "statements" / f"statement-{safe_id}-{as_of:%Y-%m-%d}.docx"
    write_atomic(path, render_docx(template, ctx))
    return path
