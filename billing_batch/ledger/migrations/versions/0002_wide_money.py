"""wide money: 64-bit cents, and invoice lines as wide as the input they copy

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03

Every *_cents column was a 32-bit INTEGER, so on PostgreSQL an amount over $21,474,836.47 (which
intake accepted) failed the whole run. An invoice line's service code and description were
narrower than the Service Code and Description they are copied from. Batch operations, so SQLite
(which cannot alter a column's type) rebuilds the tables; db.migrate runs this in one transaction
with foreign keys checked at the end.
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# (table, column, nullable) for every money column as 0001 created it.
MONEY = [
    ('adjustments', 'amount_cents', True),
    ('allocations', 'amount_cents', False),
    ('claims', 'billed_cents', False),
    ('claims', 'expected_allowed_cents', False),
    ('clients', 'copay_cents', True),
    ('clients', 'monthly_budget_cents', True),
    ('contacts', 'promise_amount_cents', True),
    ('credit_notes', 'amount_cents', False),
    ('invoice_lines', 'unit_price_cents', False),
    ('invoice_lines', 'amount_cents', False),
    ('invoices', 'subtotal_cents', False),
    ('invoices', 'tax_cents', False),
    ('invoices', 'total_cents', False),
    ('letters', 'amount_cents', False),
    ('payer_fees', 'allowed_amount_cents', False),
    ('payment_plans', 'installment_amount_cents', False),
    ('payment_plans', 'plan_amount_cents', True),
    ('payments', 'amount_cents', False),
    ('rates', 'unit_price_cents', False),
    ('remittances', 'paid_cents', False),
    ('remittances', 'allowed_cents', True),
    ('remittances', 'patient_responsibility_cents', True),
    ('service_lines', 'unit_price_override_cents', True),
]
TEXT = [('invoice_lines', 'service_code', 64, 100), ('invoice_lines', 'description', 300, 500)]


def _tables():
    return sorted({t for t, _, _ in MONEY} | {t for t, _, _, _ in TEXT})


def upgrade() -> None:
    for table in _tables():
        with op.batch_alter_table(table) as batch:
            for t, column, nullable in MONEY:
                if t == table:
                    batch.alter_column(column, type_=sa.BigInteger(), existing_type=sa.Integer(),
                                       existing_nullable=nullable)
            for t, column, old, new in TEXT:
                if t == table:
                    batch.alter_column(column, type_=sa.String(length=new), existing_type=sa.String(length=old),
                                       existing_nullable=False)


def downgrade() -> None:
    for table in _tables():
        with op.batch_alter_table(table) as batch:
            for t, column, nullable in MONEY:
                if t == table:
                    batch.alter_column(column, type_=sa.Integer(), existing_type=sa.BigInteger(),
                                       existing_nullable=nullable)
            for t, column, old, new in TEXT:
                if t == table:
                    batch.alter_column(column, type_=sa.String(length=old), existing_type=sa.String(length=new),
                                       existing_nullable=False)
