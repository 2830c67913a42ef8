"""Tiny AGI handlers the process-AGI tests run through agi_scripts/dialer_agi.py --handler."""

from __future__ import annotations

from dialer.ivr.agi import AgiHangup
from dialer.ivr.agi_channel import AgiChannel

NASTY = 'José "Pepe" O\'Brien \\ 12,5 (x) $[1+1] ${EXTEN} ;|&'


async def echo(ch: AgiChannel) -> None:
    """Answer, read a variable, report what it saw, then wait for a key until hung up."""
    await ch.answer()
    value = await ch.get_variable("NAME")
    await ch.verbose(f"script={ch.script} args={ch.args} NAME={value}")
    try:
        await ch.wait_for_digit(5000)
    except AgiHangup as exc:
        await ch.verbose(f"saw hangup: {exc}")


async def boom(ch: AgiChannel) -> None:
    raise RuntimeError("boom")


async def process_call(ch: AgiChannel) -> None:
    """The sandbox call of the process-AGI test: reports what it saw as UserEvent AgiProcess."""
    await ch.answer()
    key = await ch.stream_file("demo-congrats", "0123456789")
    digits, timed_out = await ch.get_data("hello-world", 5000, 4)
    await ch.set_variable("AGITEST", NASTY)
    value = await ch.get_variable("AGITEST")
    await ch.exec(
        "UserEvent", "AgiProcess", f"Script: {ch.script}", f"Key: {key}", f"Digits: {digits} {timed_out}",
        f"Same: {value == NASTY}",
    )
    await ch.wait_for_digit(10000)  # the caller hangs up: AgiHangup ends the script cleanly
