"""Sandbox set-up time: cold (chroot built from scratch) and warm (chroot cached).

    python bench/sandbox_boot.py            # warm: up/down N times on a spare port
    python bench/sandbox_boot.py --cold     # also a cold build into a throw-away cache dir

Prints seconds per step and the warm/cold ratio. Needs root.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from dialer.sandbox import chroot
from dialer.sandbox.instance import Sandbox


def warm_runs(port: int, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        sb = Sandbox("sid", port, port + 1)
        started = time.monotonic()
        sb.up()
        times.append(time.monotonic() - started)
        sb.down()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="also time a chroot build from scratch")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--port", type=int, default=25038)
    args = parser.parse_args()

    cold = None
    if args.cold:
        with tempfile.TemporaryDirectory(prefix="dialer-bench-") as tmp:
            previous = os.environ.get("DIALER_CACHE_DIR")
            os.environ["DIALER_CACHE_DIR"] = tmp
            try:
                started = time.monotonic()
                chroot.ensure_chroot("sid")
                build = time.monotonic() - started
                first_up = warm_runs(args.port, 1)[0]
                cold = build + first_up
                print(f"cold: chroot build {build:.1f} s + first up {first_up:.1f} s = {cold:.1f} s")
                chroot.remove_tree(chroot.chroot_path("sid"))
            finally:
                if previous is None:
                    os.environ.pop("DIALER_CACHE_DIR", None)
                else:
                    os.environ["DIALER_CACHE_DIR"] = previous

    chroot.ensure_chroot("sid")
    times = warm_runs(args.port, args.runs)
    median = statistics.median(times)
    print(f"warm up (chroot cached), {args.runs} runs: median {median:.2f} s, max {max(times):.2f} s")
    if cold:
        print(f"warm / cold: {median / cold:.3f}")


if __name__ == "__main__":
    main()
