"""The outbox queue: one row per piece of work after commit (a document, a file to move, a run
report), done once, retried until it is."""

from __future__ import annotations

from sqlalchemy import Connection, select

from billing_batch.ledger.schema import (
    outbox,
)


def add_outbox(conn: Connection, kind: str, ref_id: int, path: str, run_id: int) -> None:
    conn.execute(outbox.insert().values(kind=kind, ref_id=ref_id, path=path, status="pending", attempts=0,
                                        run_id=run_id))


def add_outboxes(conn: Connection, rows: list[tuple[str, int, str]], run_id: int) -> None:
    if rows:
        conn.execute(outbox.insert(), [dict(kind=k, ref_id=ref, path=path, status="pending", attempts=0,
                                            run_id=run_id) for k, ref, path in rows])


def pending_outbox(conn: Connection) -> list[dict]:
    return [dict(r._mapping) for r in conn.execute(
        select(outbox).where(outbox.c.status != "done").order_by(outbox.c.id))]


def mark_outboxes(conn: Connection, outcomes: list[tuple[int, str | None]]) -> None:
    """(outbox id, error or None) for a batch of jobs."""
    done = [i for i, err in outcomes if err is None]
    for start in range(0, len(done), 500):
        conn.execute(outbox.update().where(outbox.c.id.in_(done[start:start + 500]))
                     .values(status="done", attempts=outbox.c.attempts + 1, last_error=None))
    for i, err in outcomes:
        if err is not None:
            conn.execute(outbox.update().where(outbox.c.id == i).values(
                status="failed", attempts=outbox.c.attempts + 1, last_error=err))
