"""Issue 12, item 2 without Asterisk: the recorder retries endings SQL refuses, journals them
(fsync'd, one JSON line each) and replays them idempotently; nothing is dropped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from dialer.domain import AttemptState, DialResult, Disposition, Outcome
from dialer.engine.journal import Journal, JournaledEvent, decode, encode
from dialer.engine.recorder import Recorder
from dialer.storage import db
from dialer.storage.endings import Ending
from dialer.storage.ivr_store import events_of
from dialer.storage.models import Attempt, Contact, Dnc
from dialer.storage.repository import Repository
from tests.campaigns import make_campaign, new_database

AT = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
EVENTS = (JournaledEvent(1, AT, "step", "menu"), JournaledEvent(2, AT, "key", "menu", "9"),
          JournaledEvent(3, AT, "fact", "choice", "stop"))  # fmt: skip


class FlakySql(Repository):
    """SQL that refuses endings while `down` is set, as a locked SQLite or a stopped server does."""

    down = False
    refused = 0

    def finish_many(self, endings: list[Ending]) -> None:
        if self.down:
            self.refused += 1
            raise OperationalError("UPDATE attempt", {}, Exception("database is locked"))
        super().finish_many(endings)


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[FlakySql]:
    url = new_database(str(tmp_path / "d.db"))
    make_campaign(url, "j", ["+34611100001", "+34611100002", "+34611100003"], render=False, calls_per_second=100)
    engine = db.make_engine(url)
    yield FlakySql(db.session_factory(engine))
    engine.dispose()


def claim_all(repo: Repository) -> list[str]:
    plans = repo.claim(1, 10, token="claim-1")
    repo.confirm_claim("claim-1")  # their Originates "left", as the engine does before it sends
    return [p.attempt_id for p in plans]


def attempt(repo: Repository, attempt_id: str) -> Attempt:
    with repo.sessions() as s:
        found = s.get(Attempt, attempt_id)
        assert found is not None
        return found


def opted_out(attempt_id: str) -> Ending:
    return Ending(attempt_id, "reported by the IVR", outcome=Outcome.OPTED_OUT, step=None, events=EVENTS,
                  details={"amd": "HUMAN"}, ended_at=AT + timedelta(seconds=20), answered_at=AT)  # fmt: skip


def test_an_ending_survives_the_journal_line_by_line(tmp_path: Path) -> None:
    ending = opted_out("a1")
    assert decode(encode(ending)) == ending
    busy = Ending("a2", "originate reason 5", dial_result=DialResult.BUSY, cause=17)
    journal = Journal(tmp_path / "j" / "endings.jsonl")
    journal.append([ending, busy])
    with open(journal.path, "a") as f:
        f.write('{"v": 1, "attempt_id": "a3", "rea')  # a crash in the middle of a write
    again = Journal(journal.path)
    assert again.open() == [ending, busy]  # the torn line is skipped
    assert again.pending == {"a1", "a2"}
    again.done(["a1"])
    assert journal.path.stat().st_size > 0
    again.done(["a2"])
    assert journal.path.stat().st_size == 0 and not again.pending  # all in SQL: emptied


async def test_sql_refusing_for_a_while_is_retried_and_the_ending_is_journaled_meanwhile(
    repo: FlakySql, tmp_path: Path
) -> None:
    (a, *_rest) = claim_all(repo)
    journal = Journal(tmp_path / "endings.jsonl")
    recorder = Recorder(repo, 2.0, journal=journal, retry_s=10.0, replay_every_s=60)
    recorder.start()
    repo.down = True
    record = asyncio.ensure_future(recorder.record(opted_out(a)))
    while not journal.pending:
        await asyncio.sleep(0.01)
    assert [e.attempt_id for e in journal.read()] == [a]  # on disk at the first refusal
    assert recorder.holds(a) and not record.done()
    await asyncio.sleep(0.6)
    repo.down = False
    await asyncio.wait_for(record, 10)  # written by a retry, well within the retry time
    await recorder.stop()
    assert repo.refused >= 2
    row = attempt(repo, a)
    assert (row.state, row.outcome, row.ended_at, row.answered_at) == (AttemptState.ENDED, Outcome.OPTED_OUT,
                                                                       AT + timedelta(seconds=20), AT)  # fmt: skip
    assert journal.path.stat().st_size == 0 and not recorder.holds(a)


async def test_an_ending_sql_refuses_past_the_retry_time_waits_in_the_journal_for_the_replay(
    repo: FlakySql, tmp_path: Path
) -> None:
    a, b, c = claim_all(repo)
    journal = Journal(tmp_path / "endings.jsonl")
    recorder = Recorder(repo, 2.0, journal=journal, retry_s=0.5, replay_every_s=0.3)
    recorder.start()
    repo.down = True
    await asyncio.gather(recorder.record(opted_out(a)), recorder.record(Ending(b, "x", dial_result=DialResult.BUSY)))
    assert attempt(repo, a).state == AttemptState.ORIGINATING  # the caller moved on; SQL has nothing yet
    assert journal.pending == {a, b} and recorder.holds(a)
    await asyncio.sleep(0.7)
    repo.down = False
    await recorder.record(Ending(c, "y", dial_result=DialResult.NO_ANSWER))
    while journal.pending:
        await asyncio.sleep(0.05)
    await recorder.stop()
    assert attempt(repo, a).outcome == Outcome.OPTED_OUT and attempt(repo, b).dial_result == DialResult.BUSY
    with repo.sessions() as s:
        assert s.get(Dnc, attempt(repo, a).number) is not None
        assert s.scalars(select(Contact.live_attempt_id).where(Contact.live_attempt_id.is_not(None))).all() == []
    assert [(e.kind, e.name, e.value) for e in events_of(repo.sessions, a)] == [
        ("step", "menu", None), ("key", "menu", "9"), ("fact", "choice", "stop")]  # fmt: skip
    assert recorder.journaled == 2 and journal.path.stat().st_size == 0


async def test_a_replay_is_idempotent_and_an_earlier_runs_journal_is_replayed_at_start(
    repo: FlakySql, tmp_path: Path
) -> None:
    a, b, _c = claim_all(repo)
    repo.finish_many([Ending(a, "written before the crash", outcome=Outcome.ANSWERED)])
    journal = Journal(tmp_path / "endings.jsonl")
    journal.append([opted_out(a), opted_out(b), opted_out(b)])  # a is in SQL already; b twice
    recorder = Recorder(repo, 2.0, journal=Journal(journal.path), replay_every_s=60)
    recorder.start()  # the next run
    while recorder.holds(a) or recorder.holds(b):
        await asyncio.sleep(0.01)
    await recorder.stop()
    assert (attempt(repo, a).outcome, attempt(repo, a).reason) == (Outcome.ANSWERED, "written before the crash")
    assert attempt(repo, b).outcome == Outcome.OPTED_OUT
    assert len(events_of(repo.sessions, b)) == 3 and events_of(repo.sessions, a) == []
    with repo.sessions() as s:
        contact = s.get(Contact, attempt(repo, b).contact_id)
        assert contact is not None and contact.disposition == Disposition.SUPPRESSED
    assert journal.path.stat().st_size == 0


async def test_one_bad_ending_does_not_sink_the_others_and_is_kept(repo: FlakySql, tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    a, b, _c = claim_all(repo)
    twice = (JournaledEvent(1, AT, "step", "menu"), JournaledEvent(1, AT, "step", "menu"))  # violates (attempt, seq)
    journal = Journal(tmp_path / "endings.jsonl")
    recorder = Recorder(repo, 2.0, journal=journal, retry_s=0.3, replay_every_s=60)
    recorder.start()
    results = await asyncio.gather(recorder.record(Ending(a, "bad", outcome=Outcome.ANSWERED, events=twice)),
                                   recorder.record(opted_out(b)), return_exceptions=True)  # fmt: skip
    await recorder.stop()
    assert results == [None, None]
    assert attempt(repo, b).outcome == Outcome.OPTED_OUT
    assert attempt(repo, a).state == AttemptState.ORIGINATING
    assert journal.pending == {a} and [e.attempt_id for e in journal.read()] == [a]  # never dropped
    assert "writing them one by one" in caplog.text


async def test_an_ending_neither_sql_nor_the_journal_takes_is_an_error(repo: FlakySql, tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    (a, *_rest) = claim_all(repo)
    (tmp_path / "file").write_text("")
    recorder = Recorder(repo, 2.0, journal=Journal(tmp_path / "file" / "endings.jsonl"), retry_s=0.3)
    recorder.start()
    repo.down = True
    with caplog.at_level(logging.ERROR), pytest.raises(OperationalError):
        await recorder.record(opted_out(a))
    await recorder.stop()
    assert f"journal {tmp_path / 'file' / 'endings.jsonl'}: cannot write: " in caplog.text
    assert f"attempt {a}: ending neither written nor journaled" in caplog.text

