"""The return-call table: every call a person placed to a campaign's caller ID (DID), matched or not.

A matched call also has an attempt (direction `inbound`) that carries its outcome and IVR events;
an unknown or shared number has only this row, with the outcome of the configured flow."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dialer.domain import Outcome, ReturnMatch
from dialer.storage.models import Base, _enum


class ReturnCall(Base):
    __tablename__ = "return_call"
    __table_args__ = (Index(None, "number", "at"), Index(None, "campaign_id", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    node: Mapped[str] = mapped_column(String(64), default="")
    number: Mapped[str] = mapped_column(String(32))  # the caller's number, normalised (E.164) when it parses
    did: Mapped[str] = mapped_column(String(32))  # the number dialled: the campaign caller ID it reached
    match: Mapped[ReturnMatch] = mapped_column(_enum(ReturnMatch))
    candidates: Mapped[int] = mapped_column(Integer, default=0)  # people found for the number
    # no foreign keys: the row outlives a deleted campaign (reports count calls, not campaigns)
    attempt_id: Mapped[str | None] = mapped_column(String(36), index=True)
    campaign_id: Mapped[int | None] = mapped_column(Integer)
    contact_id: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[Outcome | None] = mapped_column(_enum(Outcome))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
