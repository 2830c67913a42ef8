"""Accepted contacts into SQL as fast as the database takes them, inside the caller's transaction.

SQLite: plain executemany of INSERT (the driver's own loop, no ORM or Core work per row), with
the contacts' ids given here: the first write takes the database's write lock (an empty DELETE),
so the largest id read next stays the largest until the caller commits, and the phones go in by
their contact's id (a third of the time of looking each one up). PostgreSQL: COPY for the
contacts, then the phones by INSERT ... SELECT of their contact's id (the unique index on
campaign and external id), so no RETURNING is needed.
Every row of one import carries the import's own created_at, which is how `undo` finds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, delete
from sqlalchemy.orm import Session

from dialer.campaigns.row_checks import Row
from dialer.domain import Disposition
from dialer.storage.models import Contact

CONTACT_COLUMNS = "campaign_id, external_id, name, timezone, fields, created_at, disposition, debt_id, attempts, next_phone"


class ContactWriter:
    def __init__(self, session: Session, campaign_id: int) -> None:
        self.session = session
        self.campaign_id = campaign_id
        self.now = datetime.now(UTC)
        self.written = 0
        self._conn = session.connection()
        dialect = self._conn.dialect
        self._sqlite = dialect.name == "sqlite"
        table = cast(Table, Contact.__table__)
        created = table.c.created_at.type.bind_processor(dialect)
        self._created = created(self.now) if created else self.now  # naive UTC on SQLite
        if self._sqlite:  # as the driver would store it, once for every row rather than per row
            self._created = self._created.isoformat(" ")
        self._next_id = 0  # SQLite: the next contact's id, once this writer holds the write lock

    def write(self, rows: Sequence[Row]) -> None:
        if rows:
            (self._write_sqlite if self._sqlite else self._write_postgresql)(rows)
            self.written += len(rows)

    def _first_id(self) -> int:
        """SQLite: take the write lock, then the id after the largest (stable until the commit)."""
        self._conn.exec_driver_sql("DELETE FROM contact WHERE 0")
        return int(self._conn.exec_driver_sql("SELECT coalesce(max(id), 0) + 1 FROM contact").scalar_one())

    def _write_sqlite(self, rows: Sequence[Row]) -> None:
        first = self._next_id or self._first_id()
        cid, created, pending = self.campaign_id, self._created, Disposition.PENDING.value
        contacts = [(contact_id, cid, ext, name, tz, fields, created, pending, debt)
                    for contact_id, (_line, ext, name, tz, fields, _phones, _p, debt) in enumerate(rows, first)]
        self._conn.exec_driver_sql(f"INSERT INTO contact (id, {CONTACT_COLUMNS}) VALUES ({', '.join('?' * 9)}, 0, 0)",
                                   contacts)  # fmt: skip
        phones = [(contact_id, number, ptype, position)
                  for contact_id, (_line, _ext, _n, _tz, _f, numbers, _p, _d) in enumerate(rows, first)
                  for position, (number, ptype, _column) in enumerate(numbers)]  # fmt: skip
        self._conn.exec_driver_sql("INSERT INTO phone (contact_id, number, type, position) VALUES (?, ?, ?, ?)", phones)
        self._next_id = first + len(rows)

    def _write_postgresql(self, rows: Sequence[Row]) -> None:
        cid, created, pending = self.campaign_id, self._created, Disposition.PENDING.value
        self._copy([(cid, ext, name, tz, fields, created, pending, debt)
                    for _line, ext, name, tz, fields, _phones, _p, debt in rows])  # fields: JSON text already
        phones = [(number, ptype, position, cid, ext)
                  for _line, ext, _n, _tz, _f, numbers, _p, _d in rows
                  for position, (number, ptype, _column) in enumerate(numbers)]  # fmt: skip
        self._conn.exec_driver_sql("INSERT INTO phone (contact_id, number, type, position) SELECT id, %s, %s, %s "
                                   "FROM contact WHERE campaign_id = %s AND external_id = %s", phones)  # fmt: skip

    def _copy(self, contacts: list[tuple[Any, ...]]) -> None:
        """PostgreSQL's COPY (psycopg 3): one round trip for the chunk."""
        raw = self._conn.connection.dbapi_connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy(f"COPY contact ({CONTACT_COLUMNS}) FROM STDIN") as copy:
            for row in contacts:
                copy.write_row((*row, 0, 0))

    def undo(self) -> None:
        """Delete what this import wrote (its phones go with them: ON DELETE CASCADE)."""
        if self.written:
            self.session.execute(delete(Contact).where(Contact.campaign_id == self.campaign_id,
                                                       Contact.created_at == self.now))  # fmt: skip
            self.written = 0
