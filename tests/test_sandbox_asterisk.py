"""The sandbox's real Asterisk: the dialer's AMI user, the outbound context, the simulated
customers and agents."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid

import pytest

from dialer.ami import AmiActionError, AmiAuthError, AmiClient
from dialer.config import AmiSettings
from dialer.sandbox.instance import Sandbox
from tests.conftest import ASTERISK_MAJOR
from dialer.sandbox.probe import ProbeResult, probe_call
from dialer.sandbox.sim import sim_number

pytestmark = pytest.mark.asterisk

# behaviour -> (sim_number kwargs, OriginateResponse Response, Reason)
EXPECTED: dict[str, tuple[dict[str, object], str, int]] = {
    "human": ({"answers": ["1"]}, "Success", 4),
    "hangup": ({"hangup_after_s": 5}, "Success", 4),
    "machine": ({}, "Success", 4),
    "busy": ({}, "Failure", 5),
    "congestion": ({}, "Failure", 8),
    "no_answer": ({}, "Failure", 3),
    "invalid": ({}, "Failure", 0),
}
RING_TIMEOUT_MS = 4000


@pytest.fixture(scope="module")
def calls(sandbox: Sandbox) -> dict[str, ProbeResult]:
    """One call to every simulated behaviour, all at once."""

    async def run() -> dict[str, ProbeResult]:
        async with AmiClient(sandbox.ami) as ami:
            with ami.events() as everything:
                numbers = {b: sim_number(b, **kw) for b, (kw, _, _) in EXPECTED.items()}  # type: ignore[arg-type]
                results = await asyncio.gather(
                    *(probe_call(ami, n, ring_timeout_ms=RING_TIMEOUT_MS) for n in numbers.values())
                )
                await asyncio.sleep(0.5)
                names = {str(e.get("Event")) for e in everything.drain()}
        out = dict(zip(numbers, results, strict=True))
        out["_events"] = names  # type: ignore[assignment]
        return out

    return asyncio.run(run())


async def test_dialer_user_logs_in_and_sees_fully_booted(ami: AmiClient) -> None:
    await ami.wait_fully_booted(10)
    settings = await ami.action({"Action": "CoreSettings"})
    assert str(settings["AsteriskVersion"]).startswith(ASTERISK_MAJOR)


async def test_wrong_secret_is_refused(sandbox: Sandbox) -> None:
    bad = AmiSettings(port=sandbox.ami_port, secret="not-the-secret")
    with pytest.raises(AmiAuthError, match="refused"):
        async with AmiClient(bad):
            pass


async def test_dialer_user_may_not_run_cli_commands(ami: AmiClient) -> None:
    # least privilege: no 'command' write class
    with pytest.raises(AmiActionError, match="[Pp]ermission denied"):
        await ami.action({"Action": "Command", "Command": "core show version"})


async def test_resync_action_is_allowed(ami: AmiClient) -> None:
    channels = await ami.action_list({"Action": "CoreShowChannels"})
    assert isinstance(channels, list)


@pytest.mark.parametrize("behaviour", list(EXPECTED))
def test_originate_result_per_behaviour(calls: dict[str, ProbeResult], behaviour: str) -> None:
    _, response, reason = EXPECTED[behaviour]
    result = calls[behaviour]
    assert (result.response, result.reason) == (response, reason), result


def test_invalid_number_hangs_up_with_q850_unallocated(calls: dict[str, ProbeResult]) -> None:
    assert calls["invalid"].hangup_cause == 1


def test_no_answer_waits_for_the_ring_timeout(calls: dict[str, ProbeResult]) -> None:
    assert RING_TIMEOUT_MS / 1000 - 0.5 <= calls["no_answer"].seconds < RING_TIMEOUT_MS / 1000 + 3


def test_amd_says_human_for_the_human(calls: dict[str, ProbeResult]) -> None:
    assert calls["human"].amd_status == "HUMAN"
    assert calls["hangup"].amd_status == "HUMAN"


def test_amd_says_machine_for_the_voicemail(calls: dict[str, ProbeResult]) -> None:
    assert calls["machine"].amd_status == "MACHINE"


def test_only_the_events_the_dialer_reads_reach_it(calls: dict[str, ProbeResult]) -> None:
    names = calls["_events"]  # type: ignore[index]
    assert {"OriginateResponse", "Newchannel", "Newstate", "Hangup", "UserEvent"} <= names
    allowed = {"FullyBooted", "Shutdown", "Reload", "OriginateResponse", "Newchannel", "Newstate", "Hangup", "UserEvent"}
    assert names <= allowed, names - allowed


async def test_simulated_human_presses_each_answer_after_the_prompt(ami: AmiClient) -> None:
    channel_id = str(uuid.uuid4())
    number = sim_number("human", answers=["1", "1234"])
    with ami.events(["UserEvent"]) as stream:
        resp = await ami.originate(
            channel=f"Local/{number}@sim-customers", context="sim-test-ivr", channel_id=channel_id
        )
        assert resp["Response"] == "Success"
        heard = []
        while len(heard) < 3:  # the IVR reads three times; the third hears nothing
            ev = await stream.wait_for(
                lambda e: e.get("UserEvent") == "SimHeard" and e.get("Uniqueid") == channel_id, 30
            )
            heard.append(ev.get("Digits") or "")
    assert heard == ["1", "1234", ""]


async def test_simulated_human_hangs_up_after_n_seconds(ami: AmiClient) -> None:
    channel_id = str(uuid.uuid4())
    with ami.events(["Hangup"]) as stream:
        await ami.originate(
            channel=f"Local/{sim_number('hangup', hangup_after_s=3)}@sim-customers",
            context="sim-test-ivr",
            channel_id=channel_id,
        )
        answered = time.monotonic()
        await stream.wait_for(lambda e: e.get("Uniqueid") == channel_id, 15)
    assert 2.5 <= time.monotonic() - answered <= 5.0


async def test_simulated_agent_answers_the_collections_queue(ami: AmiClient) -> None:
    channel_id = str(uuid.uuid4())
    with ami.events(["UserEvent"]) as stream:
        await ami.originate(
            channel=f"Local/{sim_number('human')}@sim-customers", context="sim-test-queue", channel_id=channel_id
        )
        joined = time.monotonic()
        done = await stream.wait_for(lambda e: e.get("UserEvent") == "SimQueue" and e.get("Uniqueid") == channel_id, 40)
    # what the IVR's transfer step reads on its own channel after Queue() (agents talk 5 s)
    assert str(done["Member"]).startswith("Local/9") and str(done["Name"]).startswith("sim-agent")
    assert 0 <= int(done["Hold"]) < 15
    assert 4 <= time.monotonic() - joined - int(done["Hold"]) <= 12


def test_the_dialer_ami_user_gets_only_the_classes_the_code_uses(sandbox: Sandbox) -> None:
    shown = subprocess.run(sandbox.asterisk_cmd("-rx", "manager show user dialer"), capture_output=True,
                           text=True, timeout=20, check=True).stdout  # fmt: skip
    perms = dict(line.strip().split(": ", 1) for line in shown.splitlines() if "perm:" in line)
    assert set(perms["read perm"].split(",")) == {"system", "call", "user", "agent"}
    assert set(perms["write perm"].split(",")) == {"originate", "call", "reporting"}


def test_installed_config_carries_this_sandboxs_ports(sandbox: Sandbox) -> None:
    etc = sandbox.host_path(sandbox.inner_etc)
    assert f"port = {sandbox.ami_port}" in (etc / "manager.conf").read_text()
    assert f"agi://127.0.0.1:{sandbox.agi_port}" in (etc / "extensions_dialer.conf").read_text()


def test_two_sandboxes_run_side_by_side(sandbox: Sandbox) -> None:
    second = Sandbox(sandbox.suite, sandbox.ami_port + 1, sandbox.agi_port + 1)
    assert second.pid() is None
    status = second.up()
    try:
        assert status.ami_up and status.version and status.version.startswith(ASTERISK_MAJOR)
        assert sandbox.status().ami_up  # the first one is untouched
        pid = second.pid()
        assert pid is not None
    finally:
        assert second.down()
    assert second.pid() is None
    assert sandbox.status().ami_up


async def test_a_call_plays_a_rendered_prompt(ami: AmiClient) -> None:
    from prompts.cache import PromptCache, playback_name

    path = PromptCache().render("Hola, esta es una prueba.", "es")  # the cache the sandbox mounts
    channel_id = str(uuid.uuid4())
    with ami.events(["UserEvent"]) as stream:
        await ami.originate(
            channel=f"Local/{sim_number('human')}@sim-customers", context="sim-test-play", channel_id=channel_id,
            variables={"PROMPT": playback_name(path)},
        )  # fmt: skip
        played = await stream.wait_for(
            lambda e: e.get("UserEvent") == "SimPlayed" and e.get("Uniqueid") == channel_id, 20
        )
    assert played["Status"] == "SUCCESS"
