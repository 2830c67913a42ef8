"""FastAGI believes only Asterisk (issue 12, item 5), with a fake AGI peer trying each forgery.

A forged session is refused, logged once, changes nothing (no flow, no ivr_event, no DNC row,
the live call untouched) and learns nothing: it receives the claim's GET VARIABLEs, then EOF.
The daemon's own server (IvrHost) and its service are under test; the fake peer plays Asterisk.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from dialer.config import AgiSettings
from dialer.domain import AttemptState
from dialer.engine.ivr_host import IvrHost
from dialer.engine.tracker import CallTracker, LiveCall
from dialer.ivr.fastagi import FastAgiServer
from dialer.ivr.service import IvrService
from dialer.ivr.trust import PeerPolicy, new_token, token_hash
from dialer.sandbox.sim import sim_number
from dialer.storage import agi_tokens, db
from dialer.storage.models import Attempt, Dnc, IvrEvent
from dialer.storage.repository import Repository
from tests.campaigns import make_campaign, new_database
from tests.fake_agi import FakeAsterisk, header

ROOT = Path(__file__).resolve().parents[1]
ATTEMPT_Q = 'GET VARIABLE "DIALER_ATTEMPT"'
TOKEN_Q = 'GET VARIABLE "DIALER_TOKEN"'


@dataclass
class Bed:
    """Three claimed attempts, live in the daemon's tracker, each with its token."""

    url: str
    sessions: sessionmaker[Session]
    tracker: CallTracker
    ids: list[str]
    tokens: dict[str, str]


@pytest.fixture
def bed(tmp_path: Path) -> Bed:
    url = new_database(str(tmp_path / "d.db"))
    cid = make_campaign(url, "trust", [sim_number("human", tag=i) for i in range(3)], render=False, calls_per_second=100,
                        people=[{"name": "Ana", "amount": "12500"}] * 3)  # fmt: skip
    sessions = db.session_factory(db.make_engine(url))
    repo = Repository(sessions)
    plans = repo.claim(cid, 3, token="claim-1")
    repo.confirm_claim("claim-1")  # its Originates "left", as the engine does before it sends
    tracker = CallTracker()
    tokens = {p.attempt_id: new_token() for p in plans}
    for p in plans:
        tracker.track(LiveCall(p.attempt_id, p.campaign_id, p.contact_id, agi_token_hash=token_hash(tokens[p.attempt_id])))
    agi_tokens.store(sessions, {a: token_hash(t) for a, t in tokens.items()})
    return Bed(url, sessions, tracker, [p.attempt_id for p in plans], tokens)


@pytest.fixture
async def daemon(bed: Bed) -> AsyncIterator[FastAgiServer]:
    """The daemon's FastAGI server as `dialer run` builds it (default peers: loopback)."""
    host = IvrHost(bed.sessions, AgiSettings(port=0))
    await host.start(bed.tracker)
    assert host.server is not None
    yield host.server
    await host.close(0.5)


async def claim(peer: FakeAsterisk, attempt_id: str, token: str | None, uniqueid: str | None = None) -> None:
    """Send a header and answer the gate's questions as a peer claiming `attempt_id` would."""
    peer.send(header("collections", agi_uniqueid=attempt_id if uniqueid is None else uniqueid))
    await peer.expect(ATTEMPT_Q, f"200 result=1 ({attempt_id})")
    if uniqueid is None or uniqueid == attempt_id:
        await peer.expect(TOKEN_Q, f"200 result=1 ({token})" if token else "200 result=0")


async def admitted(peer: FakeAsterisk, attempt_id: str, token: str) -> None:
    await claim(peer, attempt_id, token)
    await peer.expect('SET VARIABLE "DIALER_TOKEN" ""', "200 result=1")  # the token leaves the channel


def assert_nothing_changed(bed: Bed, attempt_id: str) -> None:
    live = bed.tracker.calls[attempt_id]
    assert (live.outcome, live.step, live.events, live.ivr_done, live.agi_admitted) == (None, None, (), None, False)
    assert live.details == {}
    with bed.sessions() as s:
        assert s.scalar(select(func.count()).select_from(IvrEvent)) == 0
        assert s.scalar(select(func.count()).select_from(Dnc)) == 0
        attempt = s.get(Attempt, attempt_id)
        assert attempt is not None and (attempt.state, attempt.outcome) == (AttemptState.ORIGINATING, None)


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "refused" in r.getMessage()]


@pytest.mark.parametrize("forgery", ["no_token", "wrong_token", "not_live", "other_channel", "not_an_attempt"])
async def test_a_forged_session_is_refused_once_changes_nothing_and_learns_nothing(
    forgery: str, bed: Bed, daemon: FastAgiServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    target, token = bed.ids[0], bed.tokens[bed.ids[0]]
    peer = await FakeAsterisk.connect(daemon.port)
    if forgery == "no_token":
        await claim(peer, target, None)
    elif forgery == "wrong_token":
        await claim(peer, target, new_token())
    elif forgery == "not_live":  # a call this daemon no longer tracks, even with its real token
        ended = bed.tracker.calls.pop(bed.ids[1])
        await claim(peer, ended.attempt_id, bed.tokens[ended.attempt_id])
    elif forgery == "other_channel":  # a real attempt id, read on a channel that is not its own
        await claim(peer, target, token, uniqueid="1700000000.42")
    else:
        peer.send(header("collections", agi_uniqueid="x"))
        await peer.expect(ATTEMPT_Q, "200 result=1 (C1; DROP TABLE attempt)")
    assert await peer.rest() == b""  # closed: no flow, no prompt, no SET VARIABLE with the contact
    if forgery == "not_live":
        bed.tracker.track(ended)
    assert all(line.startswith("GET VARIABLE") for line in peer.received)
    assert (daemon.served, daemon.refused) == (0, 1)
    assert len(refusals(caplog)) == 1, refusals(caplog)
    assert all(t not in caplog.text for t in bed.tokens.values())
    for attempt_id in bed.ids:
        assert_nothing_changed(bed, attempt_id)


async def test_one_session_per_attempt(bed: Bed, daemon: FastAgiServer, caplog: pytest.LogCaptureFixture) -> None:
    target = bed.ids[0]
    first = await FakeAsterisk.connect(daemon.port)
    await admitted(first, target, bed.tokens[target])
    assert bed.tracker.calls[target].agi_admitted
    second = await FakeAsterisk.connect(daemon.port)  # same attempt, same (stolen) token
    await claim(second, target, bed.tokens[target])
    assert await second.rest() == b""
    assert "already had its AGI session" in "\n".join(refusals(caplog))
    first.close()


async def test_an_address_that_is_not_asterisk_is_closed_before_a_byte_is_read(
    bed: Bed, caplog: pytest.LogCaptureFixture
) -> None:
    host = IvrHost(bed.sessions, AgiSettings(port=0, peers="127.0.0.2"))  # Asterisk is elsewhere
    await host.start(bed.tracker)
    assert host.server is not None
    try:
        peer = await FakeAsterisk.connect(host.server.port)  # from 127.0.0.1
        peer.send(header("collections", agi_uniqueid=bed.ids[0]))
        assert await peer.rest() == b"" and peer.received == []
        assert (host.server.served, host.server.refused) == (0, 1)
        assert "not an Asterisk peer (allowed: 127.0.0.2/32)" in caplog.text
    finally:
        await host.close(0.5)
    assert_nothing_changed(bed, bed.ids[0])


def test_peer_lists_are_checked_and_name_the_setting() -> None:
    policy = PeerPolicy.parse("10.0.0.5, 10.1.0.0/24 ::1")
    assert policy.allows("10.0.0.5") and policy.allows("10.1.0.77") and policy.allows("::1")
    assert policy.allows("::ffff:10.0.0.5") and not policy.allows("10.0.0.6") and not policy.allows("")
    assert PeerPolicy().allows("127.0.0.1") and not PeerPolicy().allows("127.0.0.2")
    with pytest.raises(ValueError, match="DIALER_AGI_PEERS: 'pbx.example' is not an IP address or network"):
        PeerPolicy.parse("127.0.0.1 pbx.example")


async def test_per_peer_limit_leaves_room_for_other_peers(bed: Bed) -> None:
    service = IvrService(bed.sessions, tracker=bed.tracker)
    settings = AgiSettings(port=0, peers="127.0.0.1 127.0.0.2", max_per_peer=2)
    server = FastAgiServer.for_settings(settings, service.handler_for, service)
    await server.start()
    try:
        busy = [await FakeAsterisk.connect(server.port, "127.0.0.2") for _ in range(2)]
        for peer, attempt_id in zip(busy, bed.ids, strict=False):
            await admitted(peer, attempt_id, bed.tokens[attempt_id])
        third = await FakeAsterisk.connect(server.port, "127.0.0.2")
        third.send(header("collections", agi_uniqueid=bed.ids[2]))
        assert await third.rest() == b"" and third.received == []  # over 127.0.0.2's share
        other = await FakeAsterisk.connect(server.port, "127.0.0.1")
        await admitted(other, bed.ids[2], bed.tokens[bed.ids[2]])  # another peer still gets in
        for peer in (*busy, other):
            peer.close()
    finally:
        await server.close(0.5)


async def test_slow_clients_cannot_hold_the_sessions(bed: Bed) -> None:
    service = IvrService(bed.sessions, tracker=bed.tracker)
    server = FastAgiServer(service.handler_for, "127.0.0.1", 0, gate=service, header_timeout=2.0,
                           max_pending_per_peer=2)  # fmt: skip
    await server.start()
    loop = asyncio.get_running_loop()
    try:
        slow = []
        for attempt_id in bed.ids[:2]:  # a header, then never an answer to the gate
            peer = await FakeAsterisk.connect(server.port)
            peer.send(header("collections", agi_uniqueid=attempt_id))
            assert await peer.command() == ATTEMPT_Q
            slow.append(peer)
        started = loop.time()
        real = await FakeAsterisk.connect(server.port)  # evicts the oldest slow client at once
        await admitted(real, bed.ids[2], bed.tokens[bed.ids[2]])
        assert loop.time() - started < 1.0
        assert await slow[0].rest() == b""  # evicted
        assert await slow[1].rest() == b"" and loop.time() - started < 3.0  # dropped at the deadline
        real.close()
        assert server.refused == 1 and server.rejected == 2
    finally:
        await server.close(0.5)
    for attempt_id in bed.ids[:2]:
        assert_nothing_changed(bed, attempt_id)


# -- without the daemon's memory: `dialer agi serve` and the process AGI script ---------------------
def test_sql_gate_admits_one_session_for_a_live_attempt_with_its_token(bed: Bed) -> None:
    a, b = bed.ids[0], bed.ids[1]
    assert agi_tokens.consume(bed.sessions, a, token_hash(new_token())) == f"attempt {a}: wrong token"
    assert agi_tokens.consume(bed.sessions, a, token_hash(bed.tokens[a])) is None
    assert agi_tokens.consume(bed.sessions, a, token_hash(bed.tokens[a])) == f"attempt {a} already had its AGI session"
    with bed.sessions.begin() as s:
        s.execute(update(Attempt).where(Attempt.id == b).values(state=AttemptState.ENDED))
    assert agi_tokens.consume(bed.sessions, b, token_hash(bed.tokens[b])) == f"attempt {b} is not live (ended)"
    with bed.sessions() as s:  # the token itself is nowhere in SQL
        stored = set(s.scalars(select(Attempt.agi_token_hash)))
    assert not stored & set(bed.tokens.values()) and agi_tokens.USED in stored


async def test_process_agi_script_refuses_a_wrong_token_and_writes_nothing(bed: Bed) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "agi_scripts" / "dialer_agi.py"), "collections", cwd=ROOT,
        env={"DIALER_DB_URL": bed.url, "PATH": "/usr/bin:/bin"},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin and proc.stdout and proc.stderr
    peer = FakeAsterisk(proc.stdout, proc.stdin)
    try:
        await claim(peer, bed.ids[0], new_token())
        err = (await asyncio.wait_for(proc.stderr.read(), 20)).decode()
        assert await asyncio.wait_for(proc.wait(), 10) == 2
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert f"session refused (channel Local/s@sim-test-agi-caller-00000001;1): attempt {bed.ids[0]}: wrong token" in err
    assert peer.received == [ATTEMPT_Q, TOKEN_Q]
    assert_nothing_changed(bed, bed.ids[0])
    with bed.sessions() as s:  # and the hash was not used up by the forgery
        assert s.get(Attempt, bed.ids[0]).agi_token_hash == token_hash(bed.tokens[bed.ids[0]])  # type: ignore[union-attr]
