"""The IVR inside the daemon: the FastAGI server (which believes only Asterisk: dialer.ivr.trust),
the flow service, and the audio: shared prompts rendered when a campaign starts, personal audio
prepared at each claim and removed once its contact is settled (dialer.ivr.jit_audio)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dialer.ami import AmiClient, AmiError
from dialer.config import AgiSettings, ReturnCallSettings
from dialer.domain import Disposition
from dialer.engine.tracker import CallTracker
from dialer.events import LiveEvents
from dialer.ivr import prerender
from dialer.ivr.call import CallContext, IvrEventRow
from dialer.ivr.fastagi import FastAgiServer
from dialer.ivr.flow import FlowError
from dialer.ivr.jit_audio import AudioNotReady, JitAudio, Preparation
from dialer.ivr.prompt_book import PromptBook
from dialer.ivr.return_calls import ReturnCallService
from dialer.ivr.service import IvrService
from dialer.ivr.trust import TOKEN_VARIABLE
from dialer.storage.claims import Plan
from dialer.storage.ending_hooks import EndingHook
from dialer.storage.models import Campaign, Contact
from dialer.storage.repository import Repository
from dialer.storage.worker import SqlWorker
from prompts.render_pool import TtsSettings
from prompts.templates import TemplateError
from prompts.tts import TtsError

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 120.0  # loading a campaign's flow and templates; SQL of the settled contacts
SHARED_TIMEOUT_S = 600.0  # rendering a campaign's shared prompts (date read-backs included)
AUDIO_TIMEOUT_S = 30.0  # a call waits this long for its contact's audio, then is not sent
SWEEP_S = 2.0  # how often settled contacts' files are removed and the budget kept
SETVAR_TIMEOUT_S = 5.0  # a return call's token handed to its channel
IVR_SQL_THREADS = 4  # the IVR's own SQL threads: its look-ups never wait behind the engine's claims


class IvrHost:
    def __init__(self, sessions: sessionmaker[Session], listen: AgiSettings, *,
                 clock: Callable[[], datetime] | None = None, audio: JitAudio | None = None,
                 returns: ReturnCallSettings | None = None) -> None:
        self.sessions = sessions
        self.listen = listen
        self.clock = clock or (lambda: datetime.now(UTC))
        self.service: IvrService | None = None
        self.live: LiveEvents | None = None
        self.server: FastAgiServer | None = None
        self.sql = SqlWorker("dialer-ivr-sql", IVR_SQL_THREADS)
        self.audio = audio or JitAudio()  # shared prompts at start, personal audio at each claim
        self._settling: dict[int, list[str]] = {}  # contact -> its files, once its call is over
        self._sweeper: asyncio.Task[None] | None = None
        self._warm_up: asyncio.Task[None] | None = None
        # each transfer's end (attempt, campaign, agent answered): the engine's abandonment guard
        self.on_transfer: Callable[[str, int, bool], None] | None = None
        self.returns_settings = returns or ReturnCallSettings.from_env()
        self._ami: Any = None
        self._agi_url = ""
        self._issuing: set[asyncio.Task[None]] = set()

    async def start(self, tracker: CallTracker, live: LiveEvents | None = None, *, ami: AmiClient | None = None,
                    agi_url: str = "", node: str = "", hooks: tuple[EndingHook, ...] = ()) -> None:  # fmt: skip
        self.live = live
        returns = None
        if ami is not None:  # return calls need the AMI link: their tokens go out as Setvar
            self._ami, self._agi_url = ami, agi_url
            returns = ReturnCallService(self.sessions, self.sql, node=node, settings=self.returns_settings,
                                        hooks=hooks, clock=self.clock)  # fmt: skip
            tracker.on_return_call = self._return_call
        self.service = IvrService(self.sessions, tracker=tracker, clock=self.clock, on_event=self._on_event,
                                  sql=self.sql, returns=returns)  # fmt: skip
        self.server = FastAgiServer.for_settings(self.listen, self.service.handler_for, self.service)
        await self.server.start()
        self._sweeper = asyncio.create_task(self._sweep_every(), name="audio-sweeper")

    def holds(self, attempt_id: str) -> bool:
        """A return call's attempt that a session runs now (the engine's sweep leaves it alone)."""
        returns = self.service.returns if self.service is not None else None
        return returns is not None and attempt_id in returns.attempts

    def _return_call(self, event: Any) -> None:
        """dialer-inbound announced a call: issue its token (after the AGI URL) with AMI Setvar."""
        task = asyncio.get_running_loop().create_task(self._issue(str(event.get("Channel") or ""),
                                                                  str(event.get("Uniqueid") or "")))  # fmt: skip
        self._issuing.add(task)
        task.add_done_callback(self._issuing.discard)

    async def _issue(self, channel: str, uniqueid: str) -> None:
        if self.service is None or self.service.returns is None or not channel or not uniqueid:
            return
        token = self.service.returns.door.issue(uniqueid)
        try:
            if self._agi_url:
                await self._ami.action({"Action": "Setvar", "Channel": channel, "Variable": "DIALER_AGI_URL",
                                        "Value": self._agi_url}, timeout=SETVAR_TIMEOUT_S)  # fmt: skip
            await self._ami.action({"Action": "Setvar", "Channel": channel, "Variable": TOKEN_VARIABLE,
                                    "Value": token}, timeout=SETVAR_TIMEOUT_S)  # fmt: skip
        except AmiError as exc:  # the caller hears the dialplan's fallback
            log.warning("return call on %s: its token could not be set (%s)", channel[:80], exc)

    async def close(self, drain_timeout: float) -> None:
        if self.server is not None:
            await self.server.close(drain_timeout)
        if self._warm_up is not None:
            await asyncio.wait([self._warm_up], timeout=60)  # a pool half started is closed whole
        if self._sweeper is not None:
            self._sweeper.cancel()
            try:  # the last calls' settled contacts
                await self.sweep()
            except Exception as exc:  # noqa: BLE001 - left for the budget of the next run
                log.warning("removing settled contacts' audio failed at the end (%s)", exc)
        await asyncio.to_thread(self.audio.close)
        self.sql.close()

    def _on_event(self, ctx: CallContext, row: IvrEventRow) -> None:
        """IVR steps and keys (single keys only: never digits) and transfers to live events."""
        if row.kind == "fact" and row.name == "transfer" and self.on_transfer is not None:
            fact = json.loads(row.value or "{}")
            self.on_transfer(ctx.attempt_id, ctx.campaign_id, bool(fact.get("agent_answered")))
        if self.live is None:
            return
        if row.kind in ("step", "key"):
            self.live.ivr_step(ctx.attempt_id, row.name, row.value if row.kind == "key" else None, ctx.campaign_id)
        elif row.kind == "fact" and row.name == "transfer":
            fact = json.loads(row.value or "{}")
            self.live.transferred(ctx.attempt_id, fact.get("queue", ""), bool(fact.get("agent_answered")),
                                  fact.get("queue_wait_s"), ctx.campaign_id)  # fmt: skip

    async def may_dial(self, campaign: Campaign, repo: Repository) -> bool:
        """Render the campaign's shared prompts (in the preparation pool, off the event loop);
        False (and the campaign paused, with the reason) if its flow or prompts cannot be spoken.
        Personal audio is prepared at each claim (prepare())."""
        began = time.monotonic()
        try:
            book, texts = await asyncio.wait_for(asyncio.to_thread(prerender.shared_texts, campaign, self.clock()),
                                                 CHECK_TIMEOUT_S)  # fmt: skip
            tts = TtsSettings(book.lang, book.backend, book.voice, book.fallback)
            await self.audio.render_shared(book.cache.root, tts, texts, SHARED_TIMEOUT_S)
        except (FlowError, TemplateError, TtsError) as exc:
            return await self._paused_if(f"campaign {campaign.name}: its prompts cannot be rendered: {exc}",
                                         campaign, repo)  # fmt: skip
        log.info("campaign %s: %d shared prompts ready in %.1f s", campaign.name, len(texts),
                 time.monotonic() - began)  # fmt: skip
        return True

    async def may_keep_dialing(self, campaign: Campaign, repo: Repository) -> bool:
        """Again each day: the shared prompts, date read-backs from today on (their horizon ends)."""
        return await self.may_dial(campaign, repo)

    def today(self) -> date:
        """The day (UTC) the shared prompts were last rendered for: a new one renders them again."""
        return self.clock().date()

    def contact_screen(self, campaign: Campaign) -> prerender.ContactScreen:
        """What each claim asks of each contact: can its fields be spoken? (and its texts)"""
        return prerender.ContactScreen(campaign)

    def prepare(self, screen: prerender.ContactScreen, plans: list[Plan]) -> dict[int, Preparation]:
        """Start preparing the claimed contacts' personal audio (before their Originates)."""
        texts = screen.take([plan.contact_id for plan in plans])
        root = screen.book.cache.root
        return {cid: self.audio.prepare(cid, root, screen.tts, found) for cid, found in texts.items() if found}

    async def audio_ready(self, prep: Preparation) -> str | None:
        """Wait for a contact's audio before its Originate: None, or why it is not ready."""
        try:
            await self.audio.ready(prep, AUDIO_TIMEOUT_S)
        except AudioNotReady as exc:
            return str(exc)
        return None

    def call_over(self, contact_id: int) -> None:
        """A call is over: its contact's files go at the next sweep if its disposition is final."""
        paths = self.audio.release(contact_id)
        if paths:
            self._settling[contact_id] = paths

    async def _sweep_every(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            try:
                await self.sweep()
            except Exception as exc:  # noqa: BLE001 - SQL away: the next sweep asks again
                log.warning("removing settled contacts' audio failed (%s); retrying", exc)

    async def sweep(self) -> int:
        """Remove the personal files of contacts whose disposition is final (unless another
        contact holds them or a shared prompt is that file), then keep under the budget; bytes freed."""
        freed = 0
        if self._settling:
            batch, self._settling = self._settling, {}
            try:
                settled = await self.sql.run(self._settled, list(batch), timeout_s=CHECK_TIMEOUT_S)
            except BaseException:
                self._settling.update(batch)
                raise
            freed += self.audio.remove(path for cid in settled for path in batch[cid])
        freed += self.audio.ledger.evict()
        return freed

    def _settled(self, contact_ids: list[int]) -> list[int]:
        found: list[int] = []
        with self.sessions() as s:
            for start in range(0, len(contact_ids), 500):
                chunk = contact_ids[start : start + 500]
                found += s.scalars(select(Contact.id).where(Contact.id.in_(chunk),
                                                            Contact.disposition != Disposition.PENDING))  # fmt: skip
        return found

    async def _paused_if(self, problem: str | None, campaign: Campaign, repo: Repository) -> bool:
        if problem:
            log.error("%s; campaign paused", problem)
            await self.sql.run(repo.pause_campaign, campaign.id, problem, timeout_s=CHECK_TIMEOUT_S)
        return problem is None
