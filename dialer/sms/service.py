"""The SMS service inside the daemon: sends what is queued for its gateway (the texts of the
campaigns whose `[sms] gateway` names it, a few at a time), applies delivery reports and replies
(whatever gateway they came through), runs the producers that queue texts (dialer.sms.producers),
and publishes every change as a live event. The daemon runs one per configured gateway.
Every await on SQL or the gateway has a timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from dialer.events.sink import SMS_REPLY, EventSink, NullSink, mask_number
from dialer.runtime.tasks import stop_tasks
from dialer.sms.gateway import Gateway, Outgoing, Receipt, Reply, SendError
from dialer.sms.listener import Listener
from dialer.sms.replies import opts_out
from dialer.sms.settings import ListenSettings
from dialer.sms.text import split
from dialer.storage.sms_claim import claim_texts
from dialer.storage.sms_store import Change, Job, SmsStore, UnknownMessage

log = logging.getLogger(__name__)

SQL_TIMEOUT_S = 10.0
SEND_TIMEOUT_S = 60.0
EARLY_RECEIPT_TRIES = 20  # a receipt that overtook its message's SQL: looked at again, a second apart
Producer = Callable[[sessionmaker[Session], datetime], list[Change]]


def cost_of(settings: dict[str, Any], segments: int) -> float | None:
    rate = settings.get("cost_per_segment")
    return None if rate is None else round(float(rate) * segments, 6)


class SmsService:
    def __init__(self, sessions: sessionmaker[Session], gateway: Gateway, *, node: str = "",
                 events: EventSink | None = None, listen: ListenSettings | None = None,
                 producers: list[Producer] | None = None, poll_s: float = 1.0, parallel: int = 8,
                 clock: Callable[[], datetime] | None = None, known: Collection[str] = (),
                 recover: bool = True) -> None:  # fmt: skip
        """`known`: the names of every gateway this daemon sends through (this one's always counts);
        texts of campaigns that pick another wait, marked no-gateway (dialer.storage.sms_claim).
        `recover`: on start, mark what this node was sending when it stopped as lost (one sender
        per daemon does it, before any sends)."""
        self.sessions = sessions
        self.store = SmsStore(sessions, node)
        self.gateway = gateway
        self.known = frozenset(known) | {gateway.name}
        self.recover = recover
        self.events: EventSink = events or NullSink()
        self.listener = Listener(listen, self, gateway.name) if listen is not None else None
        self.producers = producers or []
        self.poll_s = poll_s
        self.parallel = asyncio.Semaphore(parallel)
        self.clock = clock or (lambda: datetime.now(UTC))
        self._inbound: asyncio.Queue[Receipt | Reply] = asyncio.Queue(10_000)
        self._tasks: list[asyncio.Task[None]] = []
        self._sends: set[asyncio.Task[None]] = set()
        self.wake = asyncio.Event()  # set it to look at the queue now
        self._early: dict[int, int] = {}  # receipts seen before their message's smsc id: tries
        self._was_ready: bool | None = None

    async def _sql(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.wait_for(asyncio.to_thread(fn, *args), SQL_TIMEOUT_S)

    # -- life ------------------------------------------------------------------------------
    async def start(self) -> None:
        lost = await self._sql(self.store.lost, self.clock()) if self.recover else 0
        if lost:
            log.warning("%d SMS messages were being sent when the daemon stopped: marked failed (lost)", lost)
        if self.listener is not None:
            await self.listener.start()
        await asyncio.wait_for(self.gateway.start(self), SQL_TIMEOUT_S)
        self._tasks = [asyncio.create_task(self._send_loop(), name="sms-send"),
                       asyncio.create_task(self._inbound_loop(), name="sms-inbound")]  # fmt: skip

    async def close(self, timeout_s: float = 5.0) -> None:
        await stop_tasks(self._tasks, timeout_s)  # (a cancel may be lost once: dialer.runtime.tasks)
        if self._sends:
            await asyncio.wait(self._sends, timeout=timeout_s)
        while not self._inbound.empty():  # reports already received are not thrown away
            await self._handle(self._inbound.get_nowait())
        try:
            await asyncio.wait_for(self.gateway.close(), timeout_s)
        except TimeoutError:
            log.warning("SMS gateway %s did not close within %.0f s: left behind", self.gateway.name, timeout_s)
        if self.listener is not None:
            await self.listener.close()

    async def __aenter__(self) -> SmsService:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # -- Inbound (the gateway's side): never awaits, never raises -----------------------------
    def receipt(self, receipt: Receipt) -> None:
        self._put(receipt)

    def reply(self, reply: Reply) -> None:
        self._put(reply)

    def _put(self, item: Receipt | Reply) -> None:
        try:
            self._inbound.put_nowait(item)
        except asyncio.QueueFull:
            log.error("SMS inbound queue full: a %s was dropped", type(item).__name__.lower())

    # -- loops -----------------------------------------------------------------------------
    async def _send_loop(self) -> None:
        while True:
            try:
                for produce in self.producers:
                    for change in await self._sql(produce, self.sessions, self.clock()):
                        self._publish(change)
                jobs, changes = [], []
                if self._ready():
                    jobs, changes = await self._sql(claim_texts, self.sessions, self.store.node, self.clock(), 50,
                                                    self.gateway.name, self.known)  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - SQL trouble: try again next round
                log.error("SMS queue: %s", exc)
                jobs, changes = [], []
            for change in changes:
                self._publish(change)
            for job in jobs:
                await self.parallel.acquire()
                task = asyncio.create_task(self._send(job))
                self._sends.add(task)
                task.add_done_callback(self._sends.discard)
            if len(jobs) < 50:
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), self.poll_s)
                except asyncio.TimeoutError:
                    pass

    def _ready(self) -> bool:
        """The gateway can take texts; an outage's start and end are logged once each."""
        ready = self.gateway.ready
        if ready != self._was_ready:
            if ready:
                log.info("SMS gateway %s ready: queued texts go out", self.gateway.name)
            elif self._was_ready is None:  # the first bind is still on its way
                log.info("SMS gateway %s not ready yet: texts wait for it", self.gateway.name)
            else:
                log.warning("SMS gateway %s not ready (SMPP not bound): texts stay queued, no try spent",
                            self.gateway.name)  # fmt: skip
            self._was_ready = ready
        return ready

    async def _send(self, job: Job) -> None:
        try:
            parts = split(job.text, job.encoding)
            sender = str(job.settings.get("sender") or "")
            try:
                done = await asyncio.wait_for(self.gateway.send(Outgoing(job.sms_id, job.number, job.text, sender,
                                                                         parts)), SEND_TIMEOUT_S)  # fmt: skip
            except SendError as exc:
                log.warning("sms %s to %s not sent: %s", job.sms_id, mask_number(job.number), exc)
                change = await self._sql(self.store.not_sent, job.sms_id, exc.code, exc.temporary, self.clock())
            except asyncio.TimeoutError:
                change = await self._sql(self.store.not_sent, job.sms_id, "timeout", True, self.clock())
            else:
                cost = cost_of(dict(job.settings), done.split.segments)
                change = await self._sql(self.store.sent, job.sms_id, self.gateway.name, done.smsc_ids,
                                         done.split.encoding, done.split.segments, cost, self.clock())  # fmt: skip
            self._publish(change)
        except Exception:  # noqa: BLE001 - one message must not stop the others
            log.exception("sms %s: unexpected error", job.sms_id)
        finally:
            self.parallel.release()

    async def _inbound_loop(self) -> None:
        while True:
            item = await self._inbound.get()
            try:
                await self._handle(item)
            except Exception as exc:  # noqa: BLE001
                log.error("SMS %s not recorded: %s", type(item).__name__.lower(), exc)

    async def _handle(self, item: Receipt | Reply) -> None:
        if isinstance(item, Receipt):
            try:
                change = await self._sql(self.store.receipt, item.state, item.sms_id, item.smsc_id, item.error,
                                         item.at, item.per_part)  # fmt: skip
            except UnknownMessage as exc:
                self._later(item, exc)
                return
            if change is not None:
                self._publish(change)
                if change.state == "queued":
                    self.wake.set()  # a failed receipt is retried after its delay
            return
        row, voice = await self._sql(self.store.reply, item.number, item.to, item.text, item.gateway, item.at, opts_out)
        log.info("SMS reply from %s%s", mask_number(item.number), " (opt-out)" if row.opt_out else "")
        self.events.publish(SMS_REPLY, {"campaign_id": row.campaign_id or 0, "reply_id": row.id,
                                        "contact_id": row.contact_id, "number": mask_number(item.number),
                                        "text": item.text, "opt_out": row.opt_out, "voice_dnc": voice})  # fmt: skip

    def _later(self, receipt: Receipt, why: Exception) -> None:
        early = self._early.get(id(receipt), 0) + 1
        if early > EARLY_RECEIPT_TRIES:
            self._early.pop(id(receipt), None)
            log.warning("%s; dropped", why)
            return
        self._early[id(receipt)] = early
        asyncio.get_running_loop().call_later(1.0, self._put, receipt)

    def _publish(self, change: Change) -> None:
        if change.state in ("sending",):
            return
        self.events.publish(f"sms_{change.state}", {"campaign_id": change.campaign_id, "sms_id": change.sms_id,
                                                    "segments": change.segments, "error": change.error,
                                                    "tries": change.tries})  # fmt: skip
