"""payment plans: agreed plans, their installments and items, their state and letters

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

A Payment Plans row was only recorded; it now makes a plan. Allocations name the plan whose part of
an invoice they pay, an invoice keeps the plan as it stood when it was issued, and an agreement row
can be dropped again with a Cancel Date. An adjustment gains the Note on document its credit note
prints (the internal Reason never prints).
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=100), nullable=False),
    sa.Column('agreement_date', sa.Date(), nullable=False),
    sa.Column('frequency', sa.String(length=20), nullable=False),
    sa.Column('installment_cents', sa.BigInteger(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['agreement_id'], ['payment_plans.id'], ),
    sa.ForeignKeyConstraint(['client_id'], ['clients.client_id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('agreement_id'),
    sa.UniqueConstraint('number')
    )
    op.create_index('ix_plans_client', 'plans', ['client_id'], unique=False)
    op.create_table('plan_installments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('plan_id', 'seq', name='uq_plan_installment')
    )
    op.create_table('plan_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], ),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('plan_id', 'invoice_id', name='uq_plan_item')
    )
    op.create_table('plan_state',
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('episode', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('plan_id')
    )
    op.create_table('plan_letters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('episode', sa.Integer(), nullable=False),
    sa.Column('letter_date', sa.Date(), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.client_id'], ),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('plan_id', 'kind', 'episode', name='uq_plan_letter_once')
    )
    with op.batch_alter_table('allocations') as batch:
        batch.add_column(sa.Column('plan_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_allocations_plan_id_plans', 'plans', ['plan_id'], ['id'])
        batch.create_index('ix_allocations_plan', ['plan_id'], unique=False)
    with op.batch_alter_table('invoices') as batch:
        batch.add_column(sa.Column('plan_summary', sa.Text(), nullable=True))
    with op.batch_alter_table('payment_plans') as batch:
        batch.add_column(sa.Column('cancel_date', sa.Date(), nullable=True))
    with op.batch_alter_table('adjustments') as batch:
        batch.add_column(sa.Column('note_on_document', sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('adjustments') as batch:
        batch.drop_column('note_on_document')
    with op.batch_alter_table('payment_plans') as batch:
        batch.drop_column('cancel_date')
    with op.batch_alter_table('invoices') as batch:
        batch.drop_column('plan_summary')
    with op.batch_alter_table('allocations') as batch:
        batch.drop_index('ix_allocations_plan')
        batch.drop_constraint('fk_allocations_plan_id_plans', type_='foreignkey')
        batch.drop_column('plan_id')
    op.drop_table('plan_letters')
    op.drop_table('plan_state')
    op.drop_table('plan_items')
    op.drop_table('plan_installments')
    op.drop_index('ix_plans_client', table_name='plans')
    op.drop_table('plans')
