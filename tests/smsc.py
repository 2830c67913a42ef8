"""A test SMSC (smpp34's asyncio server), run as its own process by the tests and stopped by pid.

    python -m tests.smsc --port P --log FILE [--rules FILE]

It accepts every bind, answers each submit_sm and writes one JSON line per part to FILE (number,
esm_class, data_coding, the concatenation header, the text). Then it sends a delivery receipt for
each part (esm_class 0x04, `id:.. stat:DELIVRD err:000 text:`) and, per the rules (a JSON object
keyed by destination number without '+'):
  "fail"          every receipt is `stat:UNDELIV err:001`
  "fail-once"     the first text to the number fails so, later ones are delivered
  "expire"        every receipt is `stat:EXPIRED err:027` (the SMSC gave up: validity period over)
  "throttle-once" the first submit_sm is refused with ESME_RTHROTTLED
  "reply:TEXT"    after the receipt, the number replies TEXT (a deliver_sm with esm_class 0)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import smpp34


def _text(data: bytes, coding: int) -> str:
    return data.decode("utf-16-be", "replace") if coding == 8 else data.decode("gsm03.38", "replace")


async def serve(port: int, log: Path, rules: dict[str, str]) -> None:
    import gsm0338  # noqa: F401 - registers the codec

    server = smpp34.Server("127.0.0.1", port, system_id="testsmsc")
    await server.start()
    sessions: dict[str, Any] = {}
    seen: Counter[str] = Counter()
    tasks: set[asyncio.Task[None]] = set()
    print(f"listening {port}", flush=True)
    while True:
        event = await server.next()
        if isinstance(event, smpp34.Esme):
            sessions[event.session_id] = event
            continue
        if isinstance(event, smpp34.Unbound):
            sessions.pop(event.session_id, None)
            continue
        number = event.destination_addr.lstrip("+")
        rule = rules.get(number, "")
        seen[number] += 1
        if rule == "throttle-once" and seen[number] == 1:
            event.reject(smpp34.ESME_RTHROTTLED)
            continue
        data, udh = bytes(event.short_message), b""
        if event.esm_class & 0x40 and data:
            udh, data = data[: data[0] + 1], data[data[0] + 1 :]
        message_id = uuid.uuid4().hex[:16]
        event.accept(message_id)
        last_part = not udh or udh[-1] == udh[-2]
        with log.open("a") as fh:
            fh.write(json.dumps({"to": number, "esm_class": event.esm_class, "data_coding": event.data_coding,
                                 "udh": udh.hex(), "text": _text(data, event.data_coding), "id": message_id}) + "\n")
        failed = rule == "fail" or (rule == "fail-once" and seen[number] <= (udh[-2] if udh else 1))
        status = ("EXPIRED", "027") if rule == "expire" else ("UNDELIV", "001") if failed else ("DELIVRD", "000")
        esme = sessions.get(event.session_id)
        if esme is not None:
            task = asyncio.create_task(_answer(esme, number, event.destination_addr, message_id, status,
                                               rule[6:] if rule.startswith("reply:") and last_part else None))
            tasks.add(task)
            task.add_done_callback(tasks.discard)


async def _answer(esme: Any, number: str, dest: str, message_id: str, status: tuple[str, str],
                  reply: str | None) -> None:
    await asyncio.sleep(0.05)
    stat, err = status
    receipt = f"id:{message_id} sub:001 dlvrd:{int(stat == 'DELIVRD'):03d} submit date:2611300000 done date:2611300000 stat:{stat} err:{err} text:"
    await asyncio.wait_for(esme.deliver_sm("dialer", receipt.encode(), source_addr=number, esm_class=0x04), 10)
    if reply is not None:
        await asyncio.sleep(0.05)
        try:
            body, coding = reply.encode("gsm03.38"), 0
        except UnicodeEncodeError:
            body, coding = reply.encode("utf-16-be"), 8
        await asyncio.wait_for(esme.deliver_sm("dialer", body, source_addr=number, data_coding=coding), 10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--rules", type=Path)
    args = parser.parse_args()
    rules = json.loads(args.rules.read_text()) if args.rules else {}
    asyncio.run(serve(args.port, args.log, rules))


if __name__ == "__main__":
    main()
