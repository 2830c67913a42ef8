"""dnc source index: a policy that needs a list (ar: registro-no-llame) checks it is loaded

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dnc', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dnc_source'), ['source'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('dnc', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dnc_source'))
