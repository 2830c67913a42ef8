"""What the scheduler would do, in words: `dialer explain` for one contact and `dialer campaign
preview` for the next hours of a campaign. Reads only; never changes a row."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from dialer.domain import CampaignState, Direction, Disposition, PromiseState
from dialer.reports.sms_report import waiting_texts
from dialer.storage.models import Attempt, Campaign, Contact, Dnc, Phone
from dialer.storage import guards
from dialer.storage.promises import latest
from dialer.storage.strategies import next_step, strategy_for
from dialer.storage.scheduling import histories, hold_for, missing_dnc_lists, people_histories, schedule_for, view
from scheduler.due import Reason, Verdict, evaluate
from scheduler.explain import explain, when
from scheduler.policy import Schedule, parse_schedule

NO_SCHEDULE = parse_schedule({"schedule": {}})
assert NO_SCHEDULE is not None
CHUNK = 2000


class NotFound(LookupError):
    pass


def find_contacts(s: Session, ref: str, campaign: str | None) -> list[Contact]:
    """Contacts by external id, or by phone number (E.164), optionally within one campaign."""
    query = select(Contact).options(selectinload(Contact.phones), selectinload(Contact.campaign))
    if ref.startswith("+"):
        query = query.join(Phone, Phone.contact_id == Contact.id).where(Phone.number == ref)
    else:
        query = query.where(Contact.external_id == ref)
    if campaign is not None:
        query = query.join(Campaign, Campaign.id == Contact.campaign_id).where(Campaign.name == campaign)
    found = list(s.scalars(query.order_by(Contact.id)))
    if not found:
        raise NotFound(f"no contact {ref!r}" + (f" in campaign {campaign!r}" if campaign else ""))
    return found


def _blocks(
    campaign: Campaign, contact: Contact, dnc: dict[str, str], missing: list[str], now: datetime
) -> tuple[list[Reason], str | None]:
    """Reasons outside the schedule (campaign state, disposition, live call, DNC) and the number
    dialled next."""
    out: list[Reason] = []
    if campaign.state != CampaignState.ACTIVE:
        out.append(
            Reason("campaign", f"campaign {campaign.name} is {campaign.state.value}, not active", None)
        )
    if contact.disposition != Disposition.PENDING:
        out.append(Reason("disposition", f"contact is settled: {contact.disposition.value}", None))
    if contact.live_attempt_id:
        out.append(Reason("live", f"on a call now (attempt {contact.live_attempt_id})", None))
    parked_until = contact.next_attempt_at
    pending = contact.disposition == Disposition.PENDING
    if contact.parked_reason and pending and parked_until is not None and parked_until > now:
        out.append(Reason("prompts", f"parked: {contact.parked_reason}", parked_until))
    phones = list(contact.phones)
    free = [phones[(contact.next_phone + i) % len(phones)] for i in range(len(phones)) if phones]
    free = [p for p in free if p.number not in dnc]
    if not free:
        listed = ", ".join(f"{p.number} ({dnc[p.number]})" for p in phones if p.number in dnc)
        out.append(
            Reason("dnc", f"every number is on the DNC list: {listed}" if listed else "no phone", None)
        )
    for source in missing:
        out.append(
            Reason("dnc", f"the policy needs the DNC list {source!r} loaded (dialer dnc import)", None)
        )
    return out, free[0].number if free else None


def _dnc(s: Session, numbers: list[str]) -> dict[str, str]:
    if not numbers:
        return {}
    return {
        number: source
        for number, source in s.execute(select(Dnc.number, Dnc.source).where(Dnc.number.in_(numbers)))
    }


def explain_contact(s: Session, contact: Contact, now: datetime) -> list[str]:
    campaign = contact.campaign
    schedule = schedule_for(campaign)
    dnc = _dnc(s, [p.number for p in contact.phones])
    blocks, number = _blocks(campaign, contact, dnc, missing_dnc_lists(s, schedule) if schedule else [], now)
    counted = people_histories(s, [contact.id]).get(contact.id, [])
    history = [past for past, _campaign in counted]
    blocks += _held_elsewhere(s, contact, campaign)
    promise_line, promise_blocks = promise_state(s, contact, now)
    blocks += promise_blocks
    verdict = evaluate(schedule or NO_SCHEDULE, view(contact, number, history, contact.next_attempt_at), now,
                       _hold(campaign, schedule))  # fmt: skip
    last = s.scalars(
        select(Attempt).where(Attempt.contact_id == contact.id, Attempt.direction == Direction.OUTBOUND)
        .order_by(Attempt.created_at.desc()).limit(1)
    ).first()
    settled = f"{contact.disposition.value}, {sum(1 for p in history if p.placed)} attempts"
    if last is not None:
        settled += f", last {when(last.created_at)}: {(last.dial_result or last.outcome or last.state).value}"
    listed = f"; on the DNC list: {', '.join(f'{n} ({src})' for n, src in dnc.items())}" if dnc else ""
    lines = [
        f"contact {contact.external_id} (id {contact.id}) in campaign {campaign.name}: {settled}",
        "schedule: " + (_describe(schedule) if schedule else "none (dials any time)"),
        f"next number: {number or '-'}{listed}",
        *([promise_line] if promise_line else []),
        *_return_calls(s, contact),
        *waiting_texts(s, contact),
        *([next_step(contact, strategy)] if (strategy := strategy_for(campaign)) else []),
    ]
    others = Counter(cid for _past, cid in counted if cid != campaign.id)
    if others:
        names = dict(s.execute(select(Campaign.id, Campaign.name).where(Campaign.id.in_(list(others)))).all())
        lines.append("its caps also count calls to the same person by other campaigns: " + ", ".join(
            f"{names.get(cid, cid)} ({n})" for cid, n in others.most_common()))  # fmt: skip
    return lines + explain(verdict, now, blocks)


def _return_calls(s: Session, contact: Contact) -> list[str]:
    """The contact's return calls (they called the campaign back): how many, the last one's outcome."""
    calls = list(s.scalars(select(Attempt).where(Attempt.contact_id == contact.id,
                                                 Attempt.direction == Direction.INBOUND)
                           .order_by(Attempt.created_at.desc())))  # fmt: skip
    if not calls:
        return []
    last = calls[0]
    return [f"return calls: {len(calls)}, last {when(last.created_at)} from {last.number}: "
            f"{(last.outcome or last.state).value} (a conversation for the quiet period, not a call placed)"]


def promise_state(s: Session, contact: Contact, now: datetime) -> tuple[str | None, list[Reason]]:
    """Which promise-to-pay state holds (storage.promises): a line, and what it blocks."""
    promise = latest(s, contact.id)
    if promise is None:
        return None, []
    what = f"promised on {when(promise.created_at)} to pay{f' {promise.amount}' if promise.amount else ''} " \
           f"by {promise.promised_date.isoformat()}"  # fmt: skip
    if promise.state == PromiseState.KEPT:
        return f"promise: kept ({what}); paid on {when(promise.resolved_at or now)}", []
    if promise.state == PromiseState.BROKEN or promise.due_at <= now:
        return f"promise: broken ({what}); passed unpaid on {when(promise.due_at)}: back in the campaign", []
    text = f"promise to pay: {what}; not called until {when(promise.due_at)} (the date plus the grace period)"
    return f"promise: open ({what})", [Reason("promise", text, promise.due_at)]


def _held_elsewhere(s: Session, contact: Contact, campaign: Campaign) -> list[Reason]:
    """A live call of another campaign (or contact) to this person: its number or its debt."""
    names = [key for p in contact.phones for key in guards.keys(p.number, None)]
    if contact.debt_id:
        names.append(f"d:{contact.debt_id}")
    held = guards.holder(s, names)
    if held is None or contact.live_attempt_id:
        return []
    other, key = held
    what = f"number {key[2:]}" if key.startswith("n:") else f"debt {key[2:]}"
    return [Reason("live", f"{what} is on a live call of campaign {other}: one call at a time per person", None)]


def _hold(campaign: Campaign, schedule: Schedule | None) -> timedelta:
    return hold_for(campaign, schedule) if schedule is not None else timedelta(0)


def _describe(schedule: Schedule) -> str:
    caps = ", ".join(f"{k} {v}" for k, v in vars(schedule.caps).items() if v is not None) or "no caps"
    zones = ", ".join(z.key for z in schedule.default_zones)
    return (
        f"policy {schedule.policy.name}; windows {schedule.windows.describe()}; {caps}; "
        f"{schedule.recurrence.describe()}; default zone {zones}; calls leave only if the window stays "
        f"open for the ring timeout + {schedule.margin_s} s"
    )


@dataclass
class Preview:
    campaign: str
    start: datetime
    hours: int
    schedule: str
    pending: int = 0
    due_now: int = 0
    per_hour: Counter[datetime] = field(default_factory=Counter)  # hour (UTC) -> contacts becoming due
    blocked: Counter[str] = field(default_factory=Counter)  # reason code -> contacts not due in the period
    examples: dict[str, str] = field(default_factory=dict)  # reason code -> one contact and its reason
    calls_per_hour: float = 0.0
    next_steps: Counter[str] = field(default_factory=Counter)  # the contact strategy's next step -> contacts

    @property
    def due(self) -> int:
        return self.due_now + sum(self.per_hour.values())


def preview(s: Session, campaign: Campaign, now: datetime, hours: int) -> Preview:
    """Each pending contact's first call in the next `hours`: when it falls due, or what blocks it."""
    schedule = schedule_for(campaign)
    end = now + timedelta(hours=hours)
    out = Preview(
        campaign.name,
        now,
        hours,
        _describe(schedule) if schedule else "none (dials any time)",
        calls_per_hour=campaign.calls_per_second * 3600,
    )
    missing = missing_dnc_lists(s, schedule) if schedule else []
    strategy = strategy_for(campaign)
    last_id = 0
    while True:
        contacts = list(
            s.scalars(
                select(Contact)
                .where(
                    Contact.campaign_id == campaign.id,
                    Contact.disposition == Disposition.PENDING,
                    Contact.id > last_id,
                )
                .order_by(Contact.id)
                .limit(CHUNK)
                .options(selectinload(Contact.phones))
            )
        )
        if not contacts:
            return out
        last_id = contacts[-1].id
        dnc = _dnc(s, [p.number for c in contacts for p in c.phones])
        past = histories(s, [c.id for c in contacts]) if schedule and schedule.caps.any else {}
        for contact in contacts:
            out.pending += 1
            if strategy is not None:
                out.next_steps[next_step(contact, strategy)] += 1
            blocks, number = _blocks(campaign, contact, dnc, missing, now)
            blocks = [b for b in blocks if b.code not in ("campaign", "live")]  # a preview assumes it runs
            verdict = evaluate(
                schedule or NO_SCHEDULE,
                view(contact, number, past.get(contact.id, []), contact.next_attempt_at),
                now,
                _hold(campaign, schedule),
            )
            _count(out, contact, blocks, verdict, now, end)


def _count(
    out: Preview, contact: Contact, blocks: list[Reason], verdict: Verdict, now: datetime, end: datetime
) -> None:
    if blocks or verdict.next_at is None or verdict.next_at >= end:
        reason = (
            blocks[0] if blocks else (verdict.reasons[-1] if verdict.reasons else Reason("window", "closed"))
        )
        out.blocked[reason.code] += 1
        out.examples.setdefault(reason.code, f"{contact.external_id}: {reason.text}")
    elif verdict.due:
        out.due_now += 1
    else:
        out.per_hour[verdict.next_at.replace(minute=0, second=0, microsecond=0)] += 1
