"""Connection pools and single connections to groupsync's PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from groupsync.db.errors import DatabaseSetupError, DatabaseUnavailable, redact_url

# Errors that mean "the server is not there right now" rather than "the setup is wrong".
UNAVAILABLE_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.TooManyConnectionsError,
)


@contextmanager
def mapped_connect_errors(url: str) -> Iterator[None]:
    """Turn a failure to connect to ``url`` into a groupsync error naming the fix."""
    try:
        yield
    except UNAVAILABLE_ERRORS as error:
        raise DatabaseUnavailable(
            f"cannot connect to PostgreSQL at {redact_url(url)}: {error}. "
            "Check that the server is running and GROUPSYNC_DATABASE_URL is right."
        ) from error
    except (asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as error:
        raise DatabaseSetupError(
            f"cannot use PostgreSQL at {redact_url(url)}: {error}. "
            "Check the user, password and database name in GROUPSYNC_DATABASE_URL."
        ) from error


async def create_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """Open a pool to ``url``."""
    with mapped_connect_errors(url):
        pool = await asyncpg.create_pool(
            url, min_size=min_size, max_size=max_size, command_timeout=300
        )
    assert pool is not None
    return pool


async def connect(url: str) -> asyncpg.Connection:
    """Open a single connection to ``url``, for locks and LISTEN."""
    with mapped_connect_errors(url):
        return await asyncpg.connect(url, command_timeout=300)
