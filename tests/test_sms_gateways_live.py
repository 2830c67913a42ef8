"""Two SMS gateways at once, as the daemon wires them (dialer.sms.senders from the environment's
DIALER_SMS_GATEWAY and DIALER_SMS_GATEWAY_BULK): the default is a direct SMPP bind to the test SMSC
(tests/smsc.py), "bulk" is real Kannel boxes with Kannel's fake SMSC, every process started and
stopped by pid. Each campaign's texts reach its own SMSC only; delivery reports and replies land
whatever gateway they came through; a campaign that picks a gateway nobody configured keeps its
text queued and marked, never sent through another."""

from __future__ import annotations

import asyncio
import re

import pytest
from dialer.domain import SmsState
from dialer.sms.senders import senders
from dialer.sms.settings import ListenSettings, gateways_from_env
from dialer.storage import db
from dialer.storage.sms_claim import NO_GATEWAY
from tests.campaigns import make_campaign, new_database
from tests.sms_parts import fakesmsc, kannel_boxes, smpp_smsc, stop
from tests.test_sms_smpp import PERSON, SMS, _messages, _queue, _replies, _until

pytestmark = pytest.mark.sms

TXN = ["+34600000401", "+34600000402"]  # the default gateway: SMPP
BULK = ["+34600000411", "+34600000412"]  # gateway "bulk": Kannel
GHOST = "+34600000421"  # gateway "ghost": configured nowhere


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("gateways")
    url = new_database(str(tmp / "d.db"))
    short = {**SMS, "templates": {"es": {"balance": "{company}: saldo {amount}"}}}  # one part each
    ids = {}
    for name, numbers, gateway in (("txn", TXN, None), ("bulk", BULK, "BULK"), ("ghost", [GHOST], "ghost")):
        sms = {**short, **({"gateway": gateway} if gateway else {})}
        ids[name] = make_campaign(url, f"gw-{name}", numbers, people=[PERSON] * len(numbers), render=False,
                                  flow="notify", settings={"company": "Gas", "sms": sms})  # fmt: skip
        _queue(url, ids[name], "balance")
    out = tmp / "fakesmsc.out"
    with kannel_boxes(tmp) as kannel, smpp_smsc(tmp, {TXN[1][1:]: "reply:STOP"}) as smsc:
        gateways = gateways_from_env({"DIALER_SMS_GATEWAY": f"smpp://dialer:secret@127.0.0.1:{smsc.port}?rate=50",
                                      "DIALER_SMS_GATEWAY_BULK": kannel.url})  # fmt: skip
        sessions = db.session_factory(db.make_engine(url))
        fake = fakesmsc(kannel, out, [f"{BULK[1]} 12345 text Gracias"], count=1)  # (a stop word could
        # come before the text is claimed, and cancel it)
        try:
            async def main() -> None:
                services = senders(sessions, gateways, ListenSettings("127.0.0.1", kannel.listen_port), node="n1",
                                   events=None, producers=[], poll_s=0.1)  # fmt: skip
                assert [(s.gateway.name, s.listener is not None) for s in services] == [("default", False),
                                                                                         ("bulk", True)]  # fmt: skip
                for service in services:
                    await service.start()
                try:
                    sent = TXN + BULK
                    await _until(lambda: all(_messages(url)[n].state == SmsState.DELIVERED for n in sent))
                    await _until(lambda: len(_replies(url)) == 2)
                except AssertionError:  # say what was missing
                    got = {n: (m.state.value, m.gateway, m.error_code) for n, m in _messages(url).items()}
                    raise AssertionError(f"timed out: texts {got}, replies {len(_replies(url))}") from None
                finally:
                    for service in reversed(services):
                        await service.close()

            asyncio.run(main())
        finally:
            stop(fake)
        parts = smsc.parts()
    return {"url": url, "messages": _messages(url), "smpp": parts, "kannel": out.read_text(), "ids": ids}


def test_each_campaigns_texts_reach_its_own_smsc_and_are_delivered(run: dict[str, object]) -> None:
    smpp_to = sorted(p["to"].lstrip("+") for p in run["smpp"])  # type: ignore[attr-defined]
    kannel_to = sorted(re.findall(r"Got message \d+: <\S+ \+?(\d+) ", str(run["kannel"])))
    assert smpp_to == [n[1:] for n in TXN]
    assert kannel_to == [n[1:] for n in BULK]
    messages = run["messages"]
    for numbers, gateway in ((TXN, "default"), (BULK, "bulk")):
        for n in numbers:
            m = messages[n]  # type: ignore[index]
            assert (m.state, m.gateway, m.error_code) == (SmsState.DELIVERED, gateway, None)


def test_replies_through_either_gateway_are_matched_to_their_text(run: dict[str, object]) -> None:
    messages = run["messages"]
    got = sorted((r.number, r.text.strip(), r.opt_out, r.sms_id, r.gateway) for r in _replies(str(run["url"])))
    assert got == [(TXN[1], "STOP", True, messages[TXN[1]].id, "default"),  # type: ignore[index]
                   (BULK[1], "Gracias", False, messages[BULK[1]].id, "bulk")]  # type: ignore[index]  # fmt: skip


def test_a_campaign_whose_gateway_nobody_has_keeps_its_text_waiting(run: dict[str, object]) -> None:
    ghost = run["messages"][GHOST]  # type: ignore[index]
    assert (ghost.state, ghost.error_code, ghost.tries, ghost.sent_at) == (SmsState.QUEUED, NO_GATEWAY, 0, None)
    assert GHOST[1:] not in str(run["smpp"]) + str(run["kannel"])
