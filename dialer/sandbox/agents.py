"""The sandbox's simulated call center: how many agents a queue has, how long they talk, their
wrap-up after each call, and pauses (QueuePause), all over AMI as the sandbox's own `sim-floor`
user (asterisk_conf/sandbox/manager_sim.conf); the dialer's AMI user never gets write class agent.

Agents are Local/8NLLHH@sim-agents (asterisk_conf/sandbox/extensions_sim.conf): agent N talks
LL..HH seconds per call. Wrap-up is a pause after each call (AgentComplete), lifted after
`wrapup_s`: how agents in a call center do it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field, replace

from dialer.ami import AmiClient, AmiError
from dialer.config import AmiSettings

log = logging.getLogger(__name__)

FLOOR_USER, FLOOR_SECRET = "sim-floor", "sim-floor-sandbox-secret"
ACTION_TIMEOUT_S = 10.0
FLOORS = ("floor1", "floor2", "floor3")  # queues with no static members (queues_members.conf)


@dataclass(frozen=True)
class FloorShape:
    """What a floor looks like: `agents` agents talking `talk_s` (low, high) seconds, `wrapup_s` after each call."""

    agents: int = 3
    talk_s: tuple[int, int] = (20, 30)
    wrapup_s: float = 0.0

    def __post_init__(self) -> None:
        lo, hi = self.talk_s
        if not 1 <= self.agents <= 9:
            raise ValueError(f"agents: {self.agents} is out of range (1..9)")
        if not 0 <= lo <= hi <= 99:
            raise ValueError(f"talk_s: {self.talk_s} must be 0 <= low <= high <= 99 seconds")
        if self.wrapup_s < 0:
            raise ValueError("wrapup_s must be >= 0")

    def interface(self, n: int) -> str:
        lo, hi = self.talk_s
        return f"Local/8{n}{lo:02d}{hi:02d}@sim-agents/n"


def floor_settings(ami: AmiSettings) -> AmiSettings:
    """The sandbox floor user's login on the same Asterisk."""
    return replace(ami, username=FLOOR_USER, secret=FLOOR_SECRET)


@dataclass
class Floor:
    """One queue's simulated agents; `async with Floor(ami, queue, shape)` adds them and removes them at the end."""

    ami: AmiSettings
    queue: str
    shape: FloorShape = field(default_factory=FloorShape)
    client: AmiClient | None = None
    members: dict[str, str] = field(default_factory=dict)  # interface -> member name
    wrapping: set[str] = field(default_factory=set)
    _follower: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Floor:
        self.client = AmiClient(floor_settings(self.ami), events="on")
        await self.client.connect()
        await self.clear()
        for n in range(1, self.shape.agents + 1):
            await self.add(n)
        if self.shape.wrapup_s > 0:
            self._follower = asyncio.create_task(self._wrap_ups(), name=f"floor-{self.queue}")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
        try:
            await self.clear()
        finally:
            assert self.client is not None
            self.client.close()

    async def _action(self, fields: dict[str, str]) -> None:
        assert self.client is not None, "use the floor as `async with`"
        await self.client.action(fields, timeout=ACTION_TIMEOUT_S)

    async def add(self, n: int) -> str:
        interface, name = self.shape.interface(n), f"sim-agent-{n}"
        await self._action({"Action": "QueueAdd", "Queue": self.queue, "Interface": interface,
                            "MemberName": name, "Paused": "false"})  # fmt: skip
        self.members[interface] = name
        return interface

    async def clear(self) -> None:
        """Remove every member the queue has (this floor's and any left by an earlier run)."""
        assert self.client is not None
        found = await self.client.action_list({"Action": "QueueStatus", "Queue": self.queue}, timeout=ACTION_TIMEOUT_S)
        for member in [str(e.get("Location") or e.get("Interface")) for e in found if e.get("Event") == "QueueMember"]:
            with contextlib.suppress(AmiError):  # a static member cannot be removed: it stays
                await self._action({"Action": "QueueRemove", "Queue": self.queue, "Interface": member})
        self.members.clear()

    async def pause(self, n: int, paused: bool = True, reason: str = "break") -> None:
        """Pause agent `n` (1-based) through QueuePause, or take it back."""
        await self._action({"Action": "QueuePause", "Queue": self.queue, "Interface": self.shape.interface(n),
                            "Paused": "true" if paused else "false", "Reason": reason})  # fmt: skip

    async def _wrap_ups(self) -> None:
        """After each call an agent of this floor is paused for wrap-up, then back."""
        assert self.client is not None
        with self.client.events(["AgentComplete"]) as stream:
            while True:
                event = await stream.get(3600)
                interface = str(event.get("Interface") or "")
                if event.get("Queue") != self.queue or interface not in self.members:
                    continue
                asyncio.create_task(self._wrap_up(interface))  # noqa: RUF006 - bounded by the calls

    async def _wrap_up(self, interface: str) -> None:
        self.wrapping.add(interface)
        try:
            fields = {"Action": "QueuePause", "Queue": self.queue, "Interface": interface, "Reason": "wrap-up"}
            await self._action({**fields, "Paused": "true"})
            await asyncio.sleep(self.shape.wrapup_s)
            await self._action({**fields, "Paused": "false"})
        except AmiError as exc:
            log.warning("floor %s: wrap-up of %s failed: %s", self.queue, interface, exc)
        finally:
            self.wrapping.discard(interface)
