"""Customer create, retrieve, update, delete and the bulk endpoints, as Square serves them."""

from __future__ import annotations

from .square_http import SquareHttp


async def test_create_returns_new_profile(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada", email_address="ada@example.com")

    assert customer["given_name"] == "Ada"
    assert customer["email_address"] == "ada@example.com"
    assert customer["id"]
    assert customer["created_at"]
    assert customer["updated_at"]


async def test_create_sets_creation_source_third_party(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada")

    assert customer["creation_source"] == "THIRD_PARTY"


async def test_create_omits_group_ids(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada")

    assert "group_ids" not in customer


async def test_create_omits_unset_fields(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada")

    assert "family_name" not in customer
    assert "phone_number" not in customer
    assert "note" not in customer


async def test_create_stores_birthday_without_year(square: SquareHttp) -> None:
    customer = await square.create_customer(given_name="Ada", birthday="12-10")

    assert customer["birthday"] == "0000-12-10"


async def test_create_allows_duplicate_profiles(square: SquareHttp) -> None:
    first = await square.create_customer(email_address="ada@example.com")
    second = await square.create_customer(email_address="ada@example.com")

    assert first["id"] != second["id"]


async def test_retrieve_returns_created_profile(square: SquareHttp) -> None:
    created = await square.create_customer(given_name="Ada", note="first")

    response = await square.request("GET", f"/v2/customers/{created['id']}")

    assert response.status == 200
    assert response.body == {"customer": created}


async def test_retrieve_unknown_is_not_found(square: SquareHttp) -> None:
    response = await square.request("GET", "/v2/customers/NOSUCHCUSTOMER")

    assert response.status == 404
    assert response.error["code"] == "NOT_FOUND"
    assert response.error["category"] == "INVALID_REQUEST_ERROR"


async def test_update_changes_only_given_fields(square: SquareHttp) -> None:
    created = await square.create_customer(given_name="Ada", family_name="Lovelace")

    body = await square.ok(
        "PUT", f"/v2/customers/{created['id']}", json_body={"note": "prefers email"}
    )

    assert body["customer"]["note"] == "prefers email"
    assert body["customer"]["given_name"] == "Ada"
    assert body["customer"]["family_name"] == "Lovelace"


async def test_update_null_clears_field(square: SquareHttp) -> None:
    created = await square.create_customer(given_name="Ada", note="old note")

    body = await square.ok("PUT", f"/v2/customers/{created['id']}", json_body={"note": None})

    assert "note" not in body["customer"]
    assert "note" not in await square.get_customer(created["id"])


async def test_update_unknown_is_not_found(square: SquareHttp) -> None:
    response = await square.request("PUT", "/v2/customers/NOSUCHCUSTOMER", json_body={"note": "x"})

    assert response.status == 404
    assert response.error["code"] == "NOT_FOUND"


async def test_delete_returns_empty_object(square: SquareHttp) -> None:
    created = await square.create_customer(given_name="Ada")

    response = await square.request("DELETE", f"/v2/customers/{created['id']}")

    assert response.status == 200
    assert response.body == {}


async def test_delete_makes_retrieve_not_found(square: SquareHttp) -> None:
    created = await square.create_customer(given_name="Ada")
    await square.ok("DELETE", f"/v2/customers/{created['id']}")

    response = await square.request("GET", f"/v2/customers/{created['id']}")

    assert response.status == 404
    assert response.error["code"] == "NOT_FOUND"


async def test_delete_unknown_is_not_found(square: SquareHttp) -> None:
    response = await square.request("DELETE", "/v2/customers/NOSUCHCUSTOMER")

    assert response.status == 404
    assert response.error["code"] == "NOT_FOUND"


async def test_list_without_customers_is_empty_object(square: SquareHttp) -> None:
    response = await square.request("GET", "/v2/customers")

    assert response.status == 200
    assert response.body == {}


async def test_list_returns_created_profiles(square: SquareHttp) -> None:
    ada = await square.create_customer(given_name="Ada")
    bob = await square.create_customer(given_name="Bob")

    body = await square.ok("GET", "/v2/customers")

    assert [customer["id"] for customer in body["customers"]] == [ada["id"], bob["id"]]
    assert "cursor" not in body


async def test_list_omits_deleted_profile(square: SquareHttp) -> None:
    ada = await square.create_customer(given_name="Ada")
    bob = await square.create_customer(given_name="Bob")
    await square.ok("DELETE", f"/v2/customers/{ada['id']}")

    body = await square.ok("GET", "/v2/customers")

    assert [customer["id"] for customer in body["customers"]] == [bob["id"]]


async def test_bulk_create_keys_responses_by_key(square: SquareHttp) -> None:
    body = await square.ok(
        "POST",
        "/v2/customers/bulk-create",
        json_body={
            "customers": {
                "key-a": {"given_name": "Ada"},
                "key-b": {"email_address": "bob@example.com"},
            }
        },
    )

    assert set(body["responses"]) == {"key-a", "key-b"}
    assert body["responses"]["key-a"]["customer"]["given_name"] == "Ada"
    assert body["responses"]["key-b"]["customer"]["email_address"] == "bob@example.com"


async def test_bulk_create_stores_each_profile(square: SquareHttp) -> None:
    body = await square.ok(
        "POST",
        "/v2/customers/bulk-create",
        json_body={"customers": {"key-a": {"given_name": "Ada"}}},
    )
    created = body["responses"]["key-a"]["customer"]

    assert await square.get_customer(created["id"]) == created


async def test_bulk_create_reports_invalid_item_in_place(square: SquareHttp) -> None:
    body = await square.ok(
        "POST",
        "/v2/customers/bulk-create",
        json_body={
            "customers": {
                "good": {"given_name": "Ada"},
                "bad": {"email_address": "not an email"},
            }
        },
    )

    assert "customer" in body["responses"]["good"]
    assert body["responses"]["bad"]["errors"][0]["code"] == "INVALID_EMAIL_ADDRESS"


async def test_bulk_create_over_100_is_rejected(square: SquareHttp) -> None:
    customers = {f"key-{index}": {"given_name": f"N{index}"} for index in range(101)}

    response = await square.request(
        "POST", "/v2/customers/bulk-create", json_body={"customers": customers}
    )

    assert response.status == 400
    assert response.error["category"] == "INVALID_REQUEST_ERROR"


async def test_bulk_create_empty_is_rejected(square: SquareHttp) -> None:
    response = await square.request(
        "POST", "/v2/customers/bulk-create", json_body={"customers": {}}
    )

    assert response.status == 400
    assert response.error["category"] == "INVALID_REQUEST_ERROR"


async def test_bulk_retrieve_returns_each_customer(square: SquareHttp) -> None:
    ada = await square.create_customer(given_name="Ada")
    bob = await square.create_customer(given_name="Bob")

    body = await square.ok(
        "POST", "/v2/customers/bulk-retrieve", json_body={"customer_ids": [ada["id"], bob["id"]]}
    )

    assert body["responses"][ada["id"]] == {"customer": ada}
    assert body["responses"][bob["id"]] == {"customer": bob}


async def test_bulk_retrieve_reports_missing_id_in_200(square: SquareHttp) -> None:
    response = await square.request(
        "POST", "/v2/customers/bulk-retrieve", json_body={"customer_ids": ["MISSING"]}
    )
    error = response.body["responses"]["MISSING"]["errors"][0]

    assert response.status == 200
    assert error["code"] == "NOT_FOUND"
    assert error["category"] == "INVALID_REQUEST_ERROR"
    assert error["detail"] == "Customer with ID `MISSING` not found."


async def test_bulk_update_changes_each_customer(square: SquareHttp) -> None:
    ada = await square.create_customer(given_name="Ada")
    bob = await square.create_customer(given_name="Bob")

    body = await square.ok(
        "POST",
        "/v2/customers/bulk-update",
        json_body={"customers": {ada["id"]: {"note": "a"}, bob["id"]: {"note": "b"}}},
    )

    assert body["responses"][ada["id"]]["customer"]["note"] == "a"
    assert body["responses"][bob["id"]]["customer"]["note"] == "b"
    assert (await square.get_customer(ada["id"]))["note"] == "a"


async def test_bulk_update_reports_missing_id_in_place(square: SquareHttp) -> None:
    ada = await square.create_customer(given_name="Ada")

    body = await square.ok(
        "POST",
        "/v2/customers/bulk-update",
        json_body={"customers": {ada["id"]: {"note": "a"}, "MISSING": {"note": "b"}}},
    )

    assert body["responses"]["MISSING"]["errors"][0]["code"] == "NOT_FOUND"
    assert body["responses"][ada["id"]]["customer"]["note"] == "a"


async def test_bulk_delete_returns_empty_object_per_id(square: SquareHttp) -> None:
    ada = await square.create_customer(given_name="Ada")

    body = await square.ok(
        "POST", "/v2/customers/bulk-delete", json_body={"customer_ids": [ada["id"]]}
    )

    assert body == {"responses": {ada["id"]: {}}}


async def test_bulk_delete_removes_customers(square: SquareHttp) -> None:
    ada = await square.create_customer(given_name="Ada")
    await square.ok("POST", "/v2/customers/bulk-delete", json_body={"customer_ids": [ada["id"]]})

    response = await square.request("GET", f"/v2/customers/{ada['id']}")

    assert response.status == 404


async def test_bulk_delete_reports_missing_id_in_place(square: SquareHttp) -> None:
    body = await square.ok(
        "POST", "/v2/customers/bulk-delete", json_body={"customer_ids": ["MISSING"]}
    )

    assert body["responses"]["MISSING"]["errors"][0]["code"] == "NOT_FOUND"
