"""Limits every host shares, decided in SQL: a campaign's live calls and calls/s, a named trunk's,
one live call per person across campaigns, and the stale read between a SELECT and its UPDATE.
Several repositories (one per "host", each with its own connections) claim side by side."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from dialer.domain import AttemptState, CampaignState, DialResult, Disposition, Outcome
from dialer.reports.explain import explain_contact
from dialer.storage import claims, db, scheduling
from dialer.storage.claims import Plan
from dialer.storage.limits import LIVE
from dialer.storage.models import Attempt, Campaign, Contact, Dnc, LiveGuard, Phone, Trunk
from dialer.storage.repository import Repository
from tests.campaigns import storage_url
from tests.conftest import fresh_postgres

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return storage_url(request, tmp_path)


@pytest.fixture
def hosts(url: str) -> Iterator[list[Repository]]:
    engines = [db.make_engine(url) for _ in range(3)]
    yield [Repository(db.session_factory(e), node=f"host-{i}") for i, e in enumerate(engines)]
    for e in engines:
        e.dispose()


def add(repo: Repository, name: str, numbers: list[str], **fields: object) -> int:
    with repo.sessions.begin() as s:
        settings = fields.pop("settings", {"retries": {"max_attempts": 3}})
        c = Campaign(name=name, state=CampaignState.ACTIVE, created_at=T0, settings=settings, **fields)
        s.add(c)
        for i, number in enumerate(numbers):
            s.add(Contact(campaign=c, external_id=f"{name}-{i}", created_at=T0, fields={},
                          debt_id=None, phones=[Phone(number=number, position=0)]))  # fmt: skip
        s.flush()
        return c.id


def live(repo: Repository, **where: object) -> int:
    with repo.sessions() as s:
        query = select(func.count()).select_from(Attempt).where(
            Attempt.state.in_(LIVE))  # fmt: skip
        for key, value in where.items():
            query = query.where(getattr(Attempt, key) == value)
        return s.scalar(query) or 0


def claim_side_by_side(hosts: list[Repository], campaign_id: int, at: datetime, each: int = 5) -> list[Plan]:
    out: list[Plan] = []
    lock = threading.Lock()

    def one(repo: Repository) -> None:
        got = repo.claim(campaign_id, each, at)
        with lock:
            out.extend(got)

    threads = [threading.Thread(target=one, args=(repo,)) for repo in hosts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return out


def test_live_calls_of_a_campaign_stay_within_its_cap_over_all_hosts(hosts: list[Repository]) -> None:
    cid = add(hosts[0], "c", [f"+3461110{i:04d}" for i in range(40)], max_concurrent=6, calls_per_second=1000)
    first = claim_side_by_side(hosts, cid, T0)  # three hosts want 15
    assert len(first) == 6 == live(hosts[0])
    assert claim_side_by_side(hosts, cid, T0 + timedelta(seconds=1)) == []  # full: nobody gets more
    for plan in first[:2]:  # two calls end: exactly two more may leave, whoever asks
        hosts[1].finish(plan.attempt_id, dial_result=DialResult.BUSY, reason="busy")
    again = claim_side_by_side(hosts, cid, T0 + timedelta(seconds=2))
    assert len(again) == 2 and live(hosts[0]) == 6


def test_a_host_that_waits_gets_its_fair_share_of_the_cap(hosts: list[Repository]) -> None:
    a, b = hosts[0], hosts[1]
    cid = add(a, "c", [f"+3461110{i:04d}" for i in range(40)], max_concurrent=6, calls_per_second=1000)
    held = list(b.claim(cid, 6, T0))  # host b came first and holds the whole cap
    assert len(held) == 6
    refused = a.claim(cid, 6, T0 + timedelta(milliseconds=100))
    assert refused == [] and "6 calls live" in refused.why  # a wants room: it waits
    at = T0 + timedelta(milliseconds=200)
    for _ in range(3):  # each time one of b's calls ends, b asks first (its loop is woken at once)
        b.finish(held.pop().attempt_id, dial_result=DialResult.BUSY, reason="busy")
        at += timedelta(milliseconds=100)
        mine = b.claim(cid, 1, at)
        assert mine == [] and "share (3 of 6)" in mine.why  # over its share while a waits
        assert len(a.claim(cid, 1, at)) == 1  # the slot b freed goes to the waiting host
    assert live(a, node="host-0") == 3 and live(a, node="host-1") == 3
    assert hosts[2].claim(cid, 1, at) == []  # a third host is refused too, and waits
    b.finish(held.pop().attempt_id, dial_result=DialResult.BUSY, reason="busy")
    assert b.claim(cid, 1, at) == []  # shares are 2 each now: b, with 2 live, is at its share
    assert len(hosts[2].claim(cid, 1, at)) == 1
    later = at + timedelta(seconds=3)  # nobody asked for 3 s: the cap is whoever's again
    b.finish(held.pop().attempt_id, dial_result=DialResult.BUSY, reason="busy")
    assert len(b.claim(cid, 1, later)) == 1


def test_a_host_refused_by_the_calls_per_second_waits_and_gets_its_share(hosts: list[Repository]) -> None:
    """Hosts whose polls fall in step: the one that always asks just after the bucket refills
    would take every call; the one refused by the rate waits, so the first keeps to its share."""
    a, b = hosts[0], hosts[1]
    cid = add(a, "c", [f"+3461110{i:04d}" for i in range(20)], max_concurrent=4, calls_per_second=5)
    for step in range(2):  # a asks just after each refill and takes the token; b, just after a, is refused
        at = T0 + timedelta(milliseconds=210 * step)
        assert len(a.claim(cid, 1, at)) == 1
        refused = b.claim(cid, 1, at + timedelta(milliseconds=10))
        assert refused == [] and refused.why == "calls per second"  # b waits
    at = T0 + timedelta(milliseconds=420)
    mine = a.claim(cid, 1, at)  # the bucket refilled and a asks first again, at its share (2 of 4)
    assert mine == [] and "share (2 of 4)" in mine.why
    assert len(b.claim(cid, 1, at + timedelta(milliseconds=10))) == 1  # the token goes to b


def test_calls_per_second_hold_over_all_hosts(hosts: list[Repository]) -> None:
    cid = add(hosts[0], "c", [f"+3461110{i:04d}" for i in range(100)], max_concurrent=100, calls_per_second=5)
    per_second = []
    for second in range(4):  # 10 rounds a second, three hosts each round
        got = 0
        for tenth in range(10):
            got += len(claim_side_by_side(hosts, cid, T0 + timedelta(seconds=second, milliseconds=100 * tenth)))
        per_second.append(got)
    assert per_second[0] <= 6 and all(n <= 6 for n in per_second)  # 5/s plus a burst of one
    assert sum(per_second) >= 18  # and the rate is used, not starved


def test_a_claim_whose_clock_is_behind_adds_no_refill(hosts: list[Repository]) -> None:
    """A claim that read its `now` before another host's claim took the lock (or a host whose clock
    is behind) must not wind the bucket's clock back: the same time would be refilled twice."""
    numbers = [f"+3461110{i:04d}" for i in range(300)]
    cid = add(hosts[0], "c", numbers, max_concurrent=1000, calls_per_second=50)  # a burst of 10
    got = []
    for tenth in range(20):  # two seconds, 5 calls refilled each tenth
        at = T0 + timedelta(milliseconds=100 * tenth)
        got.append(len(hosts[0].claim(cid, 5, at + timedelta(milliseconds=90))))  # host 0's clock ahead
        got.append(len(hosts[1].claim(cid, 5, at)))  # host 1's behind
    assert sum(got) <= 10 + 2 * 50, got  # the burst and 50 a second, not the 90 ms refilled twice


def test_a_bucket_clock_a_jumped_host_wrote_does_not_stop_the_others(hosts: list[Repository]) -> None:
    """A host whose clock jumped an hour ahead claims once; the others (right clocks) go on at the rate."""
    cid = add(hosts[0], "c", [f"+3461110{i:04d}" for i in range(100)], max_concurrent=100, calls_per_second=5)
    assert len(hosts[0].claim(cid, 5, T0 + timedelta(hours=1))) == 1  # the burst of one
    got = [len(hosts[1].claim(cid, 5, T0 + timedelta(milliseconds=200 * i))) for i in range(1, 11)]
    assert 8 <= sum(got) <= 11, got  # two seconds at 5/s, not nothing for an hour


def test_a_named_trunk_caps_live_calls_across_campaigns_and_hosts(hosts: list[Repository]) -> None:
    with hosts[0].sessions.begin() as s:
        s.add(Trunk(name="carrier", template="PJSIP/{number}@carrier", max_concurrent=4, calls_per_second=100,
                    created_at=T0))  # fmt: skip
    a = add(hosts[0], "a", [f"+3461110{i:04d}" for i in range(10)], max_concurrent=10, calls_per_second=100,
            trunk_name="carrier")  # fmt: skip
    b = add(hosts[0], "b", [f"+3461120{i:04d}" for i in range(10)], max_concurrent=10, calls_per_second=100,
            trunk_name="carrier")  # fmt: skip
    got = claim_side_by_side(hosts, a, T0) + claim_side_by_side(hosts, b, T0)
    assert len(got) == 4 == live(hosts[0], trunk="carrier")
    assert {p.template for p in got} == {"PJSIP/{number}@carrier"}  # the trunk's template, not the campaign's


def test_one_live_call_per_number_across_campaigns(hosts: list[Repository]) -> None:
    numbers = [f"+3461110{i:04d}" for i in range(5)]
    a = add(hosts[0], "a", numbers, max_concurrent=10, calls_per_second=100)
    b = add(hosts[0], "b", numbers, max_concurrent=10, calls_per_second=100)
    first = hosts[0].claim(a, 10, T0)
    assert len(first) == 5
    assert hosts[1].claim(b, 10, T0) == []  # every number is on a call of campaign a
    with hosts[1].sessions() as s:  # `dialer explain` names the campaign whose call blocks this one
        contact = s.scalars(select(Contact).where(Contact.external_id == "b-0")).one()
        lines = explain_contact(s, contact, T0)
    assert any(f"number {numbers[0]} is on a live call of campaign a" in line for line in lines), lines
    hosts[0].finish(first[0].attempt_id, dial_result=DialResult.BUSY, reason="busy")
    later = hosts[1].claim(b, 10, T0 + timedelta(seconds=60))  # parked 30 s, then only the freed one
    assert [p.number for p in later] == [first[0].number]


def test_a_debt_is_one_live_call_across_its_contacts(hosts: list[Repository]) -> None:
    cid = add(hosts[0], "c", ["+34611100001", "+34611100002"], max_concurrent=10, calls_per_second=100)
    with hosts[0].sessions.begin() as s:
        s.execute(update(Contact).values(debt_id="LOAN-7"))
    assert len(hosts[0].claim(cid, 10, T0)) == 1  # two people, one debt: one call at a time


def test_a_contact_claimed_and_ended_by_another_host_meanwhile_is_not_dialled_again(
    postgres_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL (read committed): host 1 tries to claim and end the contact while host 0 is between
    its SELECT and its UPDATE. Claims of one campaign take turns (the campaign row's lock), so host 1
    waits, then finds the contact live: one attempt, not two. (The UPDATE also checks the attempt
    count it read, should anything ever end a call of that contact in between.)"""
    url = fresh_postgres(postgres_server)
    db.upgrade(url)
    engines = [db.make_engine(url) for _ in range(2)]
    first, second = (Repository(db.session_factory(e), node=f"host-{i}") for i, e in enumerate(engines))
    cid = add(first, "c", ["+34611100001"], max_concurrent=10, calls_per_second=100)
    original = claims.due_contacts
    meanwhile: list[Plan] = []
    racer: list[threading.Thread] = []

    def race() -> None:
        meanwhile.extend(second.claim(cid, 1, T0 + timedelta(seconds=1)))
        for plan in meanwhile:
            second.finish(plan.attempt_id, dial_result=DialResult.BUSY, reason="busy")

    def due_then_race(s: object, *args: object) -> list[Contact]:
        found = original(s, *args)  # type: ignore[arg-type]
        if found and not racer:
            racer.append(threading.Thread(target=race))
            racer[0].start()
            racer[0].join(timeout=1.0)
            assert racer[0].is_alive()  # host 1 waits for host 0's claim to commit
        return found

    monkeypatch.setattr(claims, "due_contacts", due_then_race)
    try:
        assert len(first.claim(cid, 1, T0)) == 1
        racer[0].join(timeout=30)
        assert meanwhile == []  # the contact was live when host 1's turn came
        with first.sessions() as s:
            assert s.scalar(select(func.count()).select_from(Attempt)) == 1
            assert s.scalar(select(Contact.attempts)) == 1
    finally:
        for e in engines:
            e.dispose()


def test_a_number_in_two_campaigns_gets_its_daily_cap_in_total(hosts: list[Repository]) -> None:
    schedule = {"timezone": "Europe/Madrid", "windows": {"daily": "00:00-23:59"}, "caps": {"per_day": 1}}
    numbers = ["+34611100001", "+34611100002"]
    ids = []
    for name in ("a", "b"):
        with hosts[0].sessions.begin() as s:
            c = Campaign(name=name, state=CampaignState.ACTIVE, created_at=T0, max_concurrent=10, calls_per_second=100,
                         settings={"schedule": schedule, "retries": {"max_attempts": 5, "delay_s": {"busy": 0}}})  # fmt: skip
            s.add(c)
            for i, number in enumerate(numbers):
                s.add(Contact(campaign=c, external_id=f"{name}-{i}", created_at=T0, fields={},
                              phones=[Phone(number=number, position=0)]))  # fmt: skip
            s.flush()
            ids.append(c.id)
    first = hosts[0].claim(ids[0], 10, T0)
    assert len(first) == 2
    for plan in first:
        hosts[0].finish(plan.attempt_id, dial_result=DialResult.BUSY, reason="busy")
    # the same people through campaign b, on another host, an hour later: their cap is spent today
    assert hosts[1].claim(ids[1], 10, T0 + timedelta(hours=1)) == []
    with hosts[1].sessions() as s:
        contact = s.scalars(select(Contact).where(Contact.external_id == "b-0")).one()
        lines = explain_contact(s, contact, T0 + timedelta(hours=1))
    assert "its caps also count calls to the same person by other campaigns: a (1)" in lines, lines
    with hosts[1].sessions() as s:
        parked = s.scalars(select(Contact.next_attempt_at).where(Contact.campaign_id == ids[1])).all()
    assert all(at is not None and at.astimezone().date() > T0.date() for at in parked)  # tomorrow
    again = hosts[1].claim(ids[1], 10, T0 + timedelta(days=1))
    assert sorted(p.number for p in again) == numbers


@pytest.mark.parametrize("later_s", [0, 2], ids=["same-moment", "stamped-after-this-claim-began"])
def test_a_call_another_campaign_made_and_ended_during_this_claim_counts_against_the_cap(
    postgres_server: str, monkeypatch: pytest.MonkeyPatch, later_s: int
) -> None:
    """PostgreSQL: host 1's claim (campaign b) has read the person's calls and found the daily cap
    free; before it takes the person's guard, host 0 calls the same number in campaign a and the
    call ends (its guard given back). Holding the guard, host 1 reads the calls again: cap spent.
    The other call is stamped `later_s` after the moment host 1's claim began (a slow claim, or
    another host's clock ahead): it counts all the same (CI once saw it called twice)."""
    url = fresh_postgres(postgres_server)
    db.upgrade(url)
    engines = [db.make_engine(url) for _ in range(2)]
    first, second = (Repository(db.session_factory(e), node=f"host-{i}") for i, e in enumerate(engines))
    settings = {"schedule": {"timezone": "UTC", "windows": {"daily": "00:00-23:59"}, "caps": {"per_day": 1}},
                "retries": {"max_attempts": 5, "delay_s": {"busy": 0}}}  # fmt: skip
    a, b = (add(first, name, ["+34611100001"], max_concurrent=10, calls_per_second=100, settings=settings)
            for name in ("a", "b"))  # fmt: skip
    original = scheduling.histories
    made: list[Plan] = []
    raced: list[bool] = []

    def history_then_race(s: object, contact_ids: object) -> object:
        found = original(s, contact_ids)  # type: ignore[arg-type]
        if not raced:  # the first read is host 1's: host 0 calls and ends meanwhile
            raced.append(True)
            racer = threading.Thread(target=lambda: made.extend(first.claim(a, 1, T0 + timedelta(seconds=later_s))))
            racer.start()
            racer.join(timeout=30)
            assert not racer.is_alive() and len(made) == 1  # campaign a's claim waits for nothing of b's
            first.finish(made[0].attempt_id, dial_result=DialResult.BUSY, reason="busy")
        return found

    monkeypatch.setattr(scheduling, "histories", history_then_race)
    try:
        assert second.claim(b, 1, T0) == []  # the number's one call today was campaign a's
        with first.sessions() as s:
            assert s.scalar(select(func.count()).select_from(Attempt)) == 1
            parked = s.scalar(select(Contact.next_attempt_at).where(Contact.campaign_id == b))
        assert parked is not None and parked.astimezone(UTC).date() > T0.date()  # tomorrow
    finally:
        for e in engines:
            e.dispose()


def _race_at_guards(monkeypatch: pytest.MonkeyPatch, race: object) -> None:
    """Run `race` once inside the next claim, after it read the DNC list and the contacts, before it
    takes the people's guards (claims.invalid_numbers is called between the two)."""
    original, ran = claims.invalid_numbers, []

    def then_race(s: object, contact_ids: object) -> object:
        found = original(s, contact_ids)  # type: ignore[arg-type]
        if not ran:
            ran.append(True)
            racer = threading.Thread(target=race)  # type: ignore[arg-type]
            racer.start()
            racer.join(timeout=30)
            assert not racer.is_alive()
        return found

    monkeypatch.setattr(claims, "invalid_numbers", then_race)


def test_an_opt_out_committed_during_this_claim_keeps_the_number_from_being_dialled(
    postgres_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: host 1's claim (campaign b) read the DNC list; before it takes the person's guard,
    host 0's call to the same number (campaign a) ends opted_out: its DNC row and its guard's release
    commit together. Holding the guard, host 1 reads the list again and does not dial."""
    url = fresh_postgres(postgres_server)
    db.upgrade(url)
    engines = [db.make_engine(url) for _ in range(2)]
    first, second = (Repository(db.session_factory(e), node=f"host-{i}") for i, e in enumerate(engines))
    a, b = (add(first, name, ["+34611100001"], max_concurrent=10, calls_per_second=100) for name in ("a", "b"))
    [call] = first.claim(a, 1, T0)  # live: campaign b's claim must wait for its guard

    def opt_out() -> None:
        first.finish(call.attempt_id, outcome=Outcome.OPTED_OUT, reason="opted out")

    _race_at_guards(monkeypatch, opt_out)
    try:
        assert second.claim(b, 1, T0) == []
        with first.sessions() as s:
            assert s.get(Dnc, "+34611100001") is not None
            assert s.scalar(select(func.count()).select_from(Attempt).where(Attempt.campaign_id == b)) == 0
        monkeypatch.undo()
        assert second.claim(b, 1, T0 + timedelta(seconds=60)) == []  # and later: suppressed
        with first.sessions() as s:
            assert s.scalar(select(Contact.disposition).where(Contact.campaign_id == b)) == Disposition.SUPPRESSED
    finally:
        for e in engines:
            e.dispose()


def test_a_contact_settled_during_this_claim_is_not_dialled(postgres_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL: a payment import marks the contact paid between the claim's SELECT and its UPDATE."""
    url = fresh_postgres(postgres_server)
    db.upgrade(url)
    engine = db.make_engine(url)
    repo = Repository(db.session_factory(engine), node="host-0")
    cid = add(repo, "a", ["+34611100001"], max_concurrent=10, calls_per_second=100)

    def paid() -> None:
        with repo.sessions.begin() as s:
            s.execute(update(Contact).where(Contact.campaign_id == cid).values(disposition=Disposition.PAID))

    _race_at_guards(monkeypatch, paid)
    try:
        assert repo.claim(cid, 1, T0) == []
        with repo.sessions() as s:
            assert s.scalar(select(func.count()).select_from(Attempt)) == 0
            assert s.scalar(select(Contact.disposition)) == Disposition.PAID
    finally:
        engine.dispose()


def test_a_guard_no_live_attempt_holds_is_given_back_by_the_sweep(hosts: list[Repository]) -> None:
    """The safety net behind every ending's release: a guard left by an attempt that is over (or gone)
    is given back after a minute; a live call's guard stays."""
    a = add(hosts[0], "a", ["+34611100001", "+34611100002"], max_concurrent=10, calls_per_second=100)
    live, over = hosts[0].claim(a, 2, T0)
    with hosts[0].sessions.begin() as s:  # an ending whose release was lost (a bug this net catches)
        s.execute(update(Attempt).where(Attempt.id == over.attempt_id).values(state=AttemptState.ENDED))
        s.execute(update(Contact).where(Contact.live_attempt_id == over.attempt_id).values(live_attempt_id=None))
    hosts[0].clock = lambda: T0 + timedelta(seconds=30)
    assert hosts[0].sweep_guards() == 0  # too young to judge
    hosts[0].clock = lambda: T0 + timedelta(seconds=120)
    assert hosts[0].sweep_guards() == 1
    with hosts[0].sessions() as s:
        assert set(s.scalars(select(LiveGuard.attempt_id))) == {live.attempt_id}
