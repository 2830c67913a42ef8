"""The SQL of API keys: add, remove, list, find by hash. Keys are never stored in the clear: the
caller passes the SHA-256 of the key (dialer.web.api_keys makes and hashes them)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dialer.storage.web_models import ApiKey
from dialer.storage.web_store import UserError

SCOPES = ("read", "write", "admin")


def add_key(session: Session, name: str, key_hash: str, scope: str, now: datetime) -> ApiKey:
    if scope not in SCOPES:
        raise UserError(f"scope {scope!r}: expected one of {', '.join(SCOPES)}")
    if session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise UserError(f"an API key named {name!r} already exists")
    key = ApiKey(name=name, key_hash=key_hash, scope=scope, created_at=now)
    session.add(key)
    session.flush()
    return key


def remove_key(session: Session, name: str) -> None:
    key = session.scalars(select(ApiKey).where(ApiKey.name == name)).one_or_none()
    if key is None:
        raise UserError(f"no API key named {name!r}")
    session.delete(key)


def keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.name)))


def key_by_hash(session: Session, key_hash: str) -> tuple[str, str] | None:
    """(name, scope) of the key with this hash, or None."""
    row = session.execute(select(ApiKey.name, ApiKey.scope).where(ApiKey.key_hash == key_hash)).one_or_none()
    return (row[0], row[1]) if row else None


def mark_used(session: Session, name: str, now: datetime) -> None:
    session.execute(update(ApiKey).where(ApiKey.name == name).values(last_used_at=now))
