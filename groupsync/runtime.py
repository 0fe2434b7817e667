"""Building the long-lived pieces from settings: the database pool, the Square client and
the engine's run settings. The CLI and the daemon share these."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from groupsync.config import Settings
from groupsync.db.pool import create_pool
from groupsync.engine.run import RunSettings
from groupsync.square.client import SquareClient
from groupsync.square.limiter import RateLimiter
from groupsync.square.retry import RetryPolicy


def run_settings(settings: Settings, *, allow_mass_removal: bool = False) -> RunSettings:
    """Return the engine's settings from the configuration."""
    return RunSettings(
        applied_change_window_s=settings.sync.applied_change_window_s,
        max_pages_per_group=settings.sync.max_pages_per_group,
        read_concurrency=settings.sync.read_concurrency,
        resolve_concurrency=settings.limits.max_in_flight,
        apply_concurrency=settings.limits.max_in_flight,
        default_phone_region=settings.sync.default_phone_region,
        max_removal_share=settings.guards.max_removal_share,
        max_removals=settings.guards.max_removals,
        allow_mass_removal=settings.guards.allow_mass_removal or allow_mass_removal,
    )


def square_client(settings: Settings) -> SquareClient:
    """Return a client for the configured Square base URL, paced by the configured limits."""
    limits = settings.limits
    return SquareClient(
        base_url=settings.square.base_url,
        token=settings.square.access_token or "",
        square_version=settings.square.square_version,
        request_timeout_s=settings.square.request_timeout_s,
        retry_policy=RetryPolicy(
            attempts=limits.retry_attempts,
            wait_initial_s=limits.retry_wait_initial_s,
            wait_max_s=limits.retry_wait_max_s,
        ),
        limiter=RateLimiter(
            rate_per_s=limits.rate_limit_per_s,
            max_in_flight=limits.max_in_flight,
        ),
    )


@asynccontextmanager
async def database_pool(settings: Settings, *, max_size: int = 10) -> AsyncIterator[asyncpg.Pool]:
    """Open a pool to the configured database for the duration of the block."""
    assert settings.database.url is not None
    pool = await create_pool(settings.database.url, min_size=1, max_size=max_size)
    try:
        yield pool
    finally:
        await pool.close()
