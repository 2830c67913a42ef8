"""LiveEvents: the attempt and campaign-progress payloads, one place for the engine and the IVR."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from dialer.events.sink import DTMF_KEYS, PROGRESS, EventSink, NullSink, mask_number
from dialer.runtime.tasks import stop_tasks

log = logging.getLogger(__name__)


class PlanLike(Protocol):
    attempt_id: str
    campaign_id: int
    contact_id: int
    external_id: str | None
    number: str


class CallLike(Protocol):
    attempt_id: str
    campaign_id: int
    amd_status: str | None
    amd_cause: str | None


class EndingLike(Protocol):
    attempt_id: str
    reason: str
    dial_result: Any
    outcome: Any
    cause: int | None
    step: str | None

    @property
    def what(self) -> str: ...


@dataclass
class _Live:
    campaign_id: int
    started: float | None = None
    answered: float | None = None


def _never_raises(method: Callable[..., None]) -> Callable[..., None]:
    """A live event is never worth a call: a bug here is logged, and the caller goes on."""

    @functools.wraps(method)
    def safe(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            method(self, *args, **kwargs)
        except Exception:  # noqa: BLE001
            log.exception("live event %s failed (the call goes on)", method.__name__)

    return safe


def _value(x: Any) -> Any:
    return getattr(x, "value", x)


class LiveEvents:
    """What happens to attempts and campaigns, as events on a sink (cheap no-ops on NullSink).

    `progress(campaign_id)` is an async query giving {"counts": {result: n}, "pending_contacts": n};
    it runs at most once per `every_s` per campaign, only after something changed.
    """

    def __init__(
        self,
        sink: EventSink | None = None,
        progress: Callable[[int], Awaitable[dict[str, Any]]] | None = None,
        every_s: float = 5.0,
        tick_s: float = 0.5,
        query_timeout_s: float = 10.0,
    ) -> None:
        self.sink: EventSink = sink if sink is not None else NullSink()
        self.enabled = not isinstance(self.sink, NullSink)
        self._progress = progress
        self.every_s, self.tick_s, self.query_timeout_s = every_s, tick_s, query_timeout_s
        self._live: dict[str, _Live] = {}  # attempts started (or seen answered) and not yet ended
        self._dirty: set[int] = set()
        self._last: dict[int, float] = {}
        self._task: asyncio.Task[None] | None = None

    # -- attempts (the engine) ----------------------------------------------------------
    @_never_raises
    def started(self, plan: PlanLike) -> None:
        """The Originate is being sent."""
        if not self.enabled:
            return
        self._live[plan.attempt_id] = _Live(plan.campaign_id, started=time.monotonic())
        self._emit("started", plan.attempt_id, plan.campaign_id, contact_id=plan.contact_id,
                   external_id=plan.external_id, number=mask_number(plan.number))  # fmt: skip

    @_never_raises
    def answered(self, call: CallLike) -> None:
        if not self.enabled:
            return
        live = self._live.setdefault(call.attempt_id, _Live(call.campaign_id))
        live.answered = time.monotonic()
        ring = None if live.started is None else round(live.answered - live.started, 3)
        self._emit("answered", call.attempt_id, call.campaign_id, ring_s=ring)

    @_never_raises
    def amd(self, call: CallLike) -> None:
        if self.enabled:
            self._emit("amd", call.attempt_id, call.campaign_id, result=call.amd_status, cause=call.amd_cause)

    @_never_raises
    def ended(self, ending: EndingLike, campaign_id: int | None = None) -> None:
        if not self.enabled:
            return
        live = self._live.pop(ending.attempt_id, None)
        cid = campaign_id if campaign_id is not None else live.campaign_id if live else None
        if cid is None:
            log.debug("attempt %s: ended event skipped (campaign unknown)", ending.attempt_id)
            return
        now = time.monotonic()
        started, answered = (live.started, live.answered) if live else (None, None)
        self._emit("ended", ending.attempt_id, cid, result=ending.what, dial_result=_value(ending.dial_result),
                   outcome=_value(ending.outcome), reason=ending.reason, step_reached=ending.step,
                   cause=ending.cause, duration_s=None if started is None else round(now - started, 3),
                   talk_s=None if answered is None else round(now - answered, 3))  # fmt: skip

    # -- attempts (the IVR) -------------------------------------------------------------
    @_never_raises
    def ivr_step(self, attempt_id: str, step: str, key: str | None = None, campaign_id: int | None = None) -> None:
        """A flow step reached, with the menu key pressed if any. Only one DTMF key is ever
        published: identity digits, amounts and other entries never are (pass key=None)."""
        extra: dict[str, Any] = {"step": step}
        if key is not None and len(key) == 1 and key in DTMF_KEYS:
            extra["key"] = key
        self._attempt_event("ivr_step", attempt_id, campaign_id, extra)

    @_never_raises
    def transferred(self, attempt_id: str, queue: str, agent_answered: bool, queue_wait_s: float | None,
                    campaign_id: int | None = None) -> None:  # fmt: skip
        extra = {"queue": queue, "agent_answered": agent_answered,
                 "queue_wait_s": None if queue_wait_s is None else round(queue_wait_s, 3)}  # fmt: skip
        self._attempt_event("transferred", attempt_id, campaign_id, extra)

    @_never_raises
    def screen_pop(self, attempt_id: str, campaign_id: int, screen: dict[str, Any]) -> None:
        """An agent answered a transferred caller: the contact and what the caller did, for the
        agent's desktop (the contact's own data: the topic is for the call center's systems)."""
        self._attempt_event("screen_pop", attempt_id, campaign_id, screen)

    def _attempt_event(self, kind: str, attempt_id: str, campaign_id: int | None, extra: dict[str, Any]) -> None:
        if not self.enabled:
            return
        live = self._live.get(attempt_id)
        cid = campaign_id if campaign_id is not None else live.campaign_id if live else None
        if cid is None:
            log.debug("attempt %s: %s event skipped (campaign unknown)", attempt_id, kind)
            return
        self._emit(kind, attempt_id, cid, **extra)

    def _emit(self, kind: str, attempt_id: str, campaign_id: int, **fields: Any) -> None:
        self.sink.publish(kind, {"attempt_id": attempt_id, "campaign_id": campaign_id, **fields})
        if kind in ("started", "ended"):
            self.touch(campaign_id)

    # -- campaign progress --------------------------------------------------------------
    @_never_raises
    def touch(self, campaign_id: int) -> None:
        """Something changed in this campaign: publish its progress soon (rate-limited)."""
        if not self.enabled or self._progress is None:
            return
        self._dirty.add(campaign_id)
        if self._task is None or self._task.done():
            try:
                self._task = asyncio.get_running_loop().create_task(self._progress_loop(), name="live-progress")
            except RuntimeError:  # no event loop (a synchronous caller): published at stop()
                pass

    async def _progress_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            now = time.monotonic()
            for cid in [c for c in self._dirty if now - self._last.get(c, -self.every_s) >= self.every_s]:
                await self._publish_progress(cid)

    async def _publish_progress(self, campaign_id: int) -> None:
        assert self._progress is not None
        self._dirty.discard(campaign_id)
        self._last[campaign_id] = time.monotonic()
        try:
            found = await asyncio.wait_for(self._progress(campaign_id), self.query_timeout_s)
        except Exception as exc:  # noqa: BLE001 - progress is best effort; the next change retries
            log.warning("campaign %s: progress query failed: %s", campaign_id, exc)
            self._dirty.add(campaign_id)
            return
        counts = dict(found.get("counts", {}))
        live = sum(1 for a in self._live.values() if a.campaign_id == campaign_id)
        self.sink.publish(PROGRESS, {"campaign_id": campaign_id, "counts": counts, "ended": sum(counts.values()),
                                     "live_calls": live,
                                     "pending_contacts": found.get("pending_contacts")})  # fmt: skip

    async def stop(self) -> None:
        """Stop the progress task and publish the last progress of every changed campaign."""
        if self._task is not None:
            await stop_tasks([self._task])  # (dialer.runtime.tasks: a cancel may be lost once)
            self._task = None
        for cid in sorted(self._dirty):
            await self._publish_progress(cid)
        self._dirty.clear()  # a failed last query is not retried
