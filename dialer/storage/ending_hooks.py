"""Work that follows an ending in its own transaction, given by the layers above storage (the
composition root hands them to the Repository): for example dialer.sms.on_ending, which queues
the texts a call asked for or its final result calls for. A hook that fails is logged and its
writes rolled back (a savepoint); the ending itself is kept."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from dialer.storage.models import Attempt, Campaign, Contact

log = logging.getLogger(__name__)

EndingHook = Callable[[Session, Campaign, Contact, Attempt, datetime], None]


def run_hooks(s: Session, hooks: Sequence[EndingHook], campaign: Campaign, contact: Contact, attempt: Attempt,
              now: datetime) -> None:  # fmt: skip
    for hook in hooks:
        try:
            with s.begin_nested():
                hook(s, campaign, contact, attempt, now)
        except Exception:  # noqa: BLE001 - the ending is recorded all the same
            log.exception("attempt %s: %s after its ending failed", attempt.id, getattr(hook, "__name__", hook))
