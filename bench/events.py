"""Live events speed: what one publish() costs the engine, and how fast events reach a local
mosquitto (started here on a free port, stopped by pid) with QoS 1.

    python bench/events.py [--events 20000]

Prints: microseconds per publish() with the broker down (buffering only), events/s from the
first publish until the broker acknowledged the last, and the loop's worst lag meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dialer.config import MqttSettings  # noqa: E402
from dialer.events import MqttPublisher  # noqa: E402
from tests.mosquitto import Mosquitto, free_port  # noqa: E402


def payload(i: int) -> dict[str, object]:
    return {"campaign_id": 1, "attempt_id": f"6f1c0b3e-0000-4000-8000-{i:012d}", "result": "busy",
            "reason": "originate reason 5", "duration_s": 1.234}  # fmt: skip


async def lag_probe(stop: asyncio.Event, worst: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        t = loop.time()
        await asyncio.sleep(0.005)
        worst[0] = max(worst[0], loop.time() - t - 0.005)


async def main(events: int) -> None:
    down = MqttPublisher(MqttSettings.from_url(f"mqtt://127.0.0.1:{free_port()}"), max_buffer=events)
    t0 = time.perf_counter()
    for i in range(events):
        down.publish("ended", payload(i))
    per_publish = (time.perf_counter() - t0) / events * 1e6
    print(f"publish() with the broker down: {per_publish:.1f} us per event ({events} events buffered)")

    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp))
        broker.start()
        try:
            for window in (1, 10, 32, 100):
                pub = MqttPublisher(MqttSettings.from_url(f"mqtt://127.0.0.1:{broker.port}"), max_buffer=events,
                                    window=window)  # fmt: skip
                stop, worst = asyncio.Event(), [0.0]
                probe = asyncio.create_task(lag_probe(stop, worst))
                t0 = time.perf_counter()
                pub.start()
                for i in range(events):
                    pub.publish("ended", payload(i))
                left = await pub.close(timeout=120)
                elapsed = time.perf_counter() - t0
                stop.set()
                await probe
                rate = pub.delivered / elapsed
                print(f"window {window:>3}: {rate:,.0f} events/s acknowledged by mosquitto ({pub.delivered} in "
                      f"{elapsed:.2f} s, {left} left), worst loop lag {worst[0] * 1000:.1f} ms")
        finally:
            broker.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20000)
    asyncio.run(main(parser.parse_args().events))
