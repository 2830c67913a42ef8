"""The AGI protocol and one call's AGI channel, independent of the transport.

The same :class:`AgiChannel` runs over a FastAGI socket (dialer.ivr.fastagi) and over the
stdin/stdout of a process AGI script (agi_scripts/dialer_agi.py). It needs only a line reader
(``readuntil(b"\\n")``, as asyncio.StreamReader) and a writer (``write``/``drain``/``close``).

Replies from Asterisk (res_agi):
    200 result=0                          200 result=1 (value)
    200 result=53 endpos=12480            200 result=1234 (timeout)
    510 Invalid or unknown command        511 Command Not Permitted on a dead channel ...
    520-Invalid command syntax.  Proper usage follows:
    ...usage lines...
    520 End of proper usage.
and, at any moment once the channel hangs up, one unsolicited line ``HANGUP`` (FastAGI; a
process AGI gets SIGHUP instead, which agi_scripts turns into the same line).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

COMMAND_TIMEOUT_S = 10.0  # plain commands (variables, answer, verbose)
MEDIA_TIMEOUT_S = 120.0  # commands that play or wait for the caller, unless the caller says
MAX_LINE = 8192  # longest line accepted from Asterisk (and the reader's buffer limit)
MAX_COMMAND = 2000  # Asterisk reads commands into a 2 KiB buffer (AGI_BUF_LEN 2048)
DIGITS = "0123456789*#"

# Commands whose result=-1 means the channel is gone (or failed beyond use).
_MINUS_ONE_IS_HANGUP = frozenset(
    {
        "ANSWER", "STREAM FILE", "CONTROL STREAM FILE", "GET DATA", "GET OPTION", "WAIT FOR DIGIT",
        "SAY DIGITS", "SAY NUMBER", "SAY ALPHA", "SAY DATE", "SAY TIME", "SAY DATETIME",
        "SAY PHONETIC", "RECORD FILE", "RECEIVE CHAR", "EXEC",
    }
)


class AgiError(Exception):
    """Something went wrong talking AGI."""


class AgiHangup(AgiError):
    """The channel hung up (result -1, a HANGUP line, 511 dead channel, or the link closed)."""


class AgiUsageError(AgiError):
    """Asterisk refused the command: 510 invalid/unknown command, 520 usage."""


class AgiTimeout(AgiError):
    """No reply (or no header) within the timeout."""


class AgiArgumentError(AgiError, ValueError):
    """An argument cannot be sent safely (a line break would inject a second command)."""


class LineReader(Protocol):
    async def readuntil(self, separator: bytes = b"\n") -> bytes: ...


class LineWriter(Protocol):
    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...


def escape_arg(value: str) -> str:
    """One AGI command argument, double-quoted with backslash escapes.

    Asterisk's parse_args() splits on blanks outside double quotes and drops a backslash in
    front of any character, so ``"a \\"b\\" \\\\c"`` arrives as ``a "b" \\c``. An empty value
    is sent as ``""``. CR, LF and NUL are refused: they would end the command line.
    """
    text = str(value)
    if any(ch in text for ch in "\r\n\0"):
        raise AgiArgumentError(f"AGI argument contains a line break or NUL: {text[:40]!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_APP_SPECIAL = re.compile(r'([\\",()\[\]{}|])')


def escape_app_arg(value: str) -> str:
    """One dialplan application argument for EXEC, backslash-escaping what the standard
    argument parser (AST_STANDARD_APP_ARGS) treats as syntax: ``\\ " , ( ) [ ] { } |``.

    So a comma inside a value stays inside it; the commas between arguments separate them.
    Applications that read their data raw (Set, NoOp, ...) see the backslashes: use
    set_variable() rather than EXEC Set.
    """
    text = str(value)
    if any(ch in text for ch in "\r\n\0"):
        raise AgiArgumentError(f"application argument contains a line break or NUL: {text[:40]!r}")
    return _APP_SPECIAL.sub(r"\\\1", text)


_REPLY = re.compile(r"^(\d{3}) result=(\S*)(?: \((.*)\))?((?: [\w-]+=\S*)*)\s*$")


@dataclass(frozen=True)
class AgiResult:
    """One reply. ``result`` is the integer after result= (0 when it is not a number, -1 for
    non-200 replies); ``value`` is that token as text (GET DATA digits keep leading zeros);
    ``data`` is the text in parentheses (or the message/usage text of an error reply);
    ``extra`` holds trailing key=value pairs such as endpos."""

    code: int
    result: int
    data: str
    raw: str
    value: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str) -> AgiResult:
        lines = raw.split("\n")
        first = lines[0].rstrip("\r")
        match = _REPLY.match(first)
        if match:
            value = match.group(2)
            try:
                result = int(value)
            except ValueError:
                result = 0
            extra = dict(kv.split("=", 1) for kv in match.group(4).split())
            return cls(int(match.group(1)), result, match.group(3) or "", raw, value, extra)
        if len(first) >= 3 and first[:3].isdigit():
            code = int(first[:3])
            if len(lines) > 1:  # 520-... multi-line usage: keep the usage lines
                data = "\n".join(line.rstrip("\r") for line in lines[1:-1])
            else:
                data = first[4:]
            return cls(code, -1, data, raw)
        raise AgiError(f"unreadable AGI reply: {first[:200]!r}")

    @property
    def endpos(self) -> int | None:
        return int(self.extra["endpos"]) if "endpos" in self.extra else None


def parse_env_line(line: str) -> tuple[str, str] | None:
    """``agi_channel: Local/1@x-0001;1`` -> (key, value); None for a line without a colon."""
    key, sep, value = line.partition(":")
    if not sep or not key.strip():
        return None
    return key.strip(), value.strip()


async def read_line(reader: LineReader) -> str:
    """One line without its end; AgiHangup on EOF, AgiError on a line over the reader's limit."""
    try:
        raw = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        raise AgiHangup("AGI connection closed") from exc
    except asyncio.LimitOverrunError as exc:
        raise AgiError(f"AGI line longer than {exc.consumed} bytes") from exc
    except (ConnectionError, OSError) as exc:
        raise AgiHangup(f"AGI connection lost: {exc}") from exc
    return raw.decode("utf-8", errors="replace").rstrip("\r\n")


async def read_env(reader: LineReader, *, timeout: float, max_lines: int = 200) -> dict[str, str]:
    """The agi_* header block up to its blank line, within ``timeout`` seconds in all."""
    env: dict[str, str] = {}
    try:
        async with asyncio.timeout(timeout):
            for _ in range(max_lines):
                line = await read_line(reader)
                if not line:
                    return env
                pair = parse_env_line(line)
                if pair:
                    env[pair[0]] = pair[1]
    except TimeoutError:
        raise AgiTimeout(f"AGI header not complete within {timeout:g} s ({len(env)} lines read)") from None
    raise AgiError(f"AGI header longer than {max_lines} lines")


def script_of(env: dict[str, str]) -> str:
    """The FastAGI path (``collections`` of agi://h:p/collections?x=1), else the script name."""
    script = env.get("agi_network_script")
    if script is None:
        request = env.get("agi_request", "")
        script = urlsplit(request).path if "://" in request else request.rsplit("/", 1)[-1]
    return script.split("?", 1)[0].strip("/")


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
        self.args = _args_of(env)
        self.command_timeout = command_timeout
        self.media_timeout = media_timeout
        self.hung_up = False  # a HANGUP line (or SIGHUP) has been seen
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
        _check_digits(escape_digits)
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


def _args_of(env: dict[str, str]) -> list[str]:
    numbered = []
    for key, value in env.items():
        if key.startswith("agi_arg_") and key[8:].isdigit():
            numbered.append((int(key[8:]), value))
    return [value for _, value in sorted(numbered)]


def _check_digits(digits: str) -> None:
    bad = [d for d in digits if d not in DIGITS]
    if bad:
        raise AgiArgumentError(f"escape digits may only be {DIGITS}: {digits!r}")
