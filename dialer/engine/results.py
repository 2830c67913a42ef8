"""What a call that never connected means: the one table from the far end's answer to a dial result.

What decides, first to last:
1. a special information tone in early media (the dialplan's TONE_DETECT, option a): invalid_number;
2. the SIP final response, from PJSIP's own hang-up cause (HANGUPCAUSE(chan,tech), e.g.
   "SIP 486 Busy Here"), looked up in SIP_RESULTS;
3. the OriginateResponse Reason when it is decisive (busy, congestion, rang out);
4. the Q.850 cause of the Hangup (Local channels, other technologies, SIP codes not in the table);
5. otherwise `failed` (or `no_answer` for a bare hang-up before answer).
A 503 is the carrier refusing calls: `congestion` with the reason "carrier overload", and the
trunk's pacing backs off (dialer.engine.pressure). No I/O here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dialer.domain import DialResult

# OriginateResponse Reason: the last control frame the outgoing channel signalled.
REASON_HANGUP, REASON_RINGING, REASON_ANSWERED, REASON_BUSY, REASON_CONGESTION = 1, 3, 4, 5, 8
REASON_RESULTS: dict[int, DialResult] = {
    REASON_BUSY: DialResult.BUSY,
    REASON_CONGESTION: DialResult.CONGESTION,
    REASON_RINGING: DialResult.NO_ANSWER,  # rang until the ring timeout
}
# Q.850 cause -> dial result, for calls that failed without a decisive Reason or SIP code.
CAUSE_RESULTS: dict[int, DialResult] = {
    1: DialResult.INVALID_NUMBER,  # unallocated number
    2: DialResult.INVALID_NUMBER,  # no route to network
    3: DialResult.INVALID_NUMBER,  # no route to destination
    22: DialResult.INVALID_NUMBER,  # number changed
    28: DialResult.INVALID_NUMBER,  # invalid number format
    17: DialResult.BUSY,  # user busy
    16: DialResult.NO_ANSWER,  # normal clearing before answer: the callee hung up while ringing
    18: DialResult.NO_ANSWER,  # no user responding
    19: DialResult.NO_ANSWER,  # no answer
    20: DialResult.NO_ANSWER,  # subscriber absent (phone off)
    34: DialResult.CONGESTION,  # no circuit available
    38: DialResult.CONGESTION,  # network out of order
    41: DialResult.CONGESTION,  # temporary failure
    42: DialResult.CONGESTION,  # switching equipment congestion
    44: DialResult.CONGESTION,  # requested circuit not available
    47: DialResult.CONGESTION,  # resource unavailable
}
CARRIER_OVERLOAD = 503
# SIP final response -> dial result (README, "Pointing at a real carrier", has the same table).
SIP_RESULTS: dict[int, DialResult] = {
    486: DialResult.BUSY,  # Busy Here
    600: DialResult.BUSY,  # Busy Everywhere
    603: DialResult.BUSY,  # Decline: the person refused the call
    404: DialResult.INVALID_NUMBER,  # Not Found
    410: DialResult.INVALID_NUMBER,  # Gone
    484: DialResult.INVALID_NUMBER,  # Address Incomplete
    485: DialResult.INVALID_NUMBER,  # Ambiguous
    604: DialResult.INVALID_NUMBER,  # Does Not Exist Anywhere
    408: DialResult.NO_ANSWER,  # Request Timeout: nobody answered in the carrier's time
    480: DialResult.NO_ANSWER,  # Temporarily Unavailable: phone off, out of coverage
    487: DialResult.NO_ANSWER,  # Request Terminated: our CANCEL at the ring timeout
    500: DialResult.CONGESTION,  # Server Internal Error
    502: DialResult.CONGESTION,  # Bad Gateway
    503: DialResult.CONGESTION,  # Service Unavailable: the carrier refuses calls (overload)
    504: DialResult.CONGESTION,  # Server Time-out
    403: DialResult.FAILED,  # Forbidden: the trunk's account, credit or caller ID; retrying soon will not help
    401: DialResult.FAILED,  # Unauthorized (digest authentication failed)
    407: DialResult.FAILED,  # Proxy Authentication Required
    488: DialResult.FAILED,  # Not Acceptable Here: no common codec
}
_SIP_CAUSE = re.compile(r"^SIP (\d{3})\b ?(.*)$")


@dataclass(frozen=True)
class FarEnd:
    """What Asterisk heard from the far end of a call that did not connect."""

    reason: int = 0  # OriginateResponse Reason
    cause: int | None = None  # Q.850
    sip_code: int | None = None  # the last SIP response (provisional ones too: 180, 183)
    sip_text: str | None = None  # PJSIP's cause string, e.g. "SIP 486 Busy Here"
    sit: bool = False  # special information tone heard in early media


def parse_sip_cause(text: str | None) -> tuple[int | None, str | None]:
    """PJSIP's per-technology cause ("SIP 486 Busy Here") as (486, "SIP 486 Busy Here")."""
    match = _SIP_CAUSE.match((text or "").strip())
    if match is None:
        return None, None
    return int(match.group(1)), match.group(0)


def dial_result(reason: int, cause: int | None, sip_code: int | None = None, sit: bool = False) -> DialResult:
    """What a failed Originate means (see the module's order)."""
    return classify(FarEnd(reason, cause, sip_code, sit=sit))[0]


def classify(far: FarEnd) -> tuple[DialResult, str]:
    """The dial result of a call that did not connect, and the reason recorded with it."""
    heard = _heard(far)
    if far.sit:
        return DialResult.INVALID_NUMBER, f"special information tone in early media ({heard})"
    if far.sip_code is not None and far.sip_code in SIP_RESULTS:
        result = SIP_RESULTS[far.sip_code]
        if far.sip_code == CARRIER_OVERLOAD:
            return result, f"carrier overload ({heard})"
        return result, heard
    if far.reason in REASON_RESULTS:
        return REASON_RESULTS[far.reason], heard
    if far.cause and far.cause in CAUSE_RESULTS:
        return CAUSE_RESULTS[far.cause], heard
    if far.reason == REASON_HANGUP:
        return DialResult.NO_ANSWER, heard
    return DialResult.FAILED, heard


def _heard(far: FarEnd) -> str:
    parts = [far.sip_text] if far.sip_text else []
    if far.cause is not None:
        parts.append(f"Q.850 {far.cause}")
    parts.append(f"originate reason {far.reason}")
    return ", ".join(parts)


def carrier_took(far: FarEnd) -> bool | None:
    """Whether the carrier took the call (trunk pacing): False for an overload refusal, True for
    any other SIP answer, None when no SIP answer came (not a SIP trunk, or nothing heard)."""
    if far.sip_code is None:
        return None
    return far.sip_code != CARRIER_OVERLOAD
