"""invalid_number takes a number out of its contact's rotation for good; a contact with no
dialable number left ends exhausted, and its last attempt's reason says why (SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dialer.domain import DialResult, Disposition
from dialer.storage.repository import Repository
from dialer.storage.rotation import NO_NUMBER_LEFT
from tests.test_repository import add_campaign, contact, repo  # noqa: F401 - the fixture

A, B = "+34611100001", "+34611100002"


def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def test_an_invalid_number_is_never_dialled_again(repo: Repository) -> None:  # noqa: F811
    cid = add_campaign(repo, [[A, B]], {"max_attempts": 6, "delay_s": {"busy": 60, "invalid_number": 60}})
    first = repo.claim_next(cid, later(0))
    assert first is not None and first.number == A
    repo.finish(first.attempt_id, dial_result=DialResult.INVALID_NUMBER, reason="SIP 404 Not Found")
    second = repo.claim_next(cid, later(0))
    assert second is not None and second.number == B  # the next number at once
    repo.finish(second.attempt_id, dial_result=DialResult.BUSY, reason="SIP 486 Busy Here")
    for _ in range(2):  # every later round dials B only; before, A came back after the delay
        plan = repo.claim_next(cid, later(3600))
        assert plan is not None and plan.number == B
        repo.finish(plan.attempt_id, dial_result=DialResult.BUSY, reason="busy")
    assert contact(repo).disposition == Disposition.PENDING


def test_a_contact_whose_numbers_are_all_invalid_ends_exhausted_with_the_reason(repo: Repository) -> None:  # noqa: F811
    cid = add_campaign(repo, [[A, B]], {"max_attempts": 6})
    for number in (A, B):
        plan = repo.claim_next(cid, later(3600))
        assert plan is not None and plan.number == number
        repo.finish(plan.attempt_id, dial_result=DialResult.INVALID_NUMBER, reason="SIP 404 Not Found")
    assert contact(repo).disposition == Disposition.EXHAUSTED
    assert repo.claim_next(cid, later(7200)) is None
    ended = repo.attempt(plan.attempt_id)
    assert ended is not None and ended.reason == f"SIP 404 Not Found; {NO_NUMBER_LEFT}"


def test_a_claim_exhausts_a_contact_left_with_invalid_and_dnc_numbers_only(repo: Repository) -> None:  # noqa: F811
    from dialer.storage.models import Dnc

    cid = add_campaign(repo, [[A, B]], {"max_attempts": 6})
    plan = repo.claim_next(cid, later(0))
    assert plan is not None and plan.number == A
    repo.finish(plan.attempt_id, dial_result=DialResult.INVALID_NUMBER, reason="SIP 410 Gone")
    with repo.sessions.begin() as s:  # B goes on the DNC list before it is dialled
        s.add(Dnc(number=B, source="test", added_at=datetime.now(UTC)))
    assert repo.claim_next(cid, later(3600)) is None
    assert contact(repo).disposition == Disposition.EXHAUSTED
