"""The AGI protocol, independent of the transport: errors, argument escaping, replies, the
agi_* header. One call's channel is dialer.ivr.agi_channel.AgiChannel.

The same AgiChannel runs over a FastAGI socket (dialer.ivr.fastagi) and over the
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
import re
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

MAX_LINE = 8192  # longest line accepted from Asterisk (and the reader's buffer limit)
MAX_COMMAND = 2000  # Asterisk reads commands into a 2 KiB buffer (AGI_BUF_LEN 2048)
DIGITS = "0123456789*#"



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


def args_of(env: dict[str, str]) -> list[str]:
    numbered = []
    for key, value in env.items():
        if key.startswith("agi_arg_") and key[8:].isdigit():
            numbered.append((int(key[8:]), value))
    return [value for _, value in sorted(numbered)]


def check_digits(digits: str) -> None:
    bad = [d for d in digits if d not in DIGITS]
    if bad:
        raise AgiArgumentError(f"escape digits may only be {DIGITS}: {digits!r}")
