"""`dialer sms ...`: the replies people sent, what a text costs in parts, the gateways configured."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from dialer.cli.common import CampaignArg, DbUrlOpt, _campaign_named, _fail, _session, console
from dialer.config import ConfigError
from dialer.events.sink import mask_number
from dialer.sms.settings import GATEWAY_ENV, env_var, gateways_from_env
from dialer.sms.text import split, transliterate
from dialer.storage.sms_models import SmsReply
from sqlalchemy import select

sms_app = typer.Typer(help="SMS: replies, and the parts a text goes out in.", no_args_is_help=True)


@sms_app.command("replies")
def replies(
    campaign: CampaignArg,
    format_: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    url: DbUrlOpt = None,
) -> None:
    """Every reply matched to the campaign, oldest first; opt-outs marked."""
    with _session(url) as session:
        found = _campaign_named(session, campaign)
        rows = list(session.scalars(select(SmsReply).where(SmsReply.campaign_id == found.id).order_by(SmsReply.id)))
    if format_ == "json":
        print(json.dumps([{"received_at": r.received_at.isoformat(), "number": r.number, "text": r.text,
                           "opt_out": r.opt_out, "contact_id": r.contact_id, "sms_id": r.sms_id} for r in rows],
                         ensure_ascii=False, indent=2))  # fmt: skip
        return
    table = Table(title=f"SMS replies: {campaign} ({len(rows)})")
    for col in ("received (UTC)", "number", "contact", "text", "opt-out"):
        table.add_column(col)
    for r in rows:
        table.add_row(f"{r.received_at:%Y-%m-%d %H:%M:%S}", mask_number(r.number), str(r.contact_id or "-"), r.text,
                      "yes" if r.opt_out else "")  # fmt: skip
    console.print(table)


@sms_app.command("segments")
def segments(
    text: Annotated[str, typer.Argument(help="The text.")],
    plain: Annotated[bool, typer.Option("--transliterate", help="Plain letters first (á -> a, ł -> l).")] = False,
) -> None:
    """The encoding of a text and the parts it goes out in."""
    found = split(transliterate(text) if plain else text)
    unit = "septets" if found.encoding == "gsm7" else "UTF-16 units"
    console.print(f"{found.encoding}: {found.units} {unit}, {found.segments} part(s)", highlight=False)
    for i, part in enumerate(found.parts, 1):
        console.print(f"  {i}: {part}", highlight=False, markup=False)


@sms_app.command("gateways")
def gateways() -> None:
    """The gateways this environment configures (DIALER_SMS_GATEWAY[_<NAME>]), passwords left out:
    a campaign picks one by `[sms] gateway = "<name>"`."""
    try:
        found = gateways_from_env()
    except ConfigError as exc:
        _fail(str(exc))
    if not found:
        console.print(f"no SMS gateway configured here ({GATEWAY_ENV}, {GATEWAY_ENV}_<NAME>)", highlight=False)
        return
    table = Table(title="SMS gateways")
    for col in ("name", "variable", "gateway", "options"):
        table.add_column(col)
    for name, g in found.items():
        table.add_row(name, env_var(name), g.where, " ".join(f"{k}={v}" for k, v in g.options.items()))
    console.print(table)
