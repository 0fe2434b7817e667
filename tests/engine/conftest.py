"""Fixtures for engine tests: a migrated database, a pool, a Square client on the emulator,
and helpers to write the desired state and to start runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from groupsync.db.migrator import migrate
from groupsync.engine.report import RunReport
from groupsync.engine.run import RunOptions, RunSettings, reconcile
from groupsync.square.client import SquareClient
from groupsync.square.retry import RetryPolicy
from groupsync.testing.emulator import EmulatorServer

# Retries in engine tests wait milliseconds, not seconds.
FAST_RETRIES = RetryPolicy(attempts=3, wait_initial_s=0.01, wait_max_s=0.05, wait_jitter_s=0.01)


@pytest.fixture
async def migrated_url(database_url: str) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return database_url


@pytest.fixture
async def pool(migrated_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(migrated_url, min_size=1, max_size=10)
    assert pool is not None
    yield pool
    await pool.close()


@pytest.fixture
async def client(emulator: EmulatorServer) -> AsyncIterator[SquareClient]:
    async with SquareClient(
        base_url=emulator.base_url,
        token=emulator.token,
        request_timeout_s=2.0,
        retry_policy=FAST_RETRIES,
    ) as square:
        yield square


@dataclass
class Desired:
    """Writes managed groups and desired rows, and runs syncs, for one test."""

    pool: asyncpg.Pool
    client: SquareClient
    settings: RunSettings

    async def manage(
        self,
        name: str,
        *,
        mode: str = "mirror",
        source: str | None = None,
        account: str = "default",
    ) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO groupsync.managed_groups (account, name, mode, source) "
                "VALUES ($1, $2, $3, $4)",
                account,
                name,
                mode,
                source,
            )

    async def add(
        self, group_name: str, people: Iterable[dict[str, Any]], *, account: str = "default"
    ) -> None:
        columns = (
            "square_customer_id",
            "email_address",
            "phone_number",
            "reference_id",
            "given_name",
            "family_name",
            "company_name",
        )
        async with self.pool.acquire() as conn:
            await conn.executemany(
                "INSERT INTO groupsync.desired_memberships (account, group_name, "
                + ", ".join(columns)
                + ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                [
                    (account, group_name, *(person.get(column) for column in columns))
                    for person in people
                ],
            )

    async def clear(self, group_name: str) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                "DELETE FROM groupsync.desired_memberships WHERE group_name = $1", group_name
            )

    async def sync(self, **options: Any) -> RunReport:
        return await reconcile(
            pool=self.pool,
            client=self.client,
            settings=self.settings,
            options=RunOptions(**options),
        )

    async def group_id(self, name: str) -> str:
        async with self.pool.acquire() as conn:
            group_id = await conn.fetchval(
                "SELECT square_group_id FROM groupsync.managed_groups WHERE name = $1", name
            )
        assert group_id is not None
        return str(group_id)


@pytest.fixture
def run_settings() -> RunSettings:
    return RunSettings(applied_change_window_s=0.0)


@pytest.fixture
def desired(pool: asyncpg.Pool, client: SquareClient, run_settings: RunSettings) -> Desired:
    return Desired(pool=pool, client=client, settings=run_settings)


def people(count: int, *, prefix: str = "p") -> list[dict[str, Any]]:
    """Return ``count`` people identified by email, such as ``p0@example.com``."""
    return [{"email_address": f"{prefix}{index}@example.com"} for index in range(count)]


async def members_in_square(emulator: EmulatorServer, group_id: str) -> set[str]:
    """Return the ids of the customers whose group_ids contain ``group_id``, from a state dump."""
    return {
        customer["id"]
        for customer in await customers_in_square(emulator)
        if group_id in customer.get("group_ids", [])
    }


async def customers_in_square(emulator: EmulatorServer) -> list[dict[str, Any]]:
    state = await emulator.admin.dump()
    return list(state["sellers"]["default"]["customers"])


async def groups_in_square(emulator: EmulatorServer) -> list[dict[str, Any]]:
    state = await emulator.admin.dump()
    return list(state["sellers"]["default"]["groups"])
