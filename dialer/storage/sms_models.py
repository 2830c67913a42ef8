"""SQL tables of the SMS side (dialer.sms): texts, their parts' SMSC ids, replies, SMS opt-outs.

They share the dialer's metadata (storage.models.Base); storage.models imports nothing from here,
and alembic's env and the schema test import this module so that every table is known.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dialer.domain import SmsState
from dialer.storage.models import Base, _enum


class Sms(Base):
    """One text to one number: its parts, encoding, cost and delivery state (dialer.sms)."""

    __tablename__ = "sms"
    __table_args__ = (Index(None, "state", "not_before"), Index(None, "campaign_id", "state"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    attempt_id: Mapped[str | None] = mapped_column(String(36))  # the call that asked for it, if any
    number: Mapped[str] = mapped_column(String(20), index=True)  # E.164
    kind: Mapped[str] = mapped_column(String(16))  # ivr | notice | result | campaign
    dedupe: Mapped[str | None] = mapped_column(String(120), unique=True)  # one message per reason, across hosts
    template: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    encoding: Mapped[str] = mapped_column(String(8))  # gsm7 | ucs2
    segments: Mapped[int] = mapped_column(Integer)
    cost: Mapped[float | None] = mapped_column(Float)
    state: Mapped[SmsState] = mapped_column(_enum(SmsState), default=SmsState.QUEUED)
    tries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    not_before: Mapped[datetime | None]
    node: Mapped[str | None] = mapped_column(String(64))  # the daemon sending it (state sending)
    gateway: Mapped[str | None] = mapped_column(String(32))
    smsc_id: Mapped[str | None] = mapped_column(String(64), index=True)
    error_code: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]


class SmsPart(Base):
    """The SMSC's id of each part an SMPP text went out in, for matching delivery receipts."""

    __tablename__ = "sms_part"

    smsc_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sms_id: Mapped[int] = mapped_column(ForeignKey("sms.id", ondelete="CASCADE"), index=True)
    state: Mapped[SmsState] = mapped_column(_enum(SmsState), default=SmsState.SENT)


class SmsReply(Base):
    """A text a person sent back, matched to the number's last message (or its contact)."""

    __tablename__ = "sms_reply"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), index=True)
    to: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id", ondelete="SET NULL"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"))
    sms_id: Mapped[int | None] = mapped_column(ForeignKey("sms.id", ondelete="SET NULL"))
    opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    gateway: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime]


class SmsOptOut(Base):
    """Numbers that asked for no more texts (calls may go on: the dnc table stops both)."""

    __tablename__ = "sms_opt_out"

    number: Mapped[str] = mapped_column(String(20), primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    added_at: Mapped[datetime]
