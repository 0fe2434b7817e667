"""The ``Square-Version`` header: optional, echoed on the response, rejected when malformed.

Square serves a request without the header with the application's default version and
names the version it used in the response's ``Square-Version`` header. A value that is not a
``YYYY-MM-DD`` date is 400 ``INVALID_SQUARE_VERSION_FORMAT``.
"""

from __future__ import annotations

import pytest

from groupsync.emulator.settings import EmulatorSettings

from .square_http import SquareHttp, started_emulator


async def test_given_version_is_echoed(square: SquareHttp) -> None:
    response = await square.request(
        "GET", "/v2/customers", headers={"Square-Version": "2024-01-18"}
    )

    assert response.status == 200
    assert response.headers["Square-Version"] == "2024-01-18"


async def test_missing_version_uses_default(square: SquareHttp) -> None:
    response = await square.request("GET", "/v2/customers")

    assert response.status == 200
    assert response.headers["Square-Version"] == "2025-08-20"


async def test_configured_default_version_is_used() -> None:
    settings = EmulatorSettings(square_version_default="2024-10-17")
    async with started_emulator(settings) as (_, square):
        response = await square.request("GET", "/v2/customers")

    assert response.headers["Square-Version"] == "2024-10-17"


async def test_version_is_echoed_on_error(square: SquareHttp) -> None:
    response = await square.request(
        "GET", "/v2/customers/NOSUCHCUSTOMER", headers={"Square-Version": "2024-01-18"}
    )

    assert response.status == 404
    assert response.headers["Square-Version"] == "2024-01-18"


@pytest.mark.parametrize("version", ["2025/08/20", "latest", "20250820", "2025-13-01", "2025-8-20"])
async def test_malformed_version_is_rejected(square: SquareHttp, version: str) -> None:
    response = await square.request("GET", "/v2/customers", headers={"Square-Version": version})

    assert response.status == 400
    assert response.error["code"] == "INVALID_SQUARE_VERSION_FORMAT"
    assert response.error["category"] == "INVALID_REQUEST_ERROR"


async def test_malformed_version_blocks_write(square: SquareHttp) -> None:
    await square.request(
        "POST",
        "/v2/customers",
        json_body={"given_name": "Ada"},
        headers={"Square-Version": "yesterday"},
    )

    assert await square.ok("GET", "/v2/customers") == {}


async def test_group_unknown_field_allowed_before_2022_03_16(square: SquareHttp) -> None:
    response = await square.request(
        "POST",
        "/v2/customers/groups",
        json_body={"group": {"name": "Gold", "colour": "gold"}},
        headers={"Square-Version": "2021-12-15"},
    )

    assert response.status == 200
    assert response.body["group"]["name"] == "Gold"
