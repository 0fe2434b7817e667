"""Cursor paging: uneven pages from the emulator, and peers whose cursors never end."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from square_test_peer import serve

from groupsync.emulator import EmulatorSettings
from groupsync.square.client import SquareClient
from groupsync.square.errors import BadRequest, PagingError
from groupsync.square.retry import RetryPolicy
from groupsync.testing.emulator import EmulatorServer


@pytest.fixture
async def uneven() -> AsyncIterator[EmulatorServer]:
    """An emulator whose pages cycle through full, empty (with a cursor) and half size."""
    async with EmulatorServer(EmulatorSettings(page_mode="uneven", seed=1)) as server:
        yield server


@pytest.fixture
async def client(uneven: EmulatorServer) -> AsyncIterator[SquareClient]:
    async with SquareClient(base_url=uneven.base_url, token=uneven.token) as square:
        yield square


async def pages_of(iterator: AsyncIterator[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
    return [page async for page in iterator]


def ids_in(pages: list[list[dict[str, Any]]]) -> list[str]:
    return [customer["id"] for page in pages for customer in page]


async def test_uneven_search_reads_all(client: SquareClient, uneven: EmulatorServer) -> None:
    generated = await uneven.admin.generate(customers=250, groups=1, seed=1)

    pages = await pages_of(client.iter_search_pages(None))

    assert sorted(ids_in(pages)) == sorted(generated["customer_ids"])
    assert all(pages)


async def test_uneven_empty_page_followed(client: SquareClient, uneven: EmulatorServer) -> None:
    await uneven.admin.generate(customers=250, groups=1, seed=1)

    pages = await pages_of(client.iter_search_pages(None))

    requests = client.stats.requests[("SearchCustomers", 200)]
    assert requests > len(pages)


async def test_uneven_customer_pages(client: SquareClient, uneven: EmulatorServer) -> None:
    generated = await uneven.admin.generate(customers=250, groups=1, seed=2)

    pages = await pages_of(client.iter_customer_pages())

    assert sorted(ids_in(pages)) == sorted(generated["customer_ids"])
    assert client.stats.requests[("ListCustomers", 200)] > len(pages)


async def test_uneven_group_members(client: SquareClient, uneven: EmulatorServer) -> None:
    generated = await uneven.admin.generate(
        customers=400, groups=1, memberships_per_customer=1.0, seed=3
    )
    group_id = generated["group_ids"][0]
    state = await uneven.admin.dump()
    expected = [
        c["id"]
        for c in state["sellers"]["default"]["customers"]
        if group_id in c.get("group_ids", [])
    ]

    pages = await pages_of(client.iter_group_members(group_id))

    assert sorted(ids_in(pages)) == sorted(expected)


async def test_uneven_groups(client: SquareClient, uneven: EmulatorServer) -> None:
    generated = await uneven.admin.generate(customers=1, groups=130, seed=4)

    groups = await client.list_groups()

    assert sorted(group.id for group in groups) == sorted(generated["group_ids"])


async def test_error_mid_walk_raises(client: SquareClient, uneven: EmulatorServer) -> None:
    await uneven.admin.generate(customers=250, groups=1, seed=5)
    pages = client.iter_search_pages(None)
    first = await anext(pages)
    assert first
    await uneven.admin.add_fault_rule(endpoint="SearchCustomers", kind="status", status=400)

    with pytest.raises(BadRequest):
        async for _ in pages:
            pass


async def test_repeated_cursor_raises() -> None:
    async def same_cursor(request: web.Request) -> web.Response:
        return web.json_response({"customers": [{"id": "C1"}], "cursor": "again"})

    async with serve(same_cursor) as base_url, SquareClient(base_url=base_url, token="t") as client:
        with pytest.raises(PagingError) as caught:
            await pages_of(client.iter_search_pages(None))

    assert caught.value.operation == "SearchCustomers"
    assert "stopped after reading 2 pages" in str(caught.value)
    assert client.stats.total_requests == 2


async def test_repeated_cursor_not_retried() -> None:
    async def same_cursor(request: web.Request) -> web.Response:
        return web.json_response({"customers": [], "cursor": "again"})

    policy = RetryPolicy(attempts=5)
    async with (
        serve(same_cursor) as base_url,
        SquareClient(base_url=base_url, token="t", retry_policy=policy) as client,
    ):
        with pytest.raises(PagingError):
            await pages_of(client.iter_customer_pages())

    assert client.stats.retries == 0


async def test_max_pages_raises() -> None:
    served = 0

    async def endless(request: web.Request) -> web.Response:
        nonlocal served
        served += 1
        return web.json_response({"customers": [{"id": f"C{served}"}], "cursor": f"c{served}"})

    async with serve(endless) as base_url, SquareClient(base_url=base_url, token="t") as client:
        with pytest.raises(PagingError) as caught:
            await pages_of(client.iter_search_pages(None, max_pages=5))

    assert served == 5
    assert "max_pages=5" in str(caught.value)


async def test_search_repeats_body_with_cursor() -> None:
    bodies: list[dict[str, Any]] = []

    async def two_pages(request: web.Request) -> web.Response:
        bodies.append(json.loads(await request.text()))
        if len(bodies) == 1:
            return web.json_response({"customers": [{"id": "C1"}], "cursor": "next"})
        return web.json_response({"customers": [{"id": "C2"}]})

    query = {"filter": {"group_ids": {"any": ["G1"]}}}
    async with serve(two_pages) as base_url, SquareClient(base_url=base_url, token="t") as client:
        pages = await pages_of(client.iter_search_pages(query, limit=50))

    assert ids_in(pages) == ["C1", "C2"]
    assert bodies[0] == {"limit": 50, "query": query}
    assert bodies[1] == {"limit": 50, "query": query, "cursor": "next"}


async def test_invalid_max_pages() -> None:
    async with SquareClient(base_url="http://127.0.0.1:9", token="t") as client:
        with pytest.raises(ValueError, match="max_pages"):
            await pages_of(client.iter_customer_pages(max_pages=0))
