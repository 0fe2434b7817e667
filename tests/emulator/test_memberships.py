"""AddGroupToCustomer and RemoveGroupFromCustomer.

Adding an existing membership and removing an absent one both succeed with ``{}``; an
unknown customer or group is 404 ``NOT_FOUND``.
"""

from __future__ import annotations

import pytest

from .square_http import SquareHttp


async def _customer_and_group(square: SquareHttp) -> tuple[str, str]:
    customer = await square.create_customer(given_name="Ada")
    group = await square.create_group("Gold")
    return customer["id"], group["id"]


async def test_add_returns_empty_object(square: SquareHttp) -> None:
    customer_id, group_id = await _customer_and_group(square)

    response = await square.request("PUT", f"/v2/customers/{customer_id}/groups/{group_id}")

    assert response.status == 200
    assert response.body == {}


async def test_add_sets_group_ids(square: SquareHttp) -> None:
    customer_id, group_id = await _customer_and_group(square)

    await square.add_member(customer_id, group_id)

    assert (await square.get_customer(customer_id))["group_ids"] == [group_id]


async def test_add_existing_membership_succeeds(square: SquareHttp) -> None:
    customer_id, group_id = await _customer_and_group(square)
    await square.add_member(customer_id, group_id)

    response = await square.request("PUT", f"/v2/customers/{customer_id}/groups/{group_id}")

    assert response.status == 200
    assert response.body == {}


async def test_add_existing_membership_keeps_one_entry(square: SquareHttp) -> None:
    customer_id, group_id = await _customer_and_group(square)
    await square.add_member(customer_id, group_id)
    await square.add_member(customer_id, group_id)

    assert (await square.get_customer(customer_id))["group_ids"] == [group_id]


async def test_add_two_groups_lists_both(square: SquareHttp) -> None:
    customer_id, gold = await _customer_and_group(square)
    silver = (await square.create_group("Silver"))["id"]
    await square.add_member(customer_id, gold)
    await square.add_member(customer_id, silver)

    assert sorted((await square.get_customer(customer_id))["group_ids"]) == sorted([gold, silver])


async def test_remove_returns_empty_object(square: SquareHttp) -> None:
    customer_id, group_id = await _customer_and_group(square)
    await square.add_member(customer_id, group_id)

    response = await square.request("DELETE", f"/v2/customers/{customer_id}/groups/{group_id}")

    assert response.status == 200
    assert response.body == {}


async def test_remove_last_group_omits_group_ids(square: SquareHttp) -> None:
    customer_id, group_id = await _customer_and_group(square)
    await square.add_member(customer_id, group_id)

    await square.ok("DELETE", f"/v2/customers/{customer_id}/groups/{group_id}")

    assert "group_ids" not in await square.get_customer(customer_id)


async def test_remove_absent_membership_succeeds(square: SquareHttp) -> None:
    customer_id, group_id = await _customer_and_group(square)

    response = await square.request("DELETE", f"/v2/customers/{customer_id}/groups/{group_id}")

    assert response.status == 200
    assert response.body == {}


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_unknown_customer_is_not_found(square: SquareHttp, method: str) -> None:
    _, group_id = await _customer_and_group(square)

    response = await square.request(method, f"/v2/customers/NOSUCHCUSTOMER/groups/{group_id}")

    assert response.status == 404
    assert response.error["code"] == "NOT_FOUND"
    assert response.error["category"] == "INVALID_REQUEST_ERROR"


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_unknown_group_is_not_found(square: SquareHttp, method: str) -> None:
    customer_id, _ = await _customer_and_group(square)

    response = await square.request(method, f"/v2/customers/{customer_id}/groups/NOSUCHGROUP")

    assert response.status == 404
    assert response.error["code"] == "NOT_FOUND"


async def test_unknown_group_leaves_customer_unchanged(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada")
    await square.request("PUT", f"/v2/customers/{customer['id']}/groups/NOSUCHGROUP")

    assert await square.get_customer(customer["id"]) == customer


async def test_deleted_customer_is_not_found(square: SquareHttp) -> None:
    customer_id, group_id = await _customer_and_group(square)
    await square.ok("DELETE", f"/v2/customers/{customer_id}")

    response = await square.request("PUT", f"/v2/customers/{customer_id}/groups/{group_id}")

    assert response.status == 404
    assert response.error["code"] == "NOT_FOUND"


async def test_membership_is_visible_in_list(square: SquareHttp) -> None:
    customer_id, group_id = await _customer_and_group(square)
    await square.add_member(customer_id, group_id)

    body = await square.ok("GET", "/v2/customers")

    assert body["customers"][0]["group_ids"] == [group_id]
