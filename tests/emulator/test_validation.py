"""Input checks on customer and group bodies, with Square's documented limits and codes.

Square requires one of given name, family name, company name, email address or phone number
on every profile, and documents these maximum lengths: given and family name 300, company
name 500, nickname 100, email address 254, reference id 100. A phone number has 9 to 16
digits with an optional leading ``+``. Since Square-Version 2022-03-16 an unknown field in a
CreateCustomerGroup or UpdateCustomerGroup body is a 400 ``BAD_REQUEST``.
"""

from __future__ import annotations

from typing import Any

import pytest

from .square_http import SquareHttp

MAX_LENGTHS = [
    ("given_name", 300),
    ("family_name", 300),
    ("company_name", 500),
    ("nickname", 100),
    ("email_address", 254),
    ("reference_id", 100),
]


def _value_of_length(field: str, length: int) -> str:
    if field == "email_address":
        domain = "@example.com"
        return "a" * (length - len(domain)) + domain
    return "a" * length


def _with_identity(field: str, value: str) -> dict[str, Any]:
    body = {field: value}
    if field in ("nickname", "reference_id"):
        body["given_name"] = "Ada"
    return body


async def test_create_without_identity_is_rejected(square: SquareHttp) -> None:
    response = await square.request(
        "POST", "/v2/customers", json_body={"note": "no name", "nickname": "Addy"}
    )

    assert response.status == 400
    assert response.error["category"] == "INVALID_REQUEST_ERROR"


async def test_create_with_empty_body_is_rejected(square: SquareHttp) -> None:
    response = await square.request("POST", "/v2/customers", json_body={})

    assert response.status == 400
    assert response.error["category"] == "INVALID_REQUEST_ERROR"


@pytest.mark.parametrize("field", ["given_name", "family_name", "company_name"])
async def test_create_with_one_name_field_succeeds(square: SquareHttp, field: str) -> None:
    response = await square.request("POST", "/v2/customers", json_body={field: "Ada"})

    assert response.status == 200
    assert response.body["customer"][field] == "Ada"


async def test_create_with_phone_only_succeeds(square: SquareHttp) -> None:
    response = await square.request(
        "POST", "/v2/customers", json_body={"phone_number": "+14155550100"}
    )

    assert response.status == 200


@pytest.mark.parametrize(("field", "max_length"), MAX_LENGTHS)
async def test_create_at_max_length_succeeds(
    square: SquareHttp, field: str, max_length: int
) -> None:
    body = _with_identity(field, _value_of_length(field, max_length))

    response = await square.request("POST", "/v2/customers", json_body=body)

    assert response.status == 200


@pytest.mark.parametrize(("field", "max_length"), MAX_LENGTHS)
async def test_create_over_max_length_is_too_long(
    square: SquareHttp, field: str, max_length: int
) -> None:
    body = _with_identity(field, _value_of_length(field, max_length + 1))

    response = await square.request("POST", "/v2/customers", json_body=body)

    assert response.status == 400
    assert response.error["code"] == "VALUE_TOO_LONG"
    assert response.error["field"] == field


@pytest.mark.parametrize(("field", "max_length"), MAX_LENGTHS)
async def test_update_over_max_length_is_too_long(
    square: SquareHttp, field: str, max_length: int
) -> None:
    customer = await square.create_customer(given_name="Ada")
    body = {field: _value_of_length(field, max_length + 1)}

    response = await square.request("PUT", f"/v2/customers/{customer['id']}", json_body=body)

    assert response.status == 400
    assert response.error["code"] == "VALUE_TOO_LONG"
    assert response.error["field"] == field


@pytest.mark.parametrize("email", ["not-an-email", "ada@", "@example.com", "ada example@x.com"])
async def test_create_with_bad_email_is_rejected(square: SquareHttp, email: str) -> None:
    response = await square.request("POST", "/v2/customers", json_body={"email_address": email})

    assert response.status == 400
    assert response.error["code"] == "INVALID_EMAIL_ADDRESS"
    assert response.error["field"] == "email_address"


async def test_update_with_bad_email_is_rejected(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada")

    response = await square.request(
        "PUT", f"/v2/customers/{customer['id']}", json_body={"email_address": "ada@"}
    )

    assert response.status == 400
    assert response.error["code"] == "INVALID_EMAIL_ADDRESS"


@pytest.mark.parametrize("phone", ["12345678", "+12345678901234567", "phone", "+1 415 CALL NOW"])
async def test_create_with_bad_phone_is_rejected(square: SquareHttp, phone: str) -> None:
    response = await square.request("POST", "/v2/customers", json_body={"phone_number": phone})

    assert response.status == 400
    assert response.error["code"] == "INVALID_PHONE_NUMBER"
    assert response.error["field"] == "phone_number"


@pytest.mark.parametrize("phone", ["123456789", "+1234567890123456", "+1 (415) 555-0100"])
async def test_create_with_valid_phone_succeeds(square: SquareHttp, phone: str) -> None:
    response = await square.request("POST", "/v2/customers", json_body={"phone_number": phone})

    assert response.status == 200


async def test_update_with_bad_phone_is_rejected(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada")

    response = await square.request(
        "PUT", f"/v2/customers/{customer['id']}", json_body={"phone_number": "12345"}
    )

    assert response.status == 400
    assert response.error["code"] == "INVALID_PHONE_NUMBER"


async def test_update_removing_every_identity_is_rejected(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada", note="keep")

    response = await square.request(
        "PUT", f"/v2/customers/{customer['id']}", json_body={"given_name": None}
    )

    assert response.status == 400
    assert response.error["category"] == "INVALID_REQUEST_ERROR"


async def test_rejected_update_changes_nothing(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada")
    await square.request(
        "PUT",
        f"/v2/customers/{customer['id']}",
        json_body={"note": "new", "email_address": "bad"},
    )

    assert await square.get_customer(customer["id"]) == customer


async def test_bulk_create_item_without_identity_is_rejected(square: SquareHttp) -> None:
    body = await square.ok(
        "POST",
        "/v2/customers/bulk-create",
        json_body={"customers": {"no-name": {"note": "only a note"}}},
    )

    assert body["responses"]["no-name"]["errors"][0]["category"] == "INVALID_REQUEST_ERROR"
    assert "customer" not in body["responses"]["no-name"]


async def test_non_json_body_is_rejected(square: SquareHttp) -> None:
    response = await square.request(
        "POST",
        "/v2/customers",
        data="given_name=Ada",
        headers={"Content-Type": "application/json"},
    )

    assert response.status == 400
    assert response.error["category"] == "INVALID_REQUEST_ERROR"


async def test_group_create_unknown_field_is_bad_request(square: SquareHttp) -> None:
    response = await square.request(
        "POST",
        "/v2/customers/groups",
        json_body={"group": {"name": "Gold"}, "colour": "gold"},
    )

    assert response.status == 400
    assert response.error["code"] == "BAD_REQUEST"


async def test_group_create_unknown_group_field_is_bad_request(square: SquareHttp) -> None:
    response = await square.request(
        "POST",
        "/v2/customers/groups",
        json_body={"group": {"name": "Gold", "colour": "gold"}},
    )

    assert response.status == 400
    assert response.error["code"] == "BAD_REQUEST"


async def test_group_update_unknown_field_is_bad_request(square: SquareHttp) -> None:
    group = await square.create_group("Gold")

    response = await square.request(
        "PUT",
        f"/v2/customers/groups/{group['id']}",
        json_body={"group": {"name": "Platinum", "colour": "grey"}},
    )

    assert response.status == 400
    assert response.error["code"] == "BAD_REQUEST"


async def test_group_update_extra_key_is_bad_request(square: SquareHttp) -> None:
    group = await square.create_group("Gold")

    response = await square.request(
        "PUT",
        f"/v2/customers/groups/{group['id']}",
        json_body={"group": {"name": "Platinum"}, "idempotency_key": "k"},
    )

    assert response.status == 400
    assert response.error["code"] == "BAD_REQUEST"


async def test_rejected_group_update_keeps_name(square: SquareHttp) -> None:
    group = await square.create_group("Gold")
    await square.request(
        "PUT",
        f"/v2/customers/groups/{group['id']}",
        json_body={"group": {"name": "Platinum", "colour": "grey"}},
    )

    body = await square.ok("GET", f"/v2/customers/groups/{group['id']}")

    assert body["group"]["name"] == "Gold"


async def test_group_create_without_name_is_rejected(square: SquareHttp) -> None:
    response = await square.request("POST", "/v2/customers/groups", json_body={"group": {}})

    assert response.status == 400
    assert response.error["category"] == "INVALID_REQUEST_ERROR"


async def test_group_create_without_group_is_rejected(square: SquareHttp) -> None:
    response = await square.request("POST", "/v2/customers/groups", json_body={})

    assert response.status == 400
    assert response.error["category"] == "INVALID_REQUEST_ERROR"
