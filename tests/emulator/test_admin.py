"""The admin API outside ``/v2``: state reset, load, dump and generation, request counts,
and the changes a seller makes by hand in Square's Dashboard (merge, group edits, members).
"""

from __future__ import annotations

import aiohttp

from groupsync.testing.emulator import EmulatorServer

from .square_http import SquareHttp


def _seller(customers: list[dict], groups: list[dict]) -> dict:
    return {"sellers": {"default": {"customers": customers, "groups": groups}}}


async def _listed_ids(square: SquareHttp) -> list[str]:
    pages = await square.list_pages("/v2/customers", {})
    return [customer["id"] for page in pages for customer in page.get("customers", [])]


async def test_reset_removes_customers(emulator: EmulatorServer, square: SquareHttp) -> None:
    await square.create_customer(given_name="Ada")

    await emulator.admin.reset()

    assert await square.ok("GET", "/v2/customers") == {}


async def test_reset_removes_groups(emulator: EmulatorServer, square: SquareHttp) -> None:
    await square.create_group("Gold")

    await emulator.admin.reset()

    assert await square.ok("GET", "/v2/customers/groups") == {}


async def test_load_state_serves_customers(emulator: EmulatorServer, square: SquareHttp) -> None:
    state = _seller(
        [{"id": "CUSTOMERADA", "given_name": "Ada", "group_ids": ["GROUPGOLD"]}],
        [{"id": "GROUPGOLD", "name": "Gold"}],
    )

    await emulator.admin.load_state(state)

    customer = await square.get_customer("CUSTOMERADA")
    assert customer["given_name"] == "Ada"
    assert customer["group_ids"] == ["GROUPGOLD"]


async def test_load_state_serves_groups(emulator: EmulatorServer, square: SquareHttp) -> None:
    await emulator.admin.load_state(_seller([], [{"id": "GROUPGOLD", "name": "Gold"}]))

    body = await square.ok("GET", "/v2/customers/groups/GROUPGOLD")

    assert body["group"]["name"] == "Gold"


async def test_load_state_replaces_seller(emulator: EmulatorServer, square: SquareHttp) -> None:
    await square.create_customer(given_name="Bo")

    await emulator.admin.load_state(_seller([{"id": "CUSTOMERADA", "given_name": "Ada"}], []))

    assert await _listed_ids(square) == ["CUSTOMERADA"]


async def test_dump_returns_created_data(emulator: EmulatorServer, square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada")
    group = await square.create_group("Gold")
    await square.add_member(customer["id"], group["id"])

    dumped = await emulator.admin.dump(seller="default")

    seller = dumped["sellers"]["default"]
    assert [item["id"] for item in seller["customers"]] == [customer["id"]]
    assert seller["customers"][0]["group_ids"] == [group["id"]]
    assert seller["groups"] == [group]


async def test_dump_loads_back_unchanged(emulator: EmulatorServer, square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada", email_address="ada@example.com")
    group = await square.create_group("Gold")
    await square.add_member(customer["id"], group["id"])
    dumped = await emulator.admin.dump(seller="default")

    await emulator.admin.reset()
    await emulator.admin.load_state(dumped)

    assert await emulator.admin.dump(seller="default") == dumped


async def test_generate_creates_customers(emulator: EmulatorServer, square: SquareHttp) -> None:
    await emulator.admin.generate(
        seller="default", customers=250, groups=4, memberships_per_customer=1.5, seed=7
    )

    body = await square.ok("GET", "/v2/customers", query={"count": True, "limit": 1})

    assert body["count"] == 250


async def test_generate_creates_groups(emulator: EmulatorServer, square: SquareHttp) -> None:
    await emulator.admin.generate(
        seller="default", customers=10, groups=4, memberships_per_customer=1.0, seed=7
    )

    body = await square.ok("GET", "/v2/customers/groups")

    assert len(body["groups"]) == 4


async def test_generate_places_members(emulator: EmulatorServer, square: SquareHttp) -> None:
    await emulator.admin.generate(
        seller="default", customers=200, groups=3, memberships_per_customer=2.0, seed=7
    )
    dumped = await emulator.admin.dump(seller="default")

    memberships = [len(c.get("group_ids", [])) for c in dumped["sellers"]["default"]["customers"]]

    assert 200 < sum(memberships) < 600
    assert max(memberships) <= 3


async def test_generate_without_members(emulator: EmulatorServer) -> None:
    await emulator.admin.generate(
        seller="default", customers=20, groups=3, memberships_per_customer=0, seed=7
    )
    dumped = await emulator.admin.dump(seller="default")

    assert all("group_ids" not in c for c in dumped["sellers"]["default"]["customers"])


async def test_generate_same_seed_same_customers(emulator: EmulatorServer) -> None:
    await emulator.admin.generate(seller="default", customers=30, groups=2, seed=11)
    first = await emulator.admin.dump(seller="default")
    await emulator.admin.reset()

    await emulator.admin.generate(seller="default", customers=30, groups=2, seed=11)
    second = await emulator.admin.dump(seller="default")

    first_profiles = [_profile(c) for c in first["sellers"]["default"]["customers"]]
    second_profiles = [_profile(c) for c in second["sellers"]["default"]["customers"]]
    assert first_profiles == second_profiles


async def test_generate_for_other_seller(emulator: EmulatorServer, square: SquareHttp) -> None:
    await emulator.admin.generate(seller="other", customers=5, groups=1, seed=1)

    assert await square.ok("GET", "/v2/customers") == {}
    assert len((await emulator.admin.dump(seller="other"))["sellers"]["other"]["customers"]) == 5


async def test_stats_count_per_endpoint_and_status(
    emulator: EmulatorServer, square: SquareHttp
) -> None:
    await emulator.admin.reset_stats()
    customer = await square.create_customer(given_name="Ada")
    group = await square.create_group("Gold")
    await square.add_member(customer["id"], group["id"])
    await square.add_member(customer["id"], group["id"])
    await square.request("GET", "/v2/customers/NOSUCHCUSTOMER")

    stats = await emulator.admin.stats()

    assert stats["requests"]["CreateCustomer"] == {"200": 1}
    assert stats["requests"]["AddGroupToCustomer"] == {"200": 2}
    assert stats["requests"]["RetrieveCustomer"] == {"404": 1}
    assert stats["total"] == 5


async def test_stats_count_rejections(emulator: EmulatorServer, square: SquareHttp) -> None:
    await emulator.admin.reset_stats()
    await square.request("GET", "/v2/customers", token=None)
    await square.request("GET", "/v2/customers", query={"limit": 0})

    stats = await emulator.admin.stats()

    assert stats["requests"]["ListCustomers"] == {"401": 1, "400": 1}


async def test_reset_stats_zeroes_counts(emulator: EmulatorServer, square: SquareHttp) -> None:
    await square.create_customer(given_name="Ada")

    await emulator.admin.reset_stats()

    stats = await emulator.admin.stats()
    assert stats["total"] == 0
    assert stats["requests"] == {}


async def test_admin_needs_no_token(emulator: EmulatorServer) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{emulator.base_url}/_emulator/stats") as response,
    ):
        assert response.status == 200


async def test_merge_creates_new_profile(emulator: EmulatorServer, square: SquareHttp) -> None:
    ada = await square.create_customer(given_name="Ada", email_address="ada@example.com")
    duplicate = await square.create_customer(given_name="Ada", phone_number="+14155550100")

    merged = await emulator.admin.merge_customers([ada["id"], duplicate["id"]], seller="default")

    assert merged["id"] not in (ada["id"], duplicate["id"])
    assert merged["creation_source"] == "MERGE"
    assert await square.get_customer(merged["id"]) == merged


async def test_merge_removes_old_ids(emulator: EmulatorServer, square: SquareHttp) -> None:
    ada = await square.create_customer(given_name="Ada")
    duplicate = await square.create_customer(given_name="Ada")

    await emulator.admin.merge_customers([ada["id"], duplicate["id"]], seller="default")

    for old_id in (ada["id"], duplicate["id"]):
        response = await square.request("GET", f"/v2/customers/{old_id}")
        assert response.status == 404
        assert response.error["code"] == "NOT_FOUND"


async def test_merge_lists_only_new_profile(emulator: EmulatorServer, square: SquareHttp) -> None:
    ada = await square.create_customer(given_name="Ada")
    duplicate = await square.create_customer(given_name="Ada")

    merged = await emulator.admin.merge_customers([ada["id"], duplicate["id"]], seller="default")

    assert await _listed_ids(square) == [merged["id"]]


async def test_merged_profile_found_by_creation_source(
    emulator: EmulatorServer, square: SquareHttp
) -> None:
    ada = await square.create_customer(given_name="Ada")
    duplicate = await square.create_customer(given_name="Ada")
    await square.create_customer(given_name="Bo")
    merged = await emulator.admin.merge_customers([ada["id"], duplicate["id"]], seller="default")

    found = await square.search_ids({"filter": {"creation_source": {"values": ["MERGE"]}}})

    assert found == [merged["id"]]


async def test_group_created_by_hand_is_served(
    emulator: EmulatorServer, square: SquareHttp
) -> None:
    group = await emulator.admin.create_group_by_hand("Walk-ins")

    body = await square.ok("GET", f"/v2/customers/groups/{group['id']}")

    assert body["group"]["name"] == "Walk-ins"


async def test_group_renamed_by_hand_is_served(
    emulator: EmulatorServer, square: SquareHttp
) -> None:
    group = await square.create_group("Gold")

    await emulator.admin.rename_group(group["id"], "Platinum")

    body = await square.ok("GET", f"/v2/customers/groups/{group['id']}")
    assert body["group"]["name"] == "Platinum"


async def test_group_deleted_by_hand_is_not_found(
    emulator: EmulatorServer, square: SquareHttp
) -> None:
    group = await square.create_group("Gold")

    await emulator.admin.delete_group(group["id"])

    response = await square.request("GET", f"/v2/customers/groups/{group['id']}")
    assert response.status == 404


async def test_group_deleted_by_hand_leaves_customers(
    emulator: EmulatorServer, square: SquareHttp
) -> None:
    group = await square.create_group("Gold")
    customer = await square.create_customer(given_name="Ada")
    await square.add_member(customer["id"], group["id"])

    await emulator.admin.delete_group(group["id"])

    assert "group_ids" not in await square.get_customer(customer["id"])


async def test_member_added_by_hand_is_served(emulator: EmulatorServer, square: SquareHttp) -> None:
    group = await square.create_group("Gold")
    customer = await square.create_customer(given_name="Ada")

    await emulator.admin.add_member_by_hand(customer["id"], group["id"])

    fetched = await square.get_customer(customer["id"])
    assert fetched["group_ids"] == [group["id"]]
    assert fetched["version"] == 1


async def test_customer_deleted_by_hand_is_not_found(
    emulator: EmulatorServer, square: SquareHttp
) -> None:
    customer = await square.create_customer(given_name="Ada")

    await emulator.admin.delete_customer_by_hand(customer["id"])

    response = await square.request("GET", f"/v2/customers/{customer['id']}")
    assert response.status == 404


def _profile(customer: dict) -> tuple:
    return (
        customer["id"],
        customer.get("given_name"),
        customer.get("family_name"),
        customer.get("email_address"),
        customer["created_at"],
    )
