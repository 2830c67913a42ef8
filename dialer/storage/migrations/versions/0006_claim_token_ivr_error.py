"""claim token on attempts, parked reason on contacts, the ivr_error outcome

Outcomes are stored as VARCHAR(24) without a CHECK constraint (models._enum: native_enum=False),
so the new `ivr_error` value needs no change of the column on SQLite or PostgreSQL.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('attempt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_token', sa.String(length=36), nullable=True))
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parked_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    op.execute("UPDATE attempt SET outcome = 'unknown' WHERE outcome = 'ivr_error'")
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_column('parked_reason')
    with op.batch_alter_table('attempt', schema=None) as batch_op:
        batch_op.drop_column('claim_token')
