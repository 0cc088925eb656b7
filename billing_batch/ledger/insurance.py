"""The insurance flow's ledger side (SPEC §4.6)."""

from __future__ import annotations

from sqlalchemy import Connection, select

from billing_batch.ledger.schema import coverage_notices


def coverage_notice(conn: Connection, notice_id: int) -> dict:
    """A coverage notice's row, its `content` the JSON of what the letter says."""
    return dict(conn.execute(select(coverage_notices).where(coverage_notices.c.id == notice_id)).one()._mapping)
