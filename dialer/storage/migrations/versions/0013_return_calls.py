"""attempt.direction and return_call: calls people place back to a campaign's caller ID;
contact.strategy_step and step_attempts: where a contact strategy has each contact

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('attempt') as batch:  # ADD COLUMN only: SQLite keeps the table
        batch.add_column(sa.Column('direction', sa.Enum('outbound', 'inbound', name='direction', native_enum=False,
                                                        length=24),
                                   server_default='outbound', nullable=False))  # fmt: skip
    with op.batch_alter_table('contact') as batch:
        batch.add_column(sa.Column('strategy_step', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('step_attempts', sa.Integer(), server_default='0', nullable=False))
    op.create_table(
        'return_call',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('node', sa.String(length=64), nullable=False),
        sa.Column('number', sa.String(length=32), nullable=False),
        sa.Column('did', sa.String(length=32), nullable=False),
        sa.Column('match', sa.Enum('identified', 'unknown', 'shared', name='returnmatch', native_enum=False,
                                   length=24), nullable=False),
        sa.Column('candidates', sa.Integer(), nullable=False),
        sa.Column('attempt_id', sa.String(length=36), nullable=True),
        sa.Column('campaign_id', sa.Integer(), nullable=True),
        sa.Column('contact_id', sa.Integer(), nullable=True),
        sa.Column('outcome', sa.Enum('machine', 'answered', 'hung_up_early', 'transferred', 'identity_failed',
                                     'opted_out', 'ivr_error', 'unknown', name='outcome', native_enum=False,
                                     length=24), nullable=True),
        sa.Column('details', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_return_call')),
    )
    op.create_index(op.f('ix_return_call_attempt_id'), 'return_call', ['attempt_id'])
    op.create_index(op.f('ix_return_call_number_at'), 'return_call', ['number', 'at'])
    op.create_index(op.f('ix_return_call_campaign_id_at'), 'return_call', ['campaign_id', 'at'])


def downgrade() -> None:
    op.drop_table('return_call')
    with op.batch_alter_table('contact') as batch:
        batch.drop_column('step_attempts')
        batch.drop_column('strategy_step')
    with op.batch_alter_table('attempt') as batch:
        batch.drop_column('direction')
