"""Pagination cursors: opaque, bound to the query and seller that made them.

Square rejects a cursor it did not issue for this request with ``INVALID_CURSOR``
("The pagination cursor included in the request is invalid"). SearchCustomers takes its
cursor in the JSON body together with the original request body.
"""

from __future__ import annotations

from groupsync.emulator.settings import EmulatorSettings, TokenGrant

from .square_http import SquareHttp, started_emulator


async def _list_cursor(square: SquareHttp, query: dict) -> str:
    body = await square.ok("GET", "/v2/customers", query=query)
    cursor: str = body["cursor"]
    return cursor


async def _search_cursor(square: SquareHttp, body: dict) -> str:
    page = await square.ok("POST", "/v2/customers/search", json_body=body)
    cursor: str = page["cursor"]
    return cursor


async def _three_customers(square: SquareHttp) -> None:
    for name in ["Ada", "Bo", "Cleo"]:
        await square.create_customer(given_name=name, email_address=f"{name.lower()}@example.com")


async def test_cursor_returns_next_page(square: SquareHttp) -> None:
    await _three_customers(square)
    cursor = await _list_cursor(square, {"limit": 2})

    body = await square.ok("GET", "/v2/customers", query={"limit": 2, "cursor": cursor})

    assert [item["given_name"] for item in body["customers"]] == ["Cleo"]


async def test_search_cursor_in_body_returns_next_page(square: SquareHttp) -> None:
    await _three_customers(square)
    cursor = await _search_cursor(square, {"limit": 2})

    body = await square.ok("POST", "/v2/customers/search", json_body={"limit": 2, "cursor": cursor})

    assert [item["given_name"] for item in body["customers"]] == ["Cleo"]


async def test_search_cursor_in_query_string_is_ignored(square: SquareHttp) -> None:
    await _three_customers(square)
    cursor = await _search_cursor(square, {"limit": 2})

    response = await square.request(
        "POST", "/v2/customers/search", query={"cursor": cursor}, json_body={"limit": 2}
    )

    assert response.status == 200
    assert [item["given_name"] for item in response.body["customers"]] == ["Ada", "Bo"]


async def test_tampered_cursor_is_invalid(square: SquareHttp) -> None:
    await _three_customers(square)
    cursor = await _list_cursor(square, {"limit": 1})
    middle = len(cursor) // 2
    tampered = cursor[:middle] + ("A" if cursor[middle] != "A" else "B") + cursor[middle + 1 :]

    response = await square.request("GET", "/v2/customers", query={"limit": 1, "cursor": tampered})

    assert response.status == 400
    assert response.error["code"] == "INVALID_CURSOR"
    assert response.error["category"] == "INVALID_REQUEST_ERROR"


async def test_made_up_cursor_is_invalid(square: SquareHttp) -> None:
    await _three_customers(square)

    response = await square.request("GET", "/v2/customers", query={"cursor": "not-a-cursor"})

    assert response.status == 400
    assert response.error["code"] == "INVALID_CURSOR"


async def test_made_up_search_cursor_is_invalid(square: SquareHttp) -> None:
    await _three_customers(square)

    response = await square.request(
        "POST", "/v2/customers/search", json_body={"cursor": "bm90LWEtY3Vyc29y"}
    )

    assert response.status == 400
    assert response.error["code"] == "INVALID_CURSOR"


async def test_made_up_group_cursor_is_invalid(square: SquareHttp) -> None:
    response = await square.request("GET", "/v2/customers/groups", query={"cursor": "xyz"})

    assert response.status == 400
    assert response.error["code"] == "INVALID_CURSOR"


async def test_customer_cursor_on_groups_is_invalid(square: SquareHttp) -> None:
    await _three_customers(square)
    for name in ["G1", "G2"]:
        await square.create_group(name)
    cursor = await _list_cursor(square, {"limit": 1})

    response = await square.request(
        "GET", "/v2/customers/groups", query={"limit": 1, "cursor": cursor}
    )

    assert response.status == 400
    assert response.error["code"] == "INVALID_CURSOR"


async def test_list_cursor_on_search_is_invalid(square: SquareHttp) -> None:
    await _three_customers(square)
    cursor = await _list_cursor(square, {"limit": 1})

    response = await square.request(
        "POST", "/v2/customers/search", json_body={"limit": 1, "cursor": cursor}
    )

    assert response.status == 400
    assert response.error["code"] == "INVALID_CURSOR"


async def test_cursor_with_other_sort_order_is_invalid(square: SquareHttp) -> None:
    await _three_customers(square)
    cursor = await _list_cursor(square, {"limit": 1, "sort_order": "ASC"})

    response = await square.request(
        "GET", "/v2/customers", query={"limit": 1, "sort_order": "DESC", "cursor": cursor}
    )

    assert response.status == 400
    assert response.error["code"] == "INVALID_CURSOR"


async def test_cursor_with_other_sort_field_is_invalid(square: SquareHttp) -> None:
    await _three_customers(square)
    cursor = await _list_cursor(square, {"limit": 1})

    response = await square.request(
        "GET", "/v2/customers", query={"limit": 1, "sort_field": "CREATED_AT", "cursor": cursor}
    )

    assert response.status == 400
    assert response.error["code"] == "INVALID_CURSOR"


async def test_search_cursor_with_other_filter_is_invalid(square: SquareHttp) -> None:
    await _three_customers(square)
    query = {"filter": {"email_address": {"fuzzy": "example"}}}
    cursor = await _search_cursor(square, {"limit": 1, "query": query})
    other_query = {"filter": {"email_address": {"fuzzy": "com"}}}

    response = await square.request(
        "POST",
        "/v2/customers/search",
        json_body={"limit": 1, "query": other_query, "cursor": cursor},
    )

    assert response.status == 400
    assert response.error["code"] == "INVALID_CURSOR"


async def test_search_cursor_without_its_filter_is_invalid(square: SquareHttp) -> None:
    await _three_customers(square)
    query = {"filter": {"email_address": {"fuzzy": "example"}}}
    cursor = await _search_cursor(square, {"limit": 1, "query": query})

    response = await square.request(
        "POST", "/v2/customers/search", json_body={"limit": 1, "cursor": cursor}
    )

    assert response.status == 400
    assert response.error["code"] == "INVALID_CURSOR"


async def test_cursor_of_other_seller_is_invalid() -> None:
    tokens = [TokenGrant("token-a", seller="a"), TokenGrant("token-b", seller="b")]
    async with started_emulator(EmulatorSettings(tokens=tokens)) as (_, square):
        seller_a = square.with_token("token-a")
        seller_b = square.with_token("token-b")
        for client in (seller_a, seller_b):
            await _three_customers(client)
        cursor = await _list_cursor(seller_a, {"limit": 1})

        response = await seller_b.request(
            "GET", "/v2/customers", query={"limit": 1, "cursor": cursor}
        )

    assert response.status == 400
    assert response.error["code"] == "INVALID_CURSOR"


async def test_cursor_of_other_emulator_is_invalid() -> None:
    async with started_emulator(EmulatorSettings()) as (_, first):
        await _three_customers(first)
        cursor = await _list_cursor(first, {"limit": 1})
    async with started_emulator(EmulatorSettings()) as (_, second):
        await _three_customers(second)

        response = await second.request(
            "GET", "/v2/customers", query={"limit": 1, "cursor": cursor}
        )

    assert response.status == 400
    assert response.error["code"] == "INVALID_CURSOR"
