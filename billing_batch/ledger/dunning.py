"""Collections state per client, the letters sent, and what the Contact Log says."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import Connection, select

from billing_batch.ledger.schema import (
    collection_state,
    contacts,
    letters,
)


def collection_states(conn: Connection) -> dict[str, dict]:
    return {r.client_id: dict(r._mapping) for r in conn.execute(select(collection_state))}


def save_collection_state(conn: Connection, client_id: str, series: int, level: int, last_letter: date | None,
                          run_id: int, exists_: bool) -> None:
    values = dict(series=series, level=level, last_letter_date=last_letter, run_id=run_id)
    if exists_:
        conn.execute(collection_state.update().where(collection_state.c.client_id == client_id).values(**values))
    else:
        conn.execute(collection_state.insert().values(client_id=client_id, **values))


def contact_summaries(conn: Connection, as_of: date) -> dict[str, dict]:
    """Per client, from the Contact Log up to the date: the last contact, the latest promise to pay,
    whether a dispute is open (a Dispute not followed by Dispute resolved)."""
    out: dict[str, dict] = {}
    q = (select(contacts).where(contacts.c.contact_date <= as_of)
         .order_by(contacts.c.client_id, contacts.c.contact_date, contacts.c.id))
    for r in conn.execute(q):
        s = out.setdefault(r.client_id, {"last": None, "promise_date": None, "promise_cents": None,
                                         "dispute": False, "plan_requested": False})
        s["last"] = (r.contact_date, r.outcome)
        if r.outcome == "Promise to pay":
            s["promise_date"], s["promise_cents"] = r.promise_date, r.promise_amount_cents
        elif r.outcome in ("Dispute", "Dispute resolved"):
            s["dispute"] = r.outcome == "Dispute"
        elif r.outcome == "Plan requested":
            s["plan_requested"] = True
    return out


def insert_letter(conn: Connection, client_id: str, series: int, level: int, level_name: str, letter_date: date,
                  amount_cents: int, content: dict, run_id: int) -> int:
    return conn.execute(letters.insert().values(
        client_id=client_id, series=series, level=level, level_name=level_name, letter_date=letter_date,
        amount_cents=amount_cents, content=json.dumps(content, default=str), run_id=run_id)).inserted_primary_key[0]  # type: ignore[index]


def letter(conn: Connection, letter_id: int) -> dict:
    return dict(conn.execute(select(letters).where(letters.c.id == letter_id)).one()._mapping)


def referral_days(conn: Connection) -> dict[str, date]:
    """Per client, the first day of a referral its latest letter named (a final notice), if it named one."""
    out: dict[str, date] = {}
    for r in conn.execute(select(letters.c.client_id, letters.c.content)
                          .order_by(letters.c.letter_date, letters.c.id)):
        named = json.loads(r.content).get("referral_date")
        if named:
            out[r.client_id] = date.fromisoformat(str(named))
        else:
            out.pop(r.client_id, None)
    return out


def last_letters(conn: Connection) -> dict[str, tuple[date, str]]:
    """Per client, the date and level name of the latest letter."""
    out = {}
    for r in conn.execute(select(letters.c.client_id, letters.c.letter_date, letters.c.level_name)
                          .order_by(letters.c.letter_date, letters.c.id)):
        out[r.client_id] = (r.letter_date, r.level_name)
    return out
