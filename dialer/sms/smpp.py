"""The SMPP backend (aiosmpplib): a transceiver bind, a window of unanswered submits, a send rate,
reconnection with backoff, and a timeout on every wait.

Texts go out with esm_class 0x40 (concatenation header) and auto_message_payload off, so a long
text is split into concatenated parts by aiosmpplib, never put into message_payload. aiosmpplib
splits GSM-7 by characters, not septets: a GSM-7 text over 160 septets with an extension
character (€ [ ] { } ~ ^ | \\) would overflow its parts. Such a text is split here instead
(dialer.sms.text: the parts its segment count says), each part a submit_sm with its own
concatenation header, pre-encoded; for those parts auto_message_payload stays on only so that
aiosmpplib does not split them again (each is at most 140 octets: message_payload is never used).
Delivery receipts (`stat:DELIVRD|UNDELIV|EXPIRED|REJECTD ... err:NNN`) and replies arrive as
deliver_sm on the same bind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time

from aiosmpplib import (ESME, NPI, TON, AbstractBroker, AbstractHook, AbstractRateLimiter, BindMode, DeliverSm,
                        PhoneNumber, SmppCommandStatus, SmppMessage, SmppSessionState, SubmitSm, SubmitSmResp)  # fmt: skip
from aiosmpplib.log import WARNING
from aiosmpplib.retrytimer import SimpleExponentialBackoff

from dialer.sms.gateway import DELIVERED, EXPIRED, FAILED, SENT, Inbound, Outgoing, Receipt, Reply, SendError, Submitted
from dialer.sms.settings import GatewaySettings
from dialer.sms.text import GSM7, UCS2, septets

log = logging.getLogger(__name__)

UDHI = 0x40
STOP_S = 3.0  # the unbind and its answer, before the session is cut
LOG_IDS_KEPT = 100_000  # SMSC message ids remembered for receipts that come before aiosmpplib matched them
RECEIPT_STATES = {"DELIVRD": DELIVERED, "UNDELIV": FAILED, "REJECTD": FAILED, "DELETED": FAILED,
                  "UNKNOWN": FAILED, "EXPIRED": EXPIRED, "ACCEPTD": SENT, "ENROUTE": SENT}  # fmt: skip
TEMPORARY = {SmppCommandStatus.ESME_RTHROTTLED, SmppCommandStatus.ESME_RMSGQFUL, SmppCommandStatus.ESME_RSYSERR}
BOUND = {SmppSessionState.BOUND_TRX}


class _Queue(AbstractBroker):
    """What aiosmpplib sends next: a bounded in-memory queue (SQL keeps the messages)."""

    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[SmppMessage] = asyncio.Queue(size)

    async def enqueue(self, message: SmppMessage) -> None:
        await self.queue.put(message)

    async def dequeue(self) -> SmppMessage:
        return await self.queue.get()


class _Rate(AbstractRateLimiter):
    """At most `rate` PDUs a second (the SMSC's contracted throughput)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next_at = 0.0

    async def limit(self) -> None:
        now = time.monotonic()
        wait = self.next_at - now
        self.next_at = max(now, self.next_at) + self.interval
        if wait > 0:
            await asyncio.sleep(wait)


class _Hook(AbstractHook):
    def __init__(self, gateway: SmppGateway) -> None:
        self.gateway = gateway

    async def sending(self, smpp_message: SmppMessage, pdu: bytes, client_id: str) -> None:
        pass

    async def received(self, smpp_message: SmppMessage | None, pdu: bytes, client_id: str) -> None:
        if isinstance(smpp_message, SubmitSmResp):
            self.gateway._answered(smpp_message.log_id, smpp_message)
        elif isinstance(smpp_message, DeliverSm):
            self.gateway._deliver(smpp_message)

    async def send_error(self, smpp_message: SmppMessage, error: Exception, client_id: str) -> None:
        if isinstance(smpp_message, SubmitSm):
            self.gateway._answered(smpp_message.log_id, error)


class SmppGateway:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.name = settings.name
        opts = settings.options
        self.timeout_s = float(opts["timeout"])
        self.window = asyncio.Semaphore(int(opts["window"]))
        self.source = (TON(int(opts["source_ton"])), NPI(int(opts["source_npi"])))
        self.dest = (TON(int(opts["dest_ton"])), NPI(int(opts["dest_npi"])))
        self._pending: dict[str, asyncio.Future[object]] = {}
        self._log_ids: dict[str, str] = {}  # the SMSC's message id -> our submit's log id (the latest)
        self._inbound: Inbound | None = None
        self._task: asyncio.Task[None] | None = None
        self._ref = 0  # concatenation reference of the parts split here
        self.esme = ESME(
            smsc_host=settings.host, smsc_port=settings.port, system_id=settings.username,
            password=settings.password, system_type=str(opts["system_type"]), bind_mode=BindMode.TRANSCEIVER,
            client_id=f"dialer-{settings.name}", enquire_link_interval=float(opts["enquire_link"]),
            log_level=WARNING, hook=_Hook(self), broker=_Queue(int(opts["window"]) * 4),
            rate_limiter=_Rate(float(opts["rate"])), retry_timer=SimpleExponentialBackoff(500, 5),
            socket_timeout=self.timeout_s, default_encoding="gsm0338",
        )  # fmt: skip

    @property
    def bound(self) -> bool:
        return self.esme.session_state in BOUND

    @property
    def ready(self) -> bool:
        return self.bound

    async def start(self, inbound: Inbound) -> None:
        """Bind in the background; aiosmpplib reconnects with backoff (0.5 s doubling to 16 s)."""
        self._inbound = inbound
        self._task = asyncio.create_task(self.esme.start(), name=f"smpp-{self.name}")

    async def wait_bound(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not self.bound and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return self.bound

    async def close(self) -> None:
        if self._task is None:
            return
        # An unbind the SMSC never answers (or a reconnect backoff in progress) must not hold the
        # daemon's stop: a short, clean try, then the session task is cancelled.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.esme.stop(), min(self.timeout_s, STOP_S))
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def send(self, message: Outgoing) -> Submitted:
        parts = message.split
        if not await self.wait_bound(self.timeout_s):
            raise SendError(f"SMPP {self.settings.where}: not bound", "not-bound", temporary=True)
        base = dict(source=PhoneNumber(message.sender[:20], *self.source), registered_delivery=1,
                    destination=PhoneNumber(message.to.lstrip("+"), *self.dest), esm_class=UDHI)  # fmt: skip
        if parts.encoding == GSM7 and parts.units > 160 and any(septets(c) == 2 for c in message.text):
            self._ref = (self._ref + 1) % 256
            submits = []
            for i, text in enumerate(parts.parts, 1):
                pdu = SubmitSm(short_message=text, encoding="gsm0338", auto_message_payload=True, **base)
                udh = bytes([5, 0, 3, self._ref, parts.segments, i])
                pdu.set_encoded_message(udh + text.encode("gsm03.38"))
                submits.append(pdu)
        else:
            encoding = "ucs2" if parts.encoding == UCS2 else "gsm0338"
            submits = [SubmitSm(short_message=message.text, encoding=encoding, auto_message_payload=False, **base)]
        mark = "p" if len(submits) > 1 else ""
        answers = await asyncio.gather(*(self._submit(message.sms_id, pdu, parts.segments, mark) for pdu in submits))
        return Submitted(tuple(answers), parts)

    async def _submit(self, sms_id: int, pdu: SubmitSm, segments: int, mark: str) -> str:
        """One submit_sm (aiosmpplib may split it): wait for a window slot, then for its answer."""
        pdu.log_id = log_id = f"sms-{sms_id}-{mark}{time.monotonic_ns()}"
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        await asyncio.wait_for(self.window.acquire(), self.timeout_s * 3)
        self._pending[log_id] = future
        try:
            await asyncio.wait_for(self.esme.broker.enqueue(pdu), self.timeout_s)
            answer = await asyncio.wait_for(future, self.timeout_s * (1 + segments))
        except asyncio.TimeoutError:
            raise SendError(f"SMPP {self.settings.where}: no submit_sm_resp for sms {sms_id}", "timeout",
                            temporary=True) from None  # fmt: skip
        finally:
            self._pending.pop(log_id, None)
            self.window.release()
        if isinstance(answer, Exception):
            raise SendError(f"SMPP send failed: {answer}", "send-error", temporary=not isinstance(answer, ValueError))
        assert isinstance(answer, SubmitSmResp)
        status = answer.command_status
        if status != SmppCommandStatus.ESME_ROK:
            raise SendError(f"SMSC refused sms {sms_id}: {status.name}", f"{status.value:#04x}",
                            temporary=status in TEMPORARY)  # fmt: skip
        return answer.message_id

    # -- from aiosmpplib's hook -------------------------------------------------------------
    def _answered(self, log_id: str, answer: object) -> None:
        message_id = getattr(answer, "message_id", None)
        if message_id:  # a receipt may come before aiosmpplib has matched it to our submit: see _deliver
            self._log_ids[str(message_id)] = log_id
            while len(self._log_ids) > LOG_IDS_KEPT:
                self._log_ids.pop(next(iter(self._log_ids)))
        future = self._pending.get(log_id)
        if future is not None and not future.done():
            future.set_result(answer)

    def _deliver(self, pdu: DeliverSm) -> None:
        if self._inbound is None:
            return
        if pdu.is_receipt():
            fields = pdu.parse_receipt()
            state = RECEIPT_STATES.get(str(fields.get("stat", "")).upper(), FAILED)
            err = str(fields.get("err", "") or "")
            error = err if state in (FAILED, EXPIRED) else None
            # aiosmpplib matches receipts to our submit_sm (log_id) and gives one receipt for a text it
            # split; parts split here (log_id "sms-ID-pN") each have their own
            smsc_id = str(fields.get("id") or "") or None
            log_id = pdu.log_id or self._log_ids.get(smsc_id or "", "")
            found = re.fullmatch(r"sms-(\d+)-(p?)\d+", log_id)
            self._inbound.receipt(Receipt(state, sms_id=int(found.group(1)) if found else None,
                                          per_part=bool(found and found.group(2)),
                                          smsc_id=smsc_id, error=error))  # fmt: skip
            return
        self._inbound.reply(Reply("+" + pdu.source.number.lstrip("+"), pdu.destination.number, pdu.short_message,
                                  self.name))  # fmt: skip
