"""Flow routes for `dialer agi serve` and process AGI scripts (no engine in the process).

The AGI path names the flow: a built-in flow, or `campaign` for a campaign that brings its own
flow file. Either way the attempt's campaign (looked up by DIALER_ATTEMPT) decides what runs; the
outcome goes back to the daemon in channel variables and the events straight to SQL. The gate is
the attempt row's token hash (dialer.ivr.trust, dialer.storage.agi_tokens).
"""

from __future__ import annotations

import functools

from dialer.config import database_url
from dialer.ivr.fastagi import Handler
from dialer.ivr.flow import routes
from dialer.ivr.service import IvrService
from dialer.storage import db


@functools.cache
def _service() -> IvrService:
    engine = db.make_engine(database_url(), statement_timeout_s=db.DAEMON_STATEMENT_TIMEOUT_S)
    return IvrService(db.session_factory(engine))


def handler_for(name: str) -> Handler | None:
    return _service().handle if name in routes() else None  # no database opened for a wrong path


def gate() -> IvrService:
    """What admits a session (`dialer agi serve`; the process AGI script's handle() admits itself)."""
    return _service()
