"""Start the Square emulator for tests and benchmarks, in-process or as a subprocess.

:class:`EmulatorServer` runs ``create_app`` on 127.0.0.1 and a free port inside
the current event loop. :class:`EmulatorProcess` runs ``python -m groupsync
emulator`` in its own process, so that it has a core of its own. Both expose an
:class:`EmulatorAdmin` client of the admin API under ``/_emulator/``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import replace
from typing import Any

import aiohttp
from aiohttp import web

from groupsync.emulator import EmulatorSettings, TokenGrant, create_app
from groupsync.errors import PermanentError

HOST = "127.0.0.1"
# Requests held open by the hang fault end at shutdown, so a short grace period is enough.
SHUTDOWN_TIMEOUT_S = 2.0
PROCESS_START_TIMEOUT_S = 30.0
PROCESS_STOP_TIMEOUT_S = 10.0


class EmulatorAdminError(PermanentError):
    """The emulator's admin API rejected a request."""


class EmulatorAdmin:
    """An async client of the emulator's admin API."""

    def __init__(self, base_url: str, *, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url
        self._session = session
        self._owns_session = session is None

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    async def reset(self) -> None:
        await self._request("POST", "/_emulator/reset")

    async def load_state(self, state: dict[str, Any]) -> dict[str, Any]:
        return await self._request("POST", "/_emulator/state", state)

    async def dump(self, seller: str = "default") -> dict[str, Any]:
        return await self._request("GET", f"/_emulator/state?seller={seller}")

    async def generate(
        self,
        *,
        customers: int,
        groups: int,
        memberships_per_customer: float = 1.0,
        distribution: str = "uniform",
        seed: int | None = None,
        seller: str = "default",
    ) -> dict[str, Any]:
        """Add generated data; return ``seller``, counts, ``group_ids`` and ``customer_ids``."""
        body = {
            "seller": seller,
            "customers": customers,
            "groups": groups,
            "memberships_per_customer": memberships_per_customer,
            "distribution": distribution,
            "seed": seed,
        }
        return await self._request("POST", "/_emulator/generate", body)

    async def stats(self) -> dict[str, Any]:
        return await self._request("GET", "/_emulator/stats")

    async def reset_stats(self) -> None:
        await self._request("DELETE", "/_emulator/stats")

    async def set_faults(self, **settings: Any) -> dict[str, Any]:
        """Change traffic settings such as ``latency_ms=50``; return all of them."""
        return await self._request("PUT", "/_emulator/faults", settings)

    async def faults(self) -> dict[str, Any]:
        return await self._request("GET", "/_emulator/faults")

    async def add_fault_rule(
        self,
        *,
        kind: str,
        endpoint: str | None = None,
        status: int = 500,
        times: int = 1,
        retry_after_s: float | None = None,
        delay_ms: float = 0,
    ) -> dict[str, Any]:
        """Queue a scripted fault for the next ``times`` requests to ``endpoint`` (None: any)."""
        rule = {
            "kind": kind,
            "endpoint": endpoint,
            "status": status,
            "times": times,
            "retry_after_s": retry_after_s,
            "delay_ms": delay_ms,
        }
        return await self._request("POST", "/_emulator/faults/rules", rule)

    async def clear_fault_rules(self) -> None:
        await self._request("DELETE", "/_emulator/faults/rules")

    async def add_token(
        self, token: str, *, seller: str = "default", scopes: list[str] | None = None
    ) -> dict[str, Any]:
        body = {"token": token, "seller": seller, "scopes": scopes}
        return await self._request("POST", "/_emulator/tokens", body)

    async def merge_customers(self, ids: list[str], *, seller: str = "default") -> dict[str, Any]:
        """Merge customers as a seller does in the Dashboard; return the new customer object."""
        body = {"customer_ids": ids}
        result = await self._request("POST", f"/_emulator/sellers/{seller}/merge", body)
        return result["customer"]  # type: ignore[no-any-return]

    async def create_group_by_hand(self, name: str, *, seller: str = "default") -> dict[str, Any]:
        result = await self._request("POST", f"/_emulator/sellers/{seller}/groups", {"name": name})
        return result["group"]  # type: ignore[no-any-return]

    async def rename_group(
        self, group_id: str, name: str, *, seller: str = "default"
    ) -> dict[str, Any]:
        path = f"/_emulator/sellers/{seller}/groups/{group_id}"
        result = await self._request("PUT", path, {"name": name})
        return result["group"]  # type: ignore[no-any-return]

    async def delete_group(self, group_id: str, *, seller: str = "default") -> None:
        await self._request("DELETE", f"/_emulator/sellers/{seller}/groups/{group_id}")

    async def add_member_by_hand(
        self, customer_id: str, group_id: str, *, seller: str = "default"
    ) -> None:
        path = f"/_emulator/sellers/{seller}/customers/{customer_id}/groups/{group_id}"
        await self._request("PUT", path)

    async def delete_customer_by_hand(self, customer_id: str, *, seller: str = "default") -> None:
        await self._request("DELETE", f"/_emulator/sellers/{seller}/customers/{customer_id}")

    async def _request(self, method: str, path: str, body: Any = None) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.request(method, self.base_url + path, json=body) as response:
            result = await response.json(content_type=None)
            if response.status >= 400:
                raise EmulatorAdminError(
                    f"emulator admin request {method} {path} failed with status {response.status}: "
                    f"{result}"
                )
            return result


class EmulatorServer:
    """The emulator served in-process on 127.0.0.1 and a free port; an async context manager."""

    def __init__(self, settings: EmulatorSettings | None = None) -> None:
        self.settings = settings or EmulatorSettings()
        if not self.settings.tokens:
            self.settings = replace(self.settings, tokens=[TokenGrant("test-token")])
        self.app = create_app(self.settings)
        self.base_url = ""
        self.token = self.settings.tokens[0].token
        self.admin: EmulatorAdmin
        self._runner: web.AppRunner | None = None

    async def start(self) -> EmulatorServer:
        self._runner = web.AppRunner(self.app, shutdown_timeout=SHUTDOWN_TIMEOUT_S, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://{HOST}:{port}"
        self.admin = EmulatorAdmin(self.base_url)
        return self

    async def stop(self) -> None:
        if self._runner is None:
            return
        await self.admin.close()
        await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> EmulatorServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


class EmulatorProcess:
    """``python -m groupsync emulator`` in a subprocess, for benchmarks and crash tests.

    ``args`` are extra command-line options, such as ``["--latency-ms", "5"]``.
    """

    def __init__(self, args: list[str] | None = None, *, token: str = "test-token") -> None:
        self.args = list(args or [])
        self.token = token
        self.base_url = ""
        self.tokens: list[str] = []
        self.admin: EmulatorAdmin
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> EmulatorProcess:
        """Start the process and wait until it prints its base URL and tokens."""
        command = [
            sys.executable, "-m", "groupsync", "emulator",
            "--host", HOST, "--port", "0", "--token", self.token, *self.args,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._read_banner()
        self.admin = EmulatorAdmin(self.base_url)
        return self

    def stop(self) -> int | None:
        """Terminate the process (SIGTERM, then SIGKILL); return its exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(PROCESS_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        code = self.process.returncode
        self.process = None
        return code

    def _read_banner(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        # The banner is base_url=... followed by one token=... line per accepted token.
        line = self.process.stdout.readline()
        if not line.startswith("base_url="):
            self.stop()
            raise PermanentError(f"the emulator process did not start; it printed {line!r}")
        self.base_url = line.strip().removeprefix("base_url=")
        token_count = 1 + self.args.count("--token")
        for _ in range(token_count):
            line = self.process.stdout.readline()
            self.tokens.append(line.split()[0].removeprefix("token="))

    async def __aenter__(self) -> EmulatorProcess:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc_info: object) -> None:
        await self.admin.close()
        await asyncio.to_thread(self.stop)
