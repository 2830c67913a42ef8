"""The sms step: ask for a text to the caller (for example the promise-to-pay confirmation).

The step sends nothing itself: it writes the request into the call's details (`details["sms"]`:
the template and the values of a captured fact) and a `fact sms` event. The ending carries the
details to SQL, where dialer.sms.on_ending queues the text in the same transaction as the
ending (once: a replayed ending queues nothing twice) and the daemon's SMS service sends it.
A campaign without an [sms] table skips the step.
"""

from __future__ import annotations

import json

from dialer.ivr.call import CallBase
from dialer.ivr.flow import Step


class SmsSteps(CallBase):
    async def _sms(self, step: Step) -> str:
        template = str(step.get("template"))
        if not self.ctx.settings.get("sms"):
            self.event("fact", "sms", json.dumps({"template": template, "skipped": "no [sms] table"}))
            return step.next
        request: dict[str, str] = {"template": template}
        fact_name = step.get("fact")
        if fact_name:  # the newest value of that fact: {"date": ..., "amount": ...}
            found = [e.value for e in self.report.events if e.kind == "fact" and e.name == fact_name and e.value]
            if found:
                try:
                    fact = json.loads(found[-1])
                except ValueError:
                    fact = {}
                if isinstance(fact, dict) and fact.get("date"):
                    request["promise_date"] = str(fact["date"])
                if isinstance(fact, dict) and fact.get("amount"):
                    request["promise_amount"] = str(fact["amount"])
        self.report.details.setdefault("sms", []).append(request)
        self.event("fact", "sms", json.dumps(request))
        return step.next
