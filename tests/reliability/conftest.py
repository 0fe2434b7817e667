"""Fixtures for reliability tests: a migrated database with the seeded world, and runs of the
engine against an emulator that injects faults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import asyncpg
import pytest

from groupsync.emulator.settings import EmulatorSettings
from groupsync.engine.report import RunReport
from groupsync.engine.run import RunOptions, RunSettings, reconcile
from groupsync.square.client import SquareClient
from groupsync.square.limiter import RateLimiter
from groupsync.square.retry import RetryPolicy
from groupsync.testing.emulator import EmulatorServer
from tests.engine.conftest import migrated_url, pool  # noqa: F401  (fixtures)
from tests.reliability.world import World, make_world, seed

# Enough attempts that a third of requests failing almost never exhausts them
# (0.33 ** 8 is about 1.4e-4 per request), with waits of milliseconds. wait_max_s is above
# every Retry-After the tests send, so the wait equals the header.
FAULT_RETRIES = RetryPolicy(attempts=8, wait_initial_s=0.01, wait_max_s=1.0, wait_jitter_s=0.01)
# Short enough that hung and slow responses cost little, long enough for a loaded machine.
FAULT_REQUEST_TIMEOUT_S = 0.5
FAULT_SEED = 7
# NOTE: the adaptive limiter's defaults (floor 1 request/s, +0.1 request/s per success)
# stretch a 90-request run under a storm of 429s on a third of calls to about 90 s. These
# tests are about outcomes, not pacing, so their limiter never goes below this rate.
FAULT_MIN_RATE_PER_S = 200.0
# Removals are part of every scenario; the guards are tested elsewhere.
RUN_SETTINGS = RunSettings(max_removal_share=1.0, max_removals=1_000)
# One request at a time, so that a scripted rule's N faults all hit the same change.
SERIAL_RUN_SETTINGS = replace(RUN_SETTINGS, resolve_concurrency=1, apply_concurrency=1)


@pytest.fixture
async def emulator() -> AsyncIterator[EmulatorServer]:
    """An in-process emulator whose random faults follow a fixed seed."""
    async with EmulatorServer(EmulatorSettings(seed=FAULT_SEED)) as server:
        yield server


@pytest.fixture
async def world(pool: asyncpg.Pool, emulator: EmulatorServer) -> World:  # noqa: F811
    """The default world, seeded into the database and the emulator."""
    world = make_world()
    async with pool.acquire() as conn:
        await seed(world, conn=conn, admin=emulator.admin)
    return world


@pytest.fixture
async def client(emulator: EmulatorServer) -> AsyncIterator[SquareClient]:
    async with SquareClient(
        base_url=emulator.base_url,
        token=emulator.token,
        request_timeout_s=FAULT_REQUEST_TIMEOUT_S,
        retry_policy=FAULT_RETRIES,
        limiter=RateLimiter(rate_per_s=None, max_in_flight=8, min_rate_per_s=FAULT_MIN_RATE_PER_S),
    ) as square:
        yield square


async def sync(
    pool: asyncpg.Pool,  # noqa: F811
    client: SquareClient,
    *,
    settings: RunSettings = RUN_SETTINGS,
    **options: Any,
) -> RunReport:
    return await reconcile(
        pool=pool, client=client, settings=settings, options=RunOptions(**options)
    )
