"""e-mail: one message per client per run and the documents it carries (each at most once)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

Documents of clients whose Delivery is Email or Both are sent after commit, one message per client
per run. A document is in at most one message (UNIQUE), so it is never e-mailed twice; a message
is marked sent only once the server accepted it, and goes on paper after email.max_attempts.
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('email_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=100), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('to_address', sa.String(length=500), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('message_key', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['clients.client_id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_key')
    )
    with op.batch_alter_table('email_messages') as batch:
        batch.create_index('ix_email_messages_run', ['run_id', 'status'], unique=False)
    op.create_table('email_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('doc_kind', sa.String(length=20), nullable=False),
    sa.Column('doc_ref', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=400), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['email_messages.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('doc_kind', 'doc_ref', name='uq_email_item_doc')
    )


def downgrade() -> None:
    op.drop_table('email_items')
    with op.batch_alter_table('email_messages') as batch:
        batch.drop_index('ix_email_messages_run')
    op.drop_table('email_messages')
