"""The `dialer` command: the entry point and composition root. Nothing imports this module.

The commands live in dialer.cli (one module per group); this file puts them on one typer app
and wires the daemon (`dialer run`) from its parts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from typing import Annotated

import typer

from dialer.ami import AmiError
from dialer.cli import (api_keys, campaigns, database, hosts, payments, prompts, reports, sandbox, sms, users,
                        webhooks)
from dialer.cli.common import DbUrlOpt, _fail
from dialer.config import (AgiSettings, AmiSettings, AudioSettings, ConfigError, EngineSettings, MqttSettings,
                           WebhookSettings, database_url, node_name)
from dialer.engine import SWITCH_INTERVAL_S, Engine
from dialer.engine.ivr_host import IvrHost
from dialer.ivr.jit_audio import JitAudio
from dialer.events import MqttPublisher
from dialer.events.webhook_events import webhooks_after_ending
from dialer.events.webhooks import WebhookSender
from dialer.runtime import metrics
from dialer.storage.webhook_store import Backoff
from dialer.sms.on_ending import texts_after_ending
from dialer.storage.promises import promise_after_ending
from dialer.sms.producers import notices, sms_campaigns
from dialer.sms.senders import senders
from dialer.sms.settings import ListenSettings, gateways_from_env
from dialer.storage import db
from dialer.storage.repository import Repository
from dialer.web import WebDeps, WebServer, WebSettings, api, make_app
from dialer.web.api_keys import ApiKeyAuth

app = typer.Typer(help="Outbound IVR dialer for Asterisk.", no_args_is_help=True)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


app.add_typer(campaigns.campaign_app, name="campaign")
app.add_typer(campaigns.contacts_app, name="contacts")
app.add_typer(campaigns.dnc_app, name="dnc")
app.command("export")(campaigns.export)
app.command("report")(reports.report)
app.command("status")(reports.status)
app.command("explain")(reports.explain_cmd)
app.add_typer(prompts.prompts_app, name="prompts")
app.add_typer(database.db_app, name="db")
app.command("nodes")(hosts.nodes)
app.add_typer(hosts.trunks_app, name="trunks")
app.add_typer(sandbox.sandbox_app, name="sandbox")
app.add_typer(sandbox.agi_app, name="agi")
app.add_typer(sms.sms_app, name="sms")
app.add_typer(payments.payments_app, name="payments")
app.add_typer(users.users_app, name="users")
app.add_typer(webhooks.webhooks_app, name="webhooks")
app.add_typer(api_keys.api_keys_app, name="api-keys")


class EngineLive:
    """The dashboard's view of the engine in this process (dialer.web.LiveState)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def live_calls(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for call in list(self.engine.tracker.calls.values()):
            counts[call.campaign_id] = counts.get(call.campaign_id, 0) + 1
        return counts

    def changed(self) -> None:
        self.engine.poke()


def watch_metrics(engine: Engine, ivr: IvrHost, publisher: MqttPublisher | None) -> None:
    """The gauges read at each scrape (dialer.runtime.metrics)."""
    metrics.watch(metrics.AMI_UP, lambda: engine.originating)
    metrics.watch(metrics.FASTAGI_LIVE, lambda: ivr.server.sessions if getattr(ivr, "server", None) else 0)
    metrics.watch(metrics.AUDIO_QUEUE, lambda: ivr.audio.in_flight)
    metrics.watch(metrics.MQTT_BUFFERED, lambda: publisher.buffered if publisher is not None else 0)


@app.command("run")
def run(
    url: DbUrlOpt = None,
    agi_url: Annotated[str | None, typer.Option(envvar="DIALER_AGI_URL", help="FastAGI URL the dialplan calls.")] = None,
    drain_timeout: Annotated[float, typer.Option(help="Seconds live calls may take to end on SIGTERM.")] = 30.0,
    trunk_cap: Annotated[
        list[str] | None, typer.Option(help="TRUNK_TEMPLATE=N: live calls on one trunk, all campaigns together.")
    ] = None,
    trunk_cps: Annotated[
        list[str] | None, typer.Option(help="TRUNK_TEMPLATE=R: calls per second on one trunk, all campaigns "
                                            "together; backs off when the carrier refuses (SIP 503).")
    ] = None,
) -> None:
    """The daemon: dial every active campaign until SIGTERM/SIGINT, then drain and exit 0."""
    caps: dict[str, int] = {}
    for item in trunk_cap or []:
        template, sep, number = item.rpartition("=")
        if not sep or not template or not number.isdigit() or int(number) < 1:
            _fail(f"--trunk-cap {item!r}: expected TRUNK_TEMPLATE=N with N >= 1")
        caps[template] = int(number)
    rates: dict[str, float] = {}
    for item in trunk_cps or []:
        template, sep, number = item.rpartition("=")
        try:
            rate = float(number)
        except ValueError:
            rate = 0.0
        if not sep or not template or not rate > 0:
            _fail(f"--trunk-cps {item!r}: expected TRUNK_TEMPLATE=R with R > 0 calls per second")
        rates[template] = rate
    logging.getLogger().setLevel(logging.INFO)
    for handler in logging.getLogger().handlers:  # journal-friendly: stdout, the journal adds the time
        if type(handler) is logging.StreamHandler:
            handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
            handler.setStream(sys.stdout)
    for noisy in ("panoramisk", "alembic", "mqtt"):  # mqtt: aiomqtt's logger
        logging.getLogger(noisy).setLevel(logging.WARNING)
    target = url or database_url()
    if db.current_revision(target) != db.head_revision():
        _fail(f"database {db.redact(target)} is not at the newest schema: run dialer db upgrade")
    settings = EngineSettings(
        agi_url=agi_url or AgiSettings.from_env().url, drain_timeout_s=drain_timeout, trunk_caps=caps,
        trunk_cps=rates,
    )
    try:
        mqtt = MqttSettings.from_env()
        ami = AmiSettings.from_env()  # refuses the sandbox's secret outside the sandbox
        web_settings = WebSettings.from_env()  # the dashboard and /metrics: on when DIALER_WEB_PORT is set
    except ConfigError as exc:
        _fail(f"cannot start: {exc}")
    publisher = MqttPublisher(mqtt) if mqtt is not None else None
    try:  # SMS: on when DIALER_SMS_GATEWAY or DIALER_SMS_GATEWAY_<NAME> names a gateway (README, "SMS")
        sms_gateways, sms_listen = gateways_from_env(), ListenSettings.from_env()
    except ConfigError as exc:
        _fail(str(exc))
    # the daemon's statements end before the engine stops waiting for them
    sql = db.make_engine(target, statement_timeout_s=db.DAEMON_STATEMENT_TIMEOUT_S)
    repo = Repository(db.session_factory(sql), node=node_name(), ending_hooks=(promise_after_ending, texts_after_ending,
                                                                       webhooks_after_ending))  # fmt: skip
    try:
        audio, hooks = AudioSettings.from_env(), WebhookSettings.from_env()
    except ConfigError as exc:
        _fail(str(exc))
    webhook_backoff = Backoff(first_s=hooks.first_retry_s, max_age_s=hooks.max_age_h * 3600)
    ivr = IvrHost(repo.sessions, AgiSettings.from_env(),  # FastAGI: the flows of answered calls
                  audio=JitAudio(audio.workers, audio.budget_mb * 1024 * 1024))  # fmt: skip
    engine = Engine(repo, ami, settings, ivr, events=publisher)
    watch_metrics(engine, ivr, publisher)

    sys.setswitchinterval(SWITCH_INTERVAL_S)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        lag = asyncio.create_task(metrics.watch_loop_lag(stop), name="loop-lag")
        async with contextlib.AsyncExitStack() as parts:
            if web_settings is not None:  # the dashboard and /metrics (README, "Dashboard and metrics")
                web_app = make_app(WebDeps(repo.sessions, web_settings, live=EngineLive(engine)), extra=[api.setup],
                                   authenticators=[ApiKeyAuth(web_settings.api_rate, web_settings.api_burst)])  # fmt: skip
                await parts.enter_async_context(WebServer(web_app, web_settings.host, web_settings.port))
            if publisher is not None:  # live events; closing sends what the broker takes within 5 s
                await parts.enter_async_context(publisher)
            for service in senders(repo.sessions, sms_gateways, sms_listen, node=node_name(), events=publisher,
                                   producers=[notices, sms_campaigns]):  # texts, receipts and replies beside the calls
                await parts.enter_async_context(service)
            # webhooks: the outbox in SQL, sent from a task of its own (README, "Webhooks")
            await parts.enter_async_context(WebhookSender(repo.sessions, node=node_name(),
                                                          backoff=webhook_backoff))  # fmt: skip
            await engine.run(stop)
        lag.cancel()

    try:
        asyncio.run(main())
    except (AmiError, ConfigError) as exc:
        _fail(f"cannot start: {exc}")
    except OSError as exc:  # the FastAGI or the dashboard's port is taken or not ours to bind
        _fail(f"cannot start: {exc}")


if __name__ == "__main__":
    app()
