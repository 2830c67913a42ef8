"""The daemon side of bench/agi.py, in its own process so its CPU can be read from /proc.

    python bench/agi_serve.py fastagi PORT    # FastAgiServer running bench/agi_flow.py
    python bench/agi_serve.py process PORT    # one `python agi_scripts/dialer_agi.py` per call

`process` stands in for Asterisk's own AGI(script): the sandbox chroot has no python3, so
AGI() runs a bash relay in the chroot that joins its stdin/stdout to a TCP connection to PORT,
and this acceptor starts one dialer_agi.py process per connection with that socket as its
stdin/stdout: the per-call process start, imports and flow are exactly what AGI() would pay.

Commands on stdin, one JSON line of answer each: `stats` (counters since the last `stats`),
`quit`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.agi_flow import handler_for  # noqa: E402
from dialer.engine import SWITCH_INTERVAL_S  # noqa: E402
from dialer.ivr.fastagi import FastAgiServer  # noqa: E402

SCRIPT = ROOT / "agi_scripts" / "dialer_agi.py"
CHILD_TIMEOUT_S = 120.0
TICK_S = 0.05


class Counting(logging.Handler):
    """Counts WARNING and worse records (flow failures, hang-ups the server did not expect)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.last = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        self.last = record.getMessage()[:200]


class Stats:
    def __init__(self) -> None:
        self.lags: list[float] = []
        self.peak = 0
        self.errors = 0
        self.last_error = ""

    def take(self, sessions: int, served: int) -> dict[str, object]:
        lags = sorted(self.lags)
        status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
        out = {
            "peak_sessions": self.peak, "served": served, "sessions_now": sessions, "errors": self.errors,
            "last_error": self.last_error,
            "lag_p99_ms": lags[int(len(lags) * 0.99)] * 1000 if lags else 0.0,
            "lag_max_ms": lags[-1] * 1000 if lags else 0.0,
            "rss_mb": int(status["VmRSS"].split()[0]) / 1024, "peak_rss_mb": int(status["VmHWM"].split()[0]) / 1024,
        }  # fmt: skip
        self.lags, self.peak, self.errors = [], sessions, 0
        return out


async def ticker(stats: Stats, sessions: object) -> None:
    """Event loop lag (how late a TICK_S timer fires) and peak sessions; 20 wake-ups a second
    cost the daemon well under 1% of a core."""
    loop = asyncio.get_running_loop()
    while True:
        t = loop.time()
        await asyncio.sleep(TICK_S)
        stats.lags.append(loop.time() - t - TICK_S)
        stats.peak = max(stats.peak, sessions())  # type: ignore[operator]


class ProcessAcceptor:
    """One dialer_agi.py process per connection from the chroot's relay."""

    def __init__(self, port: int, stats: Stats) -> None:
        self.port = port
        self.stats = stats
        self.running: set[asyncio.Task[None]] = set()
        self.served = 0

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        with socket.socket() as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(1024)
            listener.setblocking(False)
            while True:
                conn, _ = await loop.sock_accept(listener)
                task = asyncio.create_task(self.run(conn))
                self.running.add(task)
                task.add_done_callback(self.running.discard)

    async def run(self, conn: socket.socket) -> None:
        self.served += 1
        with conn:
            conn.setblocking(True)
            proc = await asyncio.create_subprocess_exec(
                sys.executable, str(SCRIPT), "--handler", "bench.agi_flow:handler", "bench", cwd=ROOT,
                stdin=conn.fileno(), stdout=conn.fileno(), stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
        assert proc.stderr is not None
        try:
            err = await asyncio.wait_for(proc.stderr.read(), CHILD_TIMEOUT_S)
            code = await asyncio.wait_for(proc.wait(), CHILD_TIMEOUT_S)
        except TimeoutError:
            proc.kill()
            code, err = await proc.wait(), b"killed after %d s" % CHILD_TIMEOUT_S
        if code != 0 or err.strip():
            self.stats.errors += 1
            self.stats.last_error = f"exit {code}: {err.decode(errors='replace').strip()[-200:]}"


async def main(mode: str, port: int) -> None:
    sys.setswitchinterval(SWITCH_INTERVAL_S)  # as `dialer run` does
    stats = Stats()
    counting = Counting()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger().addHandler(counting)
    loop = asyncio.get_running_loop()
    if mode == "fastagi":
        server = FastAgiServer(handler_for, "127.0.0.1", port)
        await server.start()
        sessions, served = (lambda: server.sessions), (lambda: server.served)
        serving: asyncio.Task[None] | None = None
    else:
        acceptor = ProcessAcceptor(port, stats)
        serving = asyncio.create_task(acceptor.serve())
        sessions, served = (lambda: len(acceptor.running)), (lambda: acceptor.served)
    tick = asyncio.create_task(ticker(stats, sessions))
    print(json.dumps({"ready": True, "pid": os.getpid()}), flush=True)
    while True:
        line = await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), 3600)
        if line.strip() == "stats":
            out = stats.take(sessions(), served())
            out["errors"] = int(out["errors"]) + counting.count  # type: ignore[call-overload]
            out["last_error"] = out["last_error"] or counting.last
            counting.count, counting.last = 0, ""
            print(json.dumps(out), flush=True)
            continue
        break
    tick.cancel()
    if serving is not None:
        serving.cancel()
    else:
        await server.close(2.0)
    print(json.dumps({"bye": time.time()}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
