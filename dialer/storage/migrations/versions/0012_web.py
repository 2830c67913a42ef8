"""web: dashboard users, their sessions, and the audit trail (who, when, what)

Revision ID: 0012
Revises: 0010
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dialer.storage.models import UtcDateTime

revision = '0012'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'web_user',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('password_hash', sa.String(length=255), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=True),
        sa.Column('created_at', UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_web_user')),
        sa.UniqueConstraint('name', name=op.f('uq_web_user_name')),
    )
    op.create_table(
        'web_session',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('csrf', sa.String(length=64), nullable=False),
        sa.Column('created_at', UtcDateTime(), nullable=False),
        sa.Column('expires_at', UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['web_user.id'], name=op.f('fk_web_session_user_id_web_user'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_web_session')),
    )
    op.create_index(op.f('ix_web_session_user_id'), 'web_session', ['user_id'])
    op.create_index(op.f('ix_web_session_expires_at'), 'web_session', ['expires_at'])
    op.create_table(
        'audit',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', UtcDateTime(), nullable=False),
        sa.Column('actor', sa.String(length=80), nullable=False),
        sa.Column('action', sa.String(length=40), nullable=False),
        sa.Column('target', sa.String(length=160), nullable=True),
        sa.Column('source', sa.String(length=64), nullable=True),
        sa.Column('result', sa.String(length=16), nullable=False),
        sa.Column('details', sa.JSON(), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit')),
    )
    op.create_index(op.f('ix_audit_at'), 'audit', ['at'])
    op.create_index(op.f('ix_audit_target_at'), 'audit', ['target', 'at'])


def downgrade() -> None:
    op.drop_table('audit')
    op.drop_table('web_session')
    op.drop_table('web_user')
