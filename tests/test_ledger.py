"""The ledger: migrations match the schema, issued documents cannot change, numbers are gapless."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, func, update

from billing_batch.ledger import numbering
from billing_batch.ledger.db import IssuedDocumentChanged, open_ledger
from billing_batch.ledger.schema import invoice_lines, invoices, metadata
from billing_batch.pipeline import run_batch
from tests.test_end_to_end import drop_office


def test_migrations_create_exactly_the_schema(database_url):
    engine = open_ledger(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    engine.dispose()
    assert diff == []


def test_opening_twice_is_safe(database_url):
    open_ledger(database_url).dispose()
    engine = open_ledger(database_url)  # already at head: nothing to do, nothing fails
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0006"
    engine.dispose()


def test_issued_invoices_cannot_be_changed(office):
    drop_office(office)
    run_batch(office.settings, dt.date(2026, 3, 31))
    engine = open_ledger(office.settings.database_url)
    for statement in (update(invoices).values(total_cents=1), delete(invoices),
                      update(invoice_lines).values(amount_cents=0), delete(invoice_lines)):
        with engine.begin() as conn, pytest.raises(IssuedDocumentChanged):
            conn.execute(statement)
    with engine.connect() as conn:
        assert conn.execute(invoices.select().where(invoices.c.number == "INV-2026-00002")).one().total_cents == 33005  # 330.05, no tax configured
    engine.dispose()


def test_numbers_are_gapless_per_series_and_year(database_url):
    engine = open_ledger(database_url)
    with engine.begin() as conn:
        got = [numbering.reserve_numbers(conn, "INV", 2026, 1) for _ in range(3)]
        got += [numbering.reserve_numbers(conn, "INV", 2027, 1), numbering.reserve_numbers(conn, "CN", 2026, 1)]
    with engine.begin() as conn:
        numbering.reserve_numbers(conn, "INV", 2026, 1)
        conn.rollback()  # a rolled-back run leaves no hole
    with engine.begin() as conn:
        got.append(numbering.reserve_numbers(conn, "INV", 2026, 1))
    engine.dispose()
    assert got == [1, 2, 3, 1, 1, 4]


def test_sqlite_ledger_on_a_network_share_is_refused(monkeypatch, tmp_path):
    from billing_batch.ledger import db

    monkeypatch.setattr(db, "_filesystem_type", lambda path: "cifs")
    with pytest.raises(db.LedgerError, match="network share"):
        open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")


def test_a_ledger_made_by_0001_keeps_its_rows_and_takes_64_bit_amounts(database_url):
    """Migration 0002 widens every money column (on SQLite by rebuilding the tables) without losing
    a row or a foreign key; then amounts over $21,474,836.47 fit (issue 11.7)."""
    from alembic import command
    from sqlalchemy import insert, select
    from sqlalchemy.exc import IntegrityError

    from billing_batch.ledger.db import alembic_config, create_ledger_engine, migrate
    from billing_batch.ledger.schema import allocations, clients, runs

    engine = create_ledger_engine(database_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
    with engine.begin() as conn:
        conn.execute(insert(runs).values(id=1, business_date=dt.date(2026, 3, 31), started_at=dt.datetime(2026, 3, 31),
                                         status="ok", billed=True))
        conn.execute(insert(clients).values(client_id="C1", name="A", type="Individual", address_line_1="1 St",
                                            city="X", postal_code="1", delivery="Mail", tax_exempt=False,
                                            collections_hold=False, run_id=1))
        conn.execute(insert(invoices).values(id=1, number="INV-2026-00001", client_id="C1",
                                             invoice_date=dt.date(2026, 3, 31), due_date=dt.date(2026, 4, 30),
                                             terms_days=30, subtotal_cents=2_147_483_647, tax_cents=0, tax_rate="0",
                                             total_cents=2_147_483_647, bill_to="{}", run_id=1))
        conn.execute(insert(allocations).values(invoice_id=1, source="write_off", amount_cents=1,
                                                alloc_date=dt.date(2026, 4, 1), run_id=1))
    migrate(engine)
    with engine.begin() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0006"
        assert conn.execute(select(invoices.c.number, invoices.c.total_cents)).all() == [("INV-2026-00001",
                                                                                         2_147_483_647)]
        assert conn.execute(select(allocations.c.invoice_id, allocations.c.amount_cents)).all() == [(1, 1)]
        conn.execute(insert(allocations).values(invoice_id=1, source="payment", amount_cents=3_000_000_000,
                                                alloc_date=dt.date(2026, 4, 2), run_id=1))
        assert conn.execute(select(func.sum(allocations.c.amount_cents))).scalar() == 3_000_000_001
    with pytest.raises(IntegrityError), engine.begin() as conn:  # foreign keys still enforced
        conn.execute(insert(allocations).values(invoice_id=99, source="payment", amount_cents=1,
                                                alloc_date=dt.date(2026, 4, 2), run_id=1))
    engine.dispose()
