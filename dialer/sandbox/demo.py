"""The sandbox demo: one call to every simulated behaviour, side by side, as a table."""

from __future__ import annotations

import asyncio

from dialer.ami import AmiClient
from dialer.config import AmiSettings
from dialer.sandbox.probe import ProbeResult, probe_call
from dialer.sandbox.sim import describe, sim_number

DEMO_CUSTOMERS: list[tuple[str, dict[str, object]]] = [
    ("human", {"answers": ["1"]}),
    ("hangup", {"hangup_after_s": 3}),
    ("machine", {}),
    ("busy", {}),
    ("congestion", {}),
    ("no_answer", {}),
    ("invalid", {}),
]


async def run_demo(ami_settings: AmiSettings, ring_timeout_ms: int = 6000) -> list[tuple[str, ProbeResult]]:
    numbers = [sim_number(b, **kw) for b, kw in DEMO_CUSTOMERS]  # type: ignore[arg-type]
    async with AmiClient(ami_settings) as ami:
        results = await asyncio.gather(*(probe_call(ami, n, ring_timeout_ms=ring_timeout_ms) for n in numbers))
    return [(describe(n), r) for n, r in zip(numbers, results, strict=True)]
