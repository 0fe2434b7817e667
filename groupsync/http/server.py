"""The HTTP server of ``groupsync run``: ``/healthz``, ``/readyz`` and ``/metrics``.

``/healthz`` answers 200 whenever the event loop gets to run its handler, so a blocked or
dead loop fails the liveness probe. ``/readyz`` answers 200 or 503 from the readiness
callback, with the checks as JSON. ``/metrics`` serves :data:`groupsync.metrics.REGISTRY`
in Prometheus's text format, or in OpenMetrics when the scraper asks for it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog
from aiohttp import web
from prometheus_client.exposition import choose_encoder

from groupsync import metrics
from groupsync.http.readiness import Readiness, check_readiness

__all__ = ["HttpServer", "Readiness", "check_readiness"]

log = structlog.get_logger(__name__)

# A readiness callback slower than this counts as not ready; probes time out at a few seconds.
READINESS_TIMEOUT_S = 5.0


class HttpServer:
    """Serves the health, readiness and metrics endpoints on ``host``:``port``.

    ``port`` 0 binds a free port; read the bound one from :attr:`port` after :meth:`start`.
    ``heartbeat_age_s``, when given, returns the seconds since the daemon's loop last
    reported progress, and ``/healthz`` includes it for people debugging a stuck process.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        readiness: Callable[[], Awaitable[Readiness]],
        extra_routes: Sequence[web.RouteDef] = (),
        heartbeat_age_s: Callable[[], float | None] | None = None,
    ) -> None:
        self._host = host
        self._requested_port = port
        self._readiness = readiness
        self._heartbeat_age_s = heartbeat_age_s
        self._started_at = time.monotonic()
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None

        self.app = web.Application()
        self.app.add_routes(
            [
                web.get("/healthz", self._healthz),
                web.get("/readyz", self._readyz),
                web.get("/metrics", self._metrics),
                *extra_routes,
            ]
        )

    @property
    def port(self) -> int:
        """The bound port once started, else the port asked for."""
        return self._bound_port if self._bound_port is not None else self._requested_port

    async def start(self) -> None:
        """Bind and start serving; raises OSError when the address is taken or invalid."""
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._requested_port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self._bound_port = runner.addresses[0][1]
        self._started_at = time.monotonic()
        log.info("http_server_started", host=self._host, port=self._bound_port)

    async def stop(self) -> None:
        """Stop accepting connections and finish the requests in flight."""
        if self._runner is None:
            return
        await self._runner.cleanup()
        self._runner = None
        log.info("http_server_stopped", host=self._host, port=self._bound_port)

    async def _healthz(self, request: web.Request) -> web.Response:
        body: dict[str, object] = {
            "status": "ok",
            "uptime_s": round(time.monotonic() - self._started_at, 1),
        }
        if self._heartbeat_age_s is not None:
            age_s = self._heartbeat_age_s()
            body["heartbeat_age_s"] = None if age_s is None else round(age_s, 1)
        return web.json_response(body)

    async def _readyz(self, request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(READINESS_TIMEOUT_S):
                readiness = await self._readiness()
        except TimeoutError:
            readiness = _not_ready(f"the readiness check took longer than {READINESS_TIMEOUT_S} s")
        except Exception as error:
            # A broken check must answer 503 with its reason, not 500 without one.
            log.error("readiness_check_failed", error=f"{type(error).__name__}: {error}")
            readiness = _not_ready(f"the readiness check failed: {type(error).__name__}: {error}")
        return web.json_response(readiness.to_dict(), status=200 if readiness.ready else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        body = encoder(metrics.REGISTRY)
        return web.Response(body=body, headers={"Content-Type": content_type})


def _not_ready(reason: str) -> Readiness:
    return Readiness(database_ok=False, scheduler_running=False, reasons=[reason])
