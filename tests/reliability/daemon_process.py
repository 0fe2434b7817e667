"""``groupsync run`` in a subprocess, with its JSON log lines collected as they arrive."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from tests.reliability.crash_harness import json_line, start_cli

STOP_TIMEOUT_S = 15.0


class DaemonProcess:
    """A running daemon; :meth:`wait_for` waits for a log line with a given event."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = {**env, "GROUPSYNC_SYNC_FULL_SYNC_INTERVAL_S": "3600"}
        self.logs: list[dict[str, Any]] = []
        self.process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._arrived = asyncio.Condition()

    async def start(self) -> DaemonProcess:
        self.process = await start_cli(self.env, "run")
        self._reader = asyncio.create_task(self._read())
        return self

    async def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self._reader is not None:
            await self._reader
        return self.process.returncode

    def events(self, name: str, **fields: Any) -> list[dict[str, Any]]:
        return [
            entry
            for entry in self.logs
            if entry.get("event") == name
            and all(entry.get(key) == value for key, value in fields.items())
        ]

    async def wait_for(
        self, name: str, *, count: int = 1, timeout_s: float = 30.0, **fields: Any
    ) -> dict[str, Any]:
        """Wait until ``count`` log lines with event ``name`` (and ``fields``) have arrived."""
        async with asyncio.timeout(timeout_s), self._arrived:
            await self._arrived.wait_for(
                lambda: len(self.events(name, **fields)) >= count or not self.alive
            )
        matching = self.events(name, **fields)
        if len(matching) < count:
            raise AssertionError(f"the daemon exited before logging {name}: {self.logs[-5:]}")
        return matching[count - 1]

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def _read(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        async for raw in self.process.stderr:
            entry = json_line(raw)
            async with self._arrived:
                if entry:
                    self.logs.append(entry)
                self._arrived.notify_all()
        await self.process.wait()
        async with self._arrived:
            self._arrived.notify_all()
