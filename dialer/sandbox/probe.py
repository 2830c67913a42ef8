"""Originate one call into the dialer's outbound context and report what AMI said about it.

Used by the sandbox demo and tests: the OriginateResponse reason, the AMD result the
dialplan reports (UserEvent DialerAMD), and the hang-up cause.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass

from dialer.ami import AmiClient

log = logging.getLogger(__name__)

# OriginateResponse Reason: the last control frame Asterisk saw on the outgoing channel.
ORIGINATE_REASONS: dict[int, str] = {
    0: "failed (no channel)",
    1: "hung up before answer",
    3: "ringing, no answer",
    4: "answered",
    5: "busy",
    8: "congestion",
}


@dataclass
class ProbeResult:
    channel_id: str
    number: str
    response: str  # Success / Failure
    reason: int
    amd_status: str | None
    amd_cause: str | None
    hangup_cause: int | None
    seconds: float

    @property
    def reason_text(self) -> str:
        return ORIGINATE_REASONS.get(self.reason, f"reason {self.reason}")


async def probe_call(
    ami: AmiClient,
    number: str,
    *,
    channel_template: str = "Local/{number}@sim-customers",
    ring_timeout_ms: int = 8000,
    flow: str = "notify",
    amd: bool = True,
    agi_url: str | None = None,
    end_timeout_s: float = 40.0,
) -> ProbeResult:
    channel_id = str(uuid.uuid4())
    started = time.monotonic()
    variables = {"DIALER_ATTEMPT": channel_id, "DIALER_FLOW": flow, "DIALER_AMD": "yes" if amd else "no"}
    if agi_url:
        variables["DIALER_AGI_URL"] = agi_url
    with ami.events(["UserEvent", "Hangup"]) as stream:
        resp = await ami.originate(
            channel=channel_template.format(number=number),
            context="dialer-outbound",
            channel_id=channel_id,
            timeout_ms=ring_timeout_ms,
            variables=variables,
        )
        reason = int(resp.get("Reason") or 0)
        amd_status = amd_cause = None
        hangup_cause: int | None = None
        # Answered calls end with our dialplan's DialerEnd; failed ones with a Hangup of the
        # channel (when one was created) right after the OriginateResponse.
        answered = resp.get("Response") == "Success"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (end_timeout_s if answered else 2.0)
        while (remaining := deadline - loop.time()) > 0:
            try:
                event = await stream.get(remaining)
            except asyncio.TimeoutError:
                break
            if event.get("Event") == "Hangup" and event.get("Uniqueid") == channel_id:
                hangup_cause = int(event.get("Cause") or 0)
                if not answered:
                    break
            elif event.get("Event") == "UserEvent" and event.get("Attempt") == channel_id:
                if event.get("UserEvent") == "DialerAMD":
                    amd_status, amd_cause = event.get("Status"), event.get("Cause")
                elif event.get("UserEvent") == "DialerEnd":
                    hangup_cause = int(event.get("Cause") or 0)
                    break
    return ProbeResult(
        channel_id=channel_id,
        number=number,
        response=str(resp.get("Response")),
        reason=reason,
        amd_status=amd_status,
        amd_cause=amd_cause,
        hangup_cause=hangup_cause,
        seconds=time.monotonic() - started,
    )
