"""Test helpers: a database at head and campaigns of simulated customers in it."""

from __future__ import annotations

import socket
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from dialer.domain import CampaignState
from dialer.ivr import prerender
from dialer.sandbox.instance import Sandbox
from dialer.sandbox.sim import script, sim_number
from dialer.storage import db
from dialer.storage.models import Attempt, Campaign, Contact, Phone


GREET_FLOW = str(Path(__file__).resolve().parent / "flows" / "greet.toml")
STOP_FLOW = str(Path(__file__).resolve().parent / "flows" / "stop.toml")  # one menu: 1 thanks, 9 opt-out


def scripted(sandbox: Sandbox, script_id: int, answers: list[str], hang_up: bool = False, ring_s: int = 0) -> str:
    """A scripted human's number; its answers go into the sandbox's AstDB."""
    command = f"database put simscript {script_id:07d} {script(answers, hang_up, ring_s)}"
    subprocess.run(sandbox.asterisk_cmd("-rx", command), check=True, capture_output=True, timeout=20)
    return sim_number("scripted", tag=script_id)


def free_port() -> int:
    """A free TCP port on loopback (for an extra FastAGI server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def render_prompts(url: str, campaign_id: int) -> None:
    """What `dialer prompts render` does (cached renders are not repeated)."""
    engine = db.make_engine(url)
    with db.session_factory(engine)() as s:
        campaign = s.get(Campaign, campaign_id)
        assert campaign is not None
        plan = prerender.plan(s, campaign, datetime.now(UTC))
    engine.dispose()
    assert not plan.errors, plan.errors
    prerender.render(plan)


def storage_url(request: Any, tmp_path: Any) -> str:
    """A fresh database at head for a test parametrised over "sqlite" and "postgresql"."""
    from tests.conftest import fresh_postgres

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
    else:
        url = fresh_postgres(request.getfixturevalue("postgres_server"))
    db.upgrade(url)
    return url


def new_database(path: str) -> str:
    url = f"sqlite:///{path}"
    db.upgrade(url)
    return url


def make_campaign(url: str, name: str, numbers: list[str], people: list[dict[str, Any]] | None = None,
                  render: bool = True, **fields: Any) -> int:
    """An active campaign with one contact per number (external ids C0, C1, ...).

    `people` gives each contact a name, a time zone and custom fields: {"name": ..., "timezone": ...,
    "amount": ..., ...}.
    Its prompts are rendered unless `render` is False.
    """
    now = datetime.now(UTC)
    settings = fields.pop("settings", {"retries": {"max_attempts": 1}})
    if "flow" not in fields:  # the tests' one-prompt flow, unless a test names a flow
        settings = {"flow_file": GREET_FLOW, "company": "Test", **settings}
    engine = db.make_engine(url)
    with db.session_factory(engine).begin() as s:
        campaign = Campaign(name=name, state=CampaignState.ACTIVE, created_at=now, settings=settings,
                            ring_timeout_s=fields.pop("ring_timeout_s", 5), **fields)  # fmt: skip
        s.add(campaign)
        for i, number in enumerate(numbers):
            person = dict((people or [{}] * len(numbers))[i])
            s.add(Contact(campaign=campaign, external_id=f"C{i}", created_at=now, name=person.pop("name", None),
                          timezone=person.pop("timezone", None), fields=person,
                          phones=[Phone(number=number, position=0)]))  # fmt: skip
        s.flush()
        campaign_id = campaign.id
    engine.dispose()
    if render:
        render_prompts(url, campaign_id)
    return campaign_id


def _rows(url: str, stmt: Any) -> list[Any]:
    engine = db.make_engine(url)
    with db.session_factory(engine)() as s:
        rows = list(s.scalars(stmt))
    engine.dispose()
    return rows


def attempts(url: str, campaign_id: int) -> list[Attempt]:
    return _rows(url, select(Attempt).where(Attempt.campaign_id == campaign_id).order_by(Attempt.created_at))


def campaign_row(url: str, campaign_id: int) -> Campaign:
    (row,) = _rows(url, select(Campaign).where(Campaign.id == campaign_id))
    return row  # type: ignore[no-any-return]


def contacts(url: str, campaign_id: int) -> list[Contact]:
    return _rows(url, select(Contact).where(Contact.campaign_id == campaign_id).order_by(Contact.id))
