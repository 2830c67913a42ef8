"""SQL tables of the HTTP face (dialer.web): users, their sessions, and the audit trail.

They share the dialer's metadata (storage.models.Base); storage.models imports nothing from here,
and alembic's env and the schema test import this module so that every table is known. The audit
table is written by every way in (the dashboard today, API keys later): who, when, what.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dialer.storage.models import Base


class WebUser(Base):
    """A person who may log in to the dashboard; the password only as a KDF hash (dialer.web.passwords)."""

    __tablename__ = "web_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    language: Mapped[str | None] = mapped_column(String(8))  # es | en | pl; None: the browser's
    created_at: Mapped[datetime]


class WebSession(Base):
    """A logged-in browser: the hash of its cookie's token (never the token), its CSRF token, expiry."""

    __tablename__ = "web_session"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_user.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class Audit(Base):
    """One thing a person or a key did: who (`actor`: "user:NAME", later "key:NAME"), when, what
    (`action` such as campaign.pause, on `target`), from where, and what came of it."""

    __tablename__ = "audit"
    __table_args__ = (Index(None, "target", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str | None] = mapped_column(String(160))
    source: Mapped[str | None] = mapped_column(String(64))  # the client's address
    result: Mapped[str] = mapped_column(String(16))  # ok | refused
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    note: Mapped[str | None] = mapped_column(Text)


class ApiKey(Base):
    """A key of the HTTP API (/api/v1): only the SHA-256 of the key is kept; its scope is read,
    write (read too) or admin (everything); `last_used_at` is refreshed at most once a minute."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(8))  # read | write | admin
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
