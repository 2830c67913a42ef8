"""Issue 12, item 2 against the sandbox: an ending is never lost when SQL fails.

Three dialers run side by side, each with four callers in the IVR when SQL goes away, so every
ending comes while SQL refuses it:
- lite: an engine on SQLite that another process holds locked for 30 s (as a large import does);
- pg: an engine on PostgreSQL, stopped for 20 s and started again (a failover);
- killed: `dialer run` on another database of that server, killed with SIGKILL during the outage
  once its endings are journaled, and started again after it.
In each, every attempt ends with its true outcome, every opt-out is on the DNC list and the
campaign finishes.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dialer.ami import AmiClient
from dialer.config import AgiSettings, EngineSettings
from dialer.domain import AttemptState, CampaignState, Outcome
from dialer.engine import Engine
from dialer.engine.ivr_host import IvrHost
from dialer.sandbox.instance import Sandbox
from dialer.storage import db
from dialer.storage.ivr_store import events_of
from dialer.storage.models import Dnc
from dialer.storage.repository import Repository
from tests.campaigns import STOP_FLOW, attempts, campaign_row, contacts, free_port, make_campaign, scripted
from tests.daemons import start_daemon, stop_daemon
from tests.postgres import PostgresServer

pytestmark = pytest.mark.asterisk

LOCK_S, OUTAGE_S = 30.0, 20.0
SETTINGS = {"flow_file": STOP_FLOW, "company": "Test", "retries": {"max_attempts": 1}}
# script id, keys, hangs up when the IVR speaks again: two opt-outs, one "1", one who hangs up at the thanks
CALLERS = [(301, ["9"], False), (302, ["9"], False), (303, ["1"], False), (304, ["1"], True)]
TRUE_OUTCOMES = [("answered", None), ("hung_up_early", "thanks"), ("opted_out", None), ("opted_out", None)]
# holds SQLite's write lock, as a large `dnc import` or `contacts import` does while it commits
LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""


async def until(check: Callable[[], Any], what: str, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (await check() if asyncio.iscoroutinefunction(check) else check()):
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


class Dialer:
    """One dialer's database, campaign and what the test saw of it."""

    def __init__(self, sandbox: Sandbox, url: str, name: str) -> None:
        db.upgrade(url)
        numbers = [scripted(sandbox, sid, keys, hang_up) for sid, keys, hang_up in CALLERS]
        self.url, self.name, self.ami = url, name, sandbox.ami
        self.cid = make_campaign(url, name, numbers, flow="collections", settings=SETTINGS,
                                 max_concurrent=len(numbers), calls_per_second=20, ring_timeout_s=10)  # fmt: skip
        self.notes: dict[str, Any] = {}

    def engine(self, journal: Path) -> Engine:
        agi = AgiSettings(port=free_port())
        repo = Repository(db.session_factory(db.make_engine(self.url)))
        settings = EngineSettings(agi_url=agi.url, poll_s=0.2, drain_timeout_s=5, journal=journal)
        return Engine(repo, self.ami, settings, IvrHost(repo.sessions, agi))

    def live(self) -> int:
        return sum(1 for a in attempts(self.url, self.cid) if a.state != AttemptState.ENDED)


def journal_lines(data_dir: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in data_dir.glob("journal/endings-*.jsonl"))


@pytest.fixture(scope="module")
def outages(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Dialer]]:
    tmp = tmp_path_factory.mktemp("outage")
    pg = PostgresServer()  # this module's own: the tests stop and start it
    pg.start()
    try:
        dialers = {"lite": Dialer(sandbox, f"sqlite:///{tmp / 'lite.db'}", "lite"),
                   "pg": Dialer(sandbox, pg.create_database("failover"), "pg"),
                   "killed": Dialer(sandbox, pg.create_database("killed"), "killed")}  # fmt: skip
        asyncio.run(_run(sandbox, pg, dialers, tmp))
        yield dialers
    finally:
        pg.remove()


async def _run(sandbox: Sandbox, pg: PostgresServer, dialers: dict[str, Dialer], tmp: Path) -> None:
    lite, failover, killed = dialers["lite"], dialers["pg"], dialers["killed"]
    engines = {"lite": lite.engine(tmp / "lite.journal"), "pg": failover.engine(tmp / "pg.journal")}

    async def run(name: str) -> None:
        await engines[name].run_until_finished([dialers[name].cid], timeout=150)
        dialers[name].notes["done_at"] = time.monotonic()

    runs = [asyncio.ensure_future(run(name)) for name in engines]
    data_dir, log = tmp / "killed-data", tmp / "killed.log"
    env = {"DIALER_DATA_DIR": str(data_dir), "DIALER_AGI_PORT": str(free_port()), "DIALER_NODE": "outage"}
    daemon = start_daemon(killed.url, sandbox, log, env)
    locker: subprocess.Popen[bytes] | None = None
    try:
        async with AmiClient(sandbox.ami) as ami:

            async def all_in_ivr() -> bool:
                ids = {a.id for d in dialers.values() for a in attempts(d.url, d.cid)}
                found = await ami.action_list({"Action": "CoreShowChannels"}, timeout=10)
                in_agi = {str(c.get("Uniqueid")) for c in found if c.get("Application") == "AGI"}
                return len(ids) == 12 and ids <= in_agi

            await until(all_in_ivr, "the twelve callers to reach the IVR", 60)
        locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(tmp / "lite.db"), str(LOCK_S)],
                                  stdout=subprocess.PIPE)  # fmt: skip
        assert locker.stdout is not None and locker.stdout.readline() == b"locked\n"
        locked_at = time.monotonic()
        pg.stop()
        down_at = time.monotonic()
        await until(lambda: journal_lines(data_dir) == 4, "the daemon to journal its four endings", OUTAGE_S)
        daemon.kill()  # SIGKILL: nothing written on the way out
        daemon.wait(timeout=10)
        await asyncio.sleep(max(0.0, down_at + OUTAGE_S - time.monotonic()))
        pg.start()
        up_at = time.monotonic()
        failover.notes["outage_s"] = up_at - down_at
        killed.notes["live_after_kill"] = killed.live()
        restarted = start_daemon(killed.url, sandbox, log, env)
        daemon = restarted
        await until(lambda: campaign_row(killed.url, killed.cid).state == CampaignState.FINISHED,
                    "the restarted daemon to finish the campaign", 60)  # fmt: skip
        killed.notes["finished_after_s"] = time.monotonic() - up_at  # restart and replay included
        killed.notes["exit"] = await asyncio.to_thread(stop_daemon, restarted)
        killed.notes["log"] = log.read_text()
        killed.notes["journal_left"] = journal_lines(data_dir)
        await asyncio.to_thread(locker.wait, 60)
        unlocked_at = time.monotonic()
        lite.notes["lock_s"] = unlocked_at - locked_at
        await asyncio.gather(*runs)
        lite.notes["finished_after_s"] = lite.notes["done_at"] - unlocked_at
        failover.notes["finished_after_s"] = failover.notes["done_at"] - up_at
        for name, engine in engines.items():
            dialers[name].notes["journaled"] = engine.recorder.journaled
    finally:  # what the test started, stopped by pid
        for proc in (daemon, locker):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


def check_true_outcomes(d: Dialer) -> None:
    rows = attempts(d.url, d.cid)
    assert sorted((a.outcome.value if a.outcome else None, a.step_reached) for a in rows) == TRUE_OUTCOMES, [
        (a.outcome, a.reason) for a in rows]  # fmt: skip
    assert all(a.state == AttemptState.ENDED and a.reason == "reported by the IVR" and a.answered_at for a in rows)
    sessions = db.session_factory(db.make_engine(d.url))
    with sessions() as s:
        dnc = set(s.scalars(select(Dnc.number)))
    assert dnc == {a.number for a in rows if a.outcome == Outcome.OPTED_OUT} and len(dnc) == 2
    for a in rows:  # the IVR's events rode with the ending (through the journal where it was used)
        choice = [e.value for e in events_of(sessions, a.id) if e.kind == "fact" and e.name == "choice"]
        assert choice == (["stop"] if a.outcome == Outcome.OPTED_OUT else ["pay"])
    assert all(c.live_attempt_id is None for c in contacts(d.url, d.cid))
    assert campaign_row(d.url, d.cid).state == CampaignState.FINISHED


def test_sqlite_locked_for_30_s_mid_campaign_loses_no_ending(outages: dict[str, Dialer]) -> None:
    d = outages["lite"]
    assert d.notes["lock_s"] >= LOCK_S
    print(f"lite: campaign finished {d.notes['finished_after_s']:.1f} s after the lock was released")
    assert d.notes["journaled"] == 4  # every ending came while SQLite was locked: journaled, then replayed
    check_true_outcomes(d)


def test_postgresql_stopped_for_20_s_mid_campaign_loses_no_ending(outages: dict[str, Dialer]) -> None:
    d = outages["pg"]
    assert d.notes["outage_s"] >= OUTAGE_S
    print(f"pg: campaign finished {d.notes['finished_after_s']:.1f} s after PostgreSQL was back")
    assert d.notes["journaled"] == 4
    check_true_outcomes(d)


def test_kill_9_during_the_outage_then_a_restart_replays_the_journal(outages: dict[str, Dialer]) -> None:
    d = outages["killed"]
    assert d.notes["live_after_kill"] == 4  # SQL had none of the four endings when the daemon died
    print(f"killed: campaign finished {d.notes['finished_after_s']:.1f} s after PostgreSQL was back")
    assert "4 endings an earlier run could not write to SQL" in d.notes["log"]
    assert d.notes["exit"] == 0 and d.notes["journal_left"] == 0
    check_true_outcomes(d)
