"""Customer group create, retrieve, update, list and delete."""

from __future__ import annotations

from .square_http import SquareHttp


async def test_create_returns_group(square: SquareHttp) -> None:
    body = await square.ok("POST", "/v2/customers/groups", json_body={"group": {"name": "Gold"}})

    assert body["group"]["name"] == "Gold"
    assert body["group"]["id"]
    assert body["group"]["created_at"]
    assert body["group"]["updated_at"]


async def test_create_gives_distinct_ids(square: SquareHttp) -> None:
    first = await square.create_group("Gold")
    second = await square.create_group("Gold")

    assert first["id"] != second["id"]


async def test_retrieve_returns_group(square: SquareHttp) -> None:
    group = await square.create_group("Gold")

    body = await square.ok("GET", f"/v2/customers/groups/{group['id']}")

    assert body == {"group": group}


async def test_retrieve_unknown_is_not_found(square: SquareHttp) -> None:
    response = await square.request("GET", "/v2/customers/groups/NOSUCHGROUP")

    assert response.status == 404
    assert response.error["code"] == "NOT_FOUND"
    assert response.error["category"] == "INVALID_REQUEST_ERROR"


async def test_update_renames_group(square: SquareHttp) -> None:
    group = await square.create_group("Gold")

    body = await square.ok(
        "PUT", f"/v2/customers/groups/{group['id']}", json_body={"group": {"name": "Platinum"}}
    )

    assert body["group"]["name"] == "Platinum"
    assert body["group"]["id"] == group["id"]
    assert body["group"]["created_at"] == group["created_at"]


async def test_update_is_visible_on_retrieve(square: SquareHttp) -> None:
    group = await square.create_group("Gold")
    await square.ok(
        "PUT", f"/v2/customers/groups/{group['id']}", json_body={"group": {"name": "Platinum"}}
    )

    body = await square.ok("GET", f"/v2/customers/groups/{group['id']}")

    assert body["group"]["name"] == "Platinum"


async def test_update_unknown_is_not_found(square: SquareHttp) -> None:
    response = await square.request(
        "PUT", "/v2/customers/groups/NOSUCHGROUP", json_body={"group": {"name": "Platinum"}}
    )

    assert response.status == 404
    assert response.error["code"] == "NOT_FOUND"


async def test_list_without_groups_is_empty_object(square: SquareHttp) -> None:
    response = await square.request("GET", "/v2/customers/groups")

    assert response.status == 200
    assert response.body == {}


async def test_list_returns_groups(square: SquareHttp) -> None:
    gold = await square.create_group("Gold")
    silver = await square.create_group("Silver")

    body = await square.ok("GET", "/v2/customers/groups")

    assert sorted(group["id"] for group in body["groups"]) == sorted([gold["id"], silver["id"]])
    assert "cursor" not in body


async def test_delete_returns_empty_object(square: SquareHttp) -> None:
    group = await square.create_group("Gold")

    response = await square.request("DELETE", f"/v2/customers/groups/{group['id']}")

    assert response.status == 200
    assert response.body == {}


async def test_delete_makes_retrieve_not_found(square: SquareHttp) -> None:
    group = await square.create_group("Gold")
    await square.ok("DELETE", f"/v2/customers/groups/{group['id']}")

    response = await square.request("GET", f"/v2/customers/groups/{group['id']}")

    assert response.status == 404


async def test_delete_removes_group_from_list(square: SquareHttp) -> None:
    gold = await square.create_group("Gold")
    silver = await square.create_group("Silver")
    await square.ok("DELETE", f"/v2/customers/groups/{gold['id']}")

    body = await square.ok("GET", "/v2/customers/groups")

    assert [group["id"] for group in body["groups"]] == [silver["id"]]


async def test_delete_unknown_is_not_found(square: SquareHttp) -> None:
    response = await square.request("DELETE", "/v2/customers/groups/NOSUCHGROUP")

    assert response.status == 404
    assert response.error["code"] == "NOT_FOUND"


async def test_delete_drops_group_from_every_customer(square: SquareHttp) -> None:
    gold = await square.create_group("Gold")
    ada = await square.create_customer(given_name="Ada")
    bo = await square.create_customer(given_name="Bo")
    for customer in (ada, bo):
        await square.add_member(customer["id"], gold["id"])

    await square.ok("DELETE", f"/v2/customers/groups/{gold['id']}")

    assert "group_ids" not in await square.get_customer(ada["id"])
    assert "group_ids" not in await square.get_customer(bo["id"])


async def test_delete_keeps_other_memberships(square: SquareHttp) -> None:
    gold = await square.create_group("Gold")
    silver = await square.create_group("Silver")
    ada = await square.create_customer(given_name="Ada")
    await square.add_member(ada["id"], gold["id"])
    await square.add_member(ada["id"], silver["id"])

    await square.ok("DELETE", f"/v2/customers/groups/{gold['id']}")

    assert (await square.get_customer(ada["id"]))["group_ids"] == [silver["id"]]


async def test_deleted_group_search_is_empty_object(square: SquareHttp) -> None:
    gold = await square.create_group("Gold")
    ada = await square.create_customer(given_name="Ada")
    await square.add_member(ada["id"], gold["id"])
    await square.ok("DELETE", f"/v2/customers/groups/{gold['id']}")

    response = await square.request(
        "POST",
        "/v2/customers/search",
        json_body={"query": {"filter": {"group_ids": {"any": [gold["id"]]}}}},
    )

    assert response.status == 200
    assert response.body == {}
