"""Return calls without Asterisk: the token door, matching a caller to people, the flow a caller
runs, and return calls in the caps (a conversation, not a call placed)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dialer.domain import AttemptState, CampaignState, Direction, Outcome, ReturnMatch
from dialer.ivr.flow import load
from dialer.ivr.return_calls import ReturnDoor, normalised
from dialer.ivr.return_flow import GREETING_STEP, IDENTITY_STEP, return_flow
from dialer.ivr.trust import Refused
from dialer.storage import db
from dialer.storage.models import Attempt, Campaign, Contact, Phone
from dialer.storage.repository import Repository
from dialer.storage.return_calls import ReturnEnding, finish_call, match, open_call
from dialer.storage.sms_models import Sms
from scheduler.caps import Caps, Past

pytestmark = pytest.mark.inbound
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
NUMBER = "+34611223344"


class Channel:
    def __init__(self, uniqueid: str, token: str | None) -> None:
        self.uniqueid, self.vars = uniqueid, {"DIALER_TOKEN": token or ""}

    async def get_variable(self, name: str) -> str | None:
        return self.vars.get(name)

    async def set_variable(self, name: str, value: str) -> None:
        self.vars[name] = value


async def test_the_door_admits_the_channel_it_issued_to_once_and_clears_the_token() -> None:
    door = ReturnDoor()
    token = door.issue("1700000000.1")
    channel = Channel("1700000000.1", token)
    await door.admit(channel)  # type: ignore[arg-type]
    assert channel.vars["DIALER_TOKEN"] == ""
    with pytest.raises(Refused, match="no token issued"):
        await door.admit(Channel("1700000000.1", token))  # type: ignore[arg-type]


async def test_the_door_refuses_a_forged_token_another_channel_and_an_expired_one() -> None:
    door = ReturnDoor(ttl_s=0.0)
    token = door.issue("1700000000.2")
    with pytest.raises(Refused):  # expired
        await door.admit(Channel("1700000000.2", token))  # type: ignore[arg-type]
    door = ReturnDoor()
    token = door.issue("1700000000.3")
    with pytest.raises(Refused, match="no token issued"):
        await door.admit(Channel("1700000000.9", token))  # type: ignore[arg-type]
    with pytest.raises(Refused, match="wrong token"):
        await door.admit(Channel("1700000000.3", "forged"))  # type: ignore[arg-type]
    await door.admit(Channel("1700000000.3", token))  # type: ignore[arg-type]  # a wrong guess used nothing up


def test_caller_numbers_are_normalised() -> None:
    assert normalised("611223344", "ES") == NUMBER
    assert normalised("0034611223344", "ES") == NUMBER
    assert normalised("+34 611 22 33 44", "ES") == NUMBER


@pytest.fixture
def sessions(tmp_path):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'r.db'}"
    db.upgrade(url)
    return db.session_factory(db.make_engine(url))


def _person(s, campaign: str, name: str, number: str, called_at: datetime | None, texted_at=None) -> int:  # type: ignore[no-untyped-def]
    row = s.query(Campaign).filter_by(name=campaign).one_or_none() or Campaign(name=campaign, created_at=NOW)
    contact = Contact(campaign=row, external_id=str(uuid.uuid4())[:8], name=name, created_at=NOW,
                      phones=[Phone(number=number, position=0)])  # fmt: skip
    s.add(contact)
    s.flush()
    if called_at is not None:
        s.add(Attempt(id=str(uuid.uuid4()), campaign_id=row.id, contact_id=contact.id,
                      phone_id=contact.phones[0].id, number=number, state=AttemptState.ENDED,
                      created_at=called_at))  # fmt: skip
    if texted_at is not None:
        s.add(Sms(campaign_id=row.id, contact_id=contact.id, number=number, kind="notice", text="t",
                  encoding="gsm7", segments=1, created_at=texted_at))  # fmt: skip
    return contact.id


def test_the_most_recent_campaign_wins_for_one_person_called_by_two(sessions) -> None:  # type: ignore[no-untyped-def]
    with sessions.begin() as s:
        _person(s, "water", "Ana Pérez", NUMBER, NOW - timedelta(days=3))
        newest = _person(s, "gas", "ana pérez", NUMBER, NOW - timedelta(hours=2))
    with sessions() as s:
        found = match(s, NUMBER, NOW, 14)
    assert found.kind == ReturnMatch.IDENTIFIED and found.chosen and found.chosen.contact_id == newest
    assert len(found.candidates) == 2


def test_a_number_two_people_share_is_shared_and_old_calls_do_not_count(sessions) -> None:  # type: ignore[no-untyped-def]
    with sessions.begin() as s:
        _person(s, "water", "Ana Pérez", NUMBER, NOW - timedelta(days=1))
        _person(s, "water", "Luis Gil", NUMBER, None, texted_at=NOW - timedelta(days=2))
        _person(s, "water", "Eva Ruiz", "+34611000000", NOW - timedelta(days=30))
    with sessions() as s:
        assert match(s, NUMBER, NOW, 14).kind == ReturnMatch.SHARED
        assert match(s, "+34611000000", NOW, 14).kind == ReturnMatch.UNKNOWN
        assert match(s, "+34611000000", NOW, 31).kind == ReturnMatch.IDENTIFIED


def test_a_texted_person_who_calls_is_identified_and_gets_an_inbound_attempt(sessions) -> None:  # type: ignore[no-untyped-def]
    with sessions.begin() as s:
        contact_id = _person(s, "water", "Ana Pérez", NUMBER, None, texted_at=NOW - timedelta(hours=1))
    row, attempt, found = open_call(sessions, NUMBER, "+34910000001", "node-a", NOW, 14)
    assert found.kind == ReturnMatch.IDENTIFIED and found.candidates[0].by == "sms"
    assert attempt is not None and (attempt.contact_id, attempt.direction) == (contact_id, Direction.INBOUND)
    assert (row.attempt_id, row.contact_id, row.match) == (attempt.id, contact_id, ReturnMatch.IDENTIFIED)


def test_no_campaign_dials_a_person_while_they_are_on_a_return_call(sessions) -> None:  # type: ignore[no-untyped-def]
    """The return call holds the person's number guard (as a dialled call does) until it ends."""
    with sessions.begin() as s:
        _person(s, "water", "Ana Pérez", NUMBER, NOW - timedelta(hours=1))
        other = Campaign(name="gas", state=CampaignState.ACTIVE, created_at=NOW, max_concurrent=5,
                         calls_per_second=100, settings={"retries": {"max_attempts": 3}})  # fmt: skip
        s.add(Contact(campaign=other, external_id="g1", created_at=NOW, fields={}, phones=[Phone(number=NUMBER, position=0)]))
        s.flush()
        gas = other.id
    row, attempt, _found = open_call(sessions, NUMBER, "+34910000001", "node-a", NOW, 14)
    assert attempt is not None
    repo = Repository(sessions, node="node-a")
    assert repo.claim(gas, 1, NOW + timedelta(seconds=1)) == []  # on the line with us
    finish_call(sessions, ReturnEnding(row.id, attempt.id, Outcome.ANSWERED, "bye", {}), NOW + timedelta(seconds=60))
    with sessions.begin() as s:
        s.execute(Contact.__table__.update().where(Contact.external_id == "g1").values(next_attempt_at=None))
    assert [p.number for p in repo.claim(gas, 1, NOW + timedelta(seconds=61))] == [NUMBER]


def test_a_return_call_starts_at_identity_even_in_a_flow_without_one() -> None:
    flow = return_flow(load("collections"))
    assert flow.start == GREETING_STEP and flow.step(GREETING_STEP).next == "identity"
    notify = return_flow(load("notify"))
    assert notify.step(GREETING_STEP).next == IDENTITY_STEP
    assert notify.step(IDENTITY_STEP).next == "message"  # the message only after identity


def test_a_return_call_is_a_conversation_for_the_quiet_period_but_not_a_call_placed() -> None:
    caps = Caps(per_day=1, quiet_days_after_conversation=None)
    returned = [Past(NOW - timedelta(hours=1), conversation=True, placed=False)]
    assert caps.blocks(NOW, returned, ZoneInfo("Europe/Madrid")) == []
    quiet = Caps(quiet_days_after_conversation=7)
    assert [b.code for b in quiet.blocks(NOW, returned, ZoneInfo("Europe/Madrid"))] == ["quiet"]
