"""Building the long-lived pieces from settings: the database pool, the Square client and
the engine's run settings. The CLI and the daemon share these."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from groupsync.accounts import configured_account
from groupsync.config import Settings
from groupsync.db.pool import create_pool
from groupsync.engine.run import RunSettings
from groupsync.square.client import SquareClient


def run_settings(settings: Settings, *, allow_mass_removal: bool = False) -> RunSettings:
    """Return the engine's settings from the configuration."""
    return RunSettings(
        applied_change_window_s=settings.sync.applied_change_window_s,
        max_pages_per_group=settings.sync.max_pages_per_group,
        read_concurrency=settings.sync.read_concurrency,
        resolve_concurrency=settings.limits.max_in_flight,
        apply_concurrency=settings.limits.max_in_flight,
        default_phone_region=settings.sync.default_phone_region,
        read_strategy=settings.sync.read_strategy,
        max_removal_share=settings.guards.max_removal_share,
        max_removals=settings.guards.max_removals,
        allow_mass_removal=settings.guards.allow_mass_removal or allow_mass_removal,
    )


def square_client(settings: Settings) -> SquareClient:
    """Return a client for the configured Square base URL, paced by the configured limits."""
    account = configured_account(settings)
    return account.client(settings, token=settings.square.access_token or "")


@asynccontextmanager
async def database_pool(settings: Settings, *, max_size: int = 10) -> AsyncIterator[asyncpg.Pool]:
    """Open a pool to the configured database for the duration of the block."""
    assert settings.database.url is not None
    pool = await create_pool(settings.database.url, min_size=1, max_size=max_size)
    try:
        yield pool
    finally:
        await pool.close()
