"""contact dialing progress

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('next_phone', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('live_attempt_id', sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f('ix_contact_campaign_id_disposition_next_attempt_at'), ['campaign_id', 'disposition', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_campaign_id_disposition_next_attempt_at'))
        batch_op.drop_column('live_attempt_id')
        batch_op.drop_column('next_phone')
        batch_op.drop_column('attempts')
