"""The contract with the dialer's dialplan (asterisk_conf/extensions_dialer.conf): the channel
variables an Originate sets (attempt, AGI token, flow route, language, AMD arguments, the hangup
handler and the early-media tone detector) and the encoding of the details a process AGI script
hands back in DIALER_DETAILS."""

from __future__ import annotations

import base64
import json
from typing import Any

from dialer.ivr.trust import ATTEMPT_VARIABLE, TOKEN_VARIABLE


def encode_details(details: dict[str, Any]) -> str:
    """Details for a dialplan variable: base64 JSON (commas would split UserEvent headers)."""
    return base64.b64encode(json.dumps(details, separators=(",", ":")).encode()).decode()


def decode_details(value: str | None) -> dict[str, Any]:
    if not value:
        return {}
    try:
        decoded = json.loads(base64.b64decode(value, validate=True))
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


# campaign.settings["amd"] keys, in the order of AMD()'s arguments (a key left out: amd.conf)
AMD_ARGS = ("initial_silence_ms", "greeting_ms", "after_greeting_silence_ms", "total_analysis_ms", "min_word_ms",
            "between_words_silence_ms", "max_words", "silence_threshold", "max_word_ms")  # fmt: skip


AMD_FLAGS = ("enabled", "notsure", "sit")
# Pushed on every dialled channel: when it hangs up, answered or not, dialer-hangup reports PJSIP's
# own cause ("SIP 486 Busy Here"). Quoted: an AMI Variable header splits on commas outside quotes.
HANGUP_HANDLER = {"CHANNEL(hangup_handler_push)": '"dialer-hangup,s,1"'}
# A special information tone heard before the answer (early media) jumps to dialer-sit, which
# reports it and hangs up (res_tonedetect, Asterisk 16.21 and later; campaign amd.sit = false
# turns it off). dialer-outbound removes the detector on answer.
SIT_DETECTOR = {"TONE_DETECT(0,,arg(dialer-sit,s,1))": "", "DIALER_SIT": "yes"}


def amd_variables(amd: dict[str, Any]) -> dict[str, str]:
    """AMD() arguments from the campaign's settings, one channel variable each (an AMI Variable
    header splits on commas); unknown keys are an error naming the key."""
    unknown = set(amd) - set(AMD_ARGS) - set(AMD_FLAGS)
    if unknown:
        raise ValueError(f"amd.{sorted(unknown)[0]}: unknown setting (one of {', '.join(AMD_ARGS)})")
    return {f"DIALER_AMD_ARG{i}": str(int(amd[k])) for i, k in enumerate(AMD_ARGS, 1) if k in amd}


def originate_variables(attempt_id: str, flow: str, language: str, settings: dict[str, Any],
                        agi_url: str, agi_token: str) -> dict[str, str]:
    """Channel variables of an Originate (asterisk_conf/extensions_dialer.conf reads them); the
    token is read by the AGI gate only (dialer.ivr.trust), never by the dialplan."""
    amd = dict(settings.get("amd") or {})
    route = "campaign" if settings.get("flow_file") else flow  # the AGI path: dialer.ivr.flow.CAMPAIGN_ROUTE
    variables = {ATTEMPT_VARIABLE: attempt_id, TOKEN_VARIABLE: agi_token, "DIALER_FLOW": route,
                 "DIALER_LANG": language, "DIALER_AGI_URL": agi_url, **HANGUP_HANDLER}  # fmt: skip
    if amd.get("sit", True) is not False:
        variables.update(SIT_DETECTOR)
    if amd.get("enabled", True) is False:
        variables["DIALER_AMD"] = "no"
    else:
        variables.update(amd_variables(amd))
    return variables
