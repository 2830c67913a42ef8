"""The hash of each attempt's AGI token (dialer.ivr.trust), never the token: written before the
Originate, and consumed by the one AGI session that a process without the daemon's memory admits
(`dialer agi serve`, the process AGI script)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session, sessionmaker

from dialer.domain import AttemptState
from dialer.storage.models import Attempt

USED = "used"  # the hash after its session was admitted: a second session is refused
LIVE = (AttemptState.ORIGINATING, AttemptState.ANSWERED)


def store(sessions: sessionmaker[Session], hashes: Mapping[str, str]) -> None:
    """{attempt id: token hash} in one transaction (one statement, executed for each attempt)."""
    if not hashes:
        return
    table = cast(Table, Attempt.__table__)
    statement = update(table).where(table.c.id == bindparam("aid")).values(agi_token_hash=bindparam("hash"))
    with sessions.begin() as s:
        s.connection().execute(statement, [{"aid": a, "hash": h} for a, h in hashes.items()])


def consume(sessions: sessionmaker[Session], attempt_id: str, hash_: str) -> str | None:
    """Admit the session: None when the hash matches a live attempt's (now used up); else why not."""
    with sessions.begin() as s:
        won = s.execute(
            update(Attempt)
            .where(Attempt.id == attempt_id, Attempt.agi_token_hash == hash_, Attempt.state.in_(LIVE))
            .values(agi_token_hash=USED)
            .execution_options(synchronize_session=False)
        ).rowcount
        if won == 1:
            return None
        row = s.execute(select(Attempt.state, Attempt.agi_token_hash).where(Attempt.id == attempt_id)).one_or_none()
    if row is None:
        return f"attempt {attempt_id}: no such attempt"
    state, stored = row
    if state not in LIVE:
        return f"attempt {attempt_id} is not live ({state.value})"
    if stored == USED:
        return f"attempt {attempt_id} already had its AGI session"
    if stored is None:
        return f"attempt {attempt_id}: no token was issued for it"
    return f"attempt {attempt_id}: wrong token"
