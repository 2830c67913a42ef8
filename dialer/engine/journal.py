"""The endings journal: endings SQL refused, kept on local disk until SQL has them.

One JSON line per ending, appended and fsync'd before anyone is told the ending is safe. The
recorder offers journaled endings to SQL again (periodically and at start); SQL skips attempts
already ended, so a replay is idempotent. Once every journaled ending is in SQL the file is
emptied. A line torn by a crash in the middle of a write is skipped (its ending was never
reported safe).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from dialer.domain import DialResult, Outcome
from dialer.storage.endings import Ending

log = logging.getLogger(__name__)

VERSION = 1


class JournalError(Exception):
    """The journal cannot be read or written; the message names the file."""


@dataclass(frozen=True)
class JournaledEvent:
    """An IVR event row as the journal keeps it (the shape of ivr_store.EventRow)."""

    seq: int
    at: datetime
    kind: str
    name: str
    value: str | None = None


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def encode(ending: Ending) -> str:
    record: dict[str, Any] = {
        "v": VERSION,
        "attempt_id": ending.attempt_id,
        "reason": ending.reason,
        "dial_result": ending.dial_result.value if ending.dial_result else None,
        "outcome": ending.outcome.value if ending.outcome else None,
        "cause": ending.cause,
        "step": ending.step,
        "details": ending.details,
        "events": [[e.seq, _time(e.at), e.kind, e.name, e.value] for e in ending.events],
        "ended_at": _time(ending.ended_at),
        "answered_at": _time(ending.answered_at),
    }
    return json.dumps(record, default=str, separators=(",", ":"))


def decode(line: str) -> Ending:
    r = json.loads(line)
    if r.get("v") != VERSION:
        raise ValueError(f"unknown journal version {r.get('v')!r}")
    return Ending(
        r["attempt_id"],
        r["reason"],
        dial_result=DialResult(r["dial_result"]) if r.get("dial_result") else None,
        outcome=Outcome(r["outcome"]) if r.get("outcome") else None,
        cause=r.get("cause"),
        step=r.get("step"),
        details=r.get("details"),
        events=tuple(JournaledEvent(seq, _parse_time(at) or datetime.min, kind, name, value)
                     for seq, at, kind, name, value in r.get("events") or []),  # fmt: skip
        ended_at=_parse_time(r.get("ended_at")),
        answered_at=_parse_time(r.get("answered_at")),
    )


class Journal:
    """Thread-safe: appends come from worker threads (fsync blocks), reads at start and on replay."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pending: set[str] = set()  # attempt ids journaled and not yet known to be in SQL
        self._lock = threading.Lock()

    def open(self) -> list[Ending]:
        """Read what an earlier run left (every entry is pending until SQL has it)."""
        endings = self.read()
        with self._lock:
            self.pending |= {e.attempt_id for e in endings}
        if endings:
            log.warning("journal %s: %d endings an earlier run could not write to SQL", self.path, len(endings))
        return endings

    def read(self) -> list[Ending]:
        """Every ending in the file, oldest first."""
        try:
            with self._lock, open(self.path, encoding="utf-8") as f:
                lines = f.read().split("\n")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise JournalError(f"journal {self.path}: cannot read: {exc.strerror or exc}") from None
        endings: list[Ending] = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                endings.append(decode(line))
            except (ValueError, KeyError, TypeError) as exc:
                torn = number == len(lines)  # the last line, with no newline: a write cut short
                log.log(logging.WARNING if torn else logging.ERROR, "journal %s:%d: %s line skipped (%s)",
                        self.path, number, "torn" if torn else "unreadable", exc)  # fmt: skip
        return endings

    def append(self, endings: Iterable[Ending]) -> None:
        """Write endings durably (one write, one fsync); raises JournalError."""
        items = list(endings)
        if not items:
            return
        data = "".join(encode(e) + "\n" for e in items).encode()
        with self._lock:
            try:
                created = not self.path.exists()
                if created:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                if created:  # the new file's name is durable too
                    _fsync_dir(self.path.parent)
            except OSError as exc:
                raise JournalError(f"journal {self.path}: cannot write: {exc.strerror or exc}") from None
            self.pending |= {e.attempt_id for e in items}

    def done(self, attempt_ids: Iterable[str]) -> None:
        """These attempts' endings are in SQL; once none is pending, the file is emptied."""
        with self._lock:
            before = len(self.pending)
            self.pending -= set(attempt_ids)
            if before and not self.pending:
                try:
                    os.truncate(self.path, 0)
                except FileNotFoundError:
                    pass
                except OSError as exc:  # harmless: a later replay skips endings SQL already has
                    log.warning("journal %s: cannot empty it: %s", self.path, exc.strerror or exc)
                log.info("journal %s: every journaled ending is in SQL", self.path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
