"""Answering-machine detection on real RTP, measured through the SIP path.

    python bench/amd.py [--ami-port 5038] [--agi-port 4573] [--variants current,words2,noise] [--concurrency 16]

A labelled set of 45 greetings (short human answers and long machine greetings in es, en and pl,
from espeak-ng voices and Asterisk's own sounds, at several levels, some under line noise;
machines with and without a beep, beeps at 440, 700, 1000 and 1400 Hz) is played as RTP by SIPp
(a scenario written here: the dialled number picks the greeting) behind the sandbox's PJSIP
trunk. The dialer's engine dials them with its FastAGI flow: AMD() in dialer-outbound, then a
prompt for a person or the machine message after the beep (dialer.ivr.voicemail).

Prints, per AMD variant (amd.conf values, or others passed as campaign settings): the confusion
matrix (truth HUMAN/MACHINE x verdict HUMAN/MACHINE/NOTSURE; NOTSURE counts as wrong), accuracy,
and for machines how the message started (beep by frequency, or silence) and the delay from the
end of the beep (or of a beepless greeting) to the message's start. Needs root and the sandbox
(started here if it is not running, and stopped again) and sipp.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dialer.config import EngineSettings, cache_dir  # noqa: E402
from dialer.engine import Engine  # noqa: E402
from dialer.engine.ivr_host import IvrHost  # noqa: E402
from dialer.sandbox.carrier import Carrier  # noqa: E402
from dialer.sandbox.carrier_media import Part, Sound, render, seconds_of, silence, sound_file, speech, tone  # noqa: E402
from dialer.sandbox.instance import Sandbox  # noqa: E402
from dialer.storage import db  # noqa: E402
from dialer.storage.ivr_store import events_of  # noqa: E402
from dialer.storage.repository import Repository  # noqa: E402
from tests.campaigns import attempts, make_campaign, new_database  # noqa: E402

TRUNK = "PJSIP/{number}@carrier"
VARIANTS: dict[str, dict[str, int]] = {
    "current": {},  # asterisk_conf/amd.conf as shipped (3 words, 80 ms between words)
    "words2": {"max_words": 2, "between_words_silence_ms": 50},  # the defaults before this bench
    "noise": {"silence_threshold": 512},  # a higher silence threshold, against line noise
}
FLOW = """name = "amd-bench"
start = "amd"
[steps.amd]
type = "amd"
human = "greeting"
machine = "machine"
[steps.greeting]
type = "say"
prompt = "greeting"
completes = true
[steps.machine]
type = "machine"
prompt = "machine_message"
"""
HUMANS = [("en", "en-us", "Hello?"), ("en", "en-us", "Yes, hello, who is it?"), ("en", "en-us", "Hi."),
          ("es", "es", "¿Diga?"), ("es", "es", "¿Sí? Dígame."), ("es", "es-419", "¿Bueno?"),
          ("pl", "pl", "Halo?"), ("pl", "pl", "Tak, słucham.")]  # fmt: skip
MACHINES = [
    ("en", "en-us", "Hi, you have reached Sam Taylor. I cannot take your call right now. Please leave your name "
                    "and number after the tone and I will call you back."),
    ("en", "en-us", "The person you are calling is not available. Please record your message after the tone."),
    ("es", "es", "Hola, has llamado a Marta. Ahora no puedo atenderte. Deja tu nombre y tu mensaje después "
                 "de la señal y te llamaré."),
    ("es", "es-419", "El número que usted marcó no está disponible en este momento. Por favor deje su "
                     "mensaje después del tono."),
    ("pl", "pl", "Dzień dobry, tu poczta głosowa Anny Nowak. Nie mogę teraz odebrać. Proszę zostawić "
                 "wiadomość po sygnale."),
    ("pl", "pl", "Abonent jest chwilowo niedostępny. Proszę nagrać wiadomość po usłyszeniu sygnału."),
]  # fmt: skip
SOUNDS = cache_dir() / "sandbox" / "sid" / "usr/share/asterisk/sounds"
ASTERISK_MACHINES = [("en", ["en_US_f_Allison/vm-nobodyavail.wav", "en_US_f_Allison/vm-intro.wav"]),
                     ("es", ["es_MX_f_Allison/vm-nobodyavail.wav", "es_MX_f_Allison/vm-intro.wav"]),
                     ("en", ["en_US_f_Allison/vm-theperson.wav", "en_US_f_Allison/vm-isunavail.wav",
                             "en_US_f_Allison/vm-intro.wav"])]  # fmt: skip
NOISE_DB = -50.0


@dataclass(frozen=True)
class Greeting:
    sound: Sound
    truth: str  # HUMAN | MACHINE
    beep_hz: int | None = None
    beep_end_s: float | None = None  # machines: when the beep ends (or, beepless, the greeting)


def labelled_set() -> list[Greeting]:
    out: list[Greeting] = []
    for i, (lang, voice, text) in enumerate(HUMANS):
        for level, noise in ((0.0, None), (-12.0, NOISE_DB)):
            name = f"h{i}_{'quiet_noise' if noise else 'clean'}"
            out.append(Greeting(Sound(name, (speech(text, voice, gain_db=level), silence(25.0)), noise), "HUMAN"))
    out.append(Greeting(Sound("h_ast_hello", (sound_file(SOUNDS / "en_US_f_Allison/hello.wav"), silence(25.0))),
                        "HUMAN"))  # fmt: skip
    out.append(Greeting(Sound("h_ast_hello_noise", (sound_file(SOUNDS / "en_US_f_Allison/hello.wav", -6.0),
                                                    silence(25.0)), NOISE_DB), "HUMAN"))  # fmt: skip
    bases: list[tuple[str, tuple[Part, ...]]] = [(f"m{i}", (speech(t, v, speed=160),)) for i, (_, v, t) in enumerate(MACHINES)]
    bases += [(f"m_ast{i}", tuple(sound_file(SOUNDS / f) for f in files)) for i, (_, files) in enumerate(ASTERISK_MACHINES)]
    beeps = [1000, 700, 1400, 440]
    for i, (name, parts) in enumerate(bases):
        for kind, hz, noise in (("a", beeps[i % 4], None), ("b", beeps[(i + 1) % 4], NOISE_DB), ("n", None, None)):
            tail: tuple[Part, ...] = (silence(0.5), tone(hz, 0.5)) if hz else ()
            sound = Sound(f"{name}_{kind}", (*parts, *tail, silence(40.0)), noise)
            end = seconds_of(sound.parts, len(parts) + len(tail))
            out.append(Greeting(sound, "MACHINE", hz, end))
    return out


def scenario(greetings: list[Greeting]) -> str:
    """A SIPp UAS scenario: answer, then stream greeting number CCC (the dialled number's last 8
    digits are CCC 00 000), then wait for Asterisk's BYE."""
    dispatch = "".join(
        f'  <nop test="t" next="g{i}"><action><test assign_to="t" variable="c" compare="equal" value="{i}"/>'
        f"</action></nop>\n" for i in range(len(greetings)))  # fmt: skip
    branches = "".join(f'  <label id="g{i}"/>\n  <nop next="listen"><action><exec rtp_stream="{g.sound.name}.ulaw,1,0"/>'
                       f"</action></nop>\n" for i, g in enumerate(greetings))  # fmt: skip
    head = "[last_Via:]\n[last_From:]\n[last_To:];tag=[pid]B[call_number]\n[last_Call-ID:]\n[last_CSeq:]\n"
    contact = "Contact: <sip:bench@[local_ip]:[local_port]>\n"
    sdp = ("Content-Type: application/sdp\nContent-Length: [len]\n\nv=0\no=bench 1 1 IN IP4 [local_ip]\ns=-\n"
           "c=IN IP4 [media_ip]\nt=0 0\nm=audio [media_port] RTP/AVP 0 101\na=rtpmap:0 PCMU/8000\n"
           "a=rtpmap:101 telephone-event/8000\na=sendrecv\n")  # fmt: skip
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="amd bench">
  <recv request="INVITE"><action>
    <ereg regexp="^INVITE sip:[+]?[0-9]*([0-9]{{3}})[0-9]{{5}}@" search_in="msg" assign_to="all,code"/>
    <todouble assign_to="c" variable="code"/><assign assign_to="all" value="0"/></action></recv>
  <send><![CDATA[
SIP/2.0 180 Ringing
{head}{contact}Content-Length: 0

]]></send>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
{head}{contact}{sdp}
]]></send>
  <recv request="ACK"/>
{dispatch}{branches}  <label id="listen"/>
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
"""


def run_variant(sandbox: Sandbox, greetings: list[Greeting], amd: dict[str, int], work: Path, concurrency: int) -> list[dict]:
    url = new_database(str(work / f"amd-{len(amd)}-{abs(hash(tuple(sorted(amd.items()))))}.db"))
    numbers = [f"+349{i:03d}00000" for i in range(len(greetings))]
    settings = {"company": "Bench", "retries": {"max_attempts": 1}, "flow_file": str(work / "flow.toml"), "amd": amd}
    cid = make_campaign(url, "amd", numbers, people=[{"name": "Ana"}] * len(numbers), flow="amd-bench", language="en",
                        trunk_template=TRUNK,
                        max_concurrent=concurrency, calls_per_second=4, ring_timeout_s=10, settings=settings)  # fmt: skip
    repo = Repository(db.session_factory(db.make_engine(url)))
    engine = Engine(repo, sandbox.ami, EngineSettings(agi_url=sandbox.agi.url, poll_s=0.2, drain_timeout_s=10),
                    IvrHost(repo.sessions, sandbox.agi))  # fmt: skip
    asyncio.run(engine.run_until_finished([cid], timeout=900))
    rows = []
    for a in attempts(url, cid):
        g = greetings[numbers.index(a.number)]
        vm = [e for e in events_of(repo.sessions, a.id) if e.kind == "fact" and e.name == "voicemail"]
        delay = None
        if vm and a.answered_at is not None and g.beep_end_s is not None:
            delay = (vm[0].at - a.answered_at).total_seconds() - g.beep_end_s
        rows.append({"g": g, "verdict": (a.details or {}).get("amd", "NONE"), "after": vm[0].value if vm else None,
                     "delay": delay, "outcome": a.outcome or a.dial_result})  # fmt: skip
    return rows


def report(name: str, amd: dict[str, int], rows: list[dict]) -> float:
    matrix = Counter((r["g"].truth, r["verdict"]) for r in rows)
    right = sum(n for (truth, verdict), n in matrix.items() if truth == verdict)
    accuracy = right / len(rows)
    print(f"\n== {name}: {amd or 'amd.conf'}  ({len(rows)} greetings)")
    corner = "truth / AMD"
    print(f"{corner:<14}{'HUMAN':>8}{'MACHINE':>9}{'NOTSURE':>9}")
    for truth in ("HUMAN", "MACHINE"):
        print(f"{truth:<14}" + "".join(f"{matrix[(truth, v)]:>{w}}" for v, w in (("HUMAN", 8), ("MACHINE", 9), ("NOTSURE", 9))))
    print(f"accuracy {accuracy:.1%}  ({right}/{len(rows)})")
    wrong = [f"{r['g'].sound.name}->{r['verdict']}" for r in rows if r["g"].truth != r["verdict"]]
    print("misread:", ", ".join(sorted(wrong)) or "none")
    machines = [r for r in rows if r["g"].truth == "MACHINE" and r["after"]]
    by_beep = Counter((r["g"].beep_hz or "none", r["after"].split()[0]) for r in machines)
    print("message start by beep:", ", ".join(f"{hz} Hz: {how} {n}" for (hz, how), n in sorted(by_beep.items(), key=str)))
    for label, pick in (("after a detected beep", lambda r: r["after"].startswith("beep")),
                        ("after silence (beep missed or none)", lambda r: not r["after"].startswith("beep"))):
        delays = [r["delay"] for r in machines if pick(r) and r["delay"] is not None]
        if delays:
            print(f"delay from the beep's (or greeting's) end to the message, {label}: median "
                  f"{statistics.median(delays):.2f} s, min {min(delays):.2f} s, max {max(delays):.2f} s (n={len(delays)})")
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ami-port", type=int, default=5038)
    parser.add_argument("--agi-port", type=int, default=4573)
    parser.add_argument("--variants", default="current,words2,noise")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    sandbox = Sandbox("sid", args.ami_port, args.agi_port)
    ours = sandbox.pid() is None
    sandbox.up()
    media = cache_dir() / "amd-bench"
    greetings = labelled_set()
    for g in greetings:
        render(g.sound, media)
    humans = sum(g.truth == "HUMAN" for g in greetings)
    print(f"{len(greetings)} greetings: {humans} human, {len(greetings) - humans} machine "
          f"({sum(g.beep_hz is not None for g in greetings)} with a beep)")  # fmt: skip
    results = {}
    with tempfile.TemporaryDirectory(prefix="amd-bench-") as tmp:
        work = Path(tmp)
        (work / "flow.toml").write_text(FLOW)
        (work / "amd.xml").write_text(scenario(greetings))
        try:
            with Carrier(args.ami_port, scenario=work / "amd.xml", work=media):
                for name in args.variants.split(","):
                    rows = run_variant(sandbox, greetings, VARIANTS[name], work, args.concurrency)
                    results[name] = report(name, VARIANTS[name], rows)
        finally:
            if ours:
                sandbox.down()
    best = max(results, key=lambda n: results[n])
    print(f"\nbest: {best} ({results[best]:.1%}): {VARIANTS[best] or 'amd.conf as shipped'}")


if __name__ == "__main__":
    main()
