"""A silent node's Asterisk is asked which of its calls are gone only where its address reaches it:
a loopback address in another machine's node row is this machine's own Asterisk, whose answer
would say every one of the dead node's calls is gone while they may still be up."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from dialer.config import AmiSettings, EngineSettings
from dialer.engine.node import NodeKeeper
from dialer.storage.nodes import DeadNode
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
