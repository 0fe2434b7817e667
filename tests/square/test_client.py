"""SquareClient against the emulator over HTTP: every method on real state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from groupsync.errors import ConfigError
from groupsync.square.client import Group, SquareClient, resolve_base_url
from groupsync.square.errors import BadRequest, NotFound
from groupsync.testing.emulator import EmulatorServer


@pytest.fixture
async def client(emulator: EmulatorServer) -> AsyncIterator[SquareClient]:
    async with SquareClient(base_url=emulator.base_url, token=emulator.token) as square:
        yield square


async def collect(pages: AsyncIterator[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    customers: list[dict[str, Any]] = []
    async for page in pages:
        customers.extend(page)
    return customers


async def test_create_group(client: SquareClient, emulator: EmulatorServer) -> None:
    group = await client.create_group("VIP", idempotency_key="key-1")

    state = await emulator.admin.dump()
    assert group.name == "VIP"
    assert [g["id"] for g in state["sellers"]["default"]["groups"]] == [group.id]


async def test_create_group_idempotent(client: SquareClient) -> None:
    first = await client.create_group("VIP", idempotency_key="key-1")
    again = await client.create_group("VIP", idempotency_key="key-1")

    assert again == first


async def test_list_groups_all_pages(client: SquareClient, emulator: EmulatorServer) -> None:
    generated = await emulator.admin.generate(customers=1, groups=120, seed=1)

    groups = await client.list_groups()

    assert sorted(g.id for g in groups) == sorted(generated["group_ids"])
    assert client.stats.requests[("ListCustomerGroups", 200)] == 3


async def test_list_groups_empty(client: SquareClient) -> None:
    assert await client.list_groups() == []


async def test_retrieve_group(client: SquareClient) -> None:
    created = await client.create_group("Newsletter", idempotency_key="key-2")

    assert await client.retrieve_group(created.id) == Group(id=created.id, name="Newsletter")


async def test_retrieve_missing_group(client: SquareClient) -> None:
    with pytest.raises(NotFound) as caught:
        await client.retrieve_group("NO-SUCH-GROUP")

    assert caught.value.status == 404
    assert caught.value.operation == "RetrieveCustomerGroup"


async def test_update_group(client: SquareClient) -> None:
    created = await client.create_group("Old", idempotency_key="key-3")

    updated = await client.update_group(created.id, name="New")

    assert updated == Group(id=created.id, name="New")
    assert await client.retrieve_group(created.id) == updated


async def test_delete_group(client: SquareClient) -> None:
    created = await client.create_group("Gone soon", idempotency_key="key-4")

    await client.delete_group(created.id)

    with pytest.raises(NotFound):
        await client.retrieve_group(created.id)


async def test_add_group_to_customer(client: SquareClient) -> None:
    group = await client.create_group("VIP", idempotency_key="key-5")
    customer = await client.create_customer({"given_name": "Ada"}, idempotency_key="c-1")

    await client.add_group_to_customer(customer["id"], group.id)

    stored = await client.retrieve_customer(customer["id"])
    assert stored["group_ids"] == [group.id]


async def test_remove_group_from_customer(client: SquareClient) -> None:
    group = await client.create_group("VIP", idempotency_key="key-6")
    customer = await client.create_customer({"given_name": "Ada"}, idempotency_key="c-2")
    await client.add_group_to_customer(customer["id"], group.id)

    await client.remove_group_from_customer(customer["id"], group.id)

    stored = await client.retrieve_customer(customer["id"])
    assert "group_ids" not in stored


async def test_add_to_missing_customer(client: SquareClient) -> None:
    group = await client.create_group("VIP", idempotency_key="key-7")

    with pytest.raises(NotFound):
        await client.add_group_to_customer("NO-SUCH-CUSTOMER", group.id)


async def test_group_members(client: SquareClient, emulator: EmulatorServer) -> None:
    generated = await emulator.admin.generate(
        customers=300, groups=2, memberships_per_customer=1.0, seed=3
    )
    group_id = generated["group_ids"][0]
    state = await emulator.admin.dump()
    expected = {
        c["id"]
        for c in state["sellers"]["default"]["customers"]
        if group_id in c.get("group_ids", [])
    }

    members = await collect(client.iter_group_members(group_id))

    assert {c["id"] for c in members} == expected
    assert len(members) == len(expected)


async def test_group_members_of_unknown_group(client: SquareClient) -> None:
    assert await collect(client.iter_group_members("NO-SUCH-GROUP")) == []


async def test_search_without_query(client: SquareClient, emulator: EmulatorServer) -> None:
    generated = await emulator.admin.generate(customers=150, groups=1, seed=4)

    customers = await collect(client.iter_search_pages(None, limit=40))

    assert sorted(c["id"] for c in customers) == sorted(generated["customer_ids"])
    assert client.stats.requests[("SearchCustomers", 200)] == 4


async def test_customer_pages(client: SquareClient, emulator: EmulatorServer) -> None:
    generated = await emulator.admin.generate(customers=230, groups=1, seed=5)

    customers = await collect(client.iter_customer_pages())

    assert sorted(c["id"] for c in customers) == sorted(generated["customer_ids"])
    assert client.stats.requests[("ListCustomers", 200)] == 3


async def test_search_exact_email(client: SquareClient) -> None:
    created = await client.create_customer(
        {"given_name": "Ada", "email_address": "ada@example.com"}, idempotency_key="c-3"
    )
    await client.create_customer(
        {"given_name": "Bob", "email_address": "bob@example.com"}, idempotency_key="c-4"
    )

    found = await client.search_customers_exact(email_address="ADA@example.com")

    assert [c["id"] for c in found] == [created["id"]]


async def test_search_exact_phone(client: SquareClient) -> None:
    created = await client.create_customer(
        {"given_name": "Ada", "phone_number": "+14155552671"}, idempotency_key="c-5"
    )

    found = await client.search_customers_exact(phone_number="+14155552671")

    assert [c["id"] for c in found] == [created["id"]]


async def test_search_exact_reference_id(client: SquareClient) -> None:
    created = await client.create_customer(
        {"given_name": "Ada", "reference_id": "ref-77"}, idempotency_key="c-6"
    )

    found = await client.search_customers_exact(reference_id="ref-77")

    assert [c["id"] for c in found] == [created["id"]]


async def test_search_exact_no_match(client: SquareClient) -> None:
    assert await client.search_customers_exact(email_address="nobody@example.com") == []


async def test_search_exact_needs_one_field(client: SquareClient) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        await client.search_customers_exact(email_address="a@example.com", reference_id="r")


async def test_search_exact_needs_a_field(client: SquareClient) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        await client.search_customers_exact()


async def test_create_customer(client: SquareClient) -> None:
    created = await client.create_customer(
        {"given_name": "Ada", "family_name": "Lovelace"}, idempotency_key="c-7"
    )

    assert created["given_name"] == "Ada"
    assert created["version"] == 0


async def test_create_customer_idempotent(client: SquareClient) -> None:
    first = await client.create_customer({"given_name": "Ada"}, idempotency_key="c-8")
    again = await client.create_customer({"given_name": "Ada"}, idempotency_key="c-8")

    assert again["id"] == first["id"]


async def test_create_invalid_customer(client: SquareClient) -> None:
    with pytest.raises(BadRequest) as caught:
        await client.create_customer({"email_address": "not-an-email"}, idempotency_key="c-9")

    assert caught.value.status == 400
    assert caught.value.errors[0]["code"] == "INVALID_EMAIL_ADDRESS"


async def test_retrieve_customer(client: SquareClient) -> None:
    created = await client.create_customer({"given_name": "Ada"}, idempotency_key="c-10")

    assert (await client.retrieve_customer(created["id"]))["id"] == created["id"]


async def test_retrieve_missing_customer(client: SquareClient) -> None:
    with pytest.raises(NotFound) as caught:
        await client.retrieve_customer("NO-SUCH-CUSTOMER")

    assert caught.value.operation == "RetrieveCustomer"


async def test_bulk_retrieve(client: SquareClient, emulator: EmulatorServer) -> None:
    generated = await emulator.admin.generate(customers=230, groups=1, seed=6)
    ids = generated["customer_ids"]

    found = await client.bulk_retrieve_customers([*ids, "NO-SUCH-CUSTOMER"])

    assert found["NO-SUCH-CUSTOMER"] is None
    assert all(found[i] is not None and found[i]["id"] == i for i in ids)  # type: ignore[index]
    assert client.stats.requests[("BulkRetrieveCustomers", 200)] == 3


async def test_bulk_retrieve_nothing(client: SquareClient) -> None:
    assert await client.bulk_retrieve_customers([]) == {}
    assert client.stats.total_requests == 0


async def test_bulk_create(client: SquareClient) -> None:
    items = {f"key-{n}": {"given_name": f"Person {n}"} for n in range(150)}
    items["key-bad"] = {"email_address": "not-an-email"}

    results = await client.bulk_create_customers(items)

    created = [r for key, r in results.items() if key != "key-bad"]
    assert len(created) == 150
    assert all(isinstance(r, dict) and r["id"] for r in created)
    assert isinstance(results["key-bad"], BadRequest)
    assert client.stats.requests[("BulkCreateCustomers", 200)] == 2


async def test_given_session_left_open(emulator: EmulatorServer) -> None:
    async with aiohttp.ClientSession() as session:
        async with SquareClient(
            base_url=emulator.base_url, token=emulator.token, session=session
        ) as client:
            await client.list_groups()

        assert not session.closed


async def test_own_session_closed(emulator: EmulatorServer) -> None:
    async with SquareClient(base_url=emulator.base_url, token=emulator.token) as client:
        await client.list_groups()

    with pytest.raises(RuntimeError, match="not open"):
        await client.list_groups()


def test_base_url_aliases() -> None:
    assert resolve_base_url("production") == "https://connect.squareup.com"
    assert resolve_base_url("sandbox") == "https://connect.squareupsandbox.com"


def test_base_url_custom() -> None:
    assert resolve_base_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"


@pytest.mark.parametrize("value", ["", "connect.squareup.com", "ftp://example.com", "http://"])
def test_base_url_invalid(value: str) -> None:
    with pytest.raises(ConfigError, match="SQUARE_BASE_URL"):
        resolve_base_url(value)
