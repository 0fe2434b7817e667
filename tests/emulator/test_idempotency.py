"""Idempotency keys on CreateCustomer, CreateCustomerGroup and BulkCreateCustomers.

Square replays the original response when a key comes back with the same request, and
returns ``IDEMPOTENCY_KEY_REUSED`` when it comes back with a different one.
"""

from __future__ import annotations

from groupsync.emulator.settings import EmulatorSettings, TokenGrant

from .square_http import SquareHttp, started_emulator


async def _create(square: SquareHttp, key: str, **fields: str) -> dict:
    return await square.ok("POST", "/v2/customers", json_body={"idempotency_key": key, **fields})


async def _count_customers(square: SquareHttp) -> int:
    body = await square.ok("GET", "/v2/customers", query={"count": True})
    return int(body.get("count", 0))


async def test_customer_same_key_same_body_replays(square: SquareHttp) -> None:
    first = await _create(square, "key-1", given_name="Ada")

    second = await _create(square, "key-1", given_name="Ada")

    assert second == first


async def test_customer_replay_creates_no_duplicate(square: SquareHttp) -> None:
    await _create(square, "key-1", given_name="Ada")
    await _create(square, "key-1", given_name="Ada")

    assert await _count_customers(square) == 1


async def test_customer_replay_returns_first_response(square: SquareHttp) -> None:
    first = await _create(square, "key-1", given_name="Ada")
    customer_id = first["customer"]["id"]
    await square.ok("PUT", f"/v2/customers/{customer_id}", json_body={"note": "changed"})

    replay = await _create(square, "key-1", given_name="Ada")

    assert replay == first


async def test_customer_same_key_other_body_is_reused(square: SquareHttp) -> None:
    await _create(square, "key-1", given_name="Ada")

    response = await square.request(
        "POST", "/v2/customers", json_body={"idempotency_key": "key-1", "given_name": "Bo"}
    )

    assert response.status == 400
    assert response.error["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert response.error["category"] == "INVALID_REQUEST_ERROR"


async def test_customer_reused_key_creates_nothing(square: SquareHttp) -> None:
    await _create(square, "key-1", given_name="Ada")
    await square.request(
        "POST", "/v2/customers", json_body={"idempotency_key": "key-1", "given_name": "Bo"}
    )

    assert await _count_customers(square) == 1


async def test_customer_without_key_creates_each_time(square: SquareHttp) -> None:
    await square.create_customer(given_name="Ada")
    await square.create_customer(given_name="Ada")

    assert await _count_customers(square) == 2


async def test_customer_keys_are_per_seller() -> None:
    tokens = [TokenGrant("token-a", seller="a"), TokenGrant("token-b", seller="b")]
    async with started_emulator(EmulatorSettings(tokens=tokens)) as (_, square):
        first = await _create(square.with_token("token-a"), "key-1", given_name="Ada")

        second = await _create(square.with_token("token-b"), "key-1", given_name="Bo")

    assert second["customer"]["given_name"] == "Bo"
    assert second["customer"]["id"] != first["customer"]["id"]


async def test_group_same_key_same_body_replays(square: SquareHttp) -> None:
    body = {"idempotency_key": "g-1", "group": {"name": "Gold"}}
    first = await square.ok("POST", "/v2/customers/groups", json_body=body)

    second = await square.ok("POST", "/v2/customers/groups", json_body=body)

    assert second == first


async def test_group_replay_creates_no_duplicate(square: SquareHttp) -> None:
    body = {"idempotency_key": "g-1", "group": {"name": "Gold"}}
    await square.ok("POST", "/v2/customers/groups", json_body=body)
    await square.ok("POST", "/v2/customers/groups", json_body=body)

    listed = await square.ok("GET", "/v2/customers/groups")

    assert len(listed["groups"]) == 1


async def test_group_same_key_other_body_is_reused(square: SquareHttp) -> None:
    await square.ok(
        "POST", "/v2/customers/groups", json_body={"idempotency_key": "g-1", "group": {"name": "A"}}
    )

    response = await square.request(
        "POST", "/v2/customers/groups", json_body={"idempotency_key": "g-1", "group": {"name": "B"}}
    )

    assert response.status == 400
    assert response.error["code"] == "IDEMPOTENCY_KEY_REUSED"


async def test_bulk_same_keys_same_body_replays(square: SquareHttp) -> None:
    body = {"customers": {"b-1": {"given_name": "Ada"}, "b-2": {"given_name": "Bo"}}}
    first = await square.ok("POST", "/v2/customers/bulk-create", json_body=body)

    second = await square.ok("POST", "/v2/customers/bulk-create", json_body=body)

    assert second == first
    assert await _count_customers(square) == 2


async def test_bulk_key_with_other_data_is_reused(square: SquareHttp) -> None:
    await square.ok(
        "POST", "/v2/customers/bulk-create", json_body={"customers": {"b-1": {"given_name": "Ada"}}}
    )

    body = await square.ok(
        "POST", "/v2/customers/bulk-create", json_body={"customers": {"b-1": {"given_name": "Bo"}}}
    )

    assert body["responses"]["b-1"]["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await _count_customers(square) == 1


async def test_bulk_key_replays_single_create(square: SquareHttp) -> None:
    bulk = await square.ok(
        "POST", "/v2/customers/bulk-create", json_body={"customers": {"b-1": {"given_name": "Ada"}}}
    )

    body = await square.ok(
        "POST",
        "/v2/customers/bulk-create",
        json_body={"customers": {"b-1": {"given_name": "Ada"}, "b-2": {"given_name": "Bo"}}},
    )

    assert body["responses"]["b-1"] == bulk["responses"]["b-1"]
    assert await _count_customers(square) == 2
