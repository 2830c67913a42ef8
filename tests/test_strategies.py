"""Contact strategies without Asterisk: campaign-file checks (FILE:LINE: KEY), the steps after each
result, a step skipped for want of a number, and today's behaviour without a strategy."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from dialer.campaigns.files import CampaignFileError, load_campaign_file
from dialer.domain import DialResult, Disposition, Outcome, PhoneType
from dialer.storage.models import Attempt, Contact, Phone
from dialer.storage.strategies import after_attempt, begin, next_step
from scheduler.strategy import parse_strategy

pytestmark = pytest.mark.inbound
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
HEAD = """name = "x"
flow = "collections"
language = "es"
default_region = "ES"
trunk_template = "Local/{number}@sim-customers"
"""


def test_campaign_create_names_each_bad_strategy_key_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "campaign.toml"
    path.write_text(HEAD + '\n[[strategy]]\nchannel = "sms"\n\n[[strategy]]\nphone = "mobil"\nattempts = 0\n'
                    'on = ["nobody"]\nwhen = 1\n')  # fmt: skip
    with pytest.raises(CampaignFileError) as caught:
        load_campaign_file(path)
    assert caught.value.errors == [
        f"{path}:8: strategy[0].channel: the first step must be a call",
        f"{path}:11: strategy[1].phone: 'mobil' is not one of fixed, mobile, voip, other, any",
        f"{path}:12: strategy[1].attempts: expected an integer 1..100, got 0",
        f"{path}:13: strategy[1].on: 'nobody' is not a result (busy, congestion, failed, hung_up_early, "
        "identity_failed, invalid_number, ivr_error, machine, no_answer, no_contact, unknown)",
        f"{path}:14: strategy[1].when: unknown key (expected one of: channel, phone, attempts, on, delay_s, template)",
    ]


def test_an_sms_step_needs_the_sms_table(tmp_path: Path) -> None:
    path = tmp_path / "campaign.toml"
    path.write_text(HEAD + '\n[[strategy]]\nphone = "fixed"\n\n[[strategy]]\nchannel = "sms"\n')
    with pytest.raises(CampaignFileError, match=r"campaign.toml:11: strategy\[1\].channel: an SMS step needs"):
        load_campaign_file(path)
    path.write_text(HEAD + '[sms]\nsender = "X"\n\n[[strategy]]\nphone = "fixed"\n\n[[strategy]]\nchannel = "sms"\n')
    assert len(load_campaign_file(path).settings["strategy"]) == 2


def _contact(*types: PhoneType) -> Contact:
    return Contact(id=1, external_id="C0", attempts=0, strategy_step=0, step_attempts=0, next_phone=0,
                   disposition=Disposition.PENDING,
                   phones=[Phone(number=f"+3461100000{i}", position=i, type=t) for i, t in enumerate(types)])  # fmt: skip


def _ended(**result: object) -> Attempt:
    return Attempt(id="a", number="+34611000000", details={}, **result)


STRATEGY = parse_strategy({"strategy": [{"phone": "fixed"}, {"phone": "voip", "on": ["machine", "no_contact"]},
                                        {"phone": "mobile", "attempts": 2, "delay_s": 60},
                                        {"channel": "sms", "template": "missed_call"}]})  # fmt: skip


def test_steps_follow_the_results_that_count_and_skip_a_missing_number() -> None:
    assert STRATEGY is not None
    contact = _contact(PhoneType.MOBILE, PhoneType.FIXED)
    begin(contact, STRATEGY)
    assert (contact.strategy_step, contact.next_phone) == (0, 1)  # the fixed number, listed second
    assert after_attempt(contact, _ended(dial_result=DialResult.BUSY), STRATEGY, NOW)
    # no voip number: straight to the mobile, after its delay
    assert (contact.strategy_step, contact.next_phone, contact.step_attempts) == (2, 0, 0)
    assert contact.next_attempt_at == datetime(2026, 11, 30, 12, 1, tzinfo=UTC)
    assert after_attempt(contact, _ended(dial_result=DialResult.NO_ANSWER), STRATEGY, NOW)
    assert (contact.strategy_step, contact.step_attempts) == (2, 1)  # the mobile once more
    last = _ended(dial_result=DialResult.NO_ANSWER)
    assert after_attempt(contact, last, STRATEGY, NOW)
    assert last.details["strategy_sms"] == [{"template": "missed_call", "step": 3}]
    assert contact.disposition == Disposition.EXHAUSTED and next_step(contact, STRATEGY).endswith("all 4 steps done")


def test_a_person_reached_or_a_machine_where_it_does_not_count_follows_the_retry_rules() -> None:
    assert STRATEGY is not None
    contact = _contact(PhoneType.FIXED, PhoneType.MOBILE)
    begin(contact, STRATEGY)
    assert not after_attempt(contact, _ended(outcome=Outcome.ANSWERED), STRATEGY, NOW)
    assert not after_attempt(contact, _ended(outcome=Outcome.MACHINE), STRATEGY, NOW)  # step 1 counts no_contact
    assert contact.strategy_step == 0
    assert parse_strategy({}) is None  # no strategy: today's behaviour
