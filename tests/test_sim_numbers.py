"""Sandbox customer numbers: what the dialplan will read from them."""

from __future__ import annotations

import phonenumbers
import pytest

from dialer.sandbox.sim import BEHAVIOURS, describe, sim_number


@pytest.mark.parametrize(
    ("kwargs", "number", "words"),
    [
        ({"behaviour": "human", "answers": ["1", "1234"]}, "+34611141234", "human pressing 1, 1234"),
        ({"behaviour": "human", "answers": ["1", "2", "9"]}, "+34611112190", "human pressing 1, 2, 9"),
        ({"behaviour": "human"}, "+34610000000", "human, no keys"),
        ({"behaviour": "hangup", "hangup_after_s": 7}, "+34620700000", "human hanging up after 7 s"),
        ({"behaviour": "busy", "tag": 42}, "+34640000042", "busy"),
        ({"behaviour": "no_answer"}, "+34660000000", "no answer"),
    ],
)
def test_number_encodes_the_behaviour(kwargs: dict[str, object], number: str, words: str) -> None:
    assert sim_number(**kwargs) == number  # type: ignore[arg-type]
    assert describe(number) == words


def test_every_sandbox_number_is_a_valid_e164_number() -> None:
    for behaviour in BEHAVIOURS:
        parsed = phonenumbers.parse(sim_number(behaviour, tag=7) if behaviour != "hangup" else sim_number(behaviour, hangup_after_s=3))
        assert phonenumbers.is_valid_number(parsed), behaviour


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"behaviour": "robot"}, "unknown behaviour"),
        ({"behaviour": "human", "answers": ["12", "12345"]}, "at most 7 fit"),
        ({"behaviour": "human", "answers": ["1#"]}, "1 to 9 digits"),
        ({"behaviour": "hangup", "hangup_after_s": 0}, "1..99"),
        ({"behaviour": "busy", "tag": 123456789}, "does not fit"),
    ],
)
def test_what_cannot_be_encoded_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sim_number(**kwargs)  # type: ignore[arg-type]
