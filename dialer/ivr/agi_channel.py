"""One call's AGI channel: commands with timeouts, escaped arguments, replies read back, and the
unsolicited HANGUP line (see dialer.ivr.agi for the protocol itself)."""

from __future__ import annotations

import asyncio
import logging

from dialer.ivr.agi import (
    MAX_COMMAND,
    AgiArgumentError,
    AgiError,
    AgiHangup,
    AgiResult,
    AgiTimeout,
    AgiUsageError,
    LineReader,
    LineWriter,
    args_of,
    check_digits,
    escape_app_arg,
    escape_arg,
    read_line,
    script_of,
)

log = logging.getLogger(__name__)

COMMAND_TIMEOUT_S = 10.0  # plain commands (variables, answer, verbose)
MEDIA_TIMEOUT_S = 120.0  # commands that play or wait for the caller, unless the caller says

# Commands whose result=-1 means the channel is gone (or failed beyond use).
_MINUS_ONE_IS_HANGUP = frozenset(
    {
        "ANSWER", "STREAM FILE", "CONTROL STREAM FILE", "GET DATA", "GET OPTION", "WAIT FOR DIGIT",
        "SAY DIGITS", "SAY NUMBER", "SAY ALPHA", "SAY DATE", "SAY TIME", "SAY DATETIME",
        "SAY PHONETIC", "RECORD FILE", "RECEIVE CHAR", "EXEC",
    }
)


class AgiChannel:
    """One call's AGI session: commands out, replies in, hangup noticed anywhere."""

    def __init__(
        self,
        env: dict[str, str],
        reader: LineReader,
        writer: LineWriter,
        *,
        command_timeout: float = COMMAND_TIMEOUT_S,
        media_timeout: float = MEDIA_TIMEOUT_S,
    ) -> None:
        self.env = env
        self.script = script_of(env)
        self.args = args_of(env)
        self.command_timeout = command_timeout
        self.media_timeout = media_timeout
        self.hung_up = False  # a HANGUP line (or SIGHUP) has been seen
        self.attempt_id: str | None = None  # set by the gate (dialer.ivr.trust) once it believes the session
        self._reader = reader
        self._writer = writer
        self._lock = asyncio.Lock()
        self._broken: str | None = None  # after a timeout the reply stream can no longer be trusted

    @property
    def channel_name(self) -> str:
        return self.env.get("agi_channel", "")

    @property
    def uniqueid(self) -> str:
        return self.env.get("agi_uniqueid", "")

    # -- protocol -------------------------------------------------------------------------
    async def command(self, name: str, *args: str, timeout: float | None = None) -> AgiResult:
        """Send ``NAME "arg" ...`` and read its reply (AgiHangup/AgiUsageError/AgiTimeout)."""
        line = " ".join([name, *(escape_arg(a) for a in args)])
        if len(line.encode()) > MAX_COMMAND:
            raise AgiArgumentError(f"AGI command longer than {MAX_COMMAND} bytes: {line[:60]!r}...")
        wait = self.command_timeout if timeout is None else timeout
        async with self._lock:
            if self._broken:
                raise AgiError(f"AGI channel unusable: {self._broken}")
            seen_hangup = False
            try:
                async with asyncio.timeout(wait):
                    self._writer.write(line.encode() + b"\n")
                    await self._writer.drain()
                    raw, seen_hangup = await self._read_reply()
            except TimeoutError:
                self._broken = f"no reply to {name} within {wait:g} s"
                raise AgiTimeout(self._broken) from None
            except (ConnectionError, OSError) as exc:
                self._broken = f"connection lost: {exc}"
                raise AgiHangup(self._broken) from exc
            except AgiError as exc:  # EOF (AgiHangup) or an over-long line
                self._broken = str(exc)
                raise
        reply = AgiResult.parse(raw)
        log.debug("AGI %s -> %d", name, reply.code)  # never the values: keys and digits stay out of logs
        if reply.code == 511:
            raise AgiHangup(f"{name}: {reply.data}")
        if reply.code in (510, 520):
            raise AgiUsageError(f"{name}: {reply.code} {reply.data}")
        if reply.code != 200:
            raise AgiError(f"{name}: {reply.raw}")
        if seen_hangup:
            raise AgiHangup(f"channel hung up during {name}")
        if reply.result == -1 and name.upper() in _MINUS_ONE_IS_HANGUP:
            # -1 is also "file not found" (STREAM FILE) or a failed application. Asterisk
            # notices a hangup before it reads the next command and then refuses commands not
            # allowed on a dead channel (511), so CHANNEL STATUS tells the two apart.
            if await self._still_up():
                raise AgiError(f"{name} {' '.join(a for a in args if a)[:80]} failed (result -1, channel still up)")
            raise AgiHangup(f"{name} returned -1: channel hung up")
        return reply

    async def _still_up(self) -> bool:
        try:
            await self.command("CHANNEL STATUS")
        except AgiHangup:
            return False
        return True

    async def _read_reply(self) -> tuple[str, bool]:
        """The next reply (all lines of a 520 block); True if a HANGUP line came first."""
        seen_hangup = False
        while True:
            line = await read_line(self._reader)
            if line == "HANGUP":
                if not self.hung_up:
                    self.hung_up = True
                    seen_hangup = True
                continue
            if not line:
                continue
            if len(line) >= 4 and line[:3].isdigit() and line[3] == "-":
                lines = [line]
                end = line[:3] + " "
                while not lines[-1].startswith(end):
                    lines.append(await read_line(self._reader))
                return "\n".join(lines), seen_hangup
            return line, seen_hangup

    def close(self) -> None:
        self._broken = self._broken or "closed"
        try:
            self._writer.close()
        except (ConnectionError, OSError, RuntimeError):
            pass

    # -- commands -------------------------------------------------------------------------
    async def answer(self) -> None:
        await self.command("ANSWER")

    async def stream_file(
        self, path: str, escape_digits: str = "", *, timeout: float | None = None
    ) -> str | None:
        """Play ``path`` (no extension); the key that interrupted it, or None."""
        check_digits(escape_digits)
        reply = await self.command("STREAM FILE", path, escape_digits, timeout=timeout or self.media_timeout)
        return chr(reply.result) if reply.result > 0 else None

    async def get_data(
        self, path: str, timeout_ms: int, max_digits: int, *, timeout: float | None = None
    ) -> tuple[str, bool]:
        """Play ``path`` and read up to ``max_digits`` keys (# ends): (digits, timed_out)."""
        reply = await self.command(
            "GET DATA", path, str(int(timeout_ms)), str(int(max_digits)), timeout=timeout or self.media_timeout
        )
        return reply.value, reply.data == "timeout"

    async def wait_for_digit(self, timeout_ms: int, *, timeout: float | None = None) -> str | None:
        """One key within ``timeout_ms`` (-1: wait for ever), or None."""
        wait = timeout or (timeout_ms / 1000 + self.command_timeout if timeout_ms >= 0 else self.media_timeout)
        reply = await self.command("WAIT FOR DIGIT", str(int(timeout_ms)), timeout=wait)
        return chr(reply.result) if reply.result > 0 else None

    async def get_variable(self, name: str) -> str | None:
        reply = await self.command("GET VARIABLE", name)
        return reply.data if reply.result == 1 else None

    async def set_variable(self, name: str, value: str) -> None:
        await self.command("SET VARIABLE", name, value)

    async def exec(self, app: str, *args: str, timeout: float | None = None) -> int:
        """Run a dialplan application; its return value. Arguments are joined with "," after
        escape_app_arg(), so a comma inside one argument does not split it."""
        options = ",".join(escape_app_arg(a) for a in args)
        reply = await self.command("EXEC", app, options, timeout=timeout or self.media_timeout)
        if reply.result == -2:
            raise AgiUsageError(f"EXEC: no application named {app!r}")
        return reply.result

    async def hangup(self) -> None:
        await self.command("HANGUP")

    async def verbose(self, msg: str, level: int = 1) -> None:
        await self.command("VERBOSE", msg, str(int(level)))
