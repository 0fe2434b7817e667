"""SquareClient against emulator faults: what is retried, what is not, and what is counted.

stamina runs in test mode (see conftest.py) and the limiter runs on a fake
clock, so Retry-After pauses and backoffs cost no real time. Only the hang
test waits for its real request timeout.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import AsyncIterator, Iterator

import pytest
import structlog
from aiohttp import web
from square_fake_clock import FakeClock
from square_test_peer import serve
from structlog.typing import EventDict

from groupsync.emulator import EmulatorSettings, TokenGrant
from groupsync.square.client import SquareClient
from groupsync.square.errors import (
    ConnectionFailed,
    Forbidden,
    InvalidResponse,
    NotFound,
    RateLimited,
    ServerError,
    SquareError,
    Unauthorized,
)
from groupsync.square.limiter import RateLimiter
from groupsync.square.retry import RetryPolicy
from groupsync.square.transport import USER_AGENT
from groupsync.testing.emulator import EmulatorServer

SECRET_TOKEN = "sq0atp-Secret-Token-For-Tests"
REQUEST_TIMEOUT_S = 0.3
POLICY = RetryPolicy(attempts=4, wait_jitter_s=0.0)


def make_client(base_url: str, token: str, clock: FakeClock) -> SquareClient:
    limiter = RateLimiter(rate_per_s=None, max_in_flight=4, clock=clock, sleep=clock.sleep)
    return SquareClient(
        base_url=base_url,
        token=token,
        request_timeout_s=REQUEST_TIMEOUT_S,
        retry_policy=POLICY,
        limiter=limiter,
    )


@pytest.fixture
async def emulator() -> AsyncIterator[EmulatorServer]:
    settings = EmulatorSettings(tokens=[TokenGrant(SECRET_TOKEN)])
    async with EmulatorServer(settings) as server:
        yield server


@pytest.fixture
async def client(emulator: EmulatorServer, clock: FakeClock) -> AsyncIterator[SquareClient]:
    async with make_client(emulator.base_url, emulator.token, clock) as square:
        yield square


@pytest.fixture
def logs() -> Iterator[list[EventDict]]:
    with structlog.testing.capture_logs() as entries:
        yield entries


def retry_waits(logs: list[EventDict]) -> list[float]:
    return [entry["wait_s"] for entry in logs if entry["event"] == "api_retry_scheduled"]


def retry_reasons(logs: list[EventDict]) -> list[object]:
    return [entry["reason"] for entry in logs if entry["event"] == "api_retry_scheduled"]


async def served(emulator: EmulatorServer, operation: str) -> dict[str, int]:
    stats = await emulator.admin.stats()
    return stats["requests"].get(operation, {})  # type: ignore[no-any-return]


async def test_429_with_retry_after(
    client: SquareClient, emulator: EmulatorServer, clock: FakeClock, logs: list[EventDict]
) -> None:
    await emulator.admin.add_fault_rule(
        endpoint="ListCustomerGroups", kind="status", status=429, retry_after_s=2
    )

    assert await client.list_groups() == []
    assert await served(emulator, "ListCustomerGroups") == {"429": 1, "200": 1}
    assert retry_waits(logs) == [2.0]
    # The rate cut handles one 429, and its Retry-After delays only its own retry.
    assert client.limiter.paused_until < clock()
    assert client.stats.rate_limited == 1
    assert client.stats.retries == 1


async def test_429_without_retry_after(
    client: SquareClient, emulator: EmulatorServer, logs: list[EventDict]
) -> None:
    await emulator.admin.add_fault_rule(endpoint="ListCustomerGroups", kind="status", status=429)

    assert await client.list_groups() == []
    assert await served(emulator, "ListCustomerGroups") == {"429": 1, "200": 1}
    assert retry_waits(logs) == [0.5]


async def test_429_lowers_limiter_rate(client: SquareClient, emulator: EmulatorServer) -> None:
    for _ in range(20):
        await client.list_groups()
    await emulator.admin.add_fault_rule(endpoint="ListCustomerGroups", kind="status", status=429)

    await client.list_groups()

    assert client.limiter.current_rate_per_s < float("inf")


async def test_server_error_burst(
    client: SquareClient, emulator: EmulatorServer, logs: list[EventDict]
) -> None:
    await emulator.admin.add_fault_rule(kind="status", status=500, times=2)
    await emulator.admin.add_fault_rule(kind="status", status=503, times=1)

    assert await client.list_groups() == []
    assert await served(emulator, "ListCustomerGroups") == {"500": 2, "503": 1, "200": 1}
    assert retry_reasons(logs) == [500, 500, 503]
    assert client.stats.retries == 3


async def test_dropped_connection(
    client: SquareClient, emulator: EmulatorServer, logs: list[EventDict]
) -> None:
    # A POST: aiohttp itself resends an idempotent method once after a disconnect.
    await emulator.admin.add_fault_rule(endpoint="SearchCustomers", kind="drop")

    assert await client.search_customers_exact(email_address="a@example.com") == []
    assert await served(emulator, "SearchCustomers") == {"dropped": 1, "200": 1}
    assert retry_reasons(logs) == ["ConnectionFailed"]
    assert client.stats.requests[("SearchCustomers", "error")] == 1


async def test_dropped_get_survives(client: SquareClient, emulator: EmulatorServer) -> None:
    await emulator.admin.add_fault_rule(endpoint="ListCustomerGroups", kind="drop", times=2)

    assert await client.list_groups() == []
    assert (await served(emulator, "ListCustomerGroups"))["200"] == 1


async def test_hang_times_out(
    client: SquareClient, emulator: EmulatorServer, logs: list[EventDict]
) -> None:
    await emulator.admin.add_fault_rule(endpoint="ListCustomerGroups", kind="hang")

    assert await client.list_groups() == []
    assert retry_reasons(logs) == ["RequestTimedOut"]
    assert (await served(emulator, "ListCustomerGroups"))["200"] == 1


async def test_html_502_retried(
    client: SquareClient, emulator: EmulatorServer, logs: list[EventDict]
) -> None:
    await emulator.admin.add_fault_rule(kind="html", status=502)

    assert await client.list_groups() == []
    assert retry_reasons(logs) == [502]


async def test_html_502_surfaces(client: SquareClient, emulator: EmulatorServer) -> None:
    await emulator.admin.add_fault_rule(kind="html", status=502, times=10)

    with pytest.raises(ServerError) as caught:
        await client.list_groups()

    assert caught.value.status == 502
    assert "502 Bad Gateway" in caught.value.detail


async def test_retries_run_out(
    client: SquareClient, emulator: EmulatorServer, logs: list[EventDict]
) -> None:
    await emulator.admin.add_fault_rule(kind="status", status=503, times=10)

    with pytest.raises(ServerError) as caught:
        await client.list_groups()

    assert caught.value.status == 503
    assert await served(emulator, "ListCustomerGroups") == {"503": POLICY.attempts}
    assert client.stats.requests == {("ListCustomerGroups", 503): POLICY.attempts}
    failures = [entry for entry in logs if entry["event"] == "api_request_failed"]
    assert len(failures) == 1
    assert failures[0]["attempts"] == POLICY.attempts


async def test_rate_limit_runs_out(client: SquareClient, emulator: EmulatorServer) -> None:
    await emulator.admin.add_fault_rule(kind="status", status=429, times=10, retry_after_s=1)

    with pytest.raises(RateLimited) as caught:
        await client.list_groups()

    assert caught.value.retry_after_s == 1.0
    assert client.stats.rate_limited == POLICY.attempts


async def test_401_not_retried(emulator: EmulatorServer, clock: FakeClock) -> None:
    async with make_client(emulator.base_url, "sq0atp-Wrong-Token", clock) as client:
        with pytest.raises(Unauthorized) as caught:
            await client.list_groups()

    assert (await emulator.admin.stats())["total"] == 1
    assert "SQUARE_ACCESS_TOKEN" in str(caught.value)


async def test_403_not_retried(emulator: EmulatorServer, clock: FakeClock) -> None:
    await emulator.admin.add_token("read-only-token", scopes=["CUSTOMERS_READ"])

    async with make_client(emulator.base_url, "read-only-token", clock) as client:
        with pytest.raises(Forbidden) as caught:
            await client.create_group("VIP", idempotency_key="k")

    assert (await emulator.admin.stats())["total"] == 1
    assert caught.value.missing_scope == "CUSTOMERS_WRITE"
    assert "CUSTOMERS_WRITE" in str(caught.value)


async def test_404_not_retried(client: SquareClient, emulator: EmulatorServer) -> None:
    with pytest.raises(NotFound):
        await client.retrieve_customer("NO-SUCH-CUSTOMER")

    assert await served(emulator, "RetrieveCustomer") == {"404": 1}


async def test_refused_connection(clock: FakeClock) -> None:
    async with serve(_empty_object) as base_url:
        pass  # The server is gone now, so its port refuses connections.

    async with make_client(base_url, "token", clock) as client:
        with pytest.raises(ConnectionFailed) as caught:
            await client.list_groups()

    assert caught.value.status is None
    assert isinstance(caught.value.__cause__, OSError)
    assert client.stats.requests == {("ListCustomerGroups", "error"): POLICY.attempts}


async def test_non_json_success_retried(clock: FakeClock, logs: list[EventDict]) -> None:
    bodies = ["<html>maintenance</html>", json.dumps({"groups": [{"id": "G1", "name": "VIP"}]})]

    async def answer(request: web.Request) -> web.Response:
        return web.Response(text=bodies.pop(0), content_type="text/html")

    async with serve(answer) as base_url, make_client(base_url, "token", clock) as client:
        groups = await client.list_groups()

    assert [group.id for group in groups] == ["G1"]
    assert retry_reasons(logs) == [200]


async def test_non_json_success_surfaces(clock: FakeClock) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(text="[1, 2]", content_type="application/json")

    async with serve(answer) as base_url, make_client(base_url, "token", clock) as client:
        with pytest.raises(InvalidResponse):
            await client.list_groups()


async def test_request_headers(clock: FakeClock) -> None:
    seen: list[dict[str, str]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return await _empty_object(request)

    async with serve(record) as base_url, make_client(base_url, "tok-123", clock) as client:
        await client.create_group("VIP", idempotency_key="k")

    assert seen[0]["Authorization"] == "Bearer tok-123"
    assert seen[0]["Square-Version"] == "2025-08-20"
    assert seen[0]["Content-Type"] == "application/json"
    assert seen[0]["User-Agent"] == USER_AGENT


async def test_token_never_logged(emulator: EmulatorServer, clock: FakeClock) -> None:
    admin = emulator.admin
    raised: list[SquareError] = []

    with structlog.testing.capture_logs() as logs:
        async with make_client(emulator.base_url, SECRET_TOKEN, clock) as client:
            await admin.add_fault_rule(kind="status", status=500, times=10)
            await _expect_failure(client, raised)
            await admin.clear_fault_rules()
            await admin.add_fault_rule(kind="html", status=502, times=10)
            await _expect_failure(client, raised)
            await admin.clear_fault_rules()
            await admin.add_fault_rule(kind="drop", times=10)
            await _expect_failure(client, raised)
            await admin.clear_fault_rules()
        async with make_client(emulator.base_url, SECRET_TOKEN + "-revoked", clock) as client:
            await _expect_failure(client, raised)

    assert len(raised) == 4
    assert logs
    for entry in logs:
        assert SECRET_TOKEN not in repr(entry)
    for error in raised:
        assert SECRET_TOKEN not in "".join(traceback.format_exception(error))
        assert SECRET_TOKEN not in repr(error)


async def _expect_failure(client: SquareClient, raised: list[SquareError]) -> None:
    try:
        await client.list_groups()
    except SquareError as error:
        raised.append(error)


async def _empty_object(request: web.Request) -> web.Response:
    return web.json_response({"group": {"id": "G1", "name": "VIP"}})
