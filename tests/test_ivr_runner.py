"""The flow runner on a scripted fake channel (fast): menus, retries, jumps, captures, outcomes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from dialer.domain import Outcome
from dialer.ivr.agi import AgiHangup
from dialer.ivr.flow import FlowError, load, parse
from dialer.ivr.prompt_book import PromptBook
from dialer.ivr.call import CallContext
from dialer.ivr.capture import resolve_ddmm
from dialer.ivr.runner import FlowRunner

TODAY = date(2026, 11, 23)
FIELDS = {"amount": "12500", "due_date": "2026-11-20", "concept": "gas", "doc": "X1234"}


class Book(PromptBook):
    """Every prompt "rendered": the file name is the key (what the fake channel records)."""

    def path(self, key: str, values: Mapping[str, str]) -> Path:
        self.templates.prompt(key, values)  # a missing value still fails as in a real call
        return Path(f"/p/{key}.wav")


class FakeChannel:
    """Answers each prompt from a script: a key pressed during a prompt, or after it."""

    def __init__(self, keys: list[str | None], amd: str = "HUMAN", hang_up_at: str | None = None) -> None:
        self.keys = keys
        self.amd = amd
        self.hang_up_at = hang_up_at
        self.played: list[str] = []
        self.variables: dict[str, str] = {}
        self.hung_up = False

    def _next(self) -> str | None:
        return self.keys.pop(0) if self.keys else None

    async def stream_file(self, path: str, escape_digits: str = "") -> str | None:
        name = path.rsplit("/", 1)[-1]
        self.played.append(name)
        if name == self.hang_up_at:
            raise AgiHangup("caller hung up")
        if escape_digits and self.keys and self.keys[0] is not None and self.keys[0] in escape_digits:
            return self._next()
        return None

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        return self._next()

    async def get_data(self, path: str, timeout_ms: int, max_digits: int) -> tuple[str, bool]:
        self.played.append(path.rsplit("/", 1)[-1])
        got = self._next()
        return (got or ""), got is None

    async def get_variable(self, name: str) -> str | None:
        return self.amd if name == "AMDSTATUS" else self.variables.get(name)

    async def set_variable(self, name: str, value: str) -> None:
        self.variables[name] = value

    async def exec(self, app: str, *args: str, timeout: float | None = None) -> int:
        self.played.append(f"{app}({','.join(args)})")
        if app == "Queue":
            self.variables.update(MEMBERINTERFACE="Local/9105@sim-agents", QEHOLDTIME="3")
        return 0

    async def hangup(self) -> None:
        self.hung_up = True


def ctx(flow: str, settings: dict[str, Any] | None = None) -> CallContext:
    return CallContext("a1", 1, "c", 7, "C7", "+34611100000", "Ana", FIELDS, "es", flow, settings or {"company": "X"})


async def run(flow_name: str, channel: FakeChannel, settings: dict[str, Any] | None = None, flow: Any = None):  # type: ignore[no-untyped-def]
    flow = flow or load(flow_name)
    book = Book(flow, "es", settings or {"company": "X"})
    return await FlowRunner(channel, ctx(flow_name, settings), flow, book, today=TODAY).run()


@pytest.mark.parametrize(("digits", "expected"), [
    ("2811", date(2026, 11, 28)), ("2311", TODAY), ("0512", date(2026, 12, 5)), ("0201", None), ("2012", date(2026, 12, 20)),
    ("2211", None), ("3102", None), ("1", None), ("abcd", None), ("3112", None),
])  # fmt: skip
def test_a_typed_ddmm_is_the_next_such_date_within_range(digits: str, expected: date | None) -> None:
    assert resolve_ddmm(digits, TODAY, 30) == expected
    assert resolve_ddmm("0201", date(2026, 12, 28), 30) == date(2027, 1, 2)  # over the new year


async def test_an_invalid_key_is_retried_then_the_choice_is_taken() -> None:
    channel = FakeChannel(["1", "5", "2"])  # identity 1, menu: 5 (invalid), then 2 (agent)
    report = await run("collections", channel)
    assert report.outcome == Outcome.TRANSFERRED and report.details["agent_answered"] is True
    assert report.details["queue_wait_s"] == 3.0
    assert channel.played.count("collections_menu") == 2 and "invalid_key" in channel.played
    assert channel.variables["DIALER_CHOICE"] == "identity:1>menu:5>menu:2"
    assert channel.variables["DIALER_EXTERNAL_ID"] == "C7" and channel.variables["DIALER_AMOUNT"] == "12500"


async def test_no_input_uses_the_retries_then_ends_answered() -> None:
    channel = FakeChannel(["1"])  # identity only; the menu hears nothing 3 times
    report = await run("collections", channel)
    assert channel.played.count("collections_menu") == 3 and channel.played[-1] == "goodbye"
    assert report.final() == (Outcome.ANSWERED, None) and channel.hung_up


async def test_zero_during_the_message_jumps_to_an_agent() -> None:
    channel = FakeChannel(["1", "0"])
    report = await run("collections", channel)
    assert report.outcome == Outcome.TRANSFERRED
    assert [e.name for e in report.events if e.kind == "step"][-1] == "transfer"
    assert "collections_menu" not in channel.played


async def test_hang_up_before_and_after_the_message() -> None:
    early = await run("collections", FakeChannel(["1"], hang_up_at="debt_message"))
    assert early.final() == (Outcome.HUNG_UP_EARLY, "message")
    late = await run("collections", FakeChannel(["1"], hang_up_at="collections_menu"))
    assert late.final() == (Outcome.ANSWERED, None)  # the message was delivered


async def test_identity_digits_are_checked_and_never_stored() -> None:
    flow = parse({"start": "id", "steps": {
        "id": {"type": "identity", "confirm_name": False, "digits_field": "doc", "next": "msg", "failed": "end"},
        "msg": {"type": "say", "prompt": "debt_message", "completes": True}}}, "t.toml")  # fmt: skip
    passed = await run("t", FakeChannel(["9999", "1234"]), flow=flow)
    assert passed.final() == (Outcome.ANSWERED, None)
    assert [e.value for e in passed.events if e.kind == "key"] == ["****", "****"]
    failed = await run("t", FakeChannel(["1111", "2222", "3333"]), flow=flow)
    assert failed.outcome == Outcome.IDENTITY_FAILED


async def test_a_machine_gets_the_message_once_its_greeting_is_over() -> None:
    channel = FakeChannel([], amd="MACHINE")  # tests/test_voicemail.py plays greetings and beeps
    report = await run("collections", channel)
    assert report.outcome == Outcome.MACHINE and report.details["message_left"] is True
    assert channel.played[0].startswith("WaitForSilence(300,1,") and channel.played[-1] == "machine_message"
    assert ("fact", "voicemail", report.details["message_after"]) in [(e.kind, e.name, e.value) for e in report.events]


async def test_notsure_follows_the_campaign() -> None:
    as_human = await run("notify", FakeChannel([], amd="NOTSURE"))
    assert as_human.details["amd"] == "NOTSURE" and as_human.outcome == Outcome.ANSWERED
    as_machine = await run("notify", FakeChannel([], amd="NOTSURE"), {"company": "X", "amd": {"notsure": "machine"}})
    assert as_machine.outcome == Outcome.MACHINE


async def test_promise_date_read_back_and_corrected() -> None:
    channel = FakeChannel(["1", "1", "3102", "2811", "2", "0512", "1"])
    report = await run("collections", channel)
    keys = [(e.name, e.value) for e in report.events if e.kind == "key"]
    assert keys == [("identity", "1"), ("menu", "1"), ("ptp_date", "3102"), ("ptp_date", "2811"),
                    ("ptp_date_confirm", "2"), ("ptp_date", "0512"), ("ptp_date_confirm", "1")]  # fmt: skip
    facts = [e.value for e in report.events if e.kind == "fact" and e.name == "promise_to_pay"]
    assert facts == ['{"date": "2026-12-05", "amount": "12500"}']
    assert "invalid_date" in channel.played and channel.played.count("ptp_readback") == 2


async def test_survey_branches_on_the_score() -> None:
    detractor = await run("survey", FakeChannel(["11", "4", "3"]))  # 11 is out of range: asked again
    facts = {e.name: e.value for e in detractor.events if e.kind == "fact"}
    assert facts == {"amd": "HUMAN", "survey.nps": "4", "survey.reason": "other"}
    promoter = await run("survey", FakeChannel(["9"]))
    assert "survey.reason" not in {e.name for e in promoter.events}


def test_bad_flows_name_the_step_and_field() -> None:
    with pytest.raises(FlowError) as info:
        parse({"start": "x", "steps": {
            "a": {"type": "menu", "prompt": "p", "keys": {"1": "nowhere", "A": "a"}},
            "b": {"type": "teleport"},
            "c": {"type": "say", "prompt": 3, "colour": "red"}}}, "mine.toml")  # fmt: skip
    lines = str(info.value).splitlines()
    assert "mine.toml: steps.a.keys.1: no step 'nowhere'" in lines
    assert "mine.toml: steps.a.keys: 'A' is not a phone key" in lines
    assert any(line.startswith("mine.toml: steps.b.type: expected one of") for line in lines)
    assert "mine.toml: steps.c.prompt: wrong type int" in lines
    assert "mine.toml: steps.c.colour: unknown field for a say step" in lines
    assert "mine.toml: start: no step 'x'" in lines
