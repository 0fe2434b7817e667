"""Customer ``version``: starts at 0, grows with every committed change, guards writes.

Square documents that a new profile has version 0 and that the version "is incremented each
time an update is committed to the customer profile, except for changes to customer segment
membership", so group membership changes count. A write that names an older version is
rejected; the emulator returns 400 ``CONFLICT`` on field ``version``.
"""

from __future__ import annotations

from .square_http import SquareHttp


async def _version(square: SquareHttp, customer_id: str) -> int:
    version: int = (await square.get_customer(customer_id))["version"]
    return version


async def test_new_customer_has_version_0(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada")

    assert customer["version"] == 0


async def test_update_increments_version(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada")

    body = await square.ok("PUT", f"/v2/customers/{customer['id']}", json_body={"note": "a"})

    assert body["customer"]["version"] == 1
    assert await _version(square, customer["id"]) == 1


async def test_each_update_increments_version(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada")
    for note in ["a", "b", "c"]:
        await square.ok("PUT", f"/v2/customers/{customer['id']}", json_body={"note": note})

    assert await _version(square, customer["id"]) == 3


async def test_group_add_increments_version(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada")
    group = await square.create_group("Gold")

    await square.add_member(customer["id"], group["id"])

    assert await _version(square, customer["id"]) == 1


async def test_group_remove_increments_version(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada")
    group = await square.create_group("Gold")
    await square.add_member(customer["id"], group["id"])

    await square.ok("DELETE", f"/v2/customers/{customer['id']}/groups/{group['id']}")

    assert await _version(square, customer["id"]) == 2


async def test_group_delete_increments_member_version(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada")
    group = await square.create_group("Gold")
    await square.add_member(customer["id"], group["id"])

    await square.ok("DELETE", f"/v2/customers/groups/{group['id']}")

    assert await _version(square, customer["id"]) == 2


async def test_bulk_update_increments_version(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada")

    body = await square.ok(
        "POST",
        "/v2/customers/bulk-update",
        json_body={"customers": {customer["id"]: {"note": "a"}}},
    )

    assert body["responses"][customer["id"]]["customer"]["version"] == 1


async def test_update_with_current_version_succeeds(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada")

    response = await square.request(
        "PUT", f"/v2/customers/{customer['id']}", json_body={"note": "a", "version": 0}
    )

    assert response.status == 200
    assert response.body["customer"]["version"] == 1


async def test_update_with_stale_version_is_conflict(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada")
    await square.ok("PUT", f"/v2/customers/{customer['id']}", json_body={"note": "a"})

    response = await square.request(
        "PUT", f"/v2/customers/{customer['id']}", json_body={"note": "b", "version": 0}
    )

    assert response.status == 400
    assert response.error["code"] == "CONFLICT"
    assert response.error["field"] == "version"
    assert response.error["category"] == "INVALID_REQUEST_ERROR"


async def test_stale_update_changes_nothing(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada")
    current = (await square.ok("PUT", f"/v2/customers/{customer['id']}", json_body={"note": "a"}))[
        "customer"
    ]
    await square.request(
        "PUT", f"/v2/customers/{customer['id']}", json_body={"note": "b", "version": 0}
    )

    assert await square.get_customer(customer["id"]) == current


async def test_update_after_membership_with_old_version_is_conflict(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada")
    group = await square.create_group("Gold")
    await square.add_member(customer["id"], group["id"])

    response = await square.request(
        "PUT", f"/v2/customers/{customer['id']}", json_body={"note": "b", "version": 0}
    )

    assert response.status == 400
    assert response.error["code"] == "CONFLICT"


async def test_delete_with_stale_version_is_conflict(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada")
    await square.ok("PUT", f"/v2/customers/{customer['id']}", json_body={"note": "a"})

    response = await square.request(
        "DELETE", f"/v2/customers/{customer['id']}", query={"version": 0}
    )

    assert response.status == 400
    assert response.error["code"] == "CONFLICT"
    assert response.error["field"] == "version"


async def test_stale_delete_keeps_customer(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada")
    await square.ok("PUT", f"/v2/customers/{customer['id']}", json_body={"note": "a"})
    await square.request("DELETE", f"/v2/customers/{customer['id']}", query={"version": 0})

    response = await square.request("GET", f"/v2/customers/{customer['id']}")

    assert response.status == 200


async def test_delete_with_current_version_succeeds(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada")
    await square.ok("PUT", f"/v2/customers/{customer['id']}", json_body={"note": "a"})

    response = await square.request(
        "DELETE", f"/v2/customers/{customer['id']}", query={"version": 1}
    )

    assert response.status == 200
    assert response.body == {}


async def test_bulk_update_with_stale_version_is_conflict(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada")
    await square.ok("PUT", f"/v2/customers/{customer['id']}", json_body={"note": "a"})

    body = await square.ok(
        "POST",
        "/v2/customers/bulk-update",
        json_body={"customers": {customer["id"]: {"note": "b", "version": 0}}},
    )

    error = body["responses"][customer["id"]]["errors"][0]
    assert error["code"] == "CONFLICT"
    assert error["field"] == "version"


async def test_rejected_update_keeps_version(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada")
    await square.request(
        "PUT", f"/v2/customers/{customer['id']}", json_body={"email_address": "bad"}
    )

    assert await _version(square, customer["id"]) == 0


async def test_update_moves_updated_at(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada")

    body = await square.ok("PUT", f"/v2/customers/{customer['id']}", json_body={"note": "a"})

    assert body["customer"]["updated_at"] >= customer["updated_at"]
    assert body["customer"]["created_at"] == customer["created_at"]
