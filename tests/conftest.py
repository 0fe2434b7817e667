"""Shared fixtures: a real PostgreSQL server and a fresh database per test.

The server comes from ``GROUPSYNC_TEST_DATABASE_URL`` when it is set (the role
must be allowed to create databases); otherwise a throwaway cluster is started
from the PostgreSQL binaries on this machine for the whole session.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from groupsync.testing.postgres import PostgresNotAvailable, ThrowawayPostgres

pytest_plugins = ["groupsync.testing.fixtures"]


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server in which tests may create and drop databases."""
    configured = os.environ.get("GROUPSYNC_TEST_DATABASE_URL")
    if configured:
        yield configured
        return

    try:
        cluster = ThrowawayPostgres().start()
    except PostgresNotAvailable as error:
        pytest.exit(str(error), returncode=3)
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
async def database_url(postgres_server_url: str) -> AsyncIterator[str]:
    """URL of a new, empty database that is dropped after the test."""
    name = f"groupsync_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()

    yield _with_database(postgres_server_url, name)

    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
