"""The webhooks' SQL: subscriptions, events written to the outbox (inside the transaction that
records what happened, so an event is never lost and never invented), and the outbox's states.

A delivery is `pending` until its receiver answers 2xx (`delivered`), or until it has failed for
longer than the maximum age (`dead`, the dead letters, replayed by `dialer webhooks retry`).
The events of one attempt go to one subscription in order: a delivery waits while an earlier
one of the same attempt is pending. Several hosts share the outbox: a host leases the rows it
sends (a guarded UPDATE), and a lease that runs out (its host died) frees them again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from dialer.storage.models import Campaign
from dialer.storage.webhook_models import Webhook, WebhookDelivery

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
LEASE_S = 60.0


@dataclass(frozen=True)
class Outgoing:
    """One delivery to send: the subscription's URL and secret, the body as stored."""

    id: int
    event_id: str
    kind: str
    url: str
    secret: str
    body: str
    tries: int
    created_at: datetime


@dataclass(frozen=True)
class Backoff:
    """Retries: first_s, doubling, at most max_s apart, for max_age_s after the event; then dead."""

    first_s: float = 10.0
    max_s: float = 3600.0
    max_age_s: float = 24 * 3600.0

    def delay(self, tries: int) -> float:
        return min(self.max_s, self.first_s * 2 ** max(0, tries - 1))


def subscriptions(s: Session, campaign_id: int, kind: str | None = None) -> list[Webhook]:
    """The active subscriptions of this campaign (or of every campaign), those that want `kind`
    when it is given."""
    rows = s.scalars(select(Webhook).where(Webhook.active.is_(True),
                                           or_(Webhook.campaign_id.is_(None), Webhook.campaign_id == campaign_id))
                     .order_by(Webhook.id))
    return [w for w in rows if kind is None or not w.kinds or kind in w.kinds]


def enqueue(s: Session, campaign_id: int, kind: str, payload: dict[str, Any] | Callable[[], dict[str, Any]],
            now: datetime, attempt_id: str | None = None) -> int:  # fmt: skip
    """Write one event for every subscription that wants it, in the caller's transaction. A
    callable payload is built only when someone wants the event."""
    hooks = subscriptions(s, campaign_id, kind)
    if hooks and callable(payload):
        payload = payload()
    for hook in hooks:
        event_id = str(uuid.uuid4())
        body = json.dumps({"id": event_id, "kind": kind, "created_at": iso(now), **payload}, ensure_ascii=False,
                          separators=(",", ":"), default=str)  # fmt: skip
        s.add(WebhookDelivery(webhook_id=hook.id, event_id=event_id, kind=kind, campaign_id=campaign_id,
                              attempt_id=attempt_id, body=body, state=PENDING, tries=0, next_at=now,
                              created_at=now))  # fmt: skip
    return len(hooks)


def iso(at: datetime) -> str:
    """A time as the webhook bodies write it: UTC, milliseconds, Z."""
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class WebhookStore:
    def __init__(self, sessions: sessionmaker[Session], node: str = "", backoff: Backoff | None = None) -> None:
        self.sessions, self.node, self.backoff = sessions, node, backoff or Backoff()

    # -- subscriptions ----------------------------------------------------------------------
    def add(self, url: str, secret: str, kinds: Iterable[str], campaign: str | None, now: datetime) -> int:
        with self.sessions.begin() as s:
            campaign_id = None
            if campaign is not None:
                campaign_id = s.scalar(select(Campaign.id).where(Campaign.name == campaign))
                if campaign_id is None:
                    raise LookupError(f"no campaign named {campaign!r}")
            hook = Webhook(campaign_id=campaign_id, url=url, secret=secret, kinds=sorted(set(kinds)), active=True,
                           created_at=now)  # fmt: skip
            s.add(hook)
            s.flush()
            return hook.id

    def remove(self, hook_id: int) -> bool:
        with self.sessions.begin() as s:
            hook = s.get(Webhook, hook_id)
            if hook is not None:
                s.delete(hook)
            return hook is not None

    def hooks(self) -> list[tuple[Webhook, str | None, dict[str, int]]]:
        """Every subscription, its campaign's name and its deliveries by state."""
        with self.sessions() as s:
            counts: dict[int, dict[str, int]] = {}
            for hook_id, state, n in s.execute(select(WebhookDelivery.webhook_id, WebhookDelivery.state, func.count())
                                               .group_by(WebhookDelivery.webhook_id, WebhookDelivery.state)):
                counts.setdefault(hook_id, {})[state] = n
            rows = s.execute(select(Webhook, Campaign.name).outerjoin(Campaign, Campaign.id == Webhook.campaign_id)
                             .order_by(Webhook.id)).all()  # fmt: skip
            s.expunge_all()
            return [(hook, name, counts.get(hook.id, {})) for hook, name in rows]

    def deliveries(self, state: str | None = None, limit: int = 100) -> list[WebhookDelivery]:
        with self.sessions() as s:
            query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
            if state is not None:
                query = query.where(WebhookDelivery.state == state)
            rows = list(s.scalars(query))
            s.expunge_all()
            return rows

    def retry(self, ids: Iterable[int] = (), dead: bool = False, now: datetime | None = None) -> int:
        """Send dead (or any named) deliveries again, from now, with a fresh maximum age."""
        wanted = list(ids)
        with self.sessions.begin() as s:
            query = update(WebhookDelivery).where(WebhookDelivery.state != DELIVERED)
            if wanted:
                query = query.where(WebhookDelivery.id.in_(wanted))
            elif dead:
                query = query.where(WebhookDelivery.state == DEAD)
            else:
                return 0
            moment = now or datetime.now(UTC)
            return s.execute(query.values(state=PENDING, next_at=moment, created_at=moment, lease_until=None,
                                          tries=0)).rowcount  # type: ignore[attr-defined]  # fmt: skip

    # -- the sender's side ------------------------------------------------------------------
    def due(self, now: datetime, limit: int) -> list[Outgoing]:
        """Lease up to `limit` due deliveries, none behind a pending earlier event of its attempt."""
        earlier = aliased(WebhookDelivery)
        behind = exists().where(earlier.webhook_id == WebhookDelivery.webhook_id,
                                earlier.attempt_id == WebhookDelivery.attempt_id,
                                earlier.id < WebhookDelivery.id, earlier.state == PENDING)  # fmt: skip
        free = or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < now)
        out: list[Outgoing] = []
        with self.sessions.begin() as s:
            rows = s.execute(select(WebhookDelivery, Webhook.url, Webhook.secret)
                             .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                             .where(WebhookDelivery.state == PENDING, WebhookDelivery.next_at <= now, free, ~behind)
                             .order_by(WebhookDelivery.id).limit(limit)).all()  # fmt: skip
            for row, url, secret in rows:
                won = s.execute(update(WebhookDelivery).where(WebhookDelivery.id == row.id, free)
                                .values(lease_until=now + timedelta(seconds=LEASE_S), node=self.node)
                                .execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
                if won:
                    out.append(Outgoing(row.id, row.event_id, row.kind, url, secret, row.body, row.tries,
                                        row.created_at))  # fmt: skip
        return out

    def delivered(self, delivery_id: int, status: int, now: datetime) -> None:
        self._set(delivery_id, state=DELIVERED, last_status=status, last_error=None, delivered_at=now,
                  lease_until=None, tries=WebhookDelivery.tries + 1)  # fmt: skip

    def failed(self, out: Outgoing, status: int | None, error: str, now: datetime) -> str:
        """A try that failed: pending again after the backoff, or dead once past the maximum age."""
        tries = out.tries + 1
        next_at = now + timedelta(seconds=self.backoff.delay(tries))
        dead = (next_at - out.created_at).total_seconds() > self.backoff.max_age_s
        self._set(out.id, state=DEAD if dead else PENDING, tries=tries, next_at=next_at, last_status=status,
                  last_error=error[:500], lease_until=None)  # fmt: skip
        return DEAD if dead else PENDING

    def _set(self, delivery_id: int, **values: Any) -> None:
        with self.sessions.begin() as s:
            s.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(**values))

