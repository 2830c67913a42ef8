"""Contact strategies inside the endings' transaction (scheduler.strategy has the rules as data):
which step a contact is at, the number that step calls, and the next step after a result that
counts. An SMS step is written into the attempt's details (`strategy_sms`) for the SMS layer's
ending hook to queue (dialer.sms.on_ending), and the contact moves straight on to the step after it.
A campaign without a strategy never reaches this module: today's rules apply."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from dialer.domain import Disposition, Outcome
from dialer.storage.models import Attempt, Campaign, Contact
from scheduler.strategy import Strategy, StrategyError, StrategyStep, parse_strategy, phone_index

log = logging.getLogger(__name__)

_cache: dict[str, Strategy | None] = {}


def strategy_for(campaign: Campaign) -> Strategy | None:
    """The campaign's strategy (None: today's behaviour); a bad one is logged and ignored (files are
    checked at `campaign create`)."""
    raw = campaign.settings.get("strategy")
    if raw is None:
        return None
    key = json.dumps(raw, sort_keys=True, default=str)
    if key not in _cache:
        if len(_cache) > 256:
            _cache.clear()
        try:
            _cache[key] = parse_strategy(campaign.settings)
        except StrategyError as exc:
            log.error("campaign %s: settings.%s; its strategy is ignored", campaign.name, exc)
            _cache[key] = None
    return _cache[key]


def begin(contact: Contact, strategy: Strategy) -> None:
    """Point a contact never called yet at its first step's number."""
    if contact.attempts == 0 and contact.strategy_step == 0 and contact.step_attempts == 0:
        _enter(contact, strategy, 0, [])


def after_attempt(contact: Contact, attempt: Attempt, strategy: Strategy, now: datetime) -> bool:
    """Apply the strategy to an attempt's result; False when the result does not count at the
    contact's step (the retry rules decide)."""
    step = strategy.step(contact.strategy_step)
    result = (attempt.dial_result or attempt.outcome or Outcome.UNKNOWN).value
    if step is None or step.channel != "call" or not step.counts(result):
        return False
    contact.step_attempts += 1
    if contact.step_attempts < step.attempts:
        return True  # the same number again, after the retry delay the caller sets
    texts: list[dict[str, object]] = []
    nxt = _enter(contact, strategy, contact.strategy_step + 1, texts)
    if texts:
        attempt.details = {**attempt.details, "strategy_sms": texts}
    if nxt is None:
        contact.disposition, contact.next_attempt_at = Disposition.EXHAUSTED, None
        log.info("contact %s: strategy over after step %d", contact.id, contact.strategy_step)
    else:
        contact.next_attempt_at = now + timedelta(seconds=nxt.delay_s)
    return True


def _enter(contact: Contact, strategy: Strategy, index: int, texts: list[dict[str, object]]) -> StrategyStep | None:
    """Move to step `index`: SMS steps are noted in `texts` and passed, call steps without a number
    of their type skipped; the call step reached (its number set), or None when none is left."""
    types = [p.type.value for p in contact.phones]
    while (step := strategy.step(index)) is not None:
        contact.strategy_step, contact.step_attempts = index, 0
        if step.channel == "sms":
            texts.append({"template": step.template, "step": index})
        elif (phone := phone_index(types, step)) is not None:
            contact.next_phone = phone
            return step
        index += 1
    contact.strategy_step, contact.step_attempts = index, 0
    return None


def next_step(contact: Contact, strategy: Strategy) -> str:
    """In words, what the strategy does next for this contact (explain, preview)."""
    step = strategy.step(contact.strategy_step)
    if step is None:
        return f"strategy: all {len(strategy.steps)} steps done"
    done = f", {contact.step_attempts} done" if contact.step_attempts else ""
    return f"strategy: step {contact.strategy_step + 1} of {len(strategy.steps)}: {step.describe()}{done}"
