"""Shared fixtures: one sandbox Asterisk for the whole run, on test ports of its own.

The sandbox is started once per session and stopped at the end by its process id, unless it
was already running before the tests (then it is left as found). If Asterisk cannot start,
every test that needs it errors: none is skipped.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from dialer.ami import AmiClient
from dialer.sandbox.chroot import SUITES
from dialer.sandbox.instance import Sandbox

TEST_AMI_PORT = int(os.environ.get("DIALER_TEST_AMI_PORT", "15038"))
TEST_AGI_PORT = int(os.environ.get("DIALER_TEST_AGI_PORT", "14573"))
TEST_SUITE = os.environ.get("DIALER_TEST_SUITE", "sid")
ASTERISK_MAJOR = f"{SUITES[TEST_SUITE]}."  # what CoreSettings' AsteriskVersion starts with


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    sb = Sandbox(TEST_SUITE, TEST_AMI_PORT, TEST_AGI_PORT)
    already_running = sb.pid() is not None
    sb.up()
    yield sb
    if not already_running:
        sb.down()


@pytest.fixture
async def ami(sandbox: Sandbox) -> AsyncIterator[AmiClient]:
    async with AmiClient(sandbox.ami) as client:
        yield client
