"""A throw-away PostgreSQL server for tests: its own data directory and socket, stopped by pid.

PostgresServer.stop() and start() again (same data, same port) play a failover."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")
    return found[-1]


def _as_postgres(*cmd: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd]


class PostgresServer:
    """One server (run as the postgres user) on a Unix socket in its own directory."""

    def __init__(self) -> None:
        user = pwd.getpwnam("postgres")
        self.dir = tempfile.mkdtemp(prefix="dialer-pg-")
        os.chown(self.dir, user.pw_uid, user.pw_gid)
        self.data = os.path.join(self.dir, "data")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        subprocess.run(_as_postgres(_bin("initdb"), "-D", self.data, "-A", "trust", "-U", "postgres"),
                       check=True, capture_output=True, timeout=120)  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.dir}&port={self.port}"

    @property
    def socket(self) -> str:
        return os.path.join(self.dir, f".s.PGSQL.{self.port}")

    def start(self) -> None:
        self.proc = subprocess.Popen(
            _as_postgres(_bin("postgres"), "-D", self.data, "-p", str(self.port), "-k", self.dir,
                         "-c", "listen_addresses="),  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while not self.ready():  # the socket comes before the server accepts connections
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("temporary PostgreSQL did not start")
            time.sleep(0.05)

    def ready(self) -> bool:
        if not os.path.exists(self.socket):
            return False
        check = [_bin("pg_isready"), "-q", "-h", self.dir, "-p", str(self.port), "-U", "postgres"]
        return subprocess.run(check, capture_output=True, timeout=10).returncode == 0

    def stop(self) -> None:
        """Fast shutdown: every session is cut, as in a failover; the socket goes away."""
        if self.proc is None:
            return
        os.killpg(self.proc.pid, signal.SIGINT)  # runuser and postgres: the whole session
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def create_database(self, name: str) -> str:
        subprocess.run(_as_postgres(_bin("createdb"), "-h", self.dir, "-p", str(self.port), "-U", "postgres", name),
                       check=True, capture_output=True, timeout=30)  # fmt: skip
        return self.url(name)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def temporary_postgres() -> Iterator[str]:
    """Yield a SQLAlchemy URL of a fresh PostgreSQL server (run as the postgres user)."""
    server = PostgresServer()
    try:
        server.start()
        yield server.url()
    finally:
        server.remove()
