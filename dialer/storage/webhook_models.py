"""SQL tables of the webhooks (dialer.events.webhooks): subscriptions, and the outbox of deliveries.

They share the dialer's metadata (storage.models.Base); alembic's env and the schema test import
this module so that every table is known.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dialer.storage.models import Base


class Webhook(Base):
    """A subscription: where events of a campaign (or of every campaign) go, and their secret."""

    __tablename__ = "webhook"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(128))  # signs the bodies: kept as given, shown once at `add`
    kinds: Mapped[list[Any]] = mapped_column(JSON, default=list)  # event kinds; empty: every kind
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class WebhookDelivery(Base):
    """One event for one subscription: the durable outbox, delivered at least once."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (Index(None, "state", "next_at"), Index(None, "webhook_id", "attempt_id", "id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhook.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(36), unique=True)  # the receiver's idempotency key
    kind: Mapped[str] = mapped_column(String(32))
    campaign_id: Mapped[int | None] = mapped_column(Integer)
    attempt_id: Mapped[str | None] = mapped_column(String(36))  # an attempt's events go out in order
    body: Mapped[str] = mapped_column(Text)  # the JSON sent, byte for byte on every try
    state: Mapped[str] = mapped_column(String(12), default="pending")  # pending | delivered | dead
    tries: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]  # a host sending it now (several hosts share the outbox)
    node: Mapped[str | None] = mapped_column(String(64))
    last_status: Mapped[int | None] = mapped_column(Integer)  # the receiver's HTTP status, if it answered
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
