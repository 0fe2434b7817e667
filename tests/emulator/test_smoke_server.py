"""Smoke tests of the emulator's own plumbing: the subprocess helper and the search index."""

from __future__ import annotations

import random

import aiohttp

from groupsync.emulator.customer_query import parse_query
from groupsync.emulator.store import SellerStore
from groupsync.testing.emulator import EmulatorProcess, EmulatorServer


async def test_process_prints_base_url_and_serves() -> None:
    async with EmulatorProcess(["--token", "second:other:CUSTOMERS_READ"]) as emulator:
        headers = {"Authorization": f"Bearer {emulator.token}"}
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{emulator.base_url}/v2/customers", headers=headers) as response,
        ):
            body = await response.json()

    assert emulator.base_url.startswith("http://127.0.0.1:")
    assert emulator.tokens == ["test-token", "second"]
    assert response.status == 200
    assert body == {}


async def test_process_exits_cleanly_on_sigterm() -> None:
    emulator = EmulatorProcess()
    emulator.start()

    exit_code = emulator.stop()

    assert exit_code == 0


def test_group_search_reads_group_members_only() -> None:
    store = SellerStore("default", rng=random.Random(1), lag_s=lambda: 0.0)
    group = store.create_group("Small")
    members = [store.create_customer({"given_name": f"Member{i}"}) for i in range(3)]
    for index in range(1000):
        store.create_customer({"given_name": f"Other{index}"})
    for member in members:
        store.add_to_group(member.id, group.id)
    query = parse_query(
        {"query": {"filter": {"group_ids": {"any": [group.id]}}}}, known_group_ids=store.groups
    )

    candidates = query.candidate_keys(store.view())

    assert [key[1] for key in candidates] == [member.id for member in members]


async def test_loaded_timestamps_sort_by_time(emulator: EmulatorServer) -> None:
    await emulator.admin.load_state(
        {
            "sellers": {
                "default": {
                    "customers": [
                        {"id": "LATER", "given_name": "A", "created_at": "2024-01-01T10:00:00Z"},
                        {
                            "id": "EARLIER",
                            "given_name": "B",
                            "created_at": "2024-01-01T09:30:00.5+00:00",
                        },
                    ]
                }
            }
        }
    )
    headers = {"Authorization": f"Bearer {emulator.token}"}
    url = f"{emulator.base_url}/v2/customers?sort_field=CREATED_AT"
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        body = await response.json()

    assert [customer["id"] for customer in body["customers"]] == ["EARLIER", "LATER"]
