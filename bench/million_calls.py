"""The calls part of bench/million.py: a freshly imported campaign started against the sandbox.

Measures the time from the import's end to the first Originate (shared prompts rendered at the
start, personal audio prepared at each claim), contacts prepared per second, each call's wait for
its audio before the Originate (p50, p99) at the campaign's calls/s, and the disk personal audio
holds once the calls are over (settled contacts' files removed). Every call reaches a simulated
customer that is busy, so each contact is settled (exhausted) by its one attempt.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update

from dialer.config import EngineSettings
from dialer.domain import CampaignState
from dialer.engine import Engine
from dialer.engine.ivr_host import IvrHost
from dialer.ivr.jit_audio import JitAudio
from dialer.sandbox.instance import Sandbox
from dialer.sandbox.sim import sim_number
from dialer.storage import db
from dialer.storage.models import Campaign
from dialer.storage.repository import Repository

SETTINGS = {"company": "Gas Sur", "currency": "EUR", "retries": {"max_attempts": 1}}


@dataclass
class Beside:
    """Contacts prepared beside the calls, in the calls' own pool, as fast as it goes."""

    extra: int  # contacts not called, prepared in the window
    calls_prepared: int  # the calls' own contacts prepared in the same window
    originated: int  # calls originated in the window
    seconds: float

    @property
    def rate(self) -> float:
        return (self.extra + self.calls_prepared) / self.seconds


@dataclass
class CallFigures:
    first_originate_s: float  # from the import's end
    originated: int
    calls_s: float  # from the first Originate to the last
    prepared: int
    prepare_s: float  # from the first claim's preparation to the last one ready
    waits: list[float]
    personal_bytes: int  # on disk after the calls
    personal_files: int
    prepared_bytes: int  # every contact's personal audio, had none been removed
    removed_files: int
    beside: Beside | None = None  # the extra contacts prepared while the calls went on
    all_calls: int = 0  # with the ones made while those were prepared

    def pct(self, q: float) -> float:
        ordered = sorted(self.waits)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else 0.0


def activate(url: str, name: str, cps: float, cap: int) -> int:
    """The imported campaign, active, every call to a busy simulated customer."""
    with db.session_factory(db.make_engine(url)).begin() as s:
        campaign = s.query(Campaign).filter_by(name=name).one()
        s.execute(update(Campaign).where(Campaign.id == campaign.id).values(
            state=CampaignState.ACTIVE, calls_per_second=cps, max_concurrent=cap, ring_timeout_s=5,
            trunk_template=f"Local/{sim_number('busy')}@sim-customers", settings=SETTINGS))  # fmt: skip
        return campaign.id


def last_contacts(url: str, campaign_id: int, contacts: int) -> tuple[Any, dict[int, list[str]]]:
    """The personal texts of the campaign's last `contacts` (never reached by the calls): its
    screen (cache root, voice) and each contact's texts."""
    from sqlalchemy import select

    from dialer.ivr.prerender import ContactScreen
    from dialer.storage.models import Contact

    with db.session_factory(db.make_engine(url))() as s:
        campaign = s.get(Campaign, campaign_id)
        assert campaign is not None
        screen = ContactScreen(campaign)
        rows = s.scalars(select(Contact).where(Contact.campaign_id == campaign_id)
                         .order_by(Contact.id.desc()).limit(contacts)).all()  # fmt: skip
        return screen, {row.id: screen.texts[row.id] for row in rows if screen(row) is None}


async def _beside(audio: JitAudio, ready: Any, screen: Any, texts: dict[int, list[str]], originated: list[float],
                  ready_at: list[float], after: int) -> Beside:
    """Once `after` calls are out, prepare `texts` in the calls' pool, a worker's share of
    contacts in flight at a time (as claims do), and count everything prepared meanwhile."""
    while len(originated) < after:
        await asyncio.sleep(0.05)
    began, calls_before, ready_before = time.perf_counter(), len(originated), len(ready_at)
    pending = list(texts.items())
    in_flight: set[asyncio.Task[float]] = set()
    while pending or in_flight:
        while pending and len(in_flight) < audio.ahead:
            cid, found = pending.pop()
            prep = audio.prepare(cid, screen.book.cache.root, screen.tts, found)
            in_flight.add(asyncio.ensure_future(ready(prep, 600)))
        _done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
    took = time.perf_counter() - began
    removed = audio.ledger.removed
    for cid in texts:
        audio.remove(audio.release(cid))
    audio.ledger.removed = removed  # the disk figures are the calls' contacts'
    return Beside(len(texts), len(ready_at) - ready_before, len(originated) - calls_before, took)


async def run_calls(url: str, sandbox: Sandbox, campaign_id: int, import_end: float, calls: int,
                    beside: tuple[Any, dict[int, list[str]]] | None = None) -> CallFigures:
    """`beside`: contacts (last_contacts()) to prepare in the pool once `calls` calls are out,
    while the campaign goes on dialling; the call figures are the first `calls` calls'."""
    repo = Repository(db.session_factory(db.make_engine(url)))
    audio = JitAudio()
    engine = Engine(repo, sandbox.ami, EngineSettings(agi_url=sandbox.agi.url, poll_s=0.2, drain_timeout_s=30),
                    IvrHost(repo.sessions, sandbox.agi, audio=audio))  # fmt: skip
    originated: list[float] = []
    paused: list[bool] = []
    extra: asyncio.Future[Beside] | None = None
    real = engine.ami.originate

    async def originate(**kwargs: Any) -> Any:
        originated.append(time.perf_counter())
        if len(originated) == calls and beside is None or extra is not None and extra.done() and not paused:
            paused.append(True)  # enough: no more claims
            await engine.sql.run(repo.pause_campaign, campaign_id, "bench: enough calls")
        return await real(**kwargs)

    engine.ami.originate = originate  # type: ignore[method-assign]
    stop = asyncio.Event()

    async def watch() -> None:
        while not paused or engine._calls:  # noqa: SLF001 - the bench waits for the live calls
            await asyncio.sleep(0.2)
        stop.set()

    prepared_bytes = 0
    hold = audio.ledger.hold

    def counting_hold(contact_id: int, files: list[tuple[str, int]]) -> None:
        nonlocal prepared_bytes
        if beside is None or contact_id not in beside[1]:  # the calls' contacts only
            prepared_bytes += sum(size for _path, size in files)
        hold(contact_id, files)

    audio.ledger.hold = counting_hold  # type: ignore[method-assign]
    ready_at: list[float] = []  # the calls' own contacts only (not the ones prepared beside)
    waits: list[float] = []
    real_ready = audio.ready

    async def timed_ready(prep: Any, timeout_s: float) -> float:
        waited = await real_ready(prep, timeout_s)
        ready_at.append(time.perf_counter())
        waits.append(waited)
        return waited

    audio.ready = timed_ready  # type: ignore[method-assign]
    if beside is not None:  # its contacts are awaited with the real ready(): not counted as calls'
        extra = asyncio.ensure_future(_beside(audio, real_ready, *beside, originated, ready_at, calls))
    await asyncio.gather(engine.run(stop), watch())
    side = await asyncio.wait_for(extra, 60) if extra else None
    on_disk = [path for path in audio.ledger.files if os.path.exists(path)]
    first, last = originated[0], originated[min(calls, len(originated)) - 1]
    paced = ready_at[:calls]
    return CallFigures(first - import_end, min(calls, len(originated)), last - first, len(paced),
                       (paced[-1] - paced[0]) if len(paced) > 1 else 0.0, waits[:calls],
                       sum(os.path.getsize(p) for p in on_disk), len(on_disk), prepared_bytes,
                       audio.ledger.removed, side, len(originated))  # fmt: skip


async def prepare_rate(url: str, campaign_id: int, contacts: int) -> tuple[int, float]:
    """Unpaced: the last `contacts` of the campaign (not the ones called) prepared at once, as fast
    as the pool goes; their files are removed afterwards. (contacts, seconds)."""
    screen, texts = last_contacts(url, campaign_id, contacts)
    audio = JitAudio()
    try:
        await audio.start()  # the pool
        began = time.perf_counter()
        preps = [audio.prepare(cid, screen.book.cache.root, screen.tts, found) for cid, found in texts.items()]
        for prep in preps:
            await audio.ready(prep, 600)
        took = time.perf_counter() - began
        for cid in texts:
            audio.remove(audio.release(cid))
    finally:
        audio.close()
    return len(preps), took
