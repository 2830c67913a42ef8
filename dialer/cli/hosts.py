"""`dialer nodes` (the dialer hosts sharing this database) and `dialer trunks ...` (named trunks
with limits every host holds)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from dialer.cli.common import DbUrlOpt, _fail, _session, console
from dialer.storage.models import Campaign, Node, Trunk

trunks_app = typer.Typer(help="Named trunks: a template and limits shared by campaigns and hosts.", no_args_is_help=True)
DEAD_AFTER_S = 20.0  # as EngineSettings.node_dead_after_s


def nodes(url: DbUrlOpt = None) -> None:
    """The dialer hosts: their Asterisk, version, live calls and last heartbeat."""
    now = datetime.now(UTC)
    table = Table(title="dialer nodes")
    for col in ("node", "host", "asterisk", "version", "live calls", "heartbeat", "state"):
        table.add_column(col)
    with _session(url) as session:
        for n in session.scalars(select(Node).order_by(Node.name)):
            age = (now - n.heartbeat_at).total_seconds()
            state = "stopped" if n.stopped_at else ("alive" if age < DEAD_AFTER_S else "silent (dead)")
            table.add_row(n.name, n.host, n.asterisk, n.version, str(n.live_calls), f"{age:.0f} s ago", state)
    console.print(table)


@trunks_app.command("add")
def trunks_add(
    name: Annotated[str, typer.Argument(help="Trunk name, e.g. carrier.")],
    template: Annotated[str, typer.Option("--template", help="Channel template, e.g. 'PJSIP/{number}@carrier'.")],
    max_concurrent: Annotated[int, typer.Option("--max-concurrent", min=1, help="Live calls, all hosts together.")],
    calls_per_second: Annotated[float, typer.Option("--calls-per-second", min=0.01,
                                                    help="Originates per second, all hosts together.")],  # fmt: skip
    url: DbUrlOpt = None,
) -> None:
    """Add a trunk, or change an existing one's template and limits (they apply at the next claim)."""
    if "{number}" not in template:
        _fail(f"--template {template!r}: must contain {{number}}")
    with _session(url, write=True) as session:
        trunk = session.get(Trunk, name)
        verb = "changed" if trunk is not None else "added"
        if trunk is None:
            trunk = Trunk(name=name, template=template, max_concurrent=max_concurrent,
                          calls_per_second=calls_per_second, created_at=datetime.now(UTC))  # fmt: skip
            session.add(trunk)
        trunk.template, trunk.max_concurrent, trunk.calls_per_second = template, max_concurrent, calls_per_second
    console.print(f"trunk {name!r} {verb}: {template}, {max_concurrent} live calls, {calls_per_second:g} calls/s")


@trunks_app.command("list")
def trunks_list(url: DbUrlOpt = None) -> None:
    """Every trunk with its limits and the campaigns that name it."""
    table = Table(title="trunks")
    for col in ("trunk", "template", "max live", "calls/s", "campaigns"):
        table.add_column(col)
    with _session(url) as session:
        for t in session.scalars(select(Trunk).order_by(Trunk.name)):
            users = session.scalars(select(Campaign.name).where(Campaign.trunk_name == t.name)).all()
            table.add_row(t.name, t.template, str(t.max_concurrent), f"{t.calls_per_second:g}", ", ".join(users) or "-")
    console.print(table)


@trunks_app.command("remove")
def trunks_remove(name: Annotated[str, typer.Argument(help="Trunk name.")], url: DbUrlOpt = None) -> None:
    """Remove a trunk no campaign names."""
    with _session(url, write=True) as session:
        trunk = session.get(Trunk, name)
        if trunk is None:
            _fail(f"unknown trunk {name!r}")
        users = session.scalars(select(Campaign.name).where(Campaign.trunk_name == name)).all()
        if users:
            _fail(f"trunk {name!r} is named by campaign(s) {', '.join(users)}: change them first")
        session.delete(trunk)
    console.print(f"trunk {name!r} removed")
