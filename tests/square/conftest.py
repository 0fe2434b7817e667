"""Fixtures for the Square client tests: a fake clock and retries without real waits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stamina
from square_fake_clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def retries_without_waits() -> Iterator[None]:
    """Run stamina in test mode: no real waits, and each policy's own attempt count."""
    # cap=True keeps every RetryPolicy's attempts, because all of them are below 1000.
    with stamina.set_testing(True, attempts=1000, cap=True):
        yield
