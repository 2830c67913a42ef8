"""attempt.recorded_at: when SQL recorded the ending (the results API's cursor follows it)

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dialer.storage.models import UtcDateTime

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('attempt') as batch:
        batch.add_column(sa.Column('recorded_at', UtcDateTime(), nullable=True))
    op.execute("UPDATE attempt SET recorded_at = ended_at WHERE ended_at IS NOT NULL")
    op.create_index(op.f('ix_attempt_recorded_at_id'), 'attempt', ['recorded_at', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_attempt_recorded_at_id'), table_name='attempt')
    with op.batch_alter_table('attempt') as batch:
        batch.drop_column('recorded_at')
