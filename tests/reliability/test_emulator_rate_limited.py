"""The emulator's ``rate_limited_rate``: a share of requests that get 429 RATE_LIMITED, with
``Retry-After`` when ``retry_after_s`` is set, whatever the client's pace."""

from __future__ import annotations

import pytest

from groupsync.emulator.settings import EmulatorSettings
from tests.emulator.square_http import started_emulator

REQUESTS = 200


async def test_share_of_requests_get_429() -> None:
    settings = EmulatorSettings(rate_limited_rate=0.33, seed=3)
    async with started_emulator(settings) as (_, square):
        statuses = [(await square.request("GET", "/v2/customers")).status for _ in range(REQUESTS)]

    share = statuses.count(429) / REQUESTS
    assert set(statuses) == {200, 429}
    assert 0.2 < share < 0.45


async def test_429_carries_retry_after() -> None:
    settings = EmulatorSettings(rate_limited_rate=1.0, retry_after_s=2)
    async with started_emulator(settings) as (_, square):
        response = await square.request("GET", "/v2/customers")

    assert response.status == 429
    assert response.error["code"] == "RATE_LIMITED"
    assert float(response.headers["Retry-After"]) == 2


async def test_429_without_retry_after() -> None:
    settings = EmulatorSettings(rate_limited_rate=1.0, retry_after_s=None)
    async with started_emulator(settings) as (_, square):
        response = await square.request("GET", "/v2/customers")

    assert response.status == 429
    assert "Retry-After" not in response.headers


async def test_rate_limited_rate_above_one_is_rejected() -> None:
    settings = EmulatorSettings()

    with pytest.raises(ValueError, match="between 0 and 1"):
        settings.update_traffic({"rate_limited_rate": 1.5})
