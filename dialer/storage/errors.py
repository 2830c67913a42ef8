"""Which SQL failures mean "the database is not available now" (try the same work again later)
rather than "this work is wrong" (a bug or a constraint: the same work fails again)."""

from __future__ import annotations

import asyncio

from sqlalchemy import exc as sa

# OperationalError: SQLite "database is locked", a PostgreSQL server gone, refusing connections or
# shutting down; InterfaceError and DisconnectionError: a connection lost under a statement;
# sqlalchemy's TimeoutError: no pooled connection in time; asyncio's: the caller's own timeout.
UNAVAILABLE = (sa.OperationalError, sa.InterfaceError, sa.DisconnectionError, sa.TimeoutError, asyncio.TimeoutError,
               ConnectionError)  # fmt: skip


def unavailable(error: BaseException) -> bool:
    """True when the same SQL work may well succeed once the database is back."""
    if isinstance(error, sa.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, UNAVAILABLE)
