"""The HTTP endpoints: /healthz, /readyz and /metrics, and the readiness check."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from groupsync.http.server import HttpServer, Readiness, check_readiness
from tests.engine import conftest as engine_fixtures

migrated_url = engine_fixtures.migrated_url
pool = engine_fixtures.pool

READY = Readiness(database_ok=True, scheduler_running=True)
NOT_READY = Readiness(
    database_ok=False, scheduler_running=True, reasons=["the database is unreachable"]
)


def answer(readiness: Readiness) -> Callable[[], Awaitable[Readiness]]:
    async def check() -> Readiness:
        return readiness

    return check


async def broken_check() -> Readiness:
    raise RuntimeError("no pool yet")


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello")


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[HttpServer]]]:
    """Start servers on free ports of 127.0.0.1; stop them after the test."""
    servers: list[HttpServer] = []

    async def start(**options: object) -> HttpServer:
        options.setdefault("readiness", answer(READY))
        server = HttpServer(host="127.0.0.1", port=0, **options)  # type: ignore[arg-type]
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


async def get(server: HttpServer, path: str, **headers: str) -> tuple[int, str, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{server.port}{path}", headers=headers) as response,
    ):
        return response.status, response.headers["Content-Type"], await response.text()


async def get_json(server: HttpServer, path: str) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{server.port}{path}") as response,
    ):
        return response.status, await response.json()


async def test_server_binds_free_port(serve: Callable[..., Awaitable[HttpServer]]) -> None:
    server = await serve()

    assert server.port > 0


async def test_healthz_answers_ok(serve: Callable[..., Awaitable[HttpServer]]) -> None:
    server = await serve()

    status, body = await get_json(server, "/healthz")

    assert status == 200
    assert body["status"] == "ok"
    assert "heartbeat_age_s" not in body


async def test_healthz_includes_heartbeat(serve: Callable[..., Awaitable[HttpServer]]) -> None:
    server = await serve(heartbeat_age_s=lambda: 12.345)

    _status, body = await get_json(server, "/healthz")

    assert body["heartbeat_age_s"] == 12.3


async def test_readyz_ready(serve: Callable[..., Awaitable[HttpServer]]) -> None:
    server = await serve(readiness=answer(READY))

    status, body = await get_json(server, "/readyz")

    assert status == 200
    assert body["ready"] is True
    assert body["reasons"] == []


async def test_readyz_not_ready(serve: Callable[..., Awaitable[HttpServer]]) -> None:
    server = await serve(readiness=answer(NOT_READY))

    status, body = await get_json(server, "/readyz")

    assert status == 503
    assert body["ready"] is False
    assert body["reasons"] == ["the database is unreachable"]


async def test_readyz_broken_check(serve: Callable[..., Awaitable[HttpServer]]) -> None:
    server = await serve(readiness=broken_check)

    status, body = await get_json(server, "/readyz")

    assert status == 503
    assert body["reasons"] == ["the readiness check failed: RuntimeError: no pool yet"]


async def test_metrics_prometheus_text(serve: Callable[..., Awaitable[HttpServer]]) -> None:
    server = await serve()

    status, content_type, text = await get(server, "/metrics")

    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    assert "# TYPE groupsync_runs_total counter" in text


async def test_metrics_openmetrics_on_request(
    serve: Callable[..., Awaitable[HttpServer]],
) -> None:
    server = await serve()

    _status, content_type, text = await get(
        server, "/metrics", Accept="application/openmetrics-text; version=1.0.0"
    )

    assert content_type.startswith("application/openmetrics-text")
    assert text.endswith("# EOF\n")


async def test_extra_routes_served(serve: Callable[..., Awaitable[HttpServer]]) -> None:
    server = await serve(extra_routes=[web.get("/hello", hello)])

    status, _content_type, text = await get(server, "/hello")

    assert status == 200
    assert text == "hello"


async def test_stop_closes_port() -> None:
    server = HttpServer(host="127.0.0.1", port=0, readiness=answer(READY))
    await server.start()
    await server.stop()

    with pytest.raises(aiohttp.ClientConnectionError):
        await get(server, "/healthz")


async def test_start_fails_on_taken_port(serve: Callable[..., Awaitable[HttpServer]]) -> None:
    first = await serve()
    second = HttpServer(host="127.0.0.1", port=first.port, readiness=answer(READY))

    with pytest.raises(OSError):
        await second.start()


async def record_run(
    pool: asyncpg.Pool, *, status: str, finished_ago_s: float, account: str = "default"
) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO groupsync.sync_runs (account, trigger, status, started_at, finished_at) "
            "VALUES ($1, 'schedule', $2, now() - make_interval(secs => $3 + 1), "
            "now() - make_interval(secs => $3))",
            account,
            status,
            finished_ago_s,
        )


async def readiness_of(pool: asyncpg.Pool, *, scheduler_running: bool = True) -> Readiness:
    return await check_readiness(
        pool,
        accounts=["default"],
        scheduler_running=scheduler_running,
        max_failed_age_s=3600,
    )


async def test_readiness_without_runs(pool: asyncpg.Pool) -> None:
    readiness = await readiness_of(pool)

    assert readiness.ready
    assert readiness.database_ok
    assert readiness.last_failure_age_s is None


async def test_readiness_scheduler_stopped(pool: asyncpg.Pool) -> None:
    readiness = await readiness_of(pool, scheduler_running=False)

    assert not readiness.ready
    assert readiness.reasons == ["the scheduler is not running"]


async def test_readiness_recent_failure_tolerated(pool: asyncpg.Pool) -> None:
    await record_run(pool, status="succeeded", finished_ago_s=7200)
    await record_run(pool, status="failed", finished_ago_s=600)

    readiness = await readiness_of(pool)

    assert readiness.ready
    assert readiness.last_failure_age_s == pytest.approx(600, abs=5)


async def test_readiness_old_failure_streak(pool: asyncpg.Pool) -> None:
    await record_run(pool, status="succeeded", finished_ago_s=9000)
    await record_run(pool, status="failed", finished_ago_s=7200)
    await record_run(pool, status="interrupted", finished_ago_s=3000)
    await record_run(pool, status="failed", finished_ago_s=60)

    readiness = await readiness_of(pool)

    assert not readiness.ready
    assert readiness.failing_for_s["default"] == pytest.approx(7200, abs=5)
    assert readiness.reasons[0].startswith("account 'default': every run has failed for 72")


async def test_readiness_success_ends_streak(pool: asyncpg.Pool) -> None:
    await record_run(pool, status="failed", finished_ago_s=7200)
    await record_run(pool, status="held", finished_ago_s=60)

    readiness = await readiness_of(pool)

    assert readiness.ready
    assert readiness.failing_for_s == {}


async def test_readiness_ignores_other_accounts(pool: asyncpg.Pool) -> None:
    await record_run(pool, status="failed", finished_ago_s=7200, account="shop-2")

    readiness = await readiness_of(pool)

    assert readiness.ready


async def test_readiness_database_down(migrated_url: str) -> None:
    closed = await asyncpg.create_pool(migrated_url, min_size=1, max_size=1)
    await closed.close()

    readiness = await readiness_of(closed)

    assert not readiness.database_ok
    assert not readiness.ready
    assert readiness.reasons[0].startswith("the database is unreachable: InterfaceError")
