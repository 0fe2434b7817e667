"""Fixtures for daemon tests: ``groupsync run`` subprocesses on the emulator and a real database.

Daemon tests wait for other processes, so they poll with real sleeps, bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest

from groupsync.service.changes import CHANGE_CHANNEL
from groupsync.testing.emulator import EmulatorServer
from tests.engine.conftest import migrated_url, pool  # noqa: F401  (fixtures)

# Short leases and debounce, so that takeovers and change runs happen within seconds.
FAST_DAEMON_ENV = {
    "GROUPSYNC_SYNC_LEASE_S": "3",
    "GROUPSYNC_SYNC_LEASE_HEARTBEAT_S": "0.5",
    "GROUPSYNC_SYNC_CHANGE_DEBOUNCE_S": "0.2",
    "GROUPSYNC_SYNC_CHANGE_DEBOUNCE_MAX_S": "1",
    "GROUPSYNC_LIMITS_RETRY_WAIT_INITIAL_S": "0.01",
    "GROUPSYNC_LIMITS_RETRY_WAIT_MAX_S": "0.1",
    "GROUPSYNC_LOG_FORMAT": "json",
}
STOP_TIMEOUT_S = 20.0


@dataclass
class DaemonProcess:
    """A ``groupsync run`` subprocess whose JSON log lines are collected as they come."""

    process: asyncio.subprocess.Process
    logs: list[dict[str, Any]] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None

    def start_reading(self) -> None:
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            try:
                self.logs.append(json.loads(line))
            except ValueError:
                self.logs.append({"event": "unparsed", "line": line.decode(errors="replace")})

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.logs if line.get("event") == name]

    async def terminate(self) -> int:
        """Send SIGTERM and return the exit code."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await self.wait()

    async def wait(self) -> int:
        code = await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT_S)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, STOP_TIMEOUT_S)
        return code

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)


@dataclass
class Service:
    """Starts ``groupsync`` commands with the environment of one test."""

    env: dict[str, str]
    database_url: str
    emulator: EmulatorServer
    daemons: list[DaemonProcess] = field(default_factory=list)

    async def start_daemon(self, *args: str, **env: str) -> DaemonProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "groupsync", "run", *args,
            env={**self.env, **env},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        daemon = DaemonProcess(process)
        daemon.start_reading()
        self.daemons.append(daemon)
        return daemon

    async def command(self, *args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "groupsync", *args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode is not None
        return process.returncode, stdout.decode(), stderr.decode()

    async def execute(self, sql: str, *args: object) -> None:
        conn = await asyncpg.connect(self.database_url)
        try:
            await conn.execute(sql, *args)
        finally:
            await conn.close()

    async def fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.database_url)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def runs(self, account: str = "default") -> list[asyncpg.Record]:
        return await self.fetch(
            "SELECT * FROM groupsync.sync_runs WHERE account = $1 ORDER BY id", account
        )

    async def members(self, group_name: str, *, seller: str = "default") -> set[str]:
        """Return the emails of the members of the seller's group named ``group_name``."""
        state = (await self.emulator.admin.dump(seller))["sellers"][seller]
        group_ids = {group["id"] for group in state["groups"] if group["name"] == group_name}
        return {
            customer.get("email_address", "")
            for customer in state["customers"]
            if group_ids & set(customer.get("group_ids", []))
        }


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout_s: float = 10.0, every_s: float = 0.1
) -> float:
    """Poll ``check`` until it returns True; return the seconds waited, or fail the test."""
    started = time.monotonic()
    while True:
        if await check():
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            pytest.fail(f"condition still false after {timeout_s} s")
        await asyncio.sleep(every_s)


@pytest.fixture
async def conn(migrated_url: str) -> AsyncIterator[asyncpg.Connection]:  # noqa: F811
    conn = await asyncpg.connect(migrated_url)
    yield conn
    await conn.close()


@pytest.fixture
async def notices(migrated_url: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:  # noqa: F811
    """The payloads sent on the change channel, as they arrive."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    listener = await asyncpg.connect(migrated_url)
    await listener.add_listener(
        CHANGE_CHANNEL, lambda conn, pid, channel, payload: queue.put_nowait(json.loads(payload))
    )
    yield queue
    await listener.close()


@pytest.fixture
async def service(
    migrated_url: str,  # noqa: F811
    emulator: EmulatorServer,
) -> AsyncIterator[Service]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GROUPSYNC_", "SQUARE_"))
    }
    env.update(
        FAST_DAEMON_ENV,
        GROUPSYNC_DATABASE_URL=migrated_url,
        SQUARE_ACCESS_TOKEN=emulator.token,
        SQUARE_BASE_URL=emulator.base_url,
    )
    service = Service(env=env, database_url=migrated_url, emulator=emulator)
    yield service
    for daemon in service.daemons:
        if daemon.process.returncode is None:
            daemon.kill()
            await daemon.wait()
