"""Traffic shaping and faults: latency, per-seller rate limits, error statuses, dropped and
hanging connections, burst mode, and scripted fault rules.

Every case is deterministic: rates are 0 or 1 and rules fire a set number of times. Square
signals rate limiting with 429 ``RATE_LIMITED`` (category ``RATE_LIMIT_ERROR``). Whether it
sends ``Retry-After`` is not documented, so the emulator can do either.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from groupsync.emulator.settings import EmulatorSettings, TokenGrant
from groupsync.testing.emulator import EmulatorServer

from .square_http import SquareHttp, started_emulator

HANG_TIMEOUT_S = 0.5


async def _statuses(square: SquareHttp, count: int) -> list[int]:
    return [(await square.request("GET", "/v2/customers")).status for _ in range(count)]


async def test_latency_delays_response() -> None:
    async with started_emulator(EmulatorSettings(latency_ms=200)) as (_, square):
        started = time.monotonic()
        await square.ok("GET", "/v2/customers")
        elapsed_s = time.monotonic() - started

    assert elapsed_s >= 0.2


async def test_jitter_adds_at_most_jitter() -> None:
    async with started_emulator(EmulatorSettings(latency_ms=50, jitter_ms=100, seed=3)) as (
        _,
        square,
    ):
        durations_s = []
        for _ in range(5):
            started = time.monotonic()
            await square.ok("GET", "/v2/customers")
            durations_s.append(time.monotonic() - started)

    assert min(durations_s) >= 0.05
    assert max(durations_s) < 0.5


async def test_rate_limit_returns_429_after_burst() -> None:
    settings = EmulatorSettings(rate_limit_per_s=1, rate_burst=3)
    async with started_emulator(settings) as (_, square):
        statuses = await _statuses(square, 5)

    assert statuses == [200, 200, 200, 429, 429]


async def test_rate_limited_body_is_square_error() -> None:
    settings = EmulatorSettings(rate_limit_per_s=1, rate_burst=1)
    async with started_emulator(settings) as (_, square):
        await square.ok("GET", "/v2/customers")
        response = await square.request("GET", "/v2/customers")

    assert response.status == 429
    assert response.error["code"] == "RATE_LIMITED"
    assert response.error["category"] == "RATE_LIMIT_ERROR"


async def test_rate_limited_sends_retry_after() -> None:
    settings = EmulatorSettings(rate_limit_per_s=1, rate_burst=1, retry_after_s=2)
    async with started_emulator(settings) as (_, square):
        await square.ok("GET", "/v2/customers")
        response = await square.request("GET", "/v2/customers")

    assert response.status == 429
    assert float(response.headers["Retry-After"]) == 2


async def test_rate_limited_can_omit_retry_after() -> None:
    settings = EmulatorSettings(rate_limit_per_s=1, rate_burst=1, retry_after_s=None)
    async with started_emulator(settings) as (_, square):
        await square.ok("GET", "/v2/customers")
        response = await square.request("GET", "/v2/customers")

    assert response.status == 429
    assert "Retry-After" not in response.headers


async def test_rate_limit_refills_over_time() -> None:
    settings = EmulatorSettings(rate_limit_per_s=10, rate_burst=1)
    async with started_emulator(settings) as (_, square):
        await square.ok("GET", "/v2/customers")
        limited = await square.request("GET", "/v2/customers")
        await asyncio.sleep(0.15)
        refilled = await square.request("GET", "/v2/customers")

    assert limited.status == 429
    assert refilled.status == 200


async def test_rate_limit_is_per_seller() -> None:
    tokens = [TokenGrant("token-a", seller="a"), TokenGrant("token-b", seller="b")]
    settings = EmulatorSettings(tokens=tokens, rate_limit_per_s=1, rate_burst=2)
    async with started_emulator(settings) as (_, square):
        seller_a = await _statuses(square.with_token("token-a"), 3)
        seller_b = await _statuses(square.with_token("token-b"), 2)

    assert seller_a == [200, 200, 429]
    assert seller_b == [200, 200]


async def test_rate_limited_write_changes_nothing() -> None:
    settings = EmulatorSettings(rate_limit_per_s=0.01, rate_burst=1)
    async with started_emulator(settings) as (server, square):
        await square.create_customer(given_name="Ada")
        response = await square.request("POST", "/v2/customers", json_body={"given_name": "Bo"})
        dumped = await server.admin.dump(seller="default")

    assert response.status == 429
    assert len(dumped["sellers"]["default"]["customers"]) == 1


async def test_error_rate_returns_500_or_503() -> None:
    async with started_emulator(EmulatorSettings(error_rate=1.0, seed=5)) as (_, square):
        responses = [await square.request("GET", "/v2/customers") for _ in range(6)]

    assert {response.status for response in responses} <= {500, 503}
    assert all(response.error["category"] == "API_ERROR" for response in responses)


async def test_error_rate_uses_square_codes() -> None:
    expected = {500: "INTERNAL_SERVER_ERROR", 503: "SERVICE_UNAVAILABLE"}
    async with started_emulator(EmulatorSettings(error_rate=1.0, seed=5)) as (_, square):
        responses = [await square.request("GET", "/v2/customers") for _ in range(6)]

    assert all(response.error["code"] == expected[response.status] for response in responses)


async def test_html_error_rate_returns_502_html() -> None:
    async with started_emulator(EmulatorSettings(html_error_rate=1.0)) as (_, square):
        response = await square.request("GET", "/v2/customers")

    assert response.status == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.body is None


async def test_drop_rate_closes_connection() -> None:
    async with started_emulator(EmulatorSettings(drop_rate=1.0)) as (_, square):
        with pytest.raises(aiohttp.ClientConnectionError):
            await square.request("GET", "/v2/customers")


async def test_hang_rate_never_responds() -> None:
    async with started_emulator(EmulatorSettings(hang_rate=1.0)) as (_, square):
        with pytest.raises(asyncio.TimeoutError):
            await square.request("GET", "/v2/customers", timeout_s=HANG_TIMEOUT_S)


async def test_burst_mode_alternates_faults() -> None:
    settings = EmulatorSettings(error_rate=1.0, burst_period_s=0.2, burst_on_s=0.1)
    async with started_emulator(settings) as (_, square):
        statuses = []
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            statuses.append((await square.request("GET", "/v2/customers")).status)
            await asyncio.sleep(0.01)

    assert 200 in statuses
    assert {500, 503} & set(statuses)


async def test_set_faults_changes_behaviour_at_run_time(
    square: SquareHttp, emulator: EmulatorServer
) -> None:
    await emulator.admin.set_faults(error_rate=1.0)
    failing = await square.request("GET", "/v2/customers")
    await emulator.admin.set_faults(error_rate=0.0)
    healthy = await square.request("GET", "/v2/customers")

    assert failing.status in (500, 503)
    assert healthy.status == 200


async def test_set_faults_rate_limit_at_run_time(
    square: SquareHttp, emulator: EmulatorServer
) -> None:
    await emulator.admin.set_faults(rate_limit_per_s=1, rate_burst=1)

    statuses = await _statuses(square, 3)

    assert statuses == [200, 429, 429]


async def test_rule_fails_set_number_of_times(square: SquareHttp, emulator: EmulatorServer) -> None:
    await emulator.admin.add_fault_rule(
        endpoint="ListCustomers", kind="status", status=503, times=2
    )

    statuses = await _statuses(square, 3)

    assert statuses == [503, 503, 200]


async def test_rule_touches_only_its_endpoint(square: SquareHttp, emulator: EmulatorServer) -> None:
    await emulator.admin.add_fault_rule(endpoint="ListCustomerGroups", kind="status", status=500)

    customers = await square.request("GET", "/v2/customers")
    groups = await square.request("GET", "/v2/customers/groups")

    assert customers.status == 200
    assert groups.status == 500
    assert groups.error["code"] == "INTERNAL_SERVER_ERROR"


async def test_rule_429_with_retry_after(square: SquareHttp, emulator: EmulatorServer) -> None:
    await emulator.admin.add_fault_rule(
        endpoint="AddGroupToCustomer", kind="status", status=429, retry_after_s=1
    )
    customer = await square.create_customer(given_name="Ada")
    group = await square.create_group("Gold")

    response = await square.request("PUT", f"/v2/customers/{customer['id']}/groups/{group['id']}")

    assert response.status == 429
    assert response.error["code"] == "RATE_LIMITED"
    assert float(response.headers["Retry-After"]) == 1


async def test_failed_write_is_not_applied(square: SquareHttp, emulator: EmulatorServer) -> None:
    customer = await square.create_customer(given_name="Ada")
    group = await square.create_group("Gold")
    await emulator.admin.add_fault_rule(endpoint="AddGroupToCustomer", kind="status", status=500)

    await square.request("PUT", f"/v2/customers/{customer['id']}/groups/{group['id']}")

    assert "group_ids" not in await square.get_customer(customer["id"])


async def test_rule_drop_closes_connection(square: SquareHttp, emulator: EmulatorServer) -> None:
    # aiohttp retries an idempotent GET once on a dropped connection, so drop a POST.
    await emulator.admin.add_fault_rule(endpoint="SearchCustomers", kind="drop")

    with pytest.raises(aiohttp.ClientConnectionError):
        await square.request("POST", "/v2/customers/search", json_body={})
    assert (await square.request("POST", "/v2/customers/search", json_body={})).status == 200


async def test_rule_hang_never_responds(square: SquareHttp, emulator: EmulatorServer) -> None:
    await emulator.admin.add_fault_rule(endpoint="ListCustomers", kind="hang")

    with pytest.raises(asyncio.TimeoutError):
        await square.request("GET", "/v2/customers", timeout_s=HANG_TIMEOUT_S)
    assert (await square.request("GET", "/v2/customers")).status == 200


async def test_rule_html_returns_html(square: SquareHttp, emulator: EmulatorServer) -> None:
    await emulator.admin.add_fault_rule(endpoint="ListCustomers", kind="html", status=502)

    response = await square.request("GET", "/v2/customers")

    assert response.status == 502
    assert response.headers["Content-Type"].startswith("text/html")


async def test_rule_slow_delays_then_serves(square: SquareHttp, emulator: EmulatorServer) -> None:
    await emulator.admin.add_fault_rule(endpoint="ListCustomers", kind="slow", delay_ms=300)

    started = time.monotonic()
    response = await square.request("GET", "/v2/customers")
    elapsed_s = time.monotonic() - started

    assert response.status == 200
    assert elapsed_s >= 0.3


async def test_clear_fault_rules_restores_service(
    square: SquareHttp, emulator: EmulatorServer
) -> None:
    await emulator.admin.add_fault_rule(
        endpoint="ListCustomers", kind="status", status=500, times=5
    )

    await emulator.admin.clear_fault_rules()

    assert (await square.request("GET", "/v2/customers")).status == 200


async def test_faults_are_counted(square: SquareHttp, emulator: EmulatorServer) -> None:
    await emulator.admin.reset_stats()
    await emulator.admin.add_fault_rule(endpoint="ListCustomers", kind="status", status=503)
    await square.request("GET", "/v2/customers")
    await square.request("GET", "/v2/customers")

    stats = await emulator.admin.stats()

    assert stats["requests"]["ListCustomers"] == {"503": 1, "200": 1}
