"""Helpers to run the real ``groupsync`` command in a subprocess against the emulator."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass

import asyncpg
import pytest

from groupsync.testing.emulator import EmulatorServer


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


@dataclass
class Cli:
    """Runs ``python -m groupsync`` with the environment of one test."""

    env: dict[str, str]

    async def run(self, *args: str, timeout_s: float = 60.0) -> Result:
        process = await self.start(*args)
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
        assert process.returncode is not None
        return Result(process.returncode, stdout.decode(), stderr.decode())

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "groupsync",
            *args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )


@pytest.fixture
def cli(database_url: str, emulator: EmulatorServer) -> Cli:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GROUPSYNC_", "SQUARE_"))
    }
    env.update(
        GROUPSYNC_DATABASE_URL=database_url,
        SQUARE_ACCESS_TOKEN=emulator.token,
        SQUARE_BASE_URL=emulator.base_url,
        GROUPSYNC_LOG_FORMAT="json",
        GROUPSYNC_LIMITS_RETRY_WAIT_INITIAL_S="0.01",
        GROUPSYNC_LIMITS_RETRY_WAIT_MAX_S="0.1",
    )
    return Cli(env=env)


async def execute(database_url: str, sql: str, *args: object) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


async def fetch(database_url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()
