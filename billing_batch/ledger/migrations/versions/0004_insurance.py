"""insurance: claims with their lines and money moves, coverage notices, patient shares on invoices

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

Claims were a placeholder no run ever filled: the table is made again with what a claim keeps (the
member ID, the claim date, the expected patient share and the copay and coinsurance it came from).
A claim's lines name the service lines they bill, its money moves are dated rows, and a patient's
share is billed on an invoice line that names its move. An adjustment may name a claim.
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table('claims')
    op.create_table('claims',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('client_id', sa.String(length=100), nullable=False),
    sa.Column('payer', sa.String(length=500), nullable=False),
    sa.Column('member_id', sa.String(length=100), nullable=True),
    sa.Column('claim_date', sa.Date(), nullable=False),
    sa.Column('service_date', sa.Date(), nullable=False),
    sa.Column('billed_cents', sa.BigInteger(), nullable=False),
    sa.Column('expected_allowed_cents', sa.BigInteger(), nullable=False),
    sa.Column('expected_patient_cents', sa.BigInteger(), nullable=False),
    sa.Column('copay_cents', sa.BigInteger(), nullable=False),
    sa.Column('coinsurance_bp', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.client_id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('number')
    )
    with op.batch_alter_table('claims') as batch:
        batch.create_index('ix_claims_client', ['client_id'], unique=False)
    op.create_table('claim_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('service_line_id', sa.Integer(), nullable=False),
    sa.Column('service_code', sa.String(length=100), nullable=False),
    sa.Column('billing_code', sa.String(length=100), nullable=True),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('quantity', sa.String(length=20), nullable=False),
    sa.Column('unit_price_cents', sa.BigInteger(), nullable=False),
    sa.Column('billed_cents', sa.BigInteger(), nullable=False),
    sa.Column('allowed_cents', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claims.id'], ),
    sa.ForeignKeyConstraint(['service_line_id'], ['service_lines.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('claim_id', 'line_no', name='uq_claim_line_no'),
    sa.UniqueConstraint('service_line_id')
    )
    op.create_table('claim_moves',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('move_date', sa.Date(), nullable=False),
    sa.Column('remittance_id', sa.Integer(), nullable=True),
    sa.Column('adjustment_id', sa.Integer(), nullable=True),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['adjustment_id'], ['adjustments.id'], ),
    sa.ForeignKeyConstraint(['claim_id'], ['claims.id'], ),
    sa.ForeignKeyConstraint(['remittance_id'], ['remittances.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('claim_moves') as batch:
        batch.create_index('ix_claim_moves_claim', ['claim_id', 'move_date'], unique=False)
    op.create_table('coverage_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=100), nullable=False),
    sa.Column('notice_date', sa.Date(), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.client_id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('coverage_notice_lines',
    sa.Column('service_line_id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['notice_id'], ['coverage_notices.id'], ),
    sa.ForeignKeyConstraint(['service_line_id'], ['service_lines.id'], ),
    sa.PrimaryKeyConstraint('service_line_id')
    )
    with op.batch_alter_table('invoice_lines') as batch:
        batch.add_column(sa.Column('claim_move_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_invoice_lines_claim_move_id_claim_moves', 'claim_moves', ['claim_move_id'],
                                 ['id'])
        batch.create_unique_constraint('uq_invoice_lines_claim_move_id', ['claim_move_id'])
    with op.batch_alter_table('adjustments') as batch:
        batch.add_column(sa.Column('claim_number', sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('adjustments') as batch:
        batch.drop_column('claim_number')
    with op.batch_alter_table('invoice_lines') as batch:
        batch.drop_constraint('uq_invoice_lines_claim_move_id', type_='unique')
        batch.drop_constraint('fk_invoice_lines_claim_move_id_claim_moves', type_='foreignkey')
        batch.drop_column('claim_move_id')
    op.drop_table('coverage_notice_lines')
    op.drop_table('coverage_notices')
    with op.batch_alter_table('claim_moves') as batch:
        batch.drop_index('ix_claim_moves_claim')
    op.drop_table('claim_moves')
    op.drop_table('claim_lines')
    with op.batch_alter_table('claims') as batch:
        batch.drop_index('ix_claims_client')
    op.drop_table('claims')
    op.create_table('claims',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('client_id', sa.String(length=100), nullable=False),
    sa.Column('payer', sa.String(length=500), nullable=False),
    sa.Column('service_date', sa.Date(), nullable=False),
    sa.Column('billed_cents', sa.BigInteger(), nullable=False),
    sa.Column('expected_allowed_cents', sa.BigInteger(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.client_id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('number')
    )
