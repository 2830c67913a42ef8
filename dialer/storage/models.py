"""SQL schema (SQLAlchemy 2 typed ORM). Portable: SQLite by default, PostgreSQL for several hosts.

Enums are stored as short strings (no native ENUM types), so the same migrations run on both.
Times are UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (JSON, Date, DateTime, Dialect, ForeignKey, Index, Integer, MetaData, String,
                        Text, UniqueConstraint)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.types import TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from dialer.domain import AttemptState, CampaignState, DialResult, Direction, Disposition, Outcome, PhoneType, PromiseState

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on every backend (SQLite keeps no time zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the dialer stores UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def _enum(cls: type) -> SAEnum:
    return SAEnum(cls, native_enum=False, length=24, values_callable=lambda e: [m.value for m in e])


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON}


class Campaign(Base):
    __tablename__ = "campaign"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    state: Mapped[CampaignState] = mapped_column(_enum(CampaignState), default=CampaignState.DRAFT)
    flow: Mapped[str] = mapped_column(String(64), default="notify")
    language: Mapped[str] = mapped_column(String(8), default="es")
    default_region: Mapped[str] = mapped_column(String(2), default="ES")
    caller_id: Mapped[str | None] = mapped_column(String(64))
    trunk_template: Mapped[str] = mapped_column(String(200), default="Local/{number}@sim-customers")
    # a named trunk (its template and limits win over trunk_template); None: the template alone.
    # No foreign key: adding one makes SQLite rebuild the campaign table, which cascades
    # deletes to contacts; `dialer trunks remove` refuses a trunk a campaign names.
    trunk_name: Mapped[str | None] = mapped_column(String(64))
    max_concurrent: Mapped[int] = mapped_column(Integer, default=5)
    calls_per_second: Mapped[float] = mapped_column(default=1.0)
    ring_timeout_s: Mapped[int] = mapped_column(Integer, default=30)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    # the calls/s bucket shared by every host (storage.limits): tokens left and when counted
    rate_tokens: Mapped[float] = mapped_column(default=0.0, server_default="0")
    rate_at: Mapped[datetime | None]

    contacts: Mapped[list[Contact]] = relationship(back_populates="campaign")


class Contact(Base):
    __tablename__ = "contact"
    __table_args__ = (
        UniqueConstraint("campaign_id", "external_id"),
        Index(None, "campaign_id", "disposition", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    timezone: Mapped[str | None] = mapped_column(String(64))
    # custom fields from the import: amount, due_date, concept, zone, segment, ...
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    disposition: Mapped[Disposition] = mapped_column(_enum(Disposition), default=Disposition.PENDING)
    next_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    # dialing progress: attempts made, which phone is next, the call in progress (at most one)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_phone: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    live_attempt_id: Mapped[str | None] = mapped_column(String(36))
    # the debt this contact is called about (Reg F counts calls per debt, across campaigns)
    debt_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # why a claim put the contact aside (its audio is not rendered); `dialer explain` says it
    parked_reason: Mapped[str | None] = mapped_column(Text)
    # where the campaign's contact strategy has it (dialer.storage.strategies): step, its calls so far
    strategy_step: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    step_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    campaign: Mapped[Campaign] = relationship(back_populates="contacts")
    phones: Mapped[list[Phone]] = relationship(
        back_populates="contact", order_by="Phone.position", cascade="all, delete-orphan"
    )


class Phone(Base):
    __tablename__ = "phone"
    __table_args__ = (UniqueConstraint("contact_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    number: Mapped[str] = mapped_column(String(20))  # E.164
    type: Mapped[PhoneType] = mapped_column(_enum(PhoneType), default=PhoneType.OTHER)

    contact: Mapped[Contact] = relationship(back_populates="phones")


class Attempt(Base):
    """One Originate of one phone number; its id is the Asterisk ChannelId."""

    __tablename__ = "attempt"
    __table_args__ = (
        Index(None, "campaign_id", "state"),
        Index(None, "recorded_at", "id"),
        Index(None, "contact_id", "created_at"),
        Index(None, "node", "state"),
        Index(None, "trunk", "state"),
        Index(None, "number", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"))
    phone_id: Mapped[int] = mapped_column(ForeignKey("phone.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(20))
    # the dialer host that sent it: a resync looks only at its own node's calls
    node: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # the trunk it left on: the trunk's name, or the campaign's template text (limits count by it)
    trunk: Mapped[str | None] = mapped_column(String(200))
    # one per claim (transaction): a claim that committed after its caller gave up is found by it and undone
    claim_token: Mapped[str | None] = mapped_column(String(36))
    state: Mapped[AttemptState] = mapped_column(_enum(AttemptState), default=AttemptState.CREATED)
    created_at: Mapped[datetime]
    originated_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    # when SQL recorded the ending (a journaled one: when it was replayed); the results API follows it
    recorded_at: Mapped[datetime | None]
    dial_result: Mapped[DialResult | None] = mapped_column(_enum(DialResult))
    outcome: Mapped[Outcome | None] = mapped_column(_enum(Outcome))
    reason: Mapped[str | None] = mapped_column(Text)
    q850_cause: Mapped[int | None] = mapped_column(Integer)
    sip_code: Mapped[int | None] = mapped_column(Integer)  # the carrier's last SIP response (486, 503, 200...)
    step_reached: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)  # message_left, agent_answered, queue wait
    # SHA-256 of the attempt's AGI token (dialer.ivr.trust), never the token; "used" once admitted
    agi_token_hash: Mapped[str | None] = mapped_column(String(64))
    # outbound (an Originate) or inbound (a return call: dialer.storage.return_calls)
    direction: Mapped[Direction] = mapped_column(_enum(Direction), default=Direction.OUTBOUND,
                                                 server_default=Direction.OUTBOUND.value)  # fmt: skip


class IvrEvent(Base):
    """Every IVR step entered, key pressed and fact captured, in order."""

    __tablename__ = "ivr_event"
    __table_args__ = (UniqueConstraint("attempt_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempt_id: Mapped[str] = mapped_column(ForeignKey("attempt.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(16))  # step | key | fact
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[str | None] = mapped_column(Text)


class Dnc(Base):
    """Do-not-call: numbers never dialled by any campaign."""

    __tablename__ = "dnc"

    number: Mapped[str] = mapped_column(String(20), primary_key=True)  # E.164
    source: Mapped[str] = mapped_column(String(64), index=True)  # list name, "ivr-opt-out", ...
    reason: Mapped[str | None] = mapped_column(Text)
    added_at: Mapped[datetime]


class Trunk(Base):
    """A named way out to a carrier, shared by campaigns and hosts; its limits hold across all."""

    __tablename__ = "trunk"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    template: Mapped[str] = mapped_column(String(200))  # e.g. PJSIP/{number}@carrier
    max_concurrent: Mapped[int] = mapped_column(Integer)
    calls_per_second: Mapped[float]
    created_at: Mapped[datetime]
    rate_tokens: Mapped[float] = mapped_column(default=0.0, server_default="0")
    rate_at: Mapped[datetime | None]


class Node(Base):
    """One dialer daemon: its host, its Asterisk, and a heartbeat other nodes watch."""

    __tablename__ = "node"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    asterisk: Mapped[str] = mapped_column(String(200))  # its AMI host:port
    version: Mapped[str] = mapped_column(String(64))
    live_calls: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    stopped_at: Mapped[datetime | None]  # a clean stop; a crash leaves it empty


class ClaimWait(Base):
    """A host that wanted calls of a campaign and found its limit full (storage.limits): while its
    row is fresh, every host of the campaign keeps to a fair share of the cap."""

    __tablename__ = "claim_wait"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True)
    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime]


class LiveGuard(Base):
    """One live call per person, across campaigns and hosts: a row per normalised number ("n:+34...")
    and per debt ("d:<debt_id>") while a call to it is live; the primary key is the guard."""

    __tablename__ = "live_guard"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    # no foreign key: a claim takes its guards before its attempt rows exist (endings and node
    # resolution release them; a guard whose attempt is gone or ended is stale and swept)
    attempt_id: Mapped[str] = mapped_column(String(36), index=True)
    campaign_id: Mapped[int] = mapped_column(Integer)
    since: Mapped[datetime]
class Promise(Base):
    """A promise to pay as a state: the contact waits until `due_at` (date + grace)."""

    __tablename__ = "promise"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    attempt_id: Mapped[str | None] = mapped_column(String(36))
    promised_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[str | None] = mapped_column(String(32))
    due_at: Mapped[datetime]
    state: Mapped[PromiseState] = mapped_column(_enum(PromiseState), default=PromiseState.OPEN)
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
