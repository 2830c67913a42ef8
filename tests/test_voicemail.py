"""When the machine message starts (fast, on a fake line with a fake clock): the greeting, its
pauses and its beep as a timeline; the message starts after a beep on TONE_DETECT's frequency
or on WaitForTone's, after a pause with no sound after it, and a greeting that never pauses
runs out the time limit."""

from __future__ import annotations

import pytest

from dialer.ivr.flow import FlowError, parse
from dialer.ivr.voicemail import wait_for_message_start


class Line:
    """A greeting as (start, end, what) sounds on a clock: what is "speech" or a beep's Hz."""

    def __init__(self, sounds: list[tuple[float, float, str]]) -> None:
        self.sounds = sounds
        self.now = 0.0
        self.detector: int | None = None
        self.heard_first = 0
        self.variables: dict[str, str] = {}
        self.apps: list[str] = []

    def clock(self) -> float:
        return self.now

    def _sound_at(self, t: float) -> str | None:
        return next((what for start, end, what in self.sounds if start <= t < end), None)

    def _advance(self, to: float) -> None:
        step = 0.01
        while self.now < to:
            if self.detector is not None and self._sound_at(self.now) == str(self.detector):
                self.heard_first = 1
            self.now = round(self.now + step, 2)

    async def set_variable(self, name: str, value: str) -> None:
        freq = int(name[len("TONE_DETECT("):].split(",")[0])
        self.detector = freq or None  # 0 with option x: removed

    async def get_variable(self, name: str) -> str | None:
        return str(self.heard_first) if name == "TONE_DETECT(rx)" else self.variables.get(name)

    async def exec(self, app: str, *args: str, timeout: float | None = None) -> int:
        self.apps.append(f"{app}({','.join(args)})")
        limit = self.now + float(args[2])  # every app here has its timeout third
        if app == "WaitForSilence":
            quiet_needed, quiet = int(args[0]) / 1000, 0.0
            while self.now < limit and quiet < quiet_needed:
                quiet = quiet + 0.01 if self._sound_at(self.now) is None else 0.0
                self._advance(round(self.now + 0.01, 2))
            self.variables["WAITSTATUS"] = "SILENCE" if quiet >= quiet_needed else "TIMEOUT"
        elif app == "WaitForNoise":
            while self.now < limit and self._sound_at(self.now) is None:
                self._advance(round(self.now + 0.01, 2))
            self.variables["WAITSTATUS"] = "NOISE" if self.now < limit else "TIMEOUT"
        elif app == "WaitForTone":
            while self.now < limit and self._sound_at(self.now) != args[0]:
                self._advance(round(self.now + 0.01, 2))
            hit = self.now < limit and self._sound_at(self.now) == args[0]
            if hit:
                self._advance(round(self.now + int(args[1]) / 1000, 2))
            self.variables["WAITFORTONESTATUS"] = "SUCCESS" if hit else "TIMEOUT"
        return 0


GREETING = [(0.0, 2.0, "speech"), (2.5, 4.0, "speech"), (4.1, 6.0, "speech")]  # a 0.5 s pause at 2 s


async def message_start(line: Line, **step: object) -> tuple[str, int | None, float]:
    after, hz = await wait_for_message_start(line, step, clock=line.clock)
    return after, hz, line.now


async def test_a_beep_on_the_detector_frequency_starts_the_message_once_it_is_over() -> None:
    after, hz, at = await message_start(Line([*GREETING, (6.4, 6.9, "1000")]))
    assert (after, hz) == ("beep", 1000) and 6.9 < at < 7.6


async def test_a_beep_on_another_frequency_after_the_last_pause_is_heard_by_wait_for_tone() -> None:
    line = Line([*GREETING, (6.6, 7.1, "700")])
    after, hz, at = await message_start(line, beep_hz=[1000, 700])
    assert (after, hz) == ("beep", 700) and 7.1 < at < 7.6
    assert any(a.startswith("WaitForTone(700,100,1") for a in line.apps)


async def test_pauses_in_the_greeting_do_not_start_the_message() -> None:
    after, hz, at = await message_start(Line(GREETING))  # no beep: the greeting's end decides
    assert (after, hz) == ("silence", None) and 6.0 + 0.3 + 1.0 <= at <= 6.0 + 0.3 + 1.0 + 2.0 + 0.05


async def test_a_greeting_that_never_pauses_runs_out_the_time_limit() -> None:
    after, hz, at = await message_start(Line([(0.0, 60.0, "speech")]), beep_wait_s=5)
    assert (after, hz) == ("timeout", None) and at == pytest.approx(5.0, abs=0.1)


async def test_the_silence_and_noise_waits_get_whole_seconds() -> None:  # Asterisk ignores fractions there
    line = Line(GREETING)
    await message_start(line, beep_wait_s=7.5)
    waits = [a for a in line.apps if a.startswith(("WaitForSilence", "WaitForNoise"))]
    assert waits and all(a.rsplit(",", 1)[1].rstrip(")").isdigit() for a in waits), waits


def test_beep_frequencies_are_checked_in_the_flow() -> None:
    steps = {"m": {"type": "machine", "prompt": "machine_message", "beep_hz": [1000, 20000]}}
    with pytest.raises(FlowError, match=r"steps.m.beep_hz: expected frequencies in Hz, 100 to 3900"):
        parse({"start": "m", "steps": steps}, "vm.toml")
