"""Shared fixtures: one sandbox Asterisk for the whole run, on test ports of its own, and the
simulated SIP carrier (SIPp) behind its PJSIP trunk.

The sandbox is started once per session and stopped at the end by its process id, unless it
was already running before the tests (then it is left as found). The carrier is started by the
first test that needs it and stopped by its pid at the end. If either cannot start, every test
that needs it errors: none is skipped.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import text

from dialer.ami import AmiClient
from dialer.storage import db
from dialer.sandbox.carrier import Carrier
from dialer.sandbox.chroot import SUITES
from dialer.sandbox.instance import Sandbox
from tests.postgres import temporary_postgres

TEST_AMI_PORT = int(os.environ.get("DIALER_TEST_AMI_PORT", "15038"))
TEST_AGI_PORT = int(os.environ.get("DIALER_TEST_AGI_PORT", "14573"))
TEST_SUITE = os.environ.get("DIALER_TEST_SUITE", "sid")
ASTERISK_MAJOR = f"{SUITES[TEST_SUITE]}."  # what CoreSettings' AsteriskVersion starts with


@pytest.fixture(scope="session", autouse=True)
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dialer's data directory (endings journals; SQLite by default) is the session's own."""
    before = os.environ.get("DIALER_DATA_DIR")
    os.environ["DIALER_DATA_DIR"] = str(tmp_path_factory.mktemp("data"))
    yield os.environ["DIALER_DATA_DIR"]
    if before is None:
        del os.environ["DIALER_DATA_DIR"]
    else:
        os.environ["DIALER_DATA_DIR"] = before


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    sb = Sandbox(TEST_SUITE, TEST_AMI_PORT, TEST_AGI_PORT)
    already_running = sb.pid() is not None
    sb.up()
    yield sb
    if not already_running:
        sb.down()


@pytest.fixture(scope="session")
def carrier(sandbox: Sandbox) -> Iterator[Carrier]:
    """The SIPp carrier on the sandbox's trunk (AMI port + 3000), stopped by its pid at the end."""
    with Carrier(sandbox.ami_port) as running:
        yield running


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """One throw-away PostgreSQL server for the session (started and stopped by the tests)."""
    with temporary_postgres() as url:
        yield url


def fresh_postgres(url: str) -> str:
    """An empty public schema on the session's server."""
    engine = db.make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture
async def ami(sandbox: Sandbox) -> AsyncIterator[AmiClient]:
    async with AmiClient(sandbox.ami) as client:
        yield client


# -- no real-Asterisk, SIP, SMS or cluster test may be skipped ---------------------------------
NEVER_SKIPPED = ("asterisk", "sip", "sms", "cluster", "web", "queue", "inbound", "api")
_skipped_asterisk_tests: list[str] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if report.skipped and any(item.get_closest_marker(m) is not None for m in NEVER_SKIPPED):
        _skipped_asterisk_tests.append(item.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped_asterisk_tests:
        print(f"\nreal-Asterisk, SIP, SMS, cluster and inbound tests may not be skipped; skipped: {', '.join(_skipped_asterisk_tests)}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
