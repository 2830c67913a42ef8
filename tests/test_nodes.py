"""A silent node's Asterisk is asked which of its calls are gone only where its address reaches it:
a loopback address in another machine's node row is this machine's own Asterisk, whose answer
would say every one of the dead node's calls is gone while they may still be up."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dialer.config import AmiSettings, EngineSettings
from dialer.domain import AttemptState, CampaignState, Disposition, Outcome
from dialer.engine.node import NodeKeeper, Silence
from dialer.storage import db
from dialer.storage.models import Attempt, Campaign, Contact, Dnc, Phone
from dialer.storage.nodes import START_MARGIN_S, DeadNode
from dialer.storage.repository import Repository
from tests.fake_ami import FakeAmi

LIVE = ["a1", "a2"]  # the dead node's attempts SQL still has as live


def channels(_action: dict[str, str]) -> list[dict[str, str]]:
    """This Asterisk has a2 only."""
    return [{"Response": "Success", "EventList": "start", "Message": "Channels will follow"},
            {"Event": "CoreShowChannel", "Uniqueid": "a2", "ChannelStateDesc": "Up"},
            {"Event": "CoreShowChannelsComplete", "EventList": "Complete", "ListItems": "1"}]  # fmt: skip


@pytest.fixture
async def asterisk() -> AsyncIterator[FakeAmi]:
    server = await FakeAmi(secret="dialer-sandbox-secret").start()
    server.script["CoreShowChannels"] = channels
    yield server
    await server.stop()


def keeper(port: int) -> NodeKeeper:
    settings, ami = EngineSettings(), AmiSettings(port=port)
    return NodeKeeper(None, ami, settings, None, lambda: 0)  # type: ignore[arg-type]


def dead(asterisk: str, host: str) -> DeadNode:
    return DeadNode("pbx-1", asterisk, datetime.now(UTC), list(LIVE), host)


async def test_the_dead_nodes_asterisk_answers_which_calls_are_gone(asterisk: FakeAmi) -> None:
    here = dead(f"127.0.0.1:{asterisk.port}", socket.gethostname())
    gone = await keeper(asterisk.port)._gone_from_its_asterisk(here)
    assert gone == {"a1"}  # same machine: its loopback address is that Asterisk


@pytest.mark.parametrize("address", ["127.0.0.1", "localhost", "::1"])
async def test_a_loopback_address_of_another_machine_is_not_asked(
    asterisk: FakeAmi, address: str, caplog: Any
) -> None:
    elsewhere = dead(f"{address}:{asterisk.port}", "pbx-1.example")
    gone = await keeper(asterisk.port)._gone_from_its_asterisk(elsewhere)
    assert gone == set() and asterisk.actions("Login") == []  # resolved by age only; ours is not asked
    assert "DIALER_AMI_HOST" in caplog.text


def test_a_dead_nodes_calls_end_only_once_they_cannot_still_be_up(tmp_path: Path) -> None:
    """Resolution by age: nothing before ring timeout + the longest call, then `unknown` with the
    reason, and the contact claimable again; a call its Asterisk says is gone ends at once."""
    url = f"sqlite:///{tmp_path / 'nodes.db'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    t0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    now = [t0]
    pbx, other = (Repository(db.session_factory(engine), node=name, clock=lambda: now[0])
                  for name in ("pbx-1", "pbx-2"))  # fmt: skip
    with pbx.sessions.begin() as s:
        c = Campaign(name="c", state=CampaignState.ACTIVE, created_at=t0, ring_timeout_s=30, max_concurrent=5,
                     calls_per_second=100, settings={"retries": {"max_attempts": 3}})  # fmt: skip
        s.add(c)
        for i in range(3):
            s.add(Contact(campaign=c, external_id=f"c{i}", created_at=t0, fields={},
                          phones=[Phone(number=f"+3461110000{i}", position=0)]))  # fmt: skip
        s.flush()
        cid = c.id
    pbx.heartbeat("pbx-1.example", "10.0.0.1:5038", "test", 3, started=True)
    plans = list(pbx.claim(cid, 3, t0, token="t"))
    assert len(plans) == 3
    now[0] = t0 + timedelta(seconds=60)  # silent for a minute: dead, but its calls may still be up
    [dead_node] = other.peers_with_live_attempts()
    assert sorted(dead_node.live) == sorted(p.attempt_id for p in plans)
    assert other.resolve_dead(dead_node, max_call_s=3600) == 0
    assert other.resolve_dead(dead_node, max_call_s=3600, gone=[plans[0].attempt_id]) == 1
    # pbx-1 was only slow: its confirmation now leaves out the call another node resolved (never sent)
    assert pbx.confirm_claim("t") == {p.attempt_id for p in plans[1:]}
    now[0] = t0 + timedelta(seconds=30 + 3600 + START_MARGIN_S - 1)
    assert other.resolve_dead(dead_node, max_call_s=3600) == 0  # its Originate may have left late
    now[0] = t0 + timedelta(seconds=30 + 3600 + START_MARGIN_S + 1)
    [dead_node] = other.peers_with_live_attempts()
    assert other.resolve_dead(dead_node, max_call_s=3600) == 2
    assert other.peers_with_live_attempts() == []
    with engine.connect() as conn:
        ended = conn.execute(select(Attempt.id, Attempt.state, Attempt.outcome, Attempt.reason)).all()
        assert {state for _id, state, _o, _r in ended} == {AttemptState.ENDED}
        assert {outcome for _id, _s, outcome, _r in ended} == {Outcome.UNKNOWN}
        reasons = {attempt_id: reason for attempt_id, _s, _o, reason in ended}
        assert "no longer has the call" in reasons[plans[0].attempt_id]
        assert all("cannot still be up" in reasons[p.attempt_id] for p in plans[1:])
        assert conn.execute(select(Contact.id).where(Contact.live_attempt_id.is_not(None))).all() == []
    engine.dispose()


def test_a_node_is_silent_by_what_this_node_watched() -> None:
    """Its heartbeat stamp unchanged over `after_s` of this node's own reads (its monotonic clock):
    a stamp that changes is alive; a failed read, or a gap in this node's reads, counts anew."""
    clock = [0.0]
    silence = Silence(20.0, clock=lambda: clock[0])
    t0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)

    def read(at: float, stamp: datetime) -> list[str]:
        clock[0] = at
        return [n.name for n in silence.silent([DeadNode("pbx-1", "", stamp, ["a1"])])]

    assert [read(at, t0) for at in (0, 5, 10, 15)] == [[], [], [], []]
    assert read(20, t0) == ["pbx-1"]  # 20 s of this node's watching, no beat
    assert read(25, t0 + timedelta(seconds=25)) == []  # it beat again
    silence.forget()  # the shared database was down: no node could beat
    assert [read(at, t0 + timedelta(seconds=25)) for at in (60, 65, 70, 75)] == [[], [], [], []]
    assert read(80, t0 + timedelta(seconds=80)) == []  # back, beating: it was never dead
    assert read(105, t0 + timedelta(seconds=80)) == []  # 25 s since this node last read: a gap, counted anew
    assert [read(at, t0 + timedelta(seconds=80)) for at in (110, 115, 120, 125)] == [[], [], [], ["pbx-1"]]
    clock[0] = 140
    silence.round_over()  # a round that took 15 s (a slow peer Asterisk) is no gap
    assert read(145, t0 + timedelta(seconds=80)) == ["pbx-1"]


class Peers:
    """SQL as the watching node sees it: pbx-1 with a live call, its stamp, or the database down."""

    def __init__(self) -> None:
        self.stamp, self.down, self.resolved, self.beats = datetime(2026, 11, 30, 10, 0, tzinfo=UTC), False, [], 0
        self.node = "pbx-2"

    def heartbeat(self, *_args: object) -> None:
        if self.down:
            raise ConnectionError("database down")
        self.beats += 1

    def peers_with_live_attempts(self) -> list[DeadNode]:
        if self.down:
            raise ConnectionError("database down")
        return [DeadNode("pbx-1", "", self.stamp, ["a1"])]

    def resolve_dead(self, dead: DeadNode, _max_call_s: float, _gone: object) -> int:
        self.resolved.append(dead.name)
        return 1


class Sql:
    async def run(self, fn: Any, *args: Any, timeout_s: float) -> Any:
        return fn(*args)


async def test_a_database_outage_kills_no_node_and_a_node_that_stays_silent_is_resolved() -> None:
    """The shared database down longer than node_dead_after_s: no node could beat meanwhile, so when
    it is back pbx-1's old stamp is no reason to resolve its calls (their endings are in its journal)."""
    peers = Peers()
    settings = EngineSettings(heartbeat_s=0.05, node_dead_after_s=1.0)
    watcher = NodeKeeper(peers, AmiSettings(), settings, Sql(), lambda: 0)  # type: ignore[arg-type]
    task = asyncio.create_task(watcher.run())
    try:
        await asyncio.sleep(0.2)
        peers.down = True  # longer than node_dead_after_s
        await asyncio.sleep(1.5)
        peers.down = False
        await asyncio.sleep(0.3)  # back; pbx-1 has not beaten yet (its stamp is from before)
        assert peers.resolved == []
        peers.stamp += timedelta(seconds=2)  # it beats
        await asyncio.sleep(0.3)
        assert peers.resolved == []
        for _ in range(50):  # now silent for longer than node_dead_after_s: resolved
            if peers.resolved:
                break
            await asyncio.sleep(0.1)
        assert peers.resolved and set(peers.resolved) == {"pbx-1"}
        assert peers.beats > 10  # this node's own heartbeat went on all along
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize(("outcome", "disposition"), [(Outcome.OPTED_OUT, "suppressed"), (Outcome.ANSWERED, "reached"),
                                                      (Outcome.OPTED_OUT, "paid")])  # fmt: skip
def test_the_owners_true_ending_replaces_the_unknown_a_peer_recorded(tmp_path: Path, outcome: Outcome,
                                                                     disposition: str) -> None:  # fmt: skip
    """pbx-2 took pbx-1 for dead and ended its call `unknown`; pbx-1 was alive (frozen, or its SQL
    cut off) and now records what happened: the attempt says it, an opt-out reaches the DNC list,
    a reached contact is settled. A replay changes nothing more; another node's ending is ignored."""
    url = f"sqlite:///{tmp_path / 'nodes.db'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    t0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    pbx, other = (Repository(db.session_factory(engine), node=name, clock=lambda: t0) for name in ("pbx-1", "pbx-2"))
    with pbx.sessions.begin() as s:
        c = Campaign(name="c", state=CampaignState.ACTIVE, created_at=t0, max_concurrent=5, calls_per_second=100,
                     settings={"retries": {"max_attempts": 3}})  # fmt: skip
        s.add(Contact(campaign=c, external_id="c0", created_at=t0, fields={}, phones=[Phone(number="+34611100000", position=0)]))
        s.flush()
        cid = c.id
    [plan] = pbx.claim(cid, 1, t0, token="t")
    assert pbx.confirm_claim("t") == {plan.attempt_id}
    dead_node = DeadNode("pbx-1", "", t0, [plan.attempt_id])
    assert other.resolve_dead(dead_node, max_call_s=3600, gone=[plan.attempt_id]) == 1
    other.finish(plan.attempt_id, outcome=Outcome.ANSWERED, reason="not the owner")  # ignored
    if disposition == "paid":  # a payment import settled the contact meanwhile: it stays paid
        with pbx.sessions.begin() as s:
            s.scalars(select(Contact)).one().disposition = Disposition.PAID
    for _ in range(2):  # the owner's ending, then its journal's replay
        pbx.finish(plan.attempt_id, outcome=outcome, reason="reported by the IVR")
    with pbx.sessions() as s:
        attempt = s.get(Attempt, plan.attempt_id)
        assert attempt is not None and (attempt.outcome, attempt.reason) == (outcome, "reported by the IVR")
        contact = s.scalars(select(Contact)).one()
        assert contact.disposition.value == disposition and contact.live_attempt_id is None
        assert (s.get(Dnc, "+34611100000") is not None) == (outcome == Outcome.OPTED_OUT)
    engine.dispose()
