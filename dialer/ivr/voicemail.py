"""When a voicemail's recording starts: after the beep, so the message is not cut into the greeting.

AMD says MACHINE while the greeting still plays. The machine step then listens for the beep with
Asterisk's res_tonedetect (Asterisk 16.21 and later) on the beep frequencies `beep_hz`:
- TONE_DETECT on the first frequency, all the time (it counts hits; read between slices),
- WaitForTone on the others in turns, in slices of SLICE_S;
for at most `beep_wait_s`. After a beep, the message starts once the beep is over (AFTER_BEEP_MS
of silence). No beep in time: WaitForSilence (`silence_ms` of silence, at most `wait_s`), the
end of a greeting without a beep. What happened is returned: "beep", "silence" or "timeout".
Defaults come from bench/amd.py (README, "Answering machines").
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any, Protocol

log = logging.getLogger(__name__)

BEEP_HZ = (1000, 700)  # a voicemail beep at 1 kHz; Asterisk's own (beep.wav) at 700 Hz
BEEP_MS = 100  # a tone this long is a beep (res_tonedetect warns below 50 ms)
BEEP_WAIT_S = 14.0  # from AMD's verdict: the longest greetings of the bench end within it
SILENCE_MS = 1500  # no beep: this much silence ends the greeting (the old rule)
WAIT_S = 20.0
SLICE_S = 0.5
AFTER_BEEP_MS = 250


class ToneChannel(Protocol):
    async def get_variable(self, name: str) -> str | None: ...
    async def set_variable(self, name: str, value: str) -> None: ...
    async def exec(self, app: str, *args: str, timeout: float | None = None) -> int: ...


def beep_settings(step: Any) -> tuple[tuple[int, ...], float, int, float]:
    """(beep_hz, beep_wait_s, silence_ms, wait_s) of a machine step, defaults filled in."""
    hz = tuple(int(f) for f in (step.get("beep_hz") or BEEP_HZ))
    return hz, float(step.get("beep_wait_s", BEEP_WAIT_S)), int(step.get("silence_ms", SILENCE_MS)), float(
        step.get("wait_s", WAIT_S))  # fmt: skip


async def wait_for_beep(ch: ToneChannel, beep_hz: Sequence[int], beep_wait_s: float) -> int | None:
    """The beep's frequency once one is heard, or None after `beep_wait_s` (in slices of SLICE_S)."""
    if not beep_hz or beep_wait_s <= 0:
        return None
    first, others = beep_hz[0], list(beep_hz[1:])
    await ch.set_variable(f"TONE_DETECT({first},{BEEP_MS},r)", "")
    try:
        for turn in range(math.ceil(beep_wait_s / SLICE_S)):
            if others:
                hz = others[turn % len(others)]
                await ch.exec("WaitForTone", str(hz), str(BEEP_MS), f"{SLICE_S:g}", timeout=SLICE_S + 10)
                if await ch.get_variable("WAITFORTONESTATUS") == "SUCCESS":
                    return hz
            else:
                await ch.exec("Wait", f"{SLICE_S:g}", timeout=SLICE_S + 10)
            if int(await ch.get_variable("TONE_DETECT(rx)") or 0) > 0:
                return first
        return None
    finally:
        await ch.set_variable("TONE_DETECT(0,,x)", "")


async def wait_for_message_start(ch: ToneChannel, step: Any) -> tuple[str, int | None]:
    """Wait until the machine records: ("beep", hz) after a beep, else ("silence" | "timeout", None)."""
    beep_hz, beep_wait_s, silence_ms, wait_s = beep_settings(step)
    hz = await wait_for_beep(ch, beep_hz, beep_wait_s)
    if hz is not None:
        await ch.exec("WaitForSilence", str(AFTER_BEEP_MS), "1", "3", timeout=13)  # the beep is over
        return "beep", hz
    await ch.exec("WaitForSilence", str(silence_ms), "1", f"{wait_s:g}", timeout=wait_s + 10)
    status = (await ch.get_variable("WAITSTATUS") or "").upper()
    return ("timeout" if status == "TIMEOUT" else "silence"), None
