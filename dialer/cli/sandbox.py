"""`dialer sandbox ...` (the real Asterisk test bed) and `dialer agi serve`."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Annotated

import typer
from rich.table import Table

from dialer.ami import AmiError
from dialer.config import AgiSettings, AmiSettings, ConfigError
from dialer.sandbox.chroot import SUITES, SandboxError
from dialer.sandbox.demo import run_demo
from dialer.sandbox.instance import Sandbox

from dialer.cli.common import _fail, console, err

sandbox_app = typer.Typer(help="The real Asterisk test bed (a Debian chroot).", no_args_is_help=True)
SuiteOpt = Annotated[str, typer.Option(help=f"Debian suite: {', '.join(f'{k} (Asterisk {v})' for k, v in SUITES.items())}")]
AmiPortOpt = Annotated[int, typer.Option(envvar="DIALER_AMI_PORT", help="AMI port of this sandbox.")]
AgiPortOpt = Annotated[int, typer.Option(envvar="DIALER_AGI_PORT", help="FastAGI port the dialplan calls.")]


@sandbox_app.command("up")
def sandbox_up(suite: SuiteOpt = "sid", ami_port: AmiPortOpt = 5038, agi_port: AgiPortOpt = 4573) -> None:
    """Build the chroot once, install asterisk_conf/, start Asterisk, wait for FullyBooted."""
    if os.geteuid() != 0:
        _fail("the sandbox needs root (chroot, mount)")
    try:
        status = Sandbox(suite, ami_port, agi_port).up(progress=lambda m: err.print(m, highlight=False))
    except (SandboxError, ConfigError) as exc:
        _fail(str(exc))
    console.print(f"Asterisk {status.version} up (pid {status.pid}), AMI on 127.0.0.1:{ami_port}")


@sandbox_app.command("down")
def sandbox_down(suite: SuiteOpt = "sid", ami_port: AmiPortOpt = 5038) -> None:
    """Stop the sandbox's Asterisk (orderly, killed after a deadline)."""
    ran = Sandbox(suite, ami_port).down()
    console.print("stopped" if ran else "was not running")


@sandbox_app.command("status")
def sandbox_status(suite: SuiteOpt = "sid", ami_port: AmiPortOpt = 5038) -> None:
    """Asterisk version, process and whether AMI answers; exit 1 when AMI does not."""
    status = Sandbox(suite, ami_port).status()
    process = f"running (pid {status.pid})" if status.running else "not running"
    console.print(f"Asterisk: {status.version or 'unknown'}\nprocess: {process}")
    if status.ami_up:
        console.print(f"AMI: up on 127.0.0.1:{ami_port}, {status.channels} live channels")
    else:
        console.print(f"AMI: down on 127.0.0.1:{ami_port} ({status.detail})")
        raise typer.Exit(1)


@sandbox_app.command("cli")
def sandbox_cli(
    command: Annotated[str | None, typer.Argument(help="One CLI command; none for a console.")] = None,
    suite: SuiteOpt = "sid",
    ami_port: AmiPortOpt = 5038,
) -> None:
    """The sandbox's Asterisk CLI (asterisk -r)."""
    try:
        code = Sandbox(suite, ami_port).cli(command)
    except SandboxError as exc:
        _fail(str(exc))
    raise typer.Exit(code)


@sandbox_app.command("demo")
def sandbox_demo(
    suite: SuiteOpt = "sid",
    ami_port: AmiPortOpt = 5038,
    agi_port: AgiPortOpt = 4573,
    url: Annotated[str | None, typer.Option("--url", help="Database for the demo (default: a fresh SQLite file).")] = None,
) -> None:
    """A collections campaign of 34 simulated customers, end to end through the CLI, then its report."""
    from dialer.config import cache_dir
    from dialer.sandbox.demo_campaign import run_demo_campaign

    workdir = cache_dir() / "demo"
    if url is None:
        (workdir / "demo.db").unlink(missing_ok=True)
        workdir.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{workdir / 'demo.db'}"
    try:
        report = run_demo_campaign(Sandbox(suite, ami_port, agi_port), workdir, url,
                                   say=lambda line: console.print(line, highlight=False, markup=False))  # fmt: skip
    except (RuntimeError, SandboxError) as exc:
        _fail(f"{exc} (is the sandbox up? dialer sandbox up)")
    print(report.stdout, end="")
    if report.returncode != 0:
        _fail(report.stderr.strip())


@sandbox_app.command("probe")
def sandbox_probe(ami_port: AmiPortOpt = 5038) -> None:
    """Call every simulated customer once, side by side, and print what Asterisk reported."""
    try:
        rows = asyncio.run(run_demo(AmiSettings(port=ami_port)))
    except AmiError as exc:
        _fail(f"{exc} (is the sandbox up? dialer sandbox up)")
    table = Table(title="One call to each simulated customer")
    for col in ("customer", "number", "originate", "reason", "AMD", "hangup cause", "seconds"):
        table.add_column(col)
    for what, r in rows:
        amd = f"{r.amd_status} ({r.amd_cause})" if r.amd_status else "-"
        cause = "-" if r.hangup_cause is None else str(r.hangup_cause)
        table.add_row(what, r.number, r.response, f"{r.reason} {r.reason_text}", amd, cause, f"{r.seconds:.1f}")
    console.print(table)


# -- FastAGI -----------------------------------------------------------------------------
agi_app = typer.Typer(help="The FastAGI server that runs the IVR flows.", no_args_is_help=True)


@agi_app.command("serve")
def agi_serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: DIALER_AGI_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: DIALER_AGI_PORT, 4573; 0: any free port).")] = None,
    drain_timeout: Annotated[float, typer.Option(help="Seconds running calls may take to end on SIGTERM.")] = 10.0,
) -> None:
    """Run only the FastAGI server (flows of dialer.ivr.flows) until SIGTERM/SIGINT."""
    from dialer.ivr.fastagi import FastAgiServer
    from dialer.ivr.flows import gate, handler_for

    logging.getLogger().setLevel(logging.INFO)
    try:
        server = FastAgiServer.for_settings(AgiSettings.from_env(), handler_for, gate(), host=host, port=port)
    except ConfigError as exc:
        _fail(str(exc))

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await server.start()
        print(f"FastAGI listening on {server.host}:{server.port}", flush=True)
        await stop.wait()
        await server.close(drain_timeout)

    try:
        asyncio.run(serve())
    except OSError as exc:
        _fail(f"cannot listen on {server.host}:{server.port}: {exc}")


