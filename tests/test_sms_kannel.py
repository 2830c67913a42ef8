"""SMS through real Kannel boxes (bearerbox + smsbox from Debian's kannel) and Kannel's fake SMSC,
every process started and stopped by pid. The daemon side is the SmsService with the Kannel
backend and its HTTP listener: texts go out by sendsms, delivery reports come back to /dlr, and
the fake SMSC's BAJA reply comes back through the smsbox's get-url to /mo."""

from __future__ import annotations

import asyncio
import re

import pytest
from sqlalchemy import select

from dialer.domain import SmsState
from dialer.sms.kannel import KannelGateway
from dialer.sms.service import SmsService
from dialer.sms.settings import GatewaySettings, ListenSettings
from dialer.sms.text import split
from dialer.storage import db
from dialer.storage.models import Dnc
from dialer.storage.sms_models import Sms, SmsOptOut, SmsReply
from tests.campaigns import make_campaign, new_database
from tests.sms_parts import fakesmsc, kannel_boxes, stop
from tests.test_sms_smpp import PERSON, SMS, _messages, _queue, _replies, _until

pytestmark = pytest.mark.sms

POLISH, SPANISH = "+48600000201", "+34600000202"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("kannel")
    url = new_database(str(tmp / "d.db"))
    pl = make_campaign(url, "kannel-pl", [POLISH], people=[PERSON], render=False, flow="notify", language="pl",
                       default_region="PL", settings={"company": "Gaz", "sms": SMS})  # fmt: skip
    es = make_campaign(url, "kannel-es", [SPANISH], people=[PERSON], render=False, flow="notify",
                       settings={"company": "Gas Sur", "sms": {**SMS, "opt_out_voice": False}})  # fmt: skip
    _queue(url, pl, "notice")
    _queue(url, es, "reminder")
    out = tmp / "fakesmsc.out"
    with kannel_boxes(tmp) as kannel:
        gateway = KannelGateway(GatewaySettings.from_url(kannel.url), f"http://127.0.0.1:{kannel.listen_port}")
        listen = ListenSettings("127.0.0.1", kannel.listen_port)
        sessions = db.session_factory(db.make_engine(url))
        smsc = fakesmsc(kannel, out, [f"{SPANISH} 12345 text BAJA"], count=1)
        try:
            async def main() -> None:
                async with SmsService(sessions, gateway, listen=listen, poll_s=0.1) as service:
                    await _until(lambda: all(m.state == SmsState.DELIVERED for m in _messages(url).values()))
                    await _until(lambda: bool(_replies(url)))
                    assert service.listener is not None and service.listener.refused == 0

            asyncio.run(main())
        finally:
            stop(smsc)
    return {"url": url, "messages": _messages(url), "smsc_out": out.read_text()}


def test_polish_text_goes_out_ucs2_in_the_counted_parts_and_the_delivery_report_lands(run: dict[str, object]) -> None:
    message = run["messages"][POLISH]  # type: ignore[index]
    parts = split(message.text)
    assert (message.encoding, message.segments, parts.segments) == ("ucs2", parts.segments, parts.segments)
    got = re.findall(r"Got message \d+: <\S+ \+48600000201 udh (\S+) data", str(run["smsc_out"]))
    assert len(got) == parts.segments >= 2  # the fake SMSC saw each part with its concatenation header
    assert [h[-6:] for h in got] == [f"%{parts.segments:02X}%{i:02X}" for i in range(1, parts.segments + 1)]
    assert message.state == SmsState.DELIVERED and message.smsc_id and message.sent_at and message.done_at


def test_a_baja_reply_through_kannel_opts_out_of_sms_only_when_the_campaign_says_so(run: dict[str, object]) -> None:
    url = str(run["url"])
    (reply,) = _replies(url)
    assert (reply.number, reply.text.strip(), reply.opt_out) == (SPANISH, "BAJA", True)
    engine = db.make_engine(url)
    with db.session_factory(engine)() as s:
        assert s.get(SmsOptOut, SPANISH) is not None
        assert s.get(Dnc, SPANISH) is None  # opt_out_voice = false: calls may go on
        assert s.scalar(select(SmsReply.sms_id)) == run["messages"][SPANISH].id  # type: ignore[index]
        assert s.scalar(select(Sms.state).where(Sms.number == SPANISH)) == SmsState.DELIVERED
    engine.dispose()
