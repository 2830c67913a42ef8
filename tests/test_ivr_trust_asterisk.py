"""The FastAGI gate against the sandbox's real Asterisk (issue 12, item 5): a real channel carries
its attempt's token from the Originate; the gate admits it (its Uniqueid is the ChannelId, the
attempt id) and takes the token off the channel; a wrong token, or a real token read on another
channel, is refused and AGI() returns to the dialplan."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from dialer.ami import AmiClient
from dialer.engine.tracker import CallTracker, LiveCall
from dialer.ivr.agi_channel import AgiChannel
from dialer.ivr.fastagi import FastAgiServer
from dialer.ivr.service import IvrService
from dialer.ivr.trust import new_token, token_hash
from dialer.sandbox.instance import Sandbox
from dialer.storage import db
from tests.campaigns import new_database

pytestmark = pytest.mark.asterisk


async def test_real_channels_are_believed_only_with_their_own_token(sandbox: Sandbox, ami: AmiClient,
                                                                    tmp_path: Path) -> None:  # fmt: skip
    tracker = CallTracker()
    good, other = str(uuid.uuid4()), str(uuid.uuid4())
    tokens = {good: new_token(), other: new_token()}
    for attempt_id, token in tokens.items():
        tracker.track(LiveCall(attempt_id, 1, 1, agi_token_hash=token_hash(token)))
    service = IvrService(db.session_factory(db.make_engine(new_database(str(tmp_path / "d.db")))), tracker=tracker)
    seen: dict[str, tuple[str, str | None]] = {}

    async def probe(ch: AgiChannel) -> None:
        seen[ch.attempt_id or ""] = (ch.uniqueid, await ch.get_variable("DIALER_TOKEN"))

    server = FastAgiServer({"probe": probe}.get, "127.0.0.1", sandbox.agi.port, gate=service)
    await server.start()
    calls = {  # channel id: (DIALER_ATTEMPT, DIALER_TOKEN)
        good: (good, tokens[good]),
        str(uuid.uuid4()): (other, tokens[other]),  # a real token, read on a channel that is not its attempt's
        other: (other, new_token()),  # its own channel, a wrong token
    }
    try:
        with ami.events(["UserEvent"]) as events:
            for channel_id, (attempt_id, token) in calls.items():  # side by side
                response = await ami.originate(
                    channel="Local/s@sim-test-agi-caller", context="sim-test-agi", channel_id=channel_id,
                    variables={"AGIURL": f"{sandbox.agi.url}/probe", "HOLD": "1", "DIALER_ATTEMPT": attempt_id,
                               "DIALER_TOKEN": token},
                )  # fmt: skip
                assert response.get("Response") == "Success", response
            ended = set()
            while ended != set(calls):  # AGI() returned to the dialplan on every channel
                event = await events.wait_for(lambda e: e.get("UserEvent") == "SimAgi", 30)
                ended.add(str(event.get("Uniqueid")))
    finally:
        await server.close(2.0)
    assert seen == {good: (good, "")}  # admitted: Uniqueid = ChannelId = attempt id; token taken off
    assert (server.served, server.refused) == (1, 2)
    assert tracker.calls[good].agi_admitted and not tracker.calls[other].agi_admitted
