"""The SQL of the HTTP face: users, sessions (by the hash of their token) and audit rows.

Functions take a Session and leave the commit to the caller, like the rest of storage. No
password or session token is ever stored or logged in the clear: the callers hash them first
(dialer.web.passwords for passwords; sha256 for the random session tokens).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from dialer.storage.web_models import Audit, WebSession, WebUser


class UserError(ValueError):
    """A user request that cannot be done; the message says why."""


@dataclass(frozen=True)
class SessionInfo:
    user_id: int
    user: str
    language: str | None
    csrf: str
    expires_at: datetime


def add_user(session: Session, name: str, password_hash: str, now: datetime, language: str | None = None) -> WebUser:
    if session.scalar(select(WebUser.id).where(WebUser.name == name)) is not None:
        raise UserError(f"a user named {name!r} already exists")
    user = WebUser(name=name, password_hash=password_hash, language=language, created_at=now)
    session.add(user)
    session.flush()
    return user


def remove_user(session: Session, name: str) -> None:
    """The user and every session of theirs (logged out at once)."""
    user = find_user(session, name)
    if user is None:
        raise UserError(f"no user named {name!r}")
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    session.delete(user)


def find_user(session: Session, name: str) -> WebUser | None:
    return session.scalars(select(WebUser).where(WebUser.name == name)).one_or_none()


def users(session: Session) -> list[WebUser]:
    return list(session.scalars(select(WebUser).order_by(WebUser.name)))


def open_session(session: Session, user: WebUser, token_hash: str, csrf: str, now: datetime,
                 expires_at: datetime) -> None:  # fmt: skip
    session.execute(delete(WebSession).where(WebSession.expires_at < now))  # the expired go as new ones come
    session.add(WebSession(token_hash=token_hash, user_id=user.id, csrf=csrf, created_at=now, expires_at=expires_at))


def session_of(session: Session, token_hash: str, now: datetime) -> SessionInfo | None:
    """The live session with this token hash, or None (unknown or expired)."""
    row = session.execute(
        select(WebSession, WebUser).join(WebUser, WebUser.id == WebSession.user_id)
        .where(WebSession.token_hash == token_hash, WebSession.expires_at > now)
    ).one_or_none()  # fmt: skip
    if row is None:
        return None
    ws, user = row
    return SessionInfo(user.id, user.name, user.language, ws.csrf, ws.expires_at)


def close_session(session: Session, token_hash: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == token_hash))


def audit(session: Session, *, at: datetime, actor: str, action: str, target: str | None, result: str,
          source: str | None = None, details: dict[str, Any] | None = None, note: str | None = None) -> None:  # fmt: skip
    session.add(Audit(at=at, actor=actor, action=action, target=target, source=source, result=result,
                      details=details or {}, note=note))  # fmt: skip


def audit_rows(session: Session, target: str | None = None, limit: int = 20) -> list[Audit]:
    """The newest audit rows first, of one target if given."""
    query = select(Audit).order_by(Audit.at.desc(), Audit.id.desc()).limit(limit)
    if target is not None:
        query = query.where(Audit.target == target)
    return list(session.scalars(query))
