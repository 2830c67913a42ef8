"""The IVR's SQL: what a call needs to know, and its step/key/fact events.

In the daemon the events ride with the attempt's ending (one transaction, by the recorder);
a process AGI script, which has no recorder, writes them here itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dialer.storage.models import Attempt, Campaign, Contact, IvrEvent


class EventRow(Protocol):
    @property
    def seq(self) -> int: ...
    @property
    def at(self) -> datetime: ...
    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> str | None: ...


def call_row(sessions: sessionmaker[Session], attempt_id: str) -> dict[str, Any] | None:
    """The attempt, its contact and its campaign as plain values (None: no such attempt)."""
    query = (
        select(Attempt.id, Attempt.campaign_id, Campaign.name, Attempt.contact_id, Contact.external_id,
               Attempt.number, Contact.name, Contact.fields, Campaign.language, Campaign.flow, Campaign.settings,
               Contact.timezone, Campaign.default_region)
        .join(Contact, Contact.id == Attempt.contact_id)
        .join(Campaign, Campaign.id == Attempt.campaign_id)
        .where(Attempt.id == attempt_id)
    )  # fmt: skip
    with sessions() as s:
        row = s.execute(query).one_or_none()
    if row is None:
        return None
    keys = ("attempt_id", "campaign_id", "campaign", "contact_id", "external_id", "number", "name", "fields",
            "language", "flow", "settings", "timezone", "default_region")  # fmt: skip
    return dict(zip(keys, row, strict=True))


def add_events(s: Session, attempt_id: str, events: Iterable[EventRow]) -> None:
    s.add_all(IvrEvent(attempt_id=attempt_id, seq=e.seq, at=e.at, kind=e.kind, name=e.name, value=e.value)
              for e in events)  # fmt: skip


def save_events(sessions: sessionmaker[Session], attempt_id: str, events: Iterable[EventRow]) -> None:
    with sessions.begin() as s:
        add_events(s, attempt_id, events)


def events_of(sessions: sessionmaker[Session], attempt_id: str) -> list[IvrEvent]:
    with sessions() as s:
        return list(s.scalars(select(IvrEvent).where(IvrEvent.attempt_id == attempt_id).order_by(IvrEvent.seq)))
