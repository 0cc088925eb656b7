"""office identity: the one office a ledger belongs to

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

On its first run a ledger records the office folder's identity (office-id.json: a generated ID and
the office's name). A run, check or report from another office's folder is refused before it
touches anything (ledger/office.py), so two offices pointed at one ledger never mix their rows.
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('office_identity',
    sa.Column('slot', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('office_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('slot = 1', name='ck_office_identity_one_row'),
    sa.PrimaryKeyConstraint('slot')
    )


def downgrade() -> None:
    op.drop_table('office_identity')
