"""Accepted contacts into SQL as fast as the database takes them, inside the caller's transaction.

SQLite: plain executemany of INSERT (the driver's own loop, no ORM or Core work per row) and the
phones by INSERT ... SELECT of their contact's id (the unique index on campaign and external id),
so no RETURNING is needed. PostgreSQL: COPY for the contacts, then the same INSERT ... SELECT.
Every row of one import carries the import's own created_at, which is how `undo` finds them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, delete
from sqlalchemy.orm import Session

from dialer.campaigns.row_checks import Checked
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
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self._phone_sql = (f"INSERT INTO phone (contact_id, number, type, position) SELECT id, {mark}, {mark}, "
                           f"{mark} FROM contact WHERE campaign_id = {mark} AND external_id = {mark}")  # fmt: skip
        self._contact_sql = f"INSERT INTO contact ({CONTACT_COLUMNS}) VALUES ({', '.join([mark] * 8)}, 0, 0)"

    def write(self, rows: list[Checked]) -> None:
        if not rows:
            return
        cid, created, pending = self.campaign_id, self._created, Disposition.PENDING.value
        contacts = [(cid, ext, name, tz, fields, created, pending, debt)
                    for _line, ext, name, tz, fields, _phones, _p, debt in rows]  # fields: JSON text already
        if self._sqlite:
            self._conn.exec_driver_sql(self._contact_sql, contacts)
        else:
            self._copy(contacts)
        phones = [(number, ptype, position, cid, ext)
                  for _line, ext, _n, _tz, _f, numbers, _p, _d in rows
                  for position, (number, ptype, _column) in enumerate(numbers)]  # fmt: skip
        self._conn.exec_driver_sql(self._phone_sql, phones)
        self.written += len(rows)

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
