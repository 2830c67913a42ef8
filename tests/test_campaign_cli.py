"""Campaign files and the campaign commands: validation with FILE:LINE, duplicates, states."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from dialer.campaigns.files import CampaignFileError, load_campaign_file, parse_campaign
from dialer.domain import CampaignState
from dialer.campaigns.toml_lines import key_lines
from tests.campaigns import new_database

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()

GOOD = """\
name = "nov"
flow = "collections"
language = "es"
default_region = "ES"
trunk_template = "Local/{number}@sim-customers"
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(CampaignFileError) as info:
        parse_campaign(text, "c.toml")
    return info.value.errors


def test_the_example_file_is_a_valid_campaign() -> None:
    spec = load_campaign_file(ROOT / "examples" / "campaign.toml")
    assert (spec.name, spec.flow, spec.language, spec.default_region) == ("collections-november", "collections", "es", "ES")
    assert spec.settings["costs"]["per_minute"] == {"mobile": 0.05, "local": 0.01, "long_distance": 0.03}
    assert spec.settings["retries"]["delay_s"]["busy"] == 300
    assert {"schedule", "amd", "transfer", "tts"} <= set(spec.settings)
    assert (spec.settings["currency"], spec.settings["company"]) == ("EUR", "Acme Energía")


def test_defaults_and_pass_through_tables() -> None:
    spec = parse_campaign(GOOD + "[schedule]\ntimezone = 'Europe/Madrid'\n", "c.toml")
    assert (spec.max_concurrent, spec.calls_per_second, spec.ring_timeout_s, spec.caller_id) == (5, 1.0, 30, None)
    assert spec.settings == {"schedule": {"timezone": "Europe/Madrid"}}


def test_every_error_at_once_with_file_line_and_key() -> None:
    text = (
        'name = "nov"\n'                              # 1
        'flow = "Collections!"\n'                     # 2
        'language = "de"\n'                           # 3
        'default_region = "XX"\n'                     # 4
        'trunk_template = "PJSIP/trunk"\n'            # 5
        'max_concurrent = "5"\n'                      # 6
        'calls_per_second = 0\n'                      # 7
        'colour = "blue"\n'                           # 8
        'notes = """\n[not a table]\nx = 1\n"""\n'    # 9-12: a multi-line string is skipped
        '[retries]\n'                                 # 13
        'max_attempts = 0\n'                          # 14
        'delay_s = { busy = "soon", nope = 1 }\n'     # 15
        '[costs]\n'                                   # 16
        'per_minute = { mobile = 0.05, local = -1 }\n'  # 17
        '[prompts.es]\n'                              # 18
        'greeting = { file = "relative.wav" }\n'      # 19
        'goodbye = 3\n'                               # 20: a prompt override must be text
    )  # fmt: skip
    assert errors_of(text) == [
        "c.toml:2: flow: 'Collections!' does not match [a-z][a-z0-9_-]*",
        "c.toml:3: language: 'de' is not one of es, en, pl",
        "c.toml:4: default_region: 'XX' is not an ISO region code like ES, PL, GB",
        "c.toml:5: trunk_template: must contain {number}, e.g. PJSIP/{number}@trunk",
        "c.toml:6: max_concurrent: expected an integer, got a string '5'",
        "c.toml:7: calls_per_second: 0 must be greater than 0",
        "c.toml:8: colour: unknown key (campaign keys: name, flow, language, default_region, caller_id, "
        "trunk, trunk_template, max_concurrent, calls_per_second, ring_timeout_s; settings tables: retries, costs, "
        "prompts, amd, transfer, tts, sms, promise, return_calls, company, currency, flow_file, schedule, strategy)",
        "c.toml:9: notes: unknown key (campaign keys: name, flow, language, default_region, caller_id, "
        "trunk, trunk_template, max_concurrent, calls_per_second, ring_timeout_s; settings tables: retries, costs, "
        "prompts, amd, transfer, tts, sms, promise, return_calls, company, currency, flow_file, schedule, strategy)",
        "c.toml:14: retries.max_attempts: 0 is out of range (1..100)",
        "c.toml:15: retries.delay_s.nope: unknown key (expected one of: answered, busy, congestion, failed, "
        "hung_up_early, identity_failed, invalid_number, ivr_error, machine, no_answer, opted_out, "
        "transferred, unknown)",
        "c.toml:15: retries.delay_s.busy: expected an integer, got a string 'soon'",
        "c.toml:17: costs.per_minute.local: -1 must be at least 0",
        "c.toml:17: costs.per_minute: missing rate long_distance",
        "c.toml:19: prompts.es.greeting.file: must be an absolute path",
        "c.toml:20: prompts.es.goodbye: expected a string, got an integer 3",
    ]


def test_missing_keys_and_wrong_table_types() -> None:
    assert errors_of('name = "x"\nretries = 3\nschedule = "daily"\n') == [
        "c.toml:1: flow: required key missing",
        "c.toml:1: language: required key missing",
        "c.toml:1: default_region: required key missing",
        "c.toml:1: trunk_template: required key missing (or name a trunk: trunk = \"carrier\", see dialer trunks add)",
        "c.toml:2: retries: expected a table, got an integer 3",
        "c.toml:3: schedule: expected a table or an array of tables, got a string 'daily'",
    ]


def test_syntax_errors_name_file_and_line() -> None:
    (bad_value,) = errors_of(GOOD + "max_concurrent = = 3\n")
    (twice,) = errors_of(GOOD + 'name = "again"\n')
    (unclosed,) = errors_of(GOOD + "x = [1,\n2,\n")
    assert bad_value.startswith("c.toml:6: syntax error: Invalid value (column ")
    assert twice.startswith("c.toml:6: syntax error: Cannot overwrite a value (column ")
    assert unclosed.startswith("c.toml:7: syntax error: ") and unclosed.endswith("(at the end of the file)")


def test_key_lines_follow_tables_dotted_keys_quotes_and_arrays_of_tables() -> None:
    text = (
        'a = 1\n'
        '[t]\n'
        '"quoted key" . inner = 2  # comment with = sign\n'
        'arr = [\n  "x = 1",\n  [2],\n]\n'
        "[[s]]\n"
        "q = '''\n[nope]\n'''\n"
        "[[s]]\n"
        "q = 2\n"
        "[s.sub]\n"
        "z = 3\n"
    )  # fmt: skip
    assert key_lines(text) == {
        ("a",): 1, ("t",): 2, ("t", "quoted key"): 3, ("t", "quoted key", "inner"): 3, ("t", "arr"): 4,
        ("s",): 8, ("s", 0): 8, ("s", 0, "q"): 9, ("s", 1): 12, ("s", 1, "q"): 13, ("s", 1, "sub"): 14,
        ("s", 1, "sub", "z"): 15,
    }  # fmt: skip


# -- the commands --------------------------------------------------------------------------
@pytest.fixture
def url(tmp_path: Path) -> str:
    return new_database(str(tmp_path / "c.db"))


def create(url: str, tmp_path: Path, text: str = GOOD) -> tuple[int, str]:
    path = tmp_path / "campaign.toml"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["campaign", "create", "--file", str(path), "--url", url])
    return result.exit_code, result.output


def run(url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--url", url])
    return result.exit_code, result.output


def test_create_list_show_and_duplicate_name(url: str, tmp_path: Path) -> None:
    assert create(url, tmp_path) == (0, "campaign 'nov' created (draft): import contacts, then dialer campaign "
                                        "start nov\n")  # fmt: skip
    code, out = create(url, tmp_path)
    assert code == 1 and "a campaign named 'nov' already exists" in out
    code, out = run(url, "campaign", "list")
    assert code == 0 and "nov" in out and "draft" in out and "collections" in out
    code, out = run(url, "campaign", "show", "nov")
    assert code == 0 and "Local/{number}@sim-customers" in out and "draft" in out


def test_a_bad_file_creates_nothing(url: str, tmp_path: Path) -> None:
    code, out = create(url, tmp_path, GOOD.replace('"es"', '"fr"') + "ring_timeout_s = 0\n")
    path = tmp_path / "campaign.toml"
    assert code == 1
    assert f"{path}:3: language: 'fr' is not one of es, en, pl" in out
    assert f"{path}:6: ring_timeout_s: 0 is out of range (1..600)" in out
    assert "2 error(s), no campaign created" in out
    assert "nov" not in run(url, "campaign", "list")[1]


@pytest.mark.parametrize(
    "args",
    [["campaign", c, "nope"] for c in ("show", "start", "pause", "resume", "stop")]
    + [["report", "nope"], ["report", "nope", "--format", "json"], ["export", "nope"]],
)
def test_an_unknown_campaign_is_exit_1_and_one_clear_line(url: str, args: list[str]) -> None:
    code, out = run(url, *args)
    assert (code, out) == (1, "error: unknown campaign 'nope'\n")


def test_contacts_import_of_an_unknown_campaign(url: str, tmp_path: Path) -> None:
    csv = tmp_path / "c.csv"
    csv.write_text("id,phone\n1,+34611100000\n", encoding="utf-8")
    code, out = run(url, "contacts", "import", "nope", str(csv))
    assert (code, out) == (1, "error: unknown campaign 'nope'\n")


def test_state_transitions(url: str, tmp_path: Path) -> None:
    create(url, tmp_path)
    steps = [
        ("pause", 1, "cannot pause campaign 'nov': it has not been started"),
        ("resume", 1, "cannot resume campaign 'nov': it has not been started: use start"),
        ("start", 0, "campaign 'nov': draft -> active"),
        ("start", 1, "cannot start campaign 'nov': it is already active"),
        ("resume", 1, "cannot resume campaign 'nov': it is already active"),
        ("pause", 0, "campaign 'nov': active -> paused"),
        ("pause", 1, "cannot pause campaign 'nov': it is already paused"),
        ("start", 1, "cannot start campaign 'nov': it is paused: use resume"),
        ("resume", 0, "campaign 'nov': paused -> active"),
        ("stop", 0, "campaign 'nov': active -> stopped"),
        ("resume", 1, "cannot resume campaign 'nov': it is stopped (final)"),
        ("start", 1, "cannot start campaign 'nov': it is stopped (final)"),
        ("stop", 1, "cannot stop campaign 'nov': it is stopped (final)"),
    ]
    for command, code, message in steps:
        got_code, out = run(url, "campaign", command, "nov")
        assert (command, got_code) == (command, code) and message in out, out


def test_a_finished_campaign_cannot_be_resumed_or_paused(url: str, tmp_path: Path) -> None:
    from sqlalchemy import update

    from dialer.storage import db
    from dialer.storage.models import Campaign

    create(url, tmp_path)
    engine = db.make_engine(url)
    with db.session_factory(engine).begin() as s:  # what the daemon does once every contact is settled
        s.execute(update(Campaign).where(Campaign.name == "nov").values(state=CampaignState.FINISHED))
    engine.dispose()
    assert run(url, "campaign", "resume", "nov") == (1, "error: cannot resume campaign 'nov': it is finished (final)\n")
    assert run(url, "campaign", "pause", "nov") == (1, "error: cannot pause campaign 'nov': it is finished (final)\n")


def test_ivr_settings_are_checked(tmp_path: Path) -> None:
    bad_flow = tmp_path / "mine.toml"
    bad_flow.write_text('start = "a"\n[steps.a]\ntype = "say"\n')
    text = GOOD + (
        f'company = "Gas Sur"\ncurrency = "pesos"\nflow_file = "{bad_flow}"\n'
        '[amd]\ngreeting_ms = "long"\nnotsure = "maybe"\nbeep = 1\n'
        '[transfer]\ntimeout_s = 0\n[tts]\nbackend = "festival"\n'
    )
    errors = errors_of(text)
    assert any(e.endswith("currency: longer than 3 characters") for e in errors)
    assert any(e.endswith(f"flow_file: {bad_flow}: steps.a.prompt: missing") for e in errors)
    assert any(e.endswith("amd.greeting_ms: expected an integer, got a string 'long'") for e in errors)
    assert any(e.endswith("amd.notsure: 'maybe': expected human or machine") for e in errors)
    assert any("amd.beep: unknown key" in e for e in errors)
    assert any(e.endswith("transfer.timeout_s: 0 is out of range (1..3600)") for e in errors)
    assert any(e.endswith("tts.backend: 'festival': expected one of espeak-ng, gtts") for e in errors)
    assert all(e.startswith("c.toml:") for e in errors)
    unknown_flow = errors_of(GOOD.replace('flow = "collections"', 'flow = "teleport"'))
    assert any("flow: 'teleport' is not a built-in flow" in e for e in unknown_flow)


def test_a_bad_schedule_is_refused_with_its_line() -> None:
    text = GOOD + '[schedule]\npolicy = "us-regf"\nwindows = { mon-fri = "09:00-25:00" }\n'
    (error,) = errors_of(text)
    assert error.startswith("c.toml:8: schedule.windows") and "25:00" in error
