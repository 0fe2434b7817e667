"""The official Square Python SDK (package ``squareup``) against the emulator.

The SDK drives all 17 endpoints, pages through customers and groups with its pagers, and
raises ``ApiError`` with the status and parsed errors on a 4xx. A shape the SDK cannot read
(a renamed key, a missing cursor) shows up here as missing items or wrong values.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from square import AsyncSquare, Square
from square.core.api_error import ApiError

from groupsync.emulator.settings import EmulatorSettings, TokenGrant
from groupsync.testing.emulator import EmulatorServer

from .square_http import SquareHttp, started_emulator

NO_RETRIES = {"max_retries": 0}


@pytest.fixture
async def sdk(emulator: EmulatorServer) -> AsyncIterator[AsyncSquare]:
    async with httpx.AsyncClient(timeout=10) as http_client:
        yield AsyncSquare(
            base_url=emulator.base_url, token=emulator.token, httpx_client=http_client
        )


async def _create(sdk: AsyncSquare, given_name: str) -> str:
    response = await sdk.customers.create(given_name=given_name)
    assert response.customer is not None
    assert response.customer.id is not None
    return response.customer.id


async def test_create_customer(sdk: AsyncSquare) -> None:
    response = await sdk.customers.create(
        idempotency_key="sdk-1", given_name="Ada", email_address="ada@example.com"
    )

    assert response.customer is not None
    assert response.customer.given_name == "Ada"
    assert response.customer.version == 0
    assert response.errors is None


async def test_get_customer(sdk: AsyncSquare) -> None:
    customer_id = await _create(sdk, "Ada")

    response = await sdk.customers.get(customer_id)

    assert response.customer is not None
    assert response.customer.id == customer_id
    assert response.customer.given_name == "Ada"


async def test_update_customer(sdk: AsyncSquare) -> None:
    customer_id = await _create(sdk, "Ada")

    response = await sdk.customers.update(customer_id, note="prefers email", version=0)

    assert response.customer is not None
    assert response.customer.note == "prefers email"
    assert response.customer.version == 1


async def test_delete_customer(sdk: AsyncSquare) -> None:
    customer_id = await _create(sdk, "Ada")

    await sdk.customers.delete(customer_id)

    with pytest.raises(ApiError) as raised:
        await sdk.customers.get(customer_id)
    assert raised.value.status_code == 404


async def test_list_pager_pages_through_customers(sdk: AsyncSquare, square: SquareHttp) -> None:
    created = await square.bulk_create(
        [{"given_name": f"Name{index:03d}"} for index in range(120)], key_prefix="sdk"
    )

    pager = await sdk.customers.list(limit=50)
    listed = [customer.id async for customer in pager]

    assert sorted(listed) == sorted(created)
    assert len(listed) == 120


async def test_list_pager_sorts_by_creation(sdk: AsyncSquare, emulator: EmulatorServer) -> None:
    customers = [
        {"id": "NEWER", "given_name": "Ada", "created_at": "2024-02-01T00:00:00.000Z"},
        {"id": "OLDER", "given_name": "Bo", "created_at": "2024-01-01T00:00:00.000Z"},
    ]
    await emulator.admin.load_state({"sellers": {"default": {"customers": customers}}})

    pager = await sdk.customers.list(sort_field="CREATED_AT", sort_order="DESC", count=True)
    listed = [customer.id async for customer in pager]

    assert listed == ["NEWER", "OLDER"]
    assert pager.response.count == 2


async def test_batch_create(sdk: AsyncSquare) -> None:
    response = await sdk.customers.batch_create(
        customers={"k1": {"given_name": "Ada"}, "k2": {"email_address": "bo@example.com"}}
    )

    assert response.responses is not None
    assert response.responses["k1"].customer is not None
    assert response.responses["k1"].customer.given_name == "Ada"
    assert response.responses["k2"].customer is not None
    assert response.responses["k2"].customer.email_address == "bo@example.com"


async def test_bulk_retrieve(sdk: AsyncSquare) -> None:
    customer_id = await _create(sdk, "Ada")

    response = await sdk.customers.bulk_retrieve_customers(customer_ids=[customer_id, "MISSING"])

    assert response.responses is not None
    assert response.responses[customer_id].customer is not None
    assert response.responses["MISSING"].errors is not None
    assert response.responses["MISSING"].errors[0].code == "NOT_FOUND"


async def test_bulk_update(sdk: AsyncSquare) -> None:
    customer_id = await _create(sdk, "Ada")

    response = await sdk.customers.bulk_update_customers(
        customers={customer_id: {"note": "bulk", "version": 0}}
    )

    assert response.responses is not None
    assert response.responses[customer_id].customer is not None
    assert response.responses[customer_id].customer.note == "bulk"


async def test_bulk_delete(sdk: AsyncSquare) -> None:
    customer_id = await _create(sdk, "Ada")

    response = await sdk.customers.bulk_delete_customers(customer_ids=[customer_id])

    assert response.responses is not None
    assert response.responses[customer_id].errors is None


async def test_search_pages_with_cursor(sdk: AsyncSquare, square: SquareHttp) -> None:
    group = await sdk.customers.groups.create(group={"name": "Gold"})
    assert group.group is not None and group.group.id is not None
    created = await square.bulk_create(
        [{"given_name": f"Name{index:03d}"} for index in range(25)], key_prefix="sdk"
    )
    for customer_id in created[:15]:
        await sdk.customers.groups.add(customer_id, group.group.id)
    query = {"filter": {"group_ids": {"any": [group.group.id]}}}

    found: list[str] = []
    cursor = None
    while True:
        page = await sdk.customers.search(limit=4, query=query, cursor=cursor)
        found += [customer.id for customer in page.customers or [] if customer.id]
        cursor = page.cursor
        if cursor is None:
            break

    assert sorted(found) == sorted(created[:15])


async def test_group_create_get_update_delete(sdk: AsyncSquare) -> None:
    created = await sdk.customers.groups.create(group={"name": "Gold"}, idempotency_key="g1")
    assert created.group is not None and created.group.id is not None
    group_id = created.group.id

    fetched = await sdk.customers.groups.get(group_id)
    updated = await sdk.customers.groups.update(group_id, group={"name": "Platinum"})
    await sdk.customers.groups.delete(group_id)

    assert fetched.group is not None
    assert fetched.group.name == "Gold"
    assert updated.group is not None
    assert updated.group.name == "Platinum"
    with pytest.raises(ApiError) as raised:
        await sdk.customers.groups.get(group_id)
    assert raised.value.status_code == 404


async def test_group_pager_pages_through_groups(sdk: AsyncSquare) -> None:
    created = []
    for index in range(45):
        response = await sdk.customers.groups.create(group={"name": f"Group {index:02d}"})
        assert response.group is not None
        created.append(response.group.id)

    pager = await sdk.customers.groups.list(limit=20)
    listed = [group.id async for group in pager]

    assert sorted(listed) == sorted(created)
    assert len(listed) == 45


async def test_group_add_and_remove(sdk: AsyncSquare) -> None:
    customer_id = await _create(sdk, "Ada")
    group = await sdk.customers.groups.create(group={"name": "Gold"})
    assert group.group is not None and group.group.id is not None

    await sdk.customers.groups.add(customer_id, group.group.id)
    member = await sdk.customers.get(customer_id)
    await sdk.customers.groups.remove(customer_id, group.group.id)
    former = await sdk.customers.get(customer_id)

    assert member.customer is not None
    assert member.customer.group_ids == [group.group.id]
    assert former.customer is not None
    assert former.customer.group_ids is None


async def test_not_found_raises_api_error(sdk: AsyncSquare) -> None:
    with pytest.raises(ApiError) as raised:
        await sdk.customers.get("NOSUCHCUSTOMER")

    assert raised.value.status_code == 404
    assert raised.value.errors[0].code == "NOT_FOUND"
    assert raised.value.errors[0].category == "INVALID_REQUEST_ERROR"


async def test_limit_too_high_raises_api_error(sdk: AsyncSquare) -> None:
    with pytest.raises(ApiError) as raised:
        await sdk.customers.list(limit=101)

    assert raised.value.status_code == 400
    assert raised.value.errors[0].code == "VALUE_TOO_HIGH"
    assert raised.value.errors[0].field == "limit"


async def test_group_limit_too_high_raises_api_error(sdk: AsyncSquare) -> None:
    with pytest.raises(ApiError) as raised:
        await sdk.customers.groups.list(limit=51)

    assert raised.value.status_code == 400
    assert raised.value.errors[0].code == "VALUE_TOO_HIGH"


async def test_invalid_email_raises_api_error(sdk: AsyncSquare) -> None:
    with pytest.raises(ApiError) as raised:
        await sdk.customers.create(email_address="not-an-email")

    assert raised.value.status_code == 400
    assert raised.value.errors[0].code == "INVALID_EMAIL_ADDRESS"


async def test_reused_idempotency_key_raises_api_error(sdk: AsyncSquare) -> None:
    await sdk.customers.create(idempotency_key="same", given_name="Ada")

    with pytest.raises(ApiError) as raised:
        await sdk.customers.create(idempotency_key="same", given_name="Bo")

    assert raised.value.status_code == 400
    assert raised.value.errors[0].code == "IDEMPOTENCY_KEY_REUSED"


async def test_stale_version_raises_api_error(sdk: AsyncSquare) -> None:
    customer_id = await _create(sdk, "Ada")
    await sdk.customers.update(customer_id, note="first")

    with pytest.raises(ApiError) as raised:
        await sdk.customers.update(customer_id, note="second", version=0)

    assert raised.value.status_code == 400
    assert raised.value.errors[0].code == "CONFLICT"


async def test_bad_token_raises_api_error(emulator: EmulatorServer) -> None:
    async with httpx.AsyncClient(timeout=10) as http_client:
        sdk = AsyncSquare(base_url=emulator.base_url, token="wrong", httpx_client=http_client)

        with pytest.raises(ApiError) as raised:
            await sdk.customers.groups.list()

    assert raised.value.status_code == 401
    assert raised.value.errors[0].code == "UNAUTHORIZED"


async def test_missing_scope_raises_api_error() -> None:
    settings = EmulatorSettings(
        tokens=[TokenGrant("read-only", scopes=frozenset({"CUSTOMERS_READ"}))]
    )
    async with (
        started_emulator(settings) as (server, _),
        httpx.AsyncClient(timeout=10) as http_client,
    ):
        sdk = AsyncSquare(base_url=server.base_url, token="read-only", httpx_client=http_client)

        with pytest.raises(ApiError) as raised:
            await sdk.customers.create(given_name="Ada")

    assert raised.value.status_code == 403
    assert raised.value.errors[0].code == "INSUFFICIENT_SCOPES"


async def test_sdk_retries_after_retry_after(sdk: AsyncSquare, emulator: EmulatorServer) -> None:
    await emulator.admin.add_fault_rule(
        endpoint="ListCustomerGroups", kind="status", status=429, retry_after_s=0.1
    )
    await sdk.customers.groups.create(group={"name": "Gold"})

    pager = await sdk.customers.groups.list()
    names = [group.name async for group in pager]

    assert names == ["Gold"]


async def test_rate_limited_raises_without_retries(
    sdk: AsyncSquare, emulator: EmulatorServer
) -> None:
    await emulator.admin.add_fault_rule(endpoint="RetrieveCustomer", kind="status", status=429)

    with pytest.raises(ApiError) as raised:
        await sdk.customers.get("ANY", request_options=NO_RETRIES)

    assert raised.value.status_code == 429
    assert raised.value.errors[0].code == "RATE_LIMITED"


async def test_sync_client_pages_through_groups(
    emulator: EmulatorServer, square: SquareHttp
) -> None:
    created = [(await square.create_group(f"Group {index:02d}"))["id"] for index in range(30)]

    def list_groups() -> list[str | None]:
        with httpx.Client(timeout=10) as http_client:
            client = Square(
                base_url=emulator.base_url, token=emulator.token, httpx_client=http_client
            )
            return [group.id for group in client.customers.groups.list(limit=7)]

    listed = await asyncio.to_thread(list_groups)

    assert sorted(listed) == sorted(created)


async def test_sync_client_pages_through_customers(
    emulator: EmulatorServer, square: SquareHttp
) -> None:
    created = await square.bulk_create(
        [{"given_name": f"Name{index:03d}"} for index in range(30)], key_prefix="sync"
    )

    def list_customers() -> list[str | None]:
        with httpx.Client(timeout=10) as http_client:
            client = Square(
                base_url=emulator.base_url, token=emulator.token, httpx_client=http_client
            )
            return [customer.id for customer in client.customers.list(limit=8)]

    listed = await asyncio.to_thread(list_customers)

    assert sorted(listed) == sorted(created)
