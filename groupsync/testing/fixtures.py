"""pytest fixtures that the package ships, loaded by ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from groupsync.testing.emulator import EmulatorServer


@pytest.fixture
async def emulator() -> AsyncIterator[EmulatorServer]:
    """A started in-process emulator: token "test-token" for seller "default", no faults."""
    async with EmulatorServer() as server:
        yield server
