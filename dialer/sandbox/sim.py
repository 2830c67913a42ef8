"""Numbers for the sandbox's simulated customers (asterisk_conf/sandbox/extensions_sim.conf).

The last 8 digits of a number pick the behaviour: B A A A A A A A. The default prefix makes
valid Spanish mobile numbers (+34 6...), so sandbox contacts pass E.164 validation.
"""

from __future__ import annotations

from collections.abc import Sequence

BEHAVIOURS: dict[str, int] = {
    "human": 1,
    "hangup": 2,
    "machine": 3,
    "busy": 4,
    "congestion": 5,
    "no_answer": 6,
    "invalid": 7,
    "scripted": 8,  # answers from the sandbox's AstDB: see script()
}
DEFAULT_PREFIX = "+346"
ARG_DIGITS = 7


def sim_number(
    behaviour: str,
    *,
    answers: Sequence[str] = (),
    hangup_after_s: int = 0,
    prefix: str = DEFAULT_PREFIX,
    tag: int = 0,
) -> str:
    """The number of a simulated customer.

    answers: for "human", the keys pressed after each IVR prompt, e.g. ["1", "1234"].
    hangup_after_s: for "hangup", seconds from answer to hang-up (1..99).
    tag: spare argument digits filled with it (as far as room allows) so that several
         customers of one behaviour get different numbers.
    """
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"unknown behaviour {behaviour!r}: one of {', '.join(BEHAVIOURS)}")
    if behaviour == "human":
        args = ""
        for keys in answers:
            if not keys or len(keys) > 9 or not keys.isdigit():
                raise ValueError(f"answer {keys!r}: 1 to 9 digits 0-9")
            args += f"{len(keys)}{keys}"
        if len(args) < ARG_DIGITS:
            args += "0"  # end of answers; any filler after it is ignored
    elif behaviour == "hangup":
        if not 1 <= hangup_after_s <= 99:
            raise ValueError("hangup_after_s must be 1..99")
        args = f"{hangup_after_s:02d}"
    else:
        args = ""
    if len(args) > ARG_DIGITS:
        raise ValueError(f"answers {list(answers)} need {len(args)} digits; at most {ARG_DIGITS} fit")
    spare = ARG_DIGITS - len(args)
    if tag < 0 or (tag and len(str(tag)) > spare):
        raise ValueError(f"tag {tag} does not fit in {spare} spare digits")
    filler = str(tag).zfill(spare) if spare else ""
    return f"{prefix}{BEHAVIOURS[behaviour]}{args}{filler}"


def describe(number: str) -> str:
    """What the simulated customer at `number` does, in words."""
    digits = "".join(ch for ch in number if ch.isdigit())
    tail = digits[-8:]
    code, args = int(tail[0]), tail[1:]
    name = {v: k for k, v in BEHAVIOURS.items()}.get(code, "invalid")
    if name == "human":
        keys, i = [], 0
        while i < len(args) and args[i] != "0":
            n = int(args[i])
            keys.append(args[i + 1 : i + 1 + n])
            i += 1 + n
        return f"human pressing {', '.join(keys)}" if keys else "human, no keys"
    if name == "hangup":
        return f"human hanging up after {int(args[:2])} s"
    return name.replace("_", " ")


def script(answers: Sequence[str], hang_up: bool = False, ring_s: int = 0) -> str:
    """A scripted human's answers (behaviour "scripted", tag = script id), for AstDB simscript/<id>:
    each answer as length + keys; `hang_up` hangs up once the IVR speaks after the last answer;
    `ring_s` (1..9) rings that long before answering."""
    if ring_s and not 1 <= ring_s <= 9:
        raise ValueError("ring_s must be 1..9")
    out = f"R{ring_s}" if ring_s else ""
    for keys in answers:
        if not keys or len(keys) > 9 or not all(k in "0123456789*#" for k in keys):
            raise ValueError(f"answer {keys!r}: 1 to 9 keys")
        out += f"{len(keys)}{keys}"
    return out + ("H" if hang_up else "0")
