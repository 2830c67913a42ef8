"""The dialer's only door to the Asterisk Manager Interface.

Wraps panoramisk's Manager so that:
- connecting and logging in either succeed or raise one clear error (unreachable, refused
  login, timeout) instead of retrying forever in the background;
- every action has a timeout;
- nothing is ever re-sent on its own after a disconnect (panoramisk re-sends pending actions
  when a new connection reports FullyBooted; an Originate sent twice calls a person twice);
- actions still waiting when the connection drops fail at once with AmiDisconnected;
- events reach any number of subscribers, each through its own queue.
Reconnecting with backoff and resync belong to the engine, which owns the policy.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from panoramisk import Manager
from panoramisk.actions import Action
from panoramisk.message import Message

from dialer.ami.errors import AmiActionError, AmiAuthError, AmiConnectError, AmiDisconnected, AmiError, AmiTimeout
from dialer.ami.events import EventStream
from dialer.config import AmiSettings

log = logging.getLogger(__name__)

READ_CHUNK_BYTES = 16 * 1024


class _NeverResend:
    """panoramisk re-sends every action not in `forgetable_actions`: here, none is."""

    def __contains__(self, _action: object) -> bool:
        return True


class _Action(Action):  # type: ignore[misc]
    """panoramisk 1.4 takes QueueAdd's one answer ("Added interface to queue") for the start of
    a list that never comes, so the action would never complete."""

    @property
    def multi(self) -> bool:
        if str(self.get("Action", "")).lower() == "queueadd":
            return False
        return bool(super().multi)


class _Manager(Manager):  # type: ignore[misc]
    """panoramisk's Manager with connection handling taken over by AmiClient."""

    def __init__(self, client: AmiClient, **config: Any) -> None:
        super().__init__(**config)
        self._client = client

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        # Called when create_connection finishes; AmiClient.connect awaits the same future.
        if f.cancelled() or f.exception() is not None:
            return
        transport, protocol = f.result()
        # Read at most this much per callback: a burst of thousands of events (a wave of calls
        # ending together) is then parsed in slices, and other tasks run in between.
        if hasattr(transport, "max_size"):
            transport.max_size = READ_CHUNK_BYTES
        self._connected = True
        self.protocol = protocol
        protocol.queue = deque()
        protocol.factory = self
        protocol.log = self.log
        protocol.config = self.config
        protocol.encoding = self.encoding = self.config["encoding"]
        self.responses = protocol.responses = {}

    def connection_lost(self, exc: Any) -> None:
        self._connected = False
        self.authenticated = False
        self._client._on_connection_lost(self, exc)


class AmiClient:
    """One logged-in AMI session."""

    def __init__(self, settings: AmiSettings, events: str = "on") -> None:
        self.settings = settings
        self._events_mask = events
        self._manager: _Manager | None = None
        self._streams: list[EventStream] = []
        self._booted = asyncio.Event()
        self._lost = asyncio.Event()
        self._inflight: set[asyncio.Future[Any]] = set()
        self._disconnect_callbacks: list[Callable[[BaseException | None], None]] = []

    # -- connection -------------------------------------------------------------------
    async def connect(self) -> None:
        """Connect and log in; raises AmiConnectError, AmiAuthError or AmiTimeout."""
        s = self.settings
        loop = asyncio.get_running_loop()
        self._booted.clear()
        self._lost.clear()
        manager = _Manager(
            self,
            loop=loop,
            host=s.host,
            port=s.port,
            events=self._events_mask,
            forgetable_actions=_NeverResend(),
            ping_delay=3600,  # the engine decides how to watch the link
        )
        manager.register_event("*", self._dispatch)
        self._manager = manager
        try:
            await asyncio.wait_for(manager.connect(), s.connect_timeout)
        except asyncio.TimeoutError:
            raise AmiTimeout(f"AMI {s.host}:{s.port}: no connection within {s.connect_timeout:g} s") from None
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise AmiConnectError(f"AMI {s.host}:{s.port} unreachable: {reason}") from None
        try:
            resp = await self._send(
                {"Action": "Login", "Username": s.username, "Secret": s.secret, "Events": self._events_mask},
                s.connect_timeout,
            )
        except AmiError:
            self.close()
            raise
        if not resp.success:
            self.close()
            raise AmiAuthError(
                f"AMI {s.host}:{s.port}: login as {s.username!r} refused ({resp.message or 'no reason given'})"
            )
        manager.authenticated = True
        log.info("AMI logged in to %s:%s as %s", s.host, s.port, s.username)

    async def wait_fully_booted(self, timeout: float) -> None:
        """Wait for the FullyBooted event Asterisk sends after login once it has booted."""
        try:
            await asyncio.wait_for(self._booted.wait(), timeout)
        except asyncio.TimeoutError:
            raise AmiTimeout(f"Asterisk did not report FullyBooted within {timeout:g} s") from None

    @property
    def connected(self) -> bool:
        return self._manager is not None and bool(self._manager._connected) and not self._lost.is_set()

    def on_disconnect(self, callback: Callable[[BaseException | None], None]) -> None:
        self._disconnect_callbacks.append(callback)

    async def wait_disconnected(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._lost.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def close(self) -> None:
        manager, self._manager = self._manager, None
        if manager is None:
            return
        self._lost.set()
        self._fail_pending(AmiDisconnected("AMI connection closed"))
        manager.close()

    def _on_connection_lost(self, manager: _Manager, exc: Any) -> None:
        if manager is not self._manager or self._lost.is_set():
            return  # a late notice from a connection already replaced or closed
        self._lost.set()
        log.warning("AMI connection to %s:%s lost", self.settings.host, self.settings.port)
        self._fail_pending(AmiDisconnected("AMI connection lost"))
        error = exc if isinstance(exc, BaseException) else None
        for callback in self._disconnect_callbacks:
            callback(error)

    def _fail_pending(self, error: AmiError) -> None:
        """Fail every action still waiting; panoramisk would otherwise drop or re-send them."""
        inflight, self._inflight = self._inflight, set()
        for future in inflight:
            if not future.done():
                future.set_exception(error)
                future.exception()  # retrieved: no "never retrieved" warning
        if self._manager is not None:
            self._manager.awaiting_actions.clear()

    # -- actions ----------------------------------------------------------------------
    async def _send(self, fields: Mapping[str, Any], timeout: float) -> Any:
        manager = self._manager
        if manager is None or not manager._connected or manager.protocol is None:
            raise AmiDisconnected("AMI is not connected")
        action = _Action(dict(fields))
        future = manager.send_action(action)
        self._inflight.add(future)
        future.add_done_callback(self._inflight.discard)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            manager.protocol.responses.pop(action.id, None)
            future.cancel()
            raise AmiTimeout(f"AMI action {fields.get('Action')} got no answer within {timeout:g} s") from None

    async def action(self, fields: Mapping[str, Any], timeout: float | None = None) -> Message:
        """Send one action and return its response; Response: Error raises AmiActionError."""
        resp = await self._send(fields, timeout or self.settings.action_timeout)
        if isinstance(resp, list):
            first = resp[0]
            if not first.success:
                raise AmiActionError(str(fields.get("Action")), first.message)
            return first
        if not resp.success:
            raise AmiActionError(str(fields.get("Action")), resp.message)
        return resp

    async def action_list(self, fields: Mapping[str, Any], timeout: float | None = None) -> list[Message]:
        """Send an action answered by an event list (CoreShowChannels, QueueStatus, ...)."""
        resp = await self._send(fields, timeout or self.settings.action_timeout)
        messages = resp if isinstance(resp, list) else [resp]
        if not messages[0].success:
            raise AmiActionError(str(fields.get("Action")), messages[0].message)
        return [m for m in messages[1:] if not str(m.get("Event", "")).endswith("Complete")]

    async def originate(
        self,
        *,
        channel: str,
        context: str,
        exten: str = "s",
        priority: int = 1,
        channel_id: str,
        timeout_ms: int = 30000,
        caller_id: str | None = None,
        variables: Mapping[str, str] | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> Message:
        """Send one asynchronous Originate and return its OriginateResponse event.

        Sent exactly once: never re-sent after a disconnect, which raises AmiDisconnected
        (the caller cannot know whether the call went out).
        """
        fields: dict[str, Any] = {
            "Action": "Originate",
            "Channel": channel,
            "Context": context,
            "Exten": exten,
            "Priority": str(priority),
            "ChannelId": channel_id,
            "Timeout": str(timeout_ms),
            "Async": "true",
        }
        if caller_id:
            fields["CallerID"] = caller_id
        if variables:
            fields["Variable"] = [f"{k}={v}" for k, v in variables.items()]
        if extra:
            fields.update(extra)
        wait = timeout_ms / 1000 + self.settings.action_timeout
        resp = await self._send(fields, wait)
        messages = resp if isinstance(resp, list) else [resp]
        if not messages[0].success:
            raise AmiActionError("Originate", messages[0].message)
        final = messages[-1]
        self._dispatch(self._manager, final)
        return final

    async def ping(self, timeout: float | None = None) -> None:
        await self.action({"Action": "Ping"}, timeout)

    # -- events -----------------------------------------------------------------------
    def events(self, names: Iterable[str] | None = None, maxsize: int = 10000) -> EventStream:
        """A new subscription to the events named (all when None); close it when done."""
        stream = EventStream(names, maxsize, on_close=self._streams.remove)
        self._streams.append(stream)
        return stream

    def _dispatch(self, _manager: Any, event: Message) -> None:
        name = str(event.get("Event", ""))
        if name == "FullyBooted":
            self._booted.set()
        for stream in list(self._streams):
            stream.offer(name, event)

    async def __aenter__(self) -> AmiClient:
        await self.connect()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.close()

