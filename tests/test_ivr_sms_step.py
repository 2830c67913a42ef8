"""The flow's `sms` step without a network (the fake channel of test_ivr_runner): it asks for the
text in the call's details with the promise's date and amount, is skipped without [sms], and a bad
step is refused naming the file, the step and the field. The sending is proven against the sandbox
in test_sms_ivr_asterisk."""

from __future__ import annotations

import json

import pytest

from dialer.ivr.flow import FlowError, parse
from tests.test_ivr_runner import FakeChannel, run

PROMISE_KEYS = ["1", "1", "2811", "1"]  # identity, menu 1 (promise), 28 Nov, confirm


async def test_a_promise_asks_for_its_confirmation_text() -> None:
    report = await run("collections", FakeChannel(list(PROMISE_KEYS)), {"company": "X", "sms": {"sender": "X"}})
    assert report.details["sms"] == [{"template": "ptp_confirmation", "promise_date": "2026-11-28",
                                      "promise_amount": "12500"}]  # fmt: skip
    steps = [e.name for e in report.events if e.kind == "step"]
    assert steps[steps.index("ptp_date") + 1: steps.index("ptp_date") + 3] == ["ptp_sms", "ptp_thanks"]


async def test_without_an_sms_table_the_step_is_skipped() -> None:
    report = await run("collections", FakeChannel(list(PROMISE_KEYS)))
    assert "sms" not in report.details
    (fact,) = [e.value for e in report.events if e.kind == "fact" and e.name == "sms"]
    assert json.loads(fact or "{}") == {"template": "ptp_confirmation", "skipped": "no [sms] table"}


def test_a_bad_sms_step_names_the_file_step_and_field() -> None:
    flow = {"start": "a", "steps": {"a": {"type": "sms", "fact": 3, "next": "nowhere"}}}
    with pytest.raises(FlowError) as caught:
        parse(flow, "f.toml")
    assert str(caught.value).splitlines() == ["f.toml: steps.a.fact: wrong type int", "f.toml: steps.a.template: missing",
                                              "f.toml: steps.a.next: no step 'nowhere'"]  # fmt: skip


def test_the_campaign_file_checks_the_sms_uses_and_the_promise_table() -> None:
    from tests.test_campaign_cli import GOOD, errors_of

    text = GOOD + (                                   # GOOD: lines 1-5
        '[sms]\n'                                      # 6
        'only = "yes"\n'                               # 7
        'text = "nope"\n'                              # 8
        '[sms.notice]\n'                               # 9
        'before_call_s = 600\n'                        # 10
        'days_before_due = 2\n'                        # 11
        '[sms.on_result]\n'                            # 12
        'machine = "missed_call"\n'                    # 13
        'busy = "missed_call"\n'                       # 14
        '[promise]\n'                                  # 15
        'grace_days = -1\n'                            # 16
    )  # fmt: skip
    assert errors_of(text) == [
        "c.toml:7: sms.only: expected true or false",
        "c.toml:8: sms.text: no template 'nope' (built-in: appointment, missed_call, notice, opt_out_done, "
        "ptp_confirmation, reminder, return_call_cut; or [sms.templates.LANG])",
        "c.toml:9: sms.notice: needs one of before_call_s (before the first call) or days_before_due",
        "c.toml:14: sms.on_result.busy: unknown key (expected one of: machine, no_contact)",
        "c.toml:16: promise.grace_days: -1 is out of range (0..60)",
    ]
