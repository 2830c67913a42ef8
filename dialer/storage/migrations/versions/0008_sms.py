"""sms: messages, their parts, replies, SMS opt-outs, and promises to pay as a state

Revision ID: 0008
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dialer.storage.models import UtcDateTime


revision = '0008'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sms_opt_out',
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('added_at', UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('number', name=op.f('pk_sms_opt_out'))
    )
    op.create_table('promise',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('attempt_id', sa.String(length=36), nullable=True),
    sa.Column('promised_date', sa.Date(), nullable=False),
    sa.Column('amount', sa.String(length=32), nullable=True),
    sa.Column('due_at', UtcDateTime(timezone=True), nullable=False),
    sa.Column('state', sa.Enum('open', 'kept', 'broken', name='promisestate', native_enum=False, length=24), nullable=False),
    sa.Column('created_at', UtcDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_promise_campaign_id_campaign'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], name=op.f('fk_promise_contact_id_contact'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_promise'))
    )
    with op.batch_alter_table('promise', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_promise_contact_id'), ['contact_id'], unique=False)

    op.create_table('sms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('attempt_id', sa.String(length=36), nullable=True),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('dedupe', sa.String(length=120), nullable=True),
    sa.Column('template', sa.String(length=64), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('encoding', sa.String(length=8), nullable=False),
    sa.Column('segments', sa.Integer(), nullable=False),
    sa.Column('cost', sa.Float(), nullable=True),
    sa.Column('state', sa.Enum('queued', 'sending', 'sent', 'delivered', 'failed', 'expired', 'cancelled', name='smsstate', native_enum=False, length=24), nullable=False),
    sa.Column('tries', sa.Integer(), server_default='0', nullable=False),
    sa.Column('not_before', UtcDateTime(timezone=True), nullable=True),
    sa.Column('node', sa.String(length=64), nullable=True),
    sa.Column('gateway', sa.String(length=32), nullable=True),
    sa.Column('smsc_id', sa.String(length=64), nullable=True),
    sa.Column('error_code', sa.String(length=32), nullable=True),
    sa.Column('created_at', UtcDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', UtcDateTime(timezone=True), nullable=True),
    sa.Column('done_at', UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_sms_campaign_id_campaign'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], name=op.f('fk_sms_contact_id_contact'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms')),
    sa.UniqueConstraint('dedupe', name=op.f('uq_sms_dedupe'))
    )
    with op.batch_alter_table('sms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sms_campaign_id_state'), ['campaign_id', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_sms_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sms_number'), ['number'], unique=False)
        batch_op.create_index(batch_op.f('ix_sms_smsc_id'), ['smsc_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sms_state_not_before'), ['state', 'not_before'], unique=False)

    op.create_table('sms_part',
    sa.Column('smsc_id', sa.String(length=64), nullable=False),
    sa.Column('sms_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('queued', 'sending', 'sent', 'delivered', 'failed', 'expired', 'cancelled', name='smsstate', native_enum=False, length=24), nullable=False),
    sa.ForeignKeyConstraint(['sms_id'], ['sms.id'], name=op.f('fk_sms_part_sms_id_sms'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('smsc_id', name=op.f('pk_sms_part'))
    )
    with op.batch_alter_table('sms_part', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sms_part_sms_id'), ['sms_id'], unique=False)

    op.create_table('sms_reply',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('to', sa.String(length=32), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('sms_id', sa.Integer(), nullable=True),
    sa.Column('opt_out', sa.Boolean(), nullable=False),
    sa.Column('gateway', sa.String(length=32), nullable=True),
    sa.Column('received_at', UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_sms_reply_campaign_id_campaign'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], name=op.f('fk_sms_reply_contact_id_contact'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['sms_id'], ['sms.id'], name=op.f('fk_sms_reply_sms_id_sms'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_reply'))
    )
    with op.batch_alter_table('sms_reply', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sms_reply_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sms_reply_number'), ['number'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sms_reply', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sms_reply_number'))
        batch_op.drop_index(batch_op.f('ix_sms_reply_campaign_id'))

    op.drop_table('sms_reply')
    with op.batch_alter_table('sms_part', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sms_part_sms_id'))

    op.drop_table('sms_part')
    with op.batch_alter_table('sms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sms_state_not_before'))
        batch_op.drop_index(batch_op.f('ix_sms_smsc_id'))
        batch_op.drop_index(batch_op.f('ix_sms_number'))
        batch_op.drop_index(batch_op.f('ix_sms_contact_id'))
        batch_op.drop_index(batch_op.f('ix_sms_campaign_id_state'))

    op.drop_table('sms')
    with op.batch_alter_table('promise', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_promise_contact_id'))

    op.drop_table('promise')
    op.drop_table('sms_opt_out')
