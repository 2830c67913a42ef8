"""Repository rules without Asterisk: claims, next phone, retry delays and caps, DNC, opt-out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from dialer.domain import AttemptState, CampaignState, DialResult, Disposition, Outcome
from dialer.storage import db
from dialer.storage.models import Campaign, Contact, Dnc, Phone
from dialer.storage.repository import Repository
from tests.campaigns import storage_url

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Repository]:
    engine = db.make_engine(storage_url(request, tmp_path))
    yield Repository(db.session_factory(engine))
    engine.dispose()


def add_campaign(repo: Repository, phones: list[list[str]], retries: dict[str, object] | None = None) -> int:
    with repo.sessions.begin() as s:
        # limits high enough not to matter here (test_limits is about them)
        c = Campaign(name="c", state=CampaignState.ACTIVE, created_at=T0, max_concurrent=100, calls_per_second=1000,
                     settings={"retries": retries or {"max_attempts": 4, "delay_s": {"busy": 60}}})  # fmt: skip
        s.add(c)
        for i, numbers in enumerate(phones):
            s.add(Contact(campaign=c, external_id=f"C{i}", created_at=T0, fields={},
                          phones=[Phone(number=n, position=p) for p, n in enumerate(numbers)]))  # fmt: skip
        s.flush()
        return c.id


def contact(repo: Repository, external_id: str = "C0") -> Contact:
    with repo.sessions() as s:
        return s.scalars(select(Contact).where(Contact.external_id == external_id)).one()


def test_no_contact_tries_the_next_phone_at_once_then_waits_the_retry_delay(repo: Repository) -> None:
    cid = add_campaign(repo, [["+34611100001", "+34611100002"]])
    first = repo.claim_next(cid, T0)
    assert first is not None and first.number == "+34611100001"
    assert repo.claim_next(cid, T0) is None  # never two live calls for one contact
    repo.finish(first.attempt_id, dial_result=DialResult.BUSY, reason="busy")
    second = repo.claim_next(cid, datetime.now(UTC))
    assert second is not None and second.number == "+34611100002"
    repo.finish(second.attempt_id, dial_result=DialResult.BUSY, reason="busy")
    c = contact(repo)
    assert c.next_phone == 0 and c.next_attempt_at is not None
    assert c.next_attempt_at - datetime.now(UTC) > timedelta(seconds=50)  # busy: 60 s
    assert repo.claim_next(cid) is None
    third = repo.claim_next(cid, datetime.now(UTC) + timedelta(seconds=61))
    assert third is not None and third.number == "+34611100001"


def test_max_attempts_exhausts_and_a_connected_outcome_reaches(repo: Repository) -> None:
    cid = add_campaign(repo, [["+34611100001"], ["+34611100002"]], {"max_attempts": 1})
    a = repo.claim_next(cid, T0)
    b = repo.claim_next(cid, T0)
    assert a and b and a.contact_id != b.contact_id
    repo.finish(a.attempt_id, dial_result=DialResult.NO_ANSWER, reason="rang out")
    repo.finish(b.attempt_id, outcome=Outcome.ANSWERED, reason="message completed")
    repo.finish(b.attempt_id, outcome=Outcome.UNKNOWN, reason="a second end is ignored")
    assert contact(repo, "C0").disposition == Disposition.EXHAUSTED
    assert contact(repo, "C1").disposition == Disposition.REACHED
    attempt = repo.attempt(b.attempt_id)
    assert attempt is not None and (attempt.state, attempt.outcome) == (AttemptState.ENDED, Outcome.ANSWERED)
    assert repo.finish_campaign_if_settled(cid)
    campaign = repo.campaign(cid)
    assert campaign is not None and campaign.state == CampaignState.FINISHED


def test_opt_out_suppresses_the_contact_and_lists_the_number(repo: Repository) -> None:
    cid = add_campaign(repo, [["+34611100001"]])
    a = repo.claim_next(cid, T0)
    assert a
    repo.finish(a.attempt_id, outcome=Outcome.OPTED_OUT, reason="pressed 9")
    assert contact(repo).disposition == Disposition.SUPPRESSED
    with repo.sessions() as s:
        assert s.get(Dnc, "+34611100001") is not None


def test_dnc_numbers_are_skipped_at_dial_time(repo: Repository) -> None:
    cid = add_campaign(repo, [["+34611100001", "+34611100002"], ["+34611100003"]])
    with repo.sessions.begin() as s:  # added mid-campaign
        s.add_all([Dnc(number="+34611100001", source="test", added_at=T0),
                   Dnc(number="+34611100003", source="test", added_at=T0)])  # fmt: skip
    a = repo.claim_next(cid, T0)
    assert a is not None and a.number == "+34611100002"
    assert repo.claim_next(cid, T0) is None
    assert contact(repo, "C1").disposition == Disposition.SUPPRESSED


def test_live_attempts_are_listed_for_resync(repo: Repository) -> None:
    cid = add_campaign(repo, [["+34611100001"], ["+34611100002"]])
    (a,), (b,) = repo.claim(cid, 1, T0, token="claim-a"), repo.claim(cid, 1, T0, token="claim-b")
    assert a and b
    assert repo.live_attempts() == []  # claimed, not confirmed: nothing was sent yet
    assert len(repo.confirm_claim("claim-a")) == 1 and len(repo.confirm_claim("claim-b")) == 1
    repo.mark_answered(b.attempt_id)
    assert {x.id for x in repo.live_attempts()} == {a.attempt_id, b.attempt_id}
    repo.finish(a.attempt_id, outcome=Outcome.UNKNOWN, reason="resync")
    (left,) = repo.live_attempts()
    assert (left.id, left.campaign_id, left.max_concurrent) == (b.attempt_id, cid, 100)


def test_a_cap_per_result_exhausts_before_the_total_cap(repo: Repository) -> None:
    cid = add_campaign(repo, [["+34611100001"]], {"max_attempts": 5, "max_per_result": {"busy": 2},
                                                   "delay_s": {"busy": 0}})  # fmt: skip
    for expected in (Disposition.PENDING, Disposition.EXHAUSTED):
        plan = repo.claim_next(cid, datetime.now(UTC) + timedelta(seconds=1))
        assert plan is not None
        repo.finish(plan.attempt_id, dial_result=DialResult.BUSY, reason="busy")
        assert contact(repo).disposition == expected


def test_an_unsent_claim_is_undone(repo: Repository) -> None:
    cid = add_campaign(repo, [["+34611100001"]])
    plans = repo.claim(cid, 5, T0)
    assert len(plans) == 1
    repo.unclaim(plans)
    c = contact(repo)
    assert (c.live_attempt_id, c.attempts) == (None, 0)
    assert repo.attempt(plans[0].attempt_id) is None and repo.live_attempts() == []
    assert repo.claim_next(cid, T0) is not None


def test_resync_sees_only_its_own_nodes_calls(repo: Repository) -> None:
    cid = add_campaign(repo, [["+34611100001"], ["+34611100002"]])
    other = Repository(repo.sessions, node="dialer-b")
    mine = Repository(repo.sessions, node="dialer-a")
    (a,), (b,) = mine.claim(cid, 1, T0, token="ta"), other.claim(cid, 1, T0, token="tb")
    assert a.contact_id != b.contact_id  # one contact pool, no double claims
    assert other.confirm_claim("ta") == set() and len(mine.confirm_claim("ta")) == len(other.confirm_claim("tb")) == 1
    assert [x.id for x in mine.live_attempts()] == [a.attempt_id]
    assert [x.id for x in other.live_attempts()] == [b.attempt_id]
