"""Eventual consistency: list and search see a write only after the configured lag.

Square documents that new and updated profiles reach ListCustomers and SearchCustomers "in
well under 30 seconds", while RetrieveCustomer and BulkRetrieveCustomers read the profile
itself. The emulator's ``consistency_lag_s`` is that delay. These tests use 0.3 s and wait for
it with real sleeps, because the lag runs on the emulator's own clock.
"""

from __future__ import annotations

import asyncio

from groupsync.emulator.settings import EmulatorSettings

from .square_http import SquareHttp, started_emulator

LAG_S = 0.3
AFTER_LAG_S = LAG_S + 0.2
LAGGED = EmulatorSettings(consistency_lag_s=LAG_S)


async def _listed_ids(square: SquareHttp) -> list[str]:
    body = await square.ok("GET", "/v2/customers")
    return [customer["id"] for customer in body.get("customers", [])]


async def test_default_lag_lists_write_at_once(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada")

    assert await _listed_ids(square) == [customer["id"]]


async def test_new_customer_is_not_listed_during_lag() -> None:
    async with started_emulator(LAGGED) as (_, square):
        await square.create_customer(given_name="Ada")

        assert await _listed_ids(square) == []


async def test_new_customer_is_not_searched_during_lag() -> None:
    async with started_emulator(LAGGED) as (_, square):
        await square.create_customer(given_name="Ada")

        assert await square.search_ids({}) == []


async def test_new_customer_is_listed_after_lag() -> None:
    async with started_emulator(LAGGED) as (_, square):
        customer = await square.create_customer(given_name="Ada")
        await asyncio.sleep(AFTER_LAG_S)

        assert await _listed_ids(square) == [customer["id"]]
        assert await square.search_ids({}) == [customer["id"]]


async def test_new_customer_is_retrievable_at_once() -> None:
    async with started_emulator(LAGGED) as (_, square):
        customer = await square.create_customer(given_name="Ada")

        assert await square.get_customer(customer["id"]) == customer


async def test_new_customer_is_bulk_retrievable_at_once() -> None:
    async with started_emulator(LAGGED) as (_, square):
        customer = await square.create_customer(given_name="Ada")

        body = await square.ok(
            "POST", "/v2/customers/bulk-retrieve", json_body={"customer_ids": [customer["id"]]}
        )

        assert body["responses"][customer["id"]] == {"customer": customer}


async def test_update_is_listed_after_lag() -> None:
    async with started_emulator(LAGGED) as (_, square):
        customer = await square.create_customer(given_name="Ada", note="old")
        await asyncio.sleep(AFTER_LAG_S)
        await square.ok("PUT", f"/v2/customers/{customer['id']}", json_body={"note": "new"})

        during = await square.ok("GET", "/v2/customers")
        await asyncio.sleep(AFTER_LAG_S)
        after = await square.ok("GET", "/v2/customers")

        assert during["customers"][0]["note"] == "old"
        assert after["customers"][0]["note"] == "new"


async def test_update_is_retrievable_at_once() -> None:
    async with started_emulator(LAGGED) as (_, square):
        customer = await square.create_customer(given_name="Ada", note="old")
        await square.ok("PUT", f"/v2/customers/{customer['id']}", json_body={"note": "new"})

        assert (await square.get_customer(customer["id"]))["note"] == "new"


async def test_membership_reaches_group_search_after_lag() -> None:
    async with started_emulator(LAGGED) as (_, square):
        customer = await square.create_customer(given_name="Ada")
        group = await square.create_group("Gold")
        await asyncio.sleep(AFTER_LAG_S)
        await square.add_member(customer["id"], group["id"])
        query = {"filter": {"group_ids": {"any": [group["id"]]}}}

        during = await square.search_ids(query)
        await asyncio.sleep(AFTER_LAG_S)
        after = await square.search_ids(query)

        assert during == []
        assert after == [customer["id"]]


async def test_delete_leaves_list_after_lag() -> None:
    async with started_emulator(LAGGED) as (_, square):
        customer = await square.create_customer(given_name="Ada")
        await asyncio.sleep(AFTER_LAG_S)
        await square.ok("DELETE", f"/v2/customers/{customer['id']}")

        during = await _listed_ids(square)
        await asyncio.sleep(AFTER_LAG_S)
        after = await _listed_ids(square)

        assert during == [customer["id"]]
        assert after == []
