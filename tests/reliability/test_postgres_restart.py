"""PostgreSQL restarts under the daemon, while it idles and in the middle of a run: the
daemon logs the lost connection, reconnects, still starts a run on ``groupsync trigger``, and the
next run converges."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from groupsync.testing.emulator import EmulatorServer
from groupsync.testing.postgres import ThrowawayPostgres
from tests.reliability.crash_harness import cli_env, prepare, run_cli
from tests.reliability.daemon_process import DaemonProcess
from tests.reliability.world import World, make_world, membership_differences, square_view

pytestmark = pytest.mark.slow

# The listener notices a dead connection on its next health check, some seconds later.
RECONNECT_TIMEOUT_S = 40.0


@pytest.fixture
def own_postgres() -> Iterator[ThrowawayPostgres]:
    """A cluster of this test's own, since the test restarts it."""
    with ThrowawayPostgres() as cluster:
        yield cluster


@pytest.fixture
async def own_database_url(own_postgres: ThrowawayPostgres) -> str:
    name = f"groupsync_restart_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(own_postgres.url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return urlunsplit(urlsplit(own_postgres.url)._replace(path=f"/{name}"))


@pytest.fixture
async def world(own_database_url: str, emulator: EmulatorServer) -> World:
    world = make_world()
    await prepare(own_database_url, emulator, world)
    return world


@pytest.fixture
async def daemon(
    world: World, own_database_url: str, emulator: EmulatorServer
) -> AsyncIterator[DaemonProcess]:
    process = await DaemonProcess(cli_env(own_database_url, emulator)).start()
    yield process
    await process.stop()


async def restart(cluster: ThrowawayPostgres) -> None:
    await asyncio.to_thread(cluster.restart)


async def run_statuses(database_url: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT status FROM groupsync.sync_runs ORDER BY id")
    finally:
        await conn.close()
    return [row["status"] for row in rows]


async def test_idle_daemon_reconnects_after_restart(
    daemon: DaemonProcess, own_postgres: ThrowawayPostgres
) -> None:
    await daemon.wait_for("sync_run_finished")

    await restart(own_postgres)

    await daemon.wait_for("trigger_listener_disconnected", timeout_s=RECONNECT_TIMEOUT_S)
    await daemon.wait_for("trigger_listener_reconnected", timeout_s=RECONNECT_TIMEOUT_S)
    assert daemon.alive


async def test_trigger_after_restart_starts_run(
    daemon: DaemonProcess,
    own_postgres: ThrowawayPostgres,
    own_database_url: str,
    emulator: EmulatorServer,
) -> None:
    await daemon.wait_for("sync_run_finished")
    await restart(own_postgres)
    await daemon.wait_for("trigger_listener_reconnected", timeout_s=RECONNECT_TIMEOUT_S)
    runs_before = len(daemon.events("sync_run_finished"))
    await daemon.wait_for("sync_run_finished", count=runs_before + 1, timeout_s=30)
    triggers_before = len(daemon.events("trigger_received"))

    exit_code, _ = await run_cli(cli_env(own_database_url, emulator), "trigger")

    await daemon.wait_for("trigger_received", count=triggers_before + 1, timeout_s=10)
    finished = await daemon.wait_for("sync_run_finished", count=runs_before + 2, timeout_s=30)
    assert exit_code == 0
    assert finished["status"] == "succeeded"


async def test_restart_mid_run_then_next_run_converges(
    world: World,
    own_postgres: ThrowawayPostgres,
    own_database_url: str,
    emulator: EmulatorServer,
) -> None:
    await emulator.admin.set_faults(latency_ms=60)
    daemon = await DaemonProcess(cli_env(own_database_url, emulator)).start()
    try:
        await daemon.wait_for("customer_created", timeout_s=30)
        await restart(own_postgres)
        await daemon.wait_for("trigger_listener_reconnected", timeout_s=RECONNECT_TIMEOUT_S)
        await emulator.admin.set_faults(latency_ms=0)
        await daemon.wait_for("sync_run_finished", status="succeeded", timeout_s=60)
        alive = daemon.alive
    finally:
        await daemon.stop()

    statuses = await run_statuses(own_database_url)
    view = await square_view(emulator.admin)
    assert alive
    assert len(daemon.events("sync_run_failed")) == 1
    assert len(daemon.events("sync_run_interrupted")) == 1
    assert statuses[0] == "interrupted"
    assert statuses[-1] == "succeeded"
    assert membership_differences(world, view) == {}
    assert view.duplicate_emails == []
    assert view.duplicate_group_names == []
