"""several hosts: named trunks, nodes with heartbeats, one live call per person, shared rate buckets

Revision ID: 0009
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'trunk',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('template', sa.String(length=200), nullable=False),
        sa.Column('max_concurrent', sa.Integer(), nullable=False),
        sa.Column('calls_per_second', sa.Double(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('rate_tokens', sa.Double(), server_default='0', nullable=False),
        sa.Column('rate_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_trunk')),
    )
    op.create_table(
        'node',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('host', sa.String(length=200), nullable=False),
        sa.Column('asterisk', sa.String(length=200), nullable=False),
        sa.Column('version', sa.String(length=64), nullable=False),
        sa.Column('live_calls', sa.Integer(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_node')),
    )
    op.create_table(
        'live_guard',
        sa.Column('key', sa.String(length=80), nullable=False),
        sa.Column('attempt_id', sa.String(length=36), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('since', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_live_guard')),
    )
    with op.batch_alter_table('live_guard', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_live_guard_attempt_id'), ['attempt_id'], unique=False)
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.add_column(sa.Column('trunk_name', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('rate_tokens', sa.Double(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('rate_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.add_column(sa.Column('debt_id', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_contact_debt_id'), ['debt_id'], unique=False)
    with op.batch_alter_table('attempt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('trunk', sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f('ix_attempt_trunk_state'), ['trunk', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_attempt_number_created_at'), ['number', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attempt_number_created_at'))
        batch_op.drop_index(batch_op.f('ix_attempt_trunk_state'))
        batch_op.drop_column('trunk')
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_debt_id'))
        batch_op.drop_column('debt_id')
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_column('rate_at')
        batch_op.drop_column('rate_tokens')
        batch_op.drop_column('trunk_name')
    with op.batch_alter_table('live_guard', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_live_guard_attempt_id'))
    op.drop_table('live_guard')
    op.drop_table('node')
    op.drop_table('trunk')
