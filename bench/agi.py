"""One 5-step IVR as dialplan only, over FastAGI and over process AGI: calls/s and CPU.

    python bench/agi.py [--quick] [--ami-port 5038] [--agi-port 4573] [--rate 4] [--seconds 10]
                        [--sessions 1000]

The flow: answer, say "Hola.", read one key ("Pulse uno."), say "Adiós.", hang up. The caller
([sim-bench-caller], the other half of a Local channel) answers, waits for the IVR to speak and
fall silent for 1 s, presses 1 and listens until the IVR hangs up. A call counts as done when
the IVR's h extension reports (UserEvent BenchDone) that it read the 1; anything else (another
key, no report within 30 s of the last call offered, a failed Originate) is an error.

- dialplan: [sim-bench-ivr], Answer/Playback/Read/Playback/Hangup with the same rendered files.
- fastagi:  AGI(agi://...) to bench/agi_serve.py's FastAgiServer running the real FlowRunner
            (bench/agi_flow.py: a flow defined there, a CallContext built there, no SQL).
- process:  AGI(<bash relay in the chroot>) -> one `python agi_scripts/dialer_agi.py` process per
            call on the host (the chroot has no python3; see bench/agi_serve.py).

Each mode first runs at --rate calls/s for --seconds (the same-rate comparison), then doubles
the rate until a run fails or completes less than 90% of the offered calls/s, then narrows
it by geometric midpoints to within 20%. CPU: seconds of the daemon process (for process AGI, the acceptor and
every dialer_agi.py it started) and of Asterisk, from /proc. Last, --sessions calls held at once
in one FastAGI daemon (the caller waits before it presses 1): errors, peak sessions, RSS, lag.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.agi_flow import render_prompts  # noqa: E402
from dialer.ami import AmiClient  # noqa: E402
from dialer.ami import AmiError  # noqa: E402
from dialer.ami.events import EventStream  # noqa: E402
from dialer.config import AmiSettings  # noqa: E402
from dialer.sandbox.instance import Sandbox  # noqa: E402

MODES = ("dialplan", "fastagi", "process")
STRAGGLER_S = 30.0  # how long after the last call offered a call may still end
RELAY = """#!/bin/bash
# bench/agi.py: join this AGI script's stdin/stdout to the host's process-AGI acceptor
exec 3<>/dev/tcp/127.0.0.1/{port} || exit 1
cat <&3 &
cat >&3
wait
"""
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int, children: bool = False) -> float:
    """utime+stime (and the reaped children's) of a process, all threads, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    used = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return used / TICKS


@dataclass
class Run:
    mode: str
    rate: float
    calls: int
    ok: int = 0
    errors: int = 0
    done_per_s: float = 0.0
    p50_s: float = 0.0
    p95_s: float = 0.0
    daemon_cpu_s: float = 0.0
    asterisk_cpu_s: float = 0.0
    wall_s: float = 0.0
    why: list[str] = field(default_factory=list)
    daemon: dict[str, Any] = field(default_factory=dict)

    @property
    def cpu_s(self) -> float:
        return self.daemon_cpu_s + self.asterisk_cpu_s

    @property
    def sustained(self) -> bool:
        return self.errors == 0 and self.done_per_s >= 0.9 * self.rate

    def line(self) -> str:
        per_call = self.cpu_s / max(self.ok, 1) * 1000
        return (f"{self.mode:8} {self.rate:6.1f} {self.done_per_s:7.1f} {self.ok:5}/{self.calls:<5} {self.errors:4}  "
                f"{self.daemon_cpu_s / self.wall_s * 100:5.0f}% {self.daemon_cpu_s / max(self.ok, 1) * 1000:6.1f}  "
                f"{self.asterisk_cpu_s / self.wall_s * 100:5.0f}% {self.asterisk_cpu_s / max(self.ok, 1) * 1000:6.1f}  "
                f"{per_call:6.1f}  {self.p50_s:5.2f} {self.p95_s:5.2f}  {'ok' if self.sustained else 'FAIL'}"
                f"{'  ' + '; '.join(self.why[:3]) if self.why else ''}")  # fmt: skip


HEADER = ("mode     offer  done/s    ok/calls  err  daemon CPU ms/call  Asterisk ms/call  total   p50   p95\n"
          "         cps                              %core                %core            ms/call  s     s")  # fmt: skip


class Daemon:
    """bench/agi_serve.py in a child process, talked to over its stdin/stdout."""

    def __init__(self, mode: str, port: int) -> None:
        self.mode, self.port = mode, port
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Daemon:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "bench" / "agi_serve.py"), self.mode, str(self.port), cwd=ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        await self._answer()
        return self

    async def _answer(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 30)
        if not line:
            raise RuntimeError(f"bench/agi_serve.py {self.mode} exited ({await self.proc.wait()})")
        return json.loads(line)  # type: ignore[no-any-return]

    async def stats(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(b"stats\n")
        return await self._answer()

    def cpu(self) -> float:
        assert self.proc is not None
        return cpu_s(self.proc.pid, children=True)

    def status_mb(self, key: str) -> float:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
        return 0.0

    async def __aexit__(self, *_exc: object) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(b"quit\n")
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


class Bench:
    def __init__(self, sandbox: Sandbox, ami: AmiClient, prompts: dict[str, str], relay: str) -> None:
        self.sandbox, self.ami, self.prompts, self.relay = sandbox, ami, prompts, relay
        self.asterisk_pid = sandbox.pid() or 0

    def variables(self, mode: str, route: str) -> tuple[str, dict[str, str]]:
        if mode == "dialplan":
            p = self.prompts
            return "sim-bench-ivr", {"P_HELLO": p["greeting"], "P_MENU": p["notify_repeat"],
                                     "P_BYE": p["goodbye"]}  # fmt: skip
        url = f"{self.sandbox.agi.url}/{route}" if mode == "fastagi" else self.relay
        return "sim-bench-agi", {"AGIURL": url}

    async def idle(self) -> None:
        """Wait until the previous run's channels are gone."""
        for _ in range(120):
            if not await self.ami.action_list({"Action": "CoreShowChannels"}, timeout=30):
                return
            await asyncio.sleep(0.5)

    async def run(self, mode: str, rate: float, seconds: float, daemon: Daemon | None, *,
                  route: str = "bench", delay_s: float = 0.0) -> Run:  # fmt: skip
        await self.idle()
        n = max(2, round(rate * seconds))
        result = Run(mode, rate, n)
        context, variables = self.variables(mode, route)
        if delay_s:
            variables["DELAY"] = f"{delay_s:g}"
        started: dict[str, float] = {}
        ended: dict[str, float] = {}
        loop = asyncio.get_running_loop()

        async def originate(channel_id: str) -> None:
            started[channel_id] = loop.time()
            try:
                resp = await self.ami.originate(channel="Local/s@sim-bench-caller", context=context,
                                                channel_id=channel_id, variables=variables, timeout_ms=20000)  # fmt: skip
                if resp.get("Response") != "Success":
                    result.why.append(f"originate: {resp.get('Reason') or resp.get('Response')}")
                    ended[channel_id] = -1.0
            except AmiError as exc:
                result.why.append(f"originate: {exc}")
                ended[channel_id] = -1.0

        if daemon is not None:
            await daemon.stats()  # reset its counters
        cpu0 = (daemon.cpu() if daemon else 0.0, cpu_s(self.asterisk_pid))
        t0 = loop.time()
        offered = asyncio.Event()

        async def collect(events: EventStream) -> None:
            """BenchDone reports, timed as they arrive, until every call ended or the deadline."""
            deadline = math.inf
            while len(ended) < n and loop.time() < deadline:
                if offered.is_set() and deadline == math.inf:
                    deadline = loop.time() + STRAGGLER_S + delay_s
                try:
                    event = await events.get(min(1.0, max(0.01, deadline - loop.time())))
                except TimeoutError:
                    continue
                uid = str(event.get("Uniqueid", ""))
                if event.get("UserEvent") != "BenchDone" or uid not in started or uid in ended:
                    continue
                ended[uid] = loop.time()
                if event.get("Key") != "1":
                    result.why.append(f"key {event.get('Key')!r} agi {event.get('Agi')}")
                    ended[uid] = -1.0

        with self.ami.events(["UserEvent"], maxsize=100000) as events:
            collector = asyncio.create_task(collect(events))
            tasks = []
            for i in range(n):
                await asyncio.sleep(max(0.0, t0 + i / rate - loop.time()))
                tasks.append(asyncio.create_task(originate(str(uuid.uuid4()))))
            offered.set()
            await asyncio.wait_for(collector, STRAGGLER_S + delay_s + n / rate + 10)
        t1 = loop.time()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
        result.daemon_cpu_s = (daemon.cpu() if daemon else 0.0) - cpu0[0]
        result.asterisk_cpu_s = cpu_s(self.asterisk_pid) - cpu0[1]
        result.wall_s = t1 - t0
        good = sorted(t for t in ended.values() if t >= 0)
        durations = sorted(ended[u] - started[u] for u in ended if ended[u] >= 0)
        result.ok = len(good)
        result.errors = n - result.ok
        if len(ended) < n:
            result.why.append(f"{n - len(ended)} without a report")
        if len(good) > 1:
            result.done_per_s = (len(good) - 1) / max(good[-1] - good[0], 1e-6)
        if durations:
            result.p50_s, result.p95_s = durations[len(durations) // 2], durations[int(len(durations) * 0.95)]
        if daemon is not None:
            result.daemon = await daemon.stats()
            if result.daemon.get("errors"):
                errors, last = result.daemon["errors"], result.daemon["last_error"]
                result.why.append(f"daemon: {errors} warning(s), last: {last}")
        print(result.line(), flush=True)
        return result

    async def ramp(self, mode: str, start: float, seconds: float,
                   max_rate: float) -> tuple[Run, Run | None, float | None]:  # fmt: skip
        """The run at `start`, the best sustained run (double, then one midpoint), the lowest
        rate that failed (None: --max-rate was reached first)."""
        daemon = Daemon(mode, self.sandbox.agi_port) if mode != "dialplan" else None
        async with daemon if daemon else _nothing():
            first = await self.run(mode, start, seconds, daemon)
            best, bad = (first, None) if first.sustained else (None, start)
            rate = start * 2 if first.sustained else start / 2
            for _ in range(12):
                if rate > max_rate or rate < 0.5:
                    break
                result = await self.run(mode, rate, seconds, daemon)
                if result.sustained:
                    best = result
                else:
                    bad = rate
                if best is not None and bad is not None:
                    if bad / best.rate <= 1.2:
                        break
                    rate = math.sqrt(best.rate * bad)
                else:
                    rate = rate * 2 if best is not None else rate / 2
        return first, best, bad

    async def sessions(self, n: int, rate: float) -> tuple[Run, dict[str, Any], float]:
        """n calls held in one FastAGI daemon at once; its stats and its RSS before the run."""
        delay = n / rate + 5
        async with Daemon("fastagi", self.sandbox.agi_port) as daemon:
            base_rss = daemon.status_mb("VmRSS")
            result = await self.run("fastagi", rate, n / rate, daemon, route="hold", delay_s=delay)
        return result, result.daemon, base_rss


class _nothing:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *_exc: object) -> None:
        return None


def ratio(a: Run | None, b: Run | None, attr: str) -> str:
    if a is None or b is None or not getattr(b, attr):
        return "n/a"
    return f"{getattr(a, attr) / getattr(b, attr):.2f}"


async def main_async(args: argparse.Namespace, sandbox: Sandbox, prompts: dict[str, str], relay: str) -> None:
    async with AmiClient(AmiSettings(port=args.ami_port, action_timeout=60)) as ami:
        bench = Bench(sandbox, ami, prompts, relay)
        print(HEADER, flush=True)
        first: dict[str, Run] = {}
        best: dict[str, Run | None] = {}
        failed: dict[str, float | None] = {}
        for mode in MODES:
            first[mode], best[mode], failed[mode] = await bench.ramp(mode, args.rate, args.seconds, args.max_rate)
        hold, stats, base_rss = await bench.sessions(args.sessions, args.hold_rate)
    report(args, first, best, failed)
    held(args, hold, stats, base_rss)


def report(args: argparse.Namespace, first: dict[str, Run], best: dict[str, Run | None],
           failed: dict[str, float | None]) -> None:  # fmt: skip
    d, f, p = first["dialplan"], first["fastagi"], first["process"]
    print(f"\nsame rate ({args.rate:g} calls/s offered for {args.seconds:g} s):")
    for run in (d, f, p):
        total = run.cpu_s / max(run.ok, 1) * 1000
        print(f"  {run.mode:8} {run.done_per_s:6.1f} calls/s done, {run.errors} errors, CPU per call: daemon "
              f"{run.daemon_cpu_s / max(run.ok, 1) * 1000:.1f} ms + Asterisk "
              f"{run.asterisk_cpu_s / max(run.ok, 1) * 1000:.1f} ms = {total:.1f} ms")  # fmt: skip
    print(f"  calls/s fastagi/dialplan {ratio(f, d, 'done_per_s')}, process/dialplan {ratio(p, d, 'done_per_s')}")
    print(f"  Asterisk CPU fastagi/dialplan {ratio(f, d, 'asterisk_cpu_s')}, "
          f"process/dialplan {ratio(p, d, 'asterisk_cpu_s')} (the relay's bash and cat are not counted)")
    print(f"  total CPU (daemon + Asterisk) fastagi/dialplan {ratio(f, d, 'cpu_s')}, "
          f"process/dialplan {ratio(p, d, 'cpu_s')}")  # fmt: skip
    print("highest sustained rate (no errors, >= 90% of the offered calls/s done):")
    for mode in MODES:
        b = best[mode]
        fail = failed[mode]
        limit = f"failed at {fail:.1f}" if fail else f"--max-rate {args.max_rate:g} reached, no failure"
        found = f"{b.rate:.1f} calls/s offered, {b.done_per_s:.1f} done" if b else "none"
        print(f"  {mode:8} {found} ({limit})")
    print(f"  fastagi/dialplan {ratio(best['fastagi'], best['dialplan'], 'rate')} (target >= 0.80), "
          f"process/dialplan {ratio(best['process'], best['dialplan'], 'rate')}")  # fmt: skip


def held(args: argparse.Namespace, hold: Run, stats: dict[str, Any], base_rss: float) -> None:
    target = "MET" if hold.errors == 0 and stats.get("peak_sessions", 0) >= args.sessions else "NOT MET"
    print(f"{args.sessions} simultaneous FastAGI sessions ({args.hold_rate:g} calls/s offered, caller waits "
          f"{args.sessions / args.hold_rate + 5:g} s before pressing 1): {hold.ok} ok, {hold.errors} errors, "
          f"peak sessions {stats.get('peak_sessions')}, daemon RSS {base_rss:.0f} MB before -> peak "
          f"{stats.get('peak_rss_mb', 0):.0f} MB, loop lag p99 {stats.get('lag_p99_ms', 0):.1f} ms "
          f"max {stats.get('lag_max_ms', 0):.0f} ms, daemon CPU {hold.daemon_cpu_s:.1f} s: {target}")  # fmt: skip
    print("process AGI = a bash relay in the chroot (no python3 there) + one dialer_agi.py process per call on "
          "the host wired to the relay's socket: the per-call process cost of AGI(script). The FlowRunner runs "
          "a flow defined in bench/agi_flow.py with a CallContext built there (no SQL).")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ami-port", type=int, default=5038)
    parser.add_argument("--agi-port", type=int, default=4573)
    parser.add_argument("--rate", type=float, default=4.0, help="calls/s of the same-rate comparison")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds each rate is offered")
    parser.add_argument("--max-rate", type=float, default=256.0)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--hold-rate", type=float, default=50.0, help="calls/s while filling the sessions")
    parser.add_argument("--quick", action="store_true", help="5 s per rate, 200 sessions, rates up to 64")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.sessions, args.max_rate = 5.0, 200, 64.0
    sandbox = Sandbox(ami_port=args.ami_port, agi_port=args.agi_port)
    sandbox.up(progress=lambda msg: print(msg, flush=True))
    prompts = render_prompts()
    relay_inner = f"{sandbox.inner_var}/bench-agi-relay.sh"
    relay = sandbox.host_path(relay_inner)
    relay.write_text(RELAY.format(port=args.agi_port))
    relay.chmod(0o755)
    started = time.perf_counter()
    try:
        asyncio.run(main_async(args, sandbox, prompts, relay_inner))
    finally:
        relay.unlink(missing_ok=True)
    print(f"bench took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
