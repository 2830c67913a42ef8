"""Real SMS parts for the tests, each started as its own process and stopped by its pid: the test
SMSC (tests/smsc.py, SMPP) and Kannel's bearerbox + smsbox with Kannel's fake SMSC. Ports are free
ones the OS hands out, all on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from dialer.storage import db
from dialer.storage.sms_models import Sms

FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


def stop(proc: subprocess.Popen[Any], timeout_s: float = 10.0) -> None:
    """SIGTERM by pid, SIGKILL after the timeout."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)


@dataclass
class SmscProcess:
    port: int
    log: Path

    def parts(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]


@contextmanager
def smpp_smsc(tmp: Path, rules: dict[str, str], port: int | None = None) -> Iterator[SmscProcess]:
    """The test SMSC on a free port (or `port`: to start it again where it was), stopped by pid."""
    port = port or free_port()
    (tmp / "rules.json").write_text(json.dumps(rules))
    smsc = SmscProcess(port, tmp / "smsc.jsonl")
    proc = subprocess.Popen([sys.executable, "-m", "tests.smsc", "--port", str(port), "--log", str(smsc.log),
                             "--rules", str(tmp / "rules.json")], cwd=ROOT, stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_port(port)
        yield smsc
    finally:
        stop(proc)


@dataclass
class Kannel:
    sendsms_port: int
    fake_port: int
    listen_port: int
    user: str = "dialer"
    password: str = "kannel-secret"
    procs: list[subprocess.Popen[Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"kannel://{self.user}:{self.password}@127.0.0.1:{self.sendsms_port}"


CONF = """group = core
admin-port = {admin}
admin-password = {password}
status-password = {password}
admin-allow-ip = "127.0.0.1"
smsbox-port = {box}
box-allow-ip = "127.0.0.1"
dlr-storage = internal
log-file = "{tmp}/bearerbox.log"
access-log = "{tmp}/access.log"

group = smsc
smsc = fake
smsc-id = fake
port = {fake}
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {box}
sendsms-port = {sendsms}
sendsms-interface = 127.0.0.1
global-sender = 12345
mo-recode = true
log-file = "{tmp}/smsbox.log"

group = sendsms-user
username = {user}
password = {password}
max-messages = 10
concatenation = true

group = sms-service
keyword = default
catch-all = true
max-messages = 0
get-url = "http://127.0.0.1:{listen}/mo?from=%p&to=%P&text=%a&coding=%c&smsc=%i&ts=%t"
"""


@contextmanager
def kannel_boxes(tmp: Path) -> Iterator[Kannel]:
    """bearerbox then smsbox (ready in about half a second each); the caller starts fakesmsc."""
    k = Kannel(free_port(), free_port(), free_port())
    admin, box = free_port(), free_port()
    conf = tmp / "kannel.conf"
    conf.write_text(CONF.format(admin=admin, box=box, fake=k.fake_port, sendsms=k.sendsms_port, listen=k.listen_port,
                                user=k.user, password=k.password, tmp=tmp))  # fmt: skip
    try:
        k.procs.append(subprocess.Popen(["/usr/sbin/bearerbox", str(conf)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL))  # fmt: skip
        wait_port(box)
        k.procs.append(subprocess.Popen(["/usr/sbin/smsbox", str(conf)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL))  # fmt: skip
        wait_port(k.sendsms_port)
        yield k
    finally:
        for proc in reversed(k.procs):
            stop(proc)


def fakesmsc(k: Kannel, out: Path, replies: list[str], count: int = 0) -> subprocess.Popen[Any]:
    """Kannel's fake SMSC: prints every text it gets to `out`; sends `count` of `replies` ("FROM TO
    text BODY"), one a second. Stopped by pid with tests.sms_parts.stop."""
    args = [FAKESMSC, "-H", "127.0.0.1", "-r", str(k.fake_port), "-i", "1", "-m", str(count), *replies]
    return subprocess.Popen(args, stdout=out.open("w"), stderr=subprocess.STDOUT)


def texts_by_number(url: str) -> dict[str, Sms]:
    """Every text in the database, by its number (the last one of a number wins)."""
    engine = db.make_engine(url)
    with db.session_factory(engine)() as s:
        found = {m.number: m for m in s.scalars(select(Sms))}
    engine.dispose()
    return found
