"""Personal audio on disk is bounded (issue 15, item 3): the files of a settled contact are
removed while shared prompts and files another claimed contact holds stay; a size budget evicts
the least recently used. Real render workers, real files, SQLite."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import update

from dialer.config import AgiSettings
from dialer.domain import Disposition
from dialer.engine.ivr_host import IvrHost
from dialer.ivr.jit_audio import JitAudio
from dialer.storage import db
from dialer.storage.models import Contact
from dialer.storage.repository import Repository
from prompts.ledger import AudioLedger
from prompts.render_pool import TtsSettings
from tests.campaigns import make_campaign, new_database

ANA = {"name": "Ana Pérez", "amount": "12500.50", "due_date": "2026-11-20", "concept": "la factura de gas"}
ROOT = Path(__file__).resolve().parents[1]
LUIS = {"name": "Luis Gómez", "amount": "80.25", "due_date": "2026-11-21", "concept": "la factura de luz"}


def _settle(repo: Repository, *contact_ids: int) -> None:
    with repo.sessions.begin() as s:
        s.execute(update(Contact).where(Contact.id.in_(contact_ids)).values(disposition=Disposition.REACHED,
                                                                            live_attempt_id=None))  # fmt: skip


async def test_a_settled_contacts_files_go_while_shared_ones_and_those_another_contact_holds_stay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIALER_CACHE_DIR", str(tmp_path / "cache"))
    url = new_database(str(tmp_path / "d.db"))
    # the first two say the same sentences (the same files: the cache is content-addressed)
    cid = make_campaign(url, "disk", ["+34611100001", "+34611100002", "+34611100003"], people=[ANA, ANA, LUIS],
                        flow="collections", calls_per_second=100, settings={"company": "Gas Sur", "currency": "ARS"},
                        render=False)  # fmt: skip
    repo = Repository(db.session_factory(db.make_engine(url)))
    campaign = repo.campaign(cid)
    assert campaign is not None
    host = IvrHost(repo.sessions, AgiSettings(), audio=JitAudio(workers=2))
    try:
        assert await host.may_dial(campaign, repo)  # the shared prompts, rendered in the pool
        shared = set(host.audio.ledger.shared)
        screen = host.contact_screen(campaign)
        plans = repo.claim(cid, 3, screen=screen)
        preps = host.prepare(screen, plans)
        assert sorted(preps) == sorted(p.contact_id for p in plans)
        for plan in plans:
            assert await host.audio_ready(preps[plan.contact_id]) is None
        ana1, ana2, luis = (host.audio.ledger.held[p.contact_id] for p in plans)
        assert ana1 == ana2 and not set(ana1) & set(luis) and not set(ana1) & shared
        for path in ana1 + luis:  # created group-only
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
        assert host.audio.prepared == 3 and len(host.audio.waits) == 3

        _settle(repo, plans[0].contact_id, plans[2].contact_id)  # Ana's first contact and Luis: settled
        host.call_over(plans[0].contact_id)
        host.call_over(plans[2].contact_id)
        freed = await host.sweep()
        assert freed > 0 and not any(Path(p).exists() for p in luis)
        assert all(Path(p).exists() for p in ana1)  # the second Ana's call still holds them
        assert all(Path(p).exists() for p in shared)

        _settle(repo, plans[1].contact_id)
        host.call_over(plans[1].contact_id)  # the second Ana's last attempt is over too
        await host.sweep()
        assert not any(Path(p).exists() for p in ana1)
        assert all(Path(p).exists() for p in shared) and host.audio.ledger.bytes == 0
    finally:
        await host.close(1.0)


def _file(tmp_path: Path, name: str, size: int) -> tuple[str, int]:
    path = tmp_path / name
    path.write_bytes(b"\0" * size)
    return str(path), size


def test_the_budget_evicts_the_least_recently_used_files_no_call_holds(tmp_path: Path) -> None:
    ledger = AudioLedger(budget_bytes=2500)
    old, held, mid, new = (_file(tmp_path, n, 1000) for n in ("old", "held", "mid", "new"))
    shared = _file(tmp_path, "shared", 5000)
    ledger.protect([shared[0]])
    ledger.hold(1, [old, shared])
    ledger.hold(2, [held])
    ledger.hold(3, [mid])
    ledger.hold(4, [new])
    for contact in (1, 3, 4):
        ledger.release(contact)  # calls over, contacts still pending: files kept for their retries
    assert ledger.bytes == 4000  # the shared prompt is not personal audio
    assert ledger.evict() == 2000  # down to the budget: the oldest unheld first
    assert not Path(old[0]).exists() and not Path(mid[0]).exists()
    assert Path(held[0]).exists() and Path(new[0]).exists() and Path(shared[0]).exists()
    ledger.hold(5, [new])  # used again: now the most recent
    ledger.release(2)
    ledger.budget = 1000
    assert ledger.evict() == 1000 and not Path(held[0]).exists() and Path(new[0]).exists()
    assert ledger.removed == 3 and ledger.bytes == 1000


async def test_the_daemon_keeps_personal_audio_under_its_budget(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALER_CACHE_DIR", str(tmp_path / "cache"))
    url = new_database(str(tmp_path / "d.db"))
    people = [{**ANA, "name": f"Ana {n}", "amount": f"{100 + n}"} for n in range(6)]
    cid = make_campaign(url, "budget", [f"+3461110000{n}" for n in range(6)], people=people, flow="collections",
                        calls_per_second=100, settings={"company": "Gas Sur", "currency": "ARS"},
                        render=False)  # fmt: skip
    repo = Repository(db.session_factory(db.make_engine(url)))
    campaign = repo.campaign(cid)
    assert campaign is not None
    host = IvrHost(repo.sessions, AgiSettings(), audio=JitAudio(workers=1))  # 2 GB
    try:
        screen = host.contact_screen(campaign)
        plans = repo.claim(cid, 6, screen=screen)
        preps = host.prepare(screen, plans)
        for plan in plans:
            assert await host.audio_ready(preps[plan.contact_id]) is None
        files = {p.contact_id: host.audio.ledger.held[p.contact_id] for p in plans}
        for plan in plans[:4]:
            host.call_over(plan.contact_id)  # over, still pending: kept for their retries
        assert await host.sweep() == 0
        assert all(Path(p).exists() for plan in plans for p in files[plan.contact_id])
        host.audio.ledger.budget = 1  # then only the files of the calls still on fit
        assert await host.sweep() > 0
        assert not any(Path(p).exists() for plan in plans[:4] for p in files[plan.contact_id])
        assert all(Path(p).exists() for plan in plans[4:] for p in files[plan.contact_id])  # calls on
    finally:
        await host.close(1.0)


async def test_claims_wait_while_the_pool_has_enough_queued(tmp_path: Path) -> None:
    audio = JitAudio(workers=1)
    tts = TtsSettings("es")
    try:
        await audio.start()  # the pool
        preps = [audio.prepare(n, tmp_path, tts, [f"Cliente número {n}."]) for n in range(20)]
        assert audio.in_flight == 20 and audio.ahead == 8
        await audio.room()  # returns once the one worker is down to 7 queued
        assert audio.in_flight < 8 and sum(not p.job.done() for p in preps) < 8
        for prep in preps:
            await audio.ready(prep, 60)
        assert audio.in_flight == 0 and audio.prepared == 20
    finally:
        audio.close()


def test_render_workers_go_when_the_daemon_is_killed(tmp_path: Path) -> None:
    code = ("from prompts.render_pool import RenderPool; import time; "
            "p = RenderPool(2); print(*p.pids, flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().split()  # started
        pids = [int(pid) for task in Path(f"/proc/{proc.pid}/task").iterdir()
                for pid in (task / "children").read_text().split()
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]  # fmt: skip
        assert len(pids) == 2 and all(_alive(pid) for pid in pids)  # the workers
    finally:
        proc.kill()  # as kill -9 does to `dialer run`
        proc.wait(10)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False
