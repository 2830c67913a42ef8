"""Rich tables for the operator CLI: campaign list and details, the report, the live status."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group
from rich.table import Table

from dialer.campaigns.states import CampaignRow
from dialer.reports.campaign_report import Report
from dialer.reports.status import StatusRow
from dialer.reports.return_report import describe as describe_returns
from dialer.storage.models import Campaign


def _fmt(value: Any, suffix: str = "") -> str:
    if value is None:
        return "-"
    return f"{value}{suffix}"


def campaign_list(rows: list[CampaignRow]) -> Table:
    table = Table(title="Campaigns")
    for col in ("name", "state", "flow", "lang", "contacts", "pending", "attempts", "live", "created"):
        table.add_column(col, justify="right" if col in ("contacts", "pending", "attempts", "live") else "left")
    for r in rows:
        table.add_row(r.name, r.state, r.flow, r.language, str(r.contacts), str(r.pending), str(r.attempts),
                      str(r.live), r.created_at.strftime("%Y-%m-%d %H:%M"))  # fmt: skip
    return table


def campaign_details(c: Campaign, summary: CampaignRow) -> Table:
    table = Table(title=f"Campaign {c.name}", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key in ("state", "flow", "language", "default_region", "caller_id", "trunk_template", "max_concurrent",
                "calls_per_second", "ring_timeout_s"):  # fmt: skip
        table.add_row(key, _fmt(getattr(getattr(c, key), "value", getattr(c, key))))
    table.add_row("contacts", f"{summary.contacts} ({summary.pending} pending)")
    table.add_row("attempts", f"{summary.attempts} ({summary.live} live)")
    table.add_row("created_at", c.created_at.isoformat(timespec="seconds"))
    table.add_row("finished_at", _fmt(c.finished_at and c.finished_at.isoformat(timespec="seconds")))
    for key, value in sorted(c.settings.items()):
        table.add_row(f"settings.{key}", json.dumps(value, ensure_ascii=False))
    return table


def report(r: Report) -> Group:
    summary = Table(title=f"Report: {r.campaign} ({r.state})", show_header=False)
    summary.add_column("metric", style="bold")
    summary.add_column("value", justify="right")
    for label, value in [
        ("attempts", f"{r.attempts} ({r.live} live)"),
        ("contacts", r.contacts),
        ("contacts attempted", r.contacts_attempted),
        ("contacts reached", f"{r.contacts_reached} ({r.humans_reached} humans)"),
        ("contact rate", _fmt(r.contact_rate_pct, " %")),
        ("connected attempts", r.connected),
        ("IVR errors", f"{r.ivr_errors} (called again)"),
        ("machine", f"{_fmt(r.machine_pct, ' %')} ({r.message_left} messages left)"),
        ("transfer rate", _fmt(r.transfer_rate_pct, " %")),
        ("agent answered", f"{_fmt(r.agent_answered_pct, ' %')} ({r.agent_answered})"),
        ("average queue wait", _fmt(r.avg_queue_wait_s, " s")),
        ("promises to pay", f"{r.promises_to_pay}, amount {r.promised_amount}"
         + (f" ({r.promises_without_amount} without amount)" if r.promises_without_amount else "")),
        ("average call time", _fmt(r.avg_call_s, " s")),
        *([("return calls", describe_returns(r.return_calls))] if r.return_calls else []),
    ]:  # fmt: skip
        summary.add_row(label, str(value))
    results = Table(title="Results")
    results.add_column("result")
    results.add_column("attempts", justify="right")
    for name, n in {**r.dial_results, **r.outcomes}.items():
        results.add_row(name, str(n))
    funnel = Table(title="Drop-off funnel (hung up early)")
    for col in ("step", "entered", "hung up early"):
        funnel.add_column(col, justify="left" if col == "step" else "right")
    for s in r.funnel:
        funnel.add_row(s.step, str(s.entered), str(s.hung_up_early))
    keys = Table(title="Most common key paths")
    keys.add_column("key path")
    keys.add_column("attempts", justify="right")
    for path, n in r.key_paths:
        keys.add_row(path, str(n))
    parts: list[Any] = [summary, results, funnel, keys]
    if r.sms is not None:
        sms = Table(title="SMS", show_header=False)
        sms.add_column("metric", style="bold")
        sms.add_column("value", justify="right")
        for key in ("texts", "queued", "sent", "delivered", "failed", "expired", "cancelled", "parts_sent", "replies",
                    "opt_outs", "cost"):  # fmt: skip
            value = r.sms[key]
            if key == "cost" and value is not None and r.cost_currency:
                value = f"{value:g} {r.cost_currency}"
            sms.add_row(key.replace("_", " "), _fmt(value))
        sms.add_row("gateway", str(r.sms.get("gateway", "default")))
        if r.sms.get("waiting_for_gateway"):  # dialer.storage.sms_claim: no running sender has that gateway
            sms.add_row("waiting: gateway not configured", str(r.sms["waiting_for_gateway"]), style="bold red")
        parts.append(sms)
    if r.transfers is not None:
        parts.append(_pairs("Transfers to agents", r.transfers))
    if r.sip_codes:
        sip = Table(title="SIP responses (the carrier's last answer)")
        sip.add_column("SIP code")
        sip.add_column("attempts", justify="right")
        for code, n in r.sip_codes.items():
            sip.add_row(code, str(n))
        parts.append(sip)
    if r.cost_total is not None:
        billed = f", billed per {r.cost_billing_increment_s} s" if r.cost_billing_increment_s else ""
        costs = Table(title=f"Cost estimate ({r.cost_currency}{billed})")
        for col in ("number type", "calls", "billed minutes", "rate/min", "cost"):
            costs.add_column(col, justify="left" if col == "number type" else "right")
        for c in r.costs:
            costs.add_row(c.number_type, str(c.calls), f"{c.billed_minutes:g}", f"{c.rate_per_minute:g}", f"{c.cost:.2f}")
        if r.cost_sms is not None and r.sms is not None:
            costs.add_row("SMS", f"{r.sms['parts_sent']} parts", "", "", f"{r.cost_sms:.2f}")
        costs.add_row("total", "", "", "", f"{r.cost_total:.2f}", style="bold")
        parts.append(costs)
    return Group(*parts)


def status(rows: list[StatusRow]) -> Table:
    table = Table(title="Dialer status (active and paused campaigns)")
    for col in ("campaign", "state", "live calls", "calls/s (10 s)", "results so far"):
        table.add_column(col, justify="right" if col in ("live calls", "calls/s (10 s)") else "left")
    for r in rows:
        results = ", ".join(f"{k} {n}" for k, n in r.outcomes.items()) or "-"
        table.add_row(r.campaign, r.state, str(r.live), f"{r.calls_per_s:.1f}", results)
    if not rows:
        table.caption = "no active or paused campaign"
    return table


def _pairs(title: str, values: dict[str, Any]) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    for key, value in values.items():
        table.add_row(key.replace("_", " "), _fmt(value))
    return table
