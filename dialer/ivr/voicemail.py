"""When a voicemail's recording starts: after the beep, so the message is not cut into the greeting.

AMD says MACHINE while the greeting still plays. The machine step then listens, with Asterisk's
res_tonedetect (Asterisk 16.21 and later) and the silence detector, until the greeting is over:
- TONE_DETECT on the first beep frequency counts beeps all along (it runs beside the others);
- WaitForSilence(`pause_ms`): the greeting pauses (between sentences, or before the beep);
- WaitForTone on the second beep frequency (the others in turns), for TONE_WINDOW_S: a beep after
  the pause;
- WaitForNoise for CONFIRM_S: sound again means the greeting goes on (listen again); none means
  it is over with no beep heard (`silence`). WaitForSilence and WaitForNoise take whole seconds
  as their time limit, and count it on the wall clock's seconds: 2 waits 1 to 2 s.
A beep heard starts the message once the beep is over (AFTER_BEEP_MS of silence). At most
`beep_wait_s` in all, then the message starts anyway (`timeout`). Returned: "beep" (and its
frequency), "silence" or "timeout". Defaults come from bench/amd.py (README, "Answering machines (measured)").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

log = logging.getLogger(__name__)

# 1 kHz (TONE_DETECT, always on) and 700 Hz, Asterisk's own voicemail beep (WaitForTone after every
# pause). More frequencies take turns on WaitForTone, pause by pause: bench/amd.py found that a beep
# then often falls on another frequency's turn (the message still starts after it, as "silence").
BEEP_HZ = (1000, 700)
BEEP_MS = 100  # a tone this long is a beep (res_tonedetect warns below 50 ms)
BEEP_WAIT_S = 30.0  # the longest a greeting may take after AMD's verdict
PAUSE_MS = 300  # a pause in the greeting: listen for a beep after it
TONE_WINDOW_S = 1.0
CONFIRM_S = 2  # 1 to 2 s without sound after a pause and the tone window: the greeting is over
AFTER_BEEP_MS = 250


class ToneChannel(Protocol):
    async def get_variable(self, name: str) -> str | None: ...
    async def set_variable(self, name: str, value: str) -> None: ...
    async def exec(self, app: str, *args: str, timeout: float | None = None) -> int: ...


def beep_settings(step: Any) -> tuple[tuple[int, ...], float, int]:
    """(beep_hz, beep_wait_s, pause_ms) of a machine step, defaults filled in."""
    hz = tuple(int(f) for f in (step.get("beep_hz") or BEEP_HZ))
    wait_s = step.get("beep_wait_s", step.get("wait_s", BEEP_WAIT_S))  # wait_s: the field's older name
    return hz, float(wait_s), int(step.get("pause_ms", PAUSE_MS))


async def _status(ch: ToneChannel, name: str) -> str:
    return (await ch.get_variable(name) or "").upper()


async def _first_heard(ch: ToneChannel) -> bool:
    return int(await ch.get_variable("TONE_DETECT(rx)") or 0) > 0


async def listen(ch: ToneChannel, beep_hz: Sequence[int], beep_wait_s: float, pause_ms: int,
                 clock: Callable[[], float] = time.monotonic) -> tuple[str, int | None]:  # fmt: skip
    """Listen until the greeting is over: ("beep", hz), ("silence", None) or ("timeout", None)."""
    first, others = (beep_hz[0], list(beep_hz[1:])) if beep_hz else (None, [])
    if first is not None:
        await ch.set_variable(f"TONE_DETECT({first},{BEEP_MS},r)", "")
    deadline = clock() + beep_wait_s
    turn = 0
    try:
        while (left := deadline - clock()) > 0:
            limit = max(1, int(left))  # whole seconds (see above)
            await ch.exec("WaitForSilence", str(pause_ms), "1", str(limit), timeout=limit + 10)
            if first is not None and await _first_heard(ch):
                return "beep", first
            if await _status(ch, "WAITSTATUS") != "SILENCE":
                break  # the greeting never paused: out of time
            if others:
                hz = others[turn % len(others)]
                turn += 1
                await ch.exec("WaitForTone", str(hz), str(BEEP_MS), f"{TONE_WINDOW_S:g}", timeout=TONE_WINDOW_S + 10)
                if await _status(ch, "WAITFORTONESTATUS") == "SUCCESS":
                    return "beep", hz
                if first is not None and await _first_heard(ch):
                    return "beep", first
            await ch.exec("WaitForNoise", "200", "1", str(CONFIRM_S), timeout=CONFIRM_S + 10)
            if await _status(ch, "WAITSTATUS") != "NOISE":
                return "silence", None
        return "timeout", None
    finally:
        if first is not None:
            await ch.set_variable("TONE_DETECT(0,,x)", "")


async def wait_for_message_start(ch: ToneChannel, step: Any,
                                 clock: Callable[[], float] = time.monotonic) -> tuple[str, int | None]:  # fmt: skip
    """Wait until the machine records; what ended the wait (see listen) and the beep's frequency."""
    beep_hz, beep_wait_s, pause_ms = beep_settings(step)
    after, hz = await listen(ch, beep_hz, beep_wait_s, pause_ms, clock)
    if after == "beep":
        await ch.exec("WaitForSilence", str(AFTER_BEEP_MS), "1", "3", timeout=13)  # the beep is over
    return after, hz
