"""Several replicas on one database: leases, fair shares, and takeover after a crash."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import asyncpg

from groupsync.service.leases import LeaseTable, fair_share
from tests.service.conftest import FAST_DAEMON_ENV, DaemonProcess, Service, eventually

ACCOUNTS = [f"account-{index:02d}" for index in range(30)]
LEASE_S = float(FAST_DAEMON_ENV["GROUPSYNC_SYNC_LEASE_S"])
HEARTBEAT_S = float(FAST_DAEMON_ENV["GROUPSYNC_SYNC_LEASE_HEARTBEAT_S"])


def test_fair_share_rounds_up() -> None:
    assert fair_share(30, 3) == 10
    assert fair_share(31, 3) == 11
    assert fair_share(2, 3) == 1


def test_fair_share_without_replicas() -> None:
    assert fair_share(5, 0) == 5


async def test_concurrent_takes_are_disjoint(pool: asyncpg.Pool) -> None:
    tables = [LeaseTable(pool, replica_id=f"r{index}", lease_s=30) for index in range(3)]

    taken = await asyncio.gather(*(table.take(ACCOUNTS, limit=10) for table in tables))

    assert sorted(name for names in taken for name in names) == ACCOUNTS


async def test_live_lease_not_taken(pool: asyncpg.Pool) -> None:
    first = LeaseTable(pool, replica_id="r1", lease_s=30)
    second = LeaseTable(pool, replica_id="r2", lease_s=30)
    await first.take(["a"], limit=1)

    assert await second.take(["a"], limit=1) == []


async def test_expired_lease_taken_over(pool: asyncpg.Pool) -> None:
    first = LeaseTable(pool, replica_id="r1", lease_s=30)
    second = LeaseTable(pool, replica_id="r2", lease_s=30)
    await first.take(["a"], limit=1)
    async with pool.acquire() as conn:
        await conn.execute("UPDATE groupsync.account_leases SET expires_at = now() - interval '1s'")

    taken = await second.take(["a"], limit=1)

    assert taken == ["a"]
    assert await first.renew(["a"]) == []


async def test_released_lease_free_at_once(pool: asyncpg.Pool) -> None:
    first = LeaseTable(pool, replica_id="r1", lease_s=30)
    second = LeaseTable(pool, replica_id="r2", lease_s=30)
    await first.take(["a"], limit=1)

    await first.release(["a"])

    assert await second.take(["a"], limit=1) == ["a"]


async def test_dead_replica_not_counted(pool: asyncpg.Pool) -> None:
    alive = LeaseTable(pool, replica_id="alive", lease_s=30)
    dead = LeaseTable(pool, replica_id="dead", lease_s=30)
    await dead.renew_replica()
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE groupsync.replicas SET expires_at = now() - interval '1s' WHERE id = 'dead'"
        )

    assert await alive.renew_replica() == 1


async def seed_accounts(service: Service) -> dict[str, str]:
    """Create one seller per account, each with a group of five people; return the env."""
    env = {}
    for index, name in enumerate(ACCOUNTS):
        await service.emulator.admin.add_token(f"token-{index}", seller=name)
        env[f"TOKEN_{index}"] = f"token-{index}"
        await service.execute(
            "INSERT INTO groupsync.accounts (name, token_env) VALUES ($1, $2)",
            name,
            f"TOKEN_{index}",
        )
        await service.execute(
            "INSERT INTO groupsync.managed_groups (account, name) VALUES ($1, 'VIP')", name
        )
        await add_people(service, name, first=0, count=5)
    return env


async def add_people(service: Service, account: str, *, first: int, count: int) -> None:
    await service.execute(
        "INSERT INTO groupsync.desired_memberships (account, group_name, email_address) "
        "SELECT $1, 'VIP', 'p' || g || '@example.com' FROM generate_series($2::int, $3::int) g",
        account,
        first,
        first + count - 1,
    )


async def all_converged(service: Service, *, people: int) -> bool:
    for name in ACCOUNTS:
        if len(await service.members("VIP", seller=name)) != people:
            return False
    return True


async def lease_owners(service: Service) -> dict[str, str]:
    rows = await service.fetch(
        "SELECT account, owner FROM groupsync.account_leases WHERE expires_at > now()"
    )
    return {row["account"]: row["owner"] for row in rows}


def assert_no_overlap(runs: list[asyncpg.Record]) -> None:
    previous_end: datetime | None = None
    for run in sorted(runs, key=lambda run: run["started_at"]):
        if previous_end is not None:
            assert run["started_at"] >= previous_end, f"run {run['id']} overlaps the one before"
        previous_end = run["finished_at"]


async def test_replica_killed_mid_run(service: Service) -> None:
    token_env = await seed_accounts(service)
    daemons = [
        await service.start_daemon(GROUPSYNC_SYNC_MAX_CONCURRENT_RUNS="2", **token_env)
        for _ in range(3)
    ]

    async def spread() -> bool:
        owners = await lease_owners(service)
        return len(owners) == 30 and len(set(owners.values())) == 3

    await eventually(lambda: all_converged(service, people=5), timeout_s=40)
    await eventually(spread, timeout_s=20)

    # New people for every account, and a slow Square, so that runs are in flight at the kill.
    await service.emulator.admin.set_faults(latency_ms=150)
    for name in ACCOUNTS:
        await add_people(service, name, first=5, count=5)
    victim = await busiest(service, daemons)
    owners = await lease_owners(service)
    victim_id = next(owner for owner in owners.values() if f":{victim.process.pid}:" in owner)
    victim_accounts = sorted(name for name, owner in owners.items() if owner == victim_id)

    async def victim_mid_run() -> bool:
        rows = await service.fetch(
            "SELECT 1 FROM groupsync.sync_runs WHERE status = 'running' AND pid = $1",
            victim.process.pid,
        )
        return bool(rows)

    await eventually(victim_mid_run, timeout_s=10, every_s=0.02)
    victim.kill()
    [killed_at] = await service.fetch("SELECT now() AS now")
    await service.emulator.admin.set_faults(latency_ms=0)

    await eventually(lambda: all_converged(service, people=10), timeout_s=30)

    leases = await service.fetch(
        "SELECT account, owner, acquired_at FROM groupsync.account_leases "
        "WHERE account = ANY($1::text[])",
        victim_accounts,
    )
    takeover_limit = killed_at["now"] + timedelta(seconds=LEASE_S + 2 * HEARTBEAT_S + 1)
    for lease in leases:
        assert lease["owner"] != victim_id, f"{lease['account']} was not taken over"
        assert lease["acquired_at"] <= takeover_limit, f"{lease['account']} taken over late"
    interrupted = await service.fetch(
        "SELECT id FROM groupsync.sync_runs WHERE pid = $1 AND status = 'interrupted'",
        victim.process.pid,
    )
    assert interrupted
    for name in ACCOUNTS:
        assert_no_overlap(await service.runs(name))
    for daemon in daemons:
        if daemon is not victim:
            assert await daemon.terminate() == 0


async def busiest(service: Service, daemons: list[DaemonProcess]) -> DaemonProcess:
    """Return the replica holding the most leases."""
    owners = list((await lease_owners(service)).values())
    return max(
        daemons,
        key=lambda daemon: sum(f":{daemon.process.pid}:" in owner for owner in owners),
    )
