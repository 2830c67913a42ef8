"""The dialer's words as types (see DESIGN.md, "Words"). Imports nothing of the project."""

from __future__ import annotations

from enum import StrEnum


class CampaignState(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    STOPPED = "stopped"
    FINISHED = "finished"


class AttemptState(StrEnum):
    """Where one Originate is in its life; `ended` attempts carry a result or an outcome."""

    CREATED = "created"  # claimed: row committed, Originate not yet sent (undone if it never leaves)
    ORIGINATING = "originating"  # about to be sent, or sent: no answer yet
    ANSWERED = "answered"  # the IVR has the call
    ENDED = "ended"


class DialResult(StrEnum):
    """How an attempt that never connected ended."""

    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CONGESTION = "congestion"
    INVALID_NUMBER = "invalid_number"
    FAILED = "failed"


class Outcome(StrEnum):
    """How a connected attempt ended (or `unknown` when the dialer lost track of it)."""

    MACHINE = "machine"
    ANSWERED = "answered"
    HUNG_UP_EARLY = "hung_up_early"
    TRANSFERRED = "transferred"
    IDENTITY_FAILED = "identity_failed"
    OPTED_OUT = "opted_out"
    IVR_ERROR = "ivr_error"  # the flow broke (a prompt missing, the AGI link lost its way): not reached
    UNKNOWN = "unknown"


class Direction(StrEnum):
    """Who placed the call: the dialer (an Originate) or the person (a return call to a DID)."""

    OUTBOUND = "outbound"
    INBOUND = "inbound"


class ReturnMatch(StrEnum):
    """What a return call's caller number matched (dialer.storage.return_calls)."""

    IDENTIFIED = "identified"  # one person called or texted from this number in the last N days
    UNKNOWN = "unknown"  # nobody: the configured flow (a message and the queue)
    SHARED = "shared"  # several people share the number: the configured flow too


class Disposition(StrEnum):
    """A contact's final state for a campaign."""

    PENDING = "pending"
    REACHED = "reached"
    EXHAUSTED = "exhausted"
    SUPPRESSED = "suppressed"
    PAID = "paid"  # a payment import settled it: nothing more is sent or dialled


class PhoneType(StrEnum):
    MOBILE = "mobile"
    FIXED = "fixed"
    VOIP = "voip"
    OTHER = "other"


class SmsState(StrEnum):
    """Where one SMS message is (README, "SMS")."""

    QUEUED = "queued"  # waiting for its time, its window, or a retry
    SENDING = "sending"  # handed to a gateway, no answer yet
    SENT = "sent"  # the gateway or SMSC took it
    DELIVERED = "delivered"  # the handset has it (delivery report)
    FAILED = "failed"  # refused or undeliverable, retries used up
    EXPIRED = "expired"  # the SMSC gave up (validity period)
    CANCELLED = "cancelled"  # never sent: DNC or opted out, paid, or the campaign stopped


class PromiseState(StrEnum):
    OPEN = "open"  # promised; the contact waits until the date plus the grace period
    KEPT = "kept"  # a payment arrived (dialer payments import)
    BROKEN = "broken"  # the date and the grace passed unpaid: the contact is back in the campaign
