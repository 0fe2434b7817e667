"""Fixtures for the emulator tests: a schema-checking HTTP client for the default emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from groupsync.testing.emulator import EmulatorServer

from .square_http import SquareHttp, square_http


@pytest.fixture
async def square(emulator: EmulatorServer) -> AsyncIterator[SquareHttp]:
    """A client of the default emulator (see the ``emulator`` fixture) with its default token."""
    async with square_http(emulator.base_url, emulator.token) as client:
        yield client
