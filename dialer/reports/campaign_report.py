"""Campaign reports, aggregated in SQL (SQLite and PostgreSQL alike); `dialer status` is reports.status.

Definitions (README, "Reports"):
- connected: an attempt with an outcome other than `unknown`.
- reached: connected, and the flow did not break (`ivr_error` is connected, not reached: the
  retry rules call the contact again); contact rate: contacts reached / contacts with any attempt;
  humans: reached, not machine.
- machine %: machine / connected; transfer rate: transferred / humans;
  agent-answered %: transferred with details.agent_answered / transferred.
- call time: answered_at .. ended_at of connected attempts.
- drop-off funnel: per IVR step, the attempts that entered it (ivr_event kind "step") and the
  hung_up_early attempts whose step_reached is that step, in the order steps are entered.
- key path: an attempt's keys in order, "step:digits" joined by ">".
- SIP codes: attempts per the carrier's last SIP response (PJSIP trunks; dialer.engine.results).
- cost: per connected attempt, call time rounded up to the billing increment, times the rate
  per minute of its number type (dialer.reports.costs).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, String, func, select
from sqlalchemy.orm import Session

from dialer.reports.costs import NumberClassifier
from dialer.reports.return_report import return_summary
from dialer.reports.sms_report import sms_summary
from dialer.reports.transfers import transfer_summary
from dialer.domain import AttemptState, CampaignState, Direction, Outcome
from dialer.storage.models import Attempt, Campaign, Contact, IvrEvent

CONNECTED = [o for o in Outcome if o != Outcome.UNKNOWN]
REACHED = [o for o in CONNECTED if o != Outcome.IVR_ERROR]
HUMAN = [o for o in REACHED if o != Outcome.MACHINE]
TOP_KEY_PATHS = 10
RATE_WINDOW_S = 10


def pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


@dataclass
class FunnelStep:
    step: str
    entered: int
    hung_up_early: int


@dataclass
class CostLine:
    number_type: str  # mobile | local | long_distance
    calls: int
    billed_minutes: float
    rate_per_minute: float
    cost: float


@dataclass
class Report:
    campaign: str
    state: str
    attempts: int
    live: int
    contacts: int
    contacts_attempted: int
    contacts_reached: int
    contact_rate_pct: float | None
    humans_reached: int
    connected: int
    ivr_errors: int  # connected attempts whose flow broke (a prompt missing, the AGI link lost)
    dial_results: dict[str, int]
    outcomes: dict[str, int]
    machine_pct: float | None
    message_left: int
    transfer_rate_pct: float | None
    agent_answered: int
    agent_answered_pct: float | None
    avg_queue_wait_s: float | None
    promises_to_pay: int
    promised_amount: str
    promises_without_amount: int
    funnel: list[FunnelStep]
    key_paths: list[tuple[str, int]]
    avg_call_s: float | None
    cost_currency: str | None = None
    cost_billing_increment_s: int | None = None
    costs: list[CostLine] = field(default_factory=list)
    cost_total: float | None = None
    cost_sms: float | None = None  # the SMS parts sent, priced per part ([sms] cost_per_segment): a cost line
    sms: dict[str, Any] | None = None  # dialer.reports.sms_report: texts, parts, replies, cost
    transfers: dict[str, Any] | None = None  # dialer.reports.transfers: abandonment (campaign, 30 days)
    sip_codes: dict[str, int] = field(default_factory=dict)  # the carrier's last SIP response -> attempts
    return_calls: dict[str, Any] | None = None  # dialer.reports.return_report: count, identified, outcomes

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["key_paths"] = [{"path": p, "count": n} for p, n in self.key_paths]
        for section in ("sms", "transfers", "return_calls"):  # none in this campaign: no section
            if out[section] is None:
                del out[section]
        return out

    def rows(self) -> list[tuple[str, str, Any]]:
        """(section, name, value) rows: the long format a spreadsheet pivots."""
        rows: list[tuple[str, str, Any]] = []
        scalars = {k: v for k, v in self.as_dict().items() if not isinstance(v, dict | list) and k not in ("sms", "transfers")}
        rows += [("summary", k, v) for k, v in scalars.items() if not k.startswith("cost")]
        rows += [("dial_result", k, v) for k, v in self.dial_results.items()]
        rows += [("outcome", k, v) for k, v in self.outcomes.items()]
        rows += [("sip_code", k, v) for k, v in self.sip_codes.items()]
        for s in self.funnel:
            rows += [("funnel_entered", s.step, s.entered), ("funnel_hung_up_early", s.step, s.hung_up_early)]
        rows += [("key_path", p, n) for p, n in self.key_paths]
        rows += [("sms", k, v) for k, v in (self.sms or {}).items()]
        rows += [("transfers", k, v) for k, v in (self.transfers or {}).items()]
        rows += [("return_calls", k, v) for k, v in (self.return_calls or {}).items() if k != "outcomes"]
        rows += [("return_call_outcome", k, v) for k, v in ((self.return_calls or {}).get("outcomes") or {}).items()]
        for c in self.costs:
            rows += [(f"cost_{c.number_type}", k, getattr(c, k)) for k in ("calls", "billed_minutes", "rate_per_minute", "cost")]
        if self.cost_total is not None:
            rows += [("cost", "currency", self.cost_currency), ("cost", "billing_increment_s", self.cost_billing_increment_s),
                     *([("cost", "sms", self.cost_sms)] if self.cost_sms is not None else []),
                     ("cost", "total", self.cost_total)]  # fmt: skip
        return rows


def seconds_between(session: Session, start: Any, end: Any) -> ColumnElement[float]:
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return func.extract("epoch", end - start)


def _amount(text: Any) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(str(text).strip().replace(" ", "").replace(",", ""))
    except InvalidOperation:
        return None


def build_report(session: Session, campaign: Campaign) -> Report:
    cid = campaign.id
    mine = (Attempt.campaign_id == cid) & (Attempt.direction == Direction.OUTBOUND)  # calls placed; returns below
    by_kind = session.execute(
        select(Attempt.state, Attempt.dial_result, Attempt.outcome, func.count()).where(mine)
        .group_by(Attempt.state, Attempt.dial_result, Attempt.outcome)
    ).all()  # fmt: skip
    attempts = sum(n for *_, n in by_kind)
    live = sum(n for state, _, _, n in by_kind if state != AttemptState.ENDED)
    dial_results: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    for _, result, outcome, n in by_kind:
        if result is not None:
            dial_results[result.value] += n
        if outcome is not None:
            outcomes[outcome.value] += n
    connected = sum(outcomes[o.value] for o in CONNECTED)
    humans = sum(outcomes[o.value] for o in HUMAN)

    def contacts_where(*conditions: Any) -> int:
        return session.scalar(select(func.count(func.distinct(Attempt.contact_id))).where(mine, *conditions)) or 0

    contacts = session.scalar(select(func.count()).select_from(Contact).where(Contact.campaign_id == cid)) or 0
    reached = contacts_where(Attempt.outcome.in_(REACHED))
    attempted = contacts_where()
    message_left = session.scalar(select(func.count()).where(
        mine, Attempt.outcome == Outcome.MACHINE, Attempt.details["message_left"].as_boolean().is_(True))) or 0  # fmt: skip
    transfers = mine, Attempt.outcome == Outcome.TRANSFERRED
    agent_answered = session.scalar(select(func.count()).where(
        *transfers, Attempt.details["agent_answered"].as_boolean().is_(True))) or 0  # fmt: skip
    queue_wait = session.scalar(select(func.avg(Attempt.details["queue_wait_s"].as_float())).where(*transfers))
    call_s = seconds_between(session, Attempt.answered_at, Attempt.ended_at)
    has_times = mine, Attempt.outcome.in_(CONNECTED), Attempt.answered_at.is_not(None), Attempt.ended_at.is_not(None)
    avg_call = session.scalar(select(func.avg(call_s)).where(*has_times))
    promised, without, total = _promises(session, cid)
    report = Report(
        campaign=campaign.name, state=campaign.state.value, attempts=attempts, live=live, contacts=contacts,
        contacts_attempted=attempted, contacts_reached=reached, contact_rate_pct=pct(reached, attempted),
        humans_reached=contacts_where(Attempt.outcome.in_(HUMAN)), connected=connected,
        ivr_errors=outcomes[Outcome.IVR_ERROR.value],
        dial_results=dict(sorted(dial_results.items())), outcomes=dict(sorted(outcomes.items())),
        machine_pct=pct(outcomes[Outcome.MACHINE.value], connected), message_left=message_left,
        transfer_rate_pct=pct(outcomes[Outcome.TRANSFERRED.value], humans), agent_answered=agent_answered,
        agent_answered_pct=pct(agent_answered, outcomes[Outcome.TRANSFERRED.value]),
        avg_queue_wait_s=None if queue_wait is None else round(float(queue_wait), 1),
        promises_to_pay=promised, promised_amount=str(total), promises_without_amount=without,
        funnel=_funnel(session, cid), key_paths=_key_paths(session, cid),
        avg_call_s=None if avg_call is None else round(float(avg_call), 1),
        sip_codes={str(code): n for code, n in session.execute(
            select(Attempt.sip_code, func.count()).where(mine, Attempt.sip_code.is_not(None))
            .group_by(Attempt.sip_code).order_by(Attempt.sip_code))},
    )  # fmt: skip
    report.sms = sms_summary(session, cid)
    report.transfers = transfer_summary(session, campaign, datetime.now(UTC))
    report.return_calls = return_summary(session, cid)
    costs = campaign.settings.get("costs")
    if costs:
        durations = session.execute(select(Attempt.number, call_s).where(*has_times)).all()
        _add_costs(report, costs, NumberClassifier(campaign.default_region, campaign.caller_id), durations)
    _add_sms_cost(report, campaign.settings)
    return report


def _promises(session: Session, cid: int) -> tuple[int, int, Decimal]:
    query = (
        select(IvrEvent.value, Contact.fields)
        .join(Attempt, Attempt.id == IvrEvent.attempt_id)
        .join(Contact, Contact.id == Attempt.contact_id)
        .where(Attempt.campaign_id == cid, IvrEvent.kind == "fact", IvrEvent.name == "promise_to_pay")
    )
    count, without, total = 0, 0, Decimal("0")
    for value, fields in session.execute(query):
        count += 1
        try:
            fact = json.loads(value or "{}")
        except ValueError:
            fact = {}
        amount = _amount(fact.get("amount") if isinstance(fact, dict) else None)
        if amount is None:
            amount = _amount((fields or {}).get("amount"))
        if amount is None:
            without += 1
        else:
            total += amount
    return count, without, total


def _funnel(session: Session, cid: int) -> list[FunnelStep]:
    """Steps in the order calls enter them (mean seq); steps known only from step_reached come first."""
    entered = session.execute(
        select(IvrEvent.name, func.count(func.distinct(IvrEvent.attempt_id)), func.avg(IvrEvent.seq))
        .join(Attempt, Attempt.id == IvrEvent.attempt_id)
        .where(Attempt.campaign_id == cid, IvrEvent.kind == "step").group_by(IvrEvent.name)
    ).all()  # fmt: skip
    dropped = dict(session.execute(
        select(Attempt.step_reached, func.count())
        .where(Attempt.campaign_id == cid, Attempt.outcome == Outcome.HUNG_UP_EARLY, Attempt.step_reached.is_not(None))
        .group_by(Attempt.step_reached)
    ).all())  # fmt: skip
    order = {name: float(mean) for name, _, mean in entered}
    counts = {name: n for name, n, _ in entered}
    steps = sorted(set(order) | set(dropped), key=lambda s: (order.get(s, -1.0), s))
    return [FunnelStep(s, counts.get(s, dropped.get(s, 0)), dropped.get(s, 0)) for s in steps]


def _key_paths(session: Session, cid: int) -> list[tuple[str, int]]:
    query = (
        select(IvrEvent.attempt_id, IvrEvent.name, IvrEvent.value)
        .join(Attempt, Attempt.id == IvrEvent.attempt_id)
        .where(Attempt.campaign_id == cid, IvrEvent.kind == "key")
        .order_by(IvrEvent.attempt_id, IvrEvent.seq)
    )
    paths: dict[str, list[str]] = {}
    for attempt_id, step, digits in session.execute(query):
        paths.setdefault(attempt_id, []).append(f"{step}:{digits or ''}")
    counted = Counter(">".join(keys) for keys in paths.values())
    return sorted(counted.items(), key=lambda item: (-item[1], item[0]))[:TOP_KEY_PATHS]


def _add_costs(report: Report, costs: dict[str, Any], classify: NumberClassifier, durations: list[Any]) -> None:
    increment = int(costs.get("billing_increment_s", 60))
    rates = costs.get("per_minute", {})
    calls: Counter[str] = Counter()
    billed_s: Counter[str] = Counter()
    for number, seconds in durations:
        kind = classify(number)
        calls[kind] += 1
        billed_s[kind] += math.ceil(round(max(float(seconds), 0.0), 3) / increment) * increment  # ms: SQL float noise
    for kind in ("mobile", "local", "long_distance"):
        rate = float(rates.get(kind, 0.0))
        minutes = billed_s[kind] / 60
        report.costs.append(CostLine(kind, calls[kind], round(minutes, 2), rate, round(minutes * rate, 4)))
    report.cost_currency = str(costs.get("currency", ""))
    report.cost_billing_increment_s = increment
    report.cost_total = round(sum(c.cost for c in report.costs), 4)


def _add_sms_cost(report: Report, settings: dict[str, Any]) -> None:
    """The texts' cost (parts sent x cost_per_segment) as a line of the cost table and in its total."""
    cost = (report.sms or {}).get("cost")
    if cost is None:
        return
    currency = str((settings.get("sms") or {}).get("currency") or settings.get("currency") or "")
    if report.cost_total is None:
        report.cost_currency, report.cost_total = currency, cost
    elif currency in ("", report.cost_currency):
        report.cost_total = round(report.cost_total + cost, 4)
    else:  # priced in another currency: the SMS table shows it, the calls' total does not take it
        return
    report.cost_sms = cost
