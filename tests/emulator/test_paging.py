"""Page sizes, limit checks, sort orders and counts of the three paginated endpoints.

Square documents limits of 1-100 (default 100) for ListCustomers and SearchCustomers and
1-50 (default 50) for ListCustomerGroups. It calls the limit advisory, so the ``uneven`` page
mode returns pages of other sizes, empty pages that still carry a cursor, and a cursor after
an exactly full last page.
"""

from __future__ import annotations

import pytest

from groupsync.emulator.settings import EmulatorSettings
from groupsync.testing.emulator import EmulatorServer

from .square_http import SquareHttp, started_emulator

LIMIT_CASES = [
    ("GET", "/v2/customers", 0, "VALUE_TOO_LOW"),
    ("GET", "/v2/customers", 101, "VALUE_TOO_HIGH"),
    ("GET", "/v2/customers/groups", 0, "VALUE_TOO_LOW"),
    ("GET", "/v2/customers/groups", 51, "VALUE_TOO_HIGH"),
    ("POST", "/v2/customers/search", 0, "VALUE_TOO_LOW"),
    ("POST", "/v2/customers/search", 101, "VALUE_TOO_HIGH"),
]


# Names sort the other way round from creation dates, so a name sort cannot pass for CREATED_AT.
DATED = {
    "sellers": {
        "default": {
            "customers": [
                {"id": "NEWEST", "given_name": "Ada", "created_at": "2024-03-01T00:00:00.000Z"},
                {"id": "OLDEST", "given_name": "Cleo", "created_at": "2024-01-01T00:00:00.000Z"},
                {"id": "MIDDLE", "given_name": "Bo", "created_at": "2024-02-01T00:00:00.000Z"},
            ],
            "groups": [],
        }
    }
}


def _profiles(count: int) -> list[dict[str, str]]:
    return [{"given_name": f"Name{index:04d}"} for index in range(count)]


def _ids(pages: list[dict]) -> list[str]:
    return [item["id"] for page in pages for item in page.get("customers", page.get("groups", []))]


@pytest.mark.parametrize(("method", "path", "limit", "code"), LIMIT_CASES)
async def test_limit_out_of_range_is_rejected(
    square: SquareHttp, method: str, path: str, limit: int, code: str
) -> None:
    if method == "GET":
        response = await square.request(method, path, query={"limit": limit})
    else:
        response = await square.request(method, path, json_body={"limit": limit})

    assert response.status == 400
    assert response.error["code"] == code
    assert response.error["field"] == "limit"
    assert response.error["category"] == "INVALID_REQUEST_ERROR"


@pytest.mark.parametrize(
    ("path", "limit"),
    [("/v2/customers", 1), ("/v2/customers", 100), ("/v2/customers/groups", 50)],
)
async def test_limit_at_bound_is_accepted(square: SquareHttp, path: str, limit: int) -> None:
    response = await square.request("GET", path, query={"limit": limit})

    assert response.status == 200


async def test_list_customers_default_page_is_100(square: SquareHttp) -> None:
    await square.bulk_create(_profiles(150), key_prefix="p")

    pages = await square.list_pages("/v2/customers", {})

    assert [len(page["customers"]) for page in pages] == [100, 50]


async def test_search_default_page_is_100(square: SquareHttp) -> None:
    await square.bulk_create(_profiles(150), key_prefix="p")

    pages = await square.search_pages({})

    assert [len(page["customers"]) for page in pages] == [100, 50]


async def test_list_groups_default_page_is_50(square: SquareHttp) -> None:
    for index in range(60):
        await square.create_group(f"Group {index:02d}")

    pages = await square.list_pages("/v2/customers/groups", {})

    assert [len(page["groups"]) for page in pages] == [50, 10]


async def test_exact_mode_pages_hold_limit(square: SquareHttp) -> None:
    await square.bulk_create(_profiles(23), key_prefix="p")

    pages = await square.list_pages("/v2/customers", {"limit": 10})

    assert [len(page["customers"]) for page in pages] == [10, 10, 3]


async def test_exact_mode_full_last_page_has_no_cursor(square: SquareHttp) -> None:
    await square.bulk_create(_profiles(20), key_prefix="p")

    pages = await square.list_pages("/v2/customers", {"limit": 10})

    assert len(pages) == 2
    assert "cursor" in pages[0]
    assert "cursor" not in pages[1]


async def test_paging_returns_each_customer_once(square: SquareHttp) -> None:
    created = await square.bulk_create(_profiles(57), key_prefix="p")

    pages = await square.list_pages("/v2/customers", {"limit": 10})

    assert sorted(_ids(pages)) == sorted(created)
    assert len(_ids(pages)) == len(created)


async def test_paging_groups_returns_each_group_once(square: SquareHttp) -> None:
    created = [(await square.create_group(f"G{index}"))["id"] for index in range(12)]

    pages = await square.list_pages("/v2/customers/groups", {"limit": 5})

    assert sorted(_ids(pages)) == sorted(created)
    assert [len(page["groups"]) for page in pages] == [5, 5, 2]


async def test_search_paging_returns_each_customer_once(square: SquareHttp) -> None:
    created = await square.bulk_create(_profiles(25), key_prefix="p")

    pages = await square.search_pages({"limit": 7})

    assert sorted(_ids(pages)) == sorted(created)
    assert len(_ids(pages)) == len(created)


async def test_uneven_mode_returns_other_sizes() -> None:
    async with started_emulator(EmulatorSettings(page_mode="uneven", seed=1)) as (_, square):
        await square.bulk_create(_profiles(60), key_prefix="p")

        pages = await square.list_pages("/v2/customers", {"limit": 10})

    sizes = [len(page.get("customers", [])) for page in pages]
    assert any(size != 10 for size in sizes[:-1])


@pytest.mark.parametrize("endpoint", ["ListCustomers", "SearchCustomers"])
async def test_uneven_mode_returns_each_customer_once(endpoint: str) -> None:
    async with started_emulator(EmulatorSettings(page_mode="uneven", seed=1)) as (_, square):
        created = await square.bulk_create(_profiles(60), key_prefix="p")

        if endpoint == "ListCustomers":
            pages = await square.list_pages("/v2/customers", {"limit": 10})
        else:
            pages = await square.search_pages({"limit": 10})

    assert sorted(_ids(pages)) == sorted(created)
    assert len(_ids(pages)) == len(created)


async def test_uneven_mode_groups_return_each_group_once() -> None:
    async with started_emulator(EmulatorSettings(page_mode="uneven", seed=1)) as (_, square):
        created = [(await square.create_group(f"G{index}"))["id"] for index in range(30)]

        pages = await square.list_pages("/v2/customers/groups", {"limit": 5})

    assert sorted(_ids(pages)) == sorted(created)
    assert len(_ids(pages)) == len(created)


async def test_uneven_mode_sends_empty_page_with_cursor() -> None:
    async with started_emulator(EmulatorSettings(page_mode="uneven", seed=1)) as (_, square):
        await square.bulk_create(_profiles(60), key_prefix="p")

        pages = await square.list_pages("/v2/customers", {"limit": 10})

    empty_with_cursor = [page for page in pages if set(page) == {"cursor"}]
    assert empty_with_cursor


async def test_uneven_mode_full_last_page_has_cursor() -> None:
    # Whether the last page comes out exactly full depends on how many customers there are,
    # so grow the set one customer at a time until a traversal ends that way.
    async with started_emulator(EmulatorSettings(page_mode="uneven", seed=1)) as (_, square):
        endings = []
        for index in range(30):
            await square.create_customer(given_name=f"Name{index:04d}")
            pages = await square.list_pages("/v2/customers", {"limit": 4})
            filled = [page for page in pages if page.get("customers")]
            endings.append((len(filled[-1]["customers"]), "cursor" in filled[-1], pages[-1]))

    full_with_cursor = [ending for ending in endings if ending[0] == 4 and ending[1]]
    assert full_with_cursor
    assert all(ending[2] == {} for ending in full_with_cursor)


async def test_count_requested_on_list(square: SquareHttp) -> None:
    await square.bulk_create(_profiles(12), key_prefix="p")

    body = await square.ok("GET", "/v2/customers", query={"limit": 5, "count": True})

    assert body["count"] == 12
    assert len(body["customers"]) == 5


async def test_count_absent_unless_requested(square: SquareHttp) -> None:
    await square.bulk_create(_profiles(3), key_prefix="p")

    body = await square.ok("GET", "/v2/customers")

    assert "count" not in body


async def test_count_requested_on_search(square: SquareHttp) -> None:
    await square.bulk_create(_profiles(12), key_prefix="p")

    body = await square.ok("POST", "/v2/customers/search", json_body={"limit": 5, "count": True})

    assert body["count"] == 12


async def test_default_sort_is_by_name(square: SquareHttp) -> None:
    names = [("Cleo", "Abbott"), ("Ada", "Zimmer"), ("Ada", "Byron"), ("Bo", "Young")]
    for given, family in names:
        await square.create_customer(given_name=given, family_name=family)

    body = await square.ok("GET", "/v2/customers")

    listed = [(item["given_name"], item["family_name"]) for item in body["customers"]]
    assert listed == [("Ada", "Byron"), ("Ada", "Zimmer"), ("Bo", "Young"), ("Cleo", "Abbott")]


async def test_default_sort_falls_back_to_company(square: SquareHttp) -> None:
    await square.create_customer(given_name="Mia")
    await square.create_customer(company_name="Acme Bakery")
    await square.create_customer(given_name="Zed")

    body = await square.ok("GET", "/v2/customers")

    listed = [item.get("given_name", item.get("company_name")) for item in body["customers"]]
    assert listed == ["Acme Bakery", "Mia", "Zed"]


async def test_default_sort_descending(square: SquareHttp) -> None:
    for given in ["Bo", "Ada", "Cleo"]:
        await square.create_customer(given_name=given)

    body = await square.ok("GET", "/v2/customers", query={"sort_order": "DESC"})

    assert [item["given_name"] for item in body["customers"]] == ["Cleo", "Bo", "Ada"]


async def test_created_at_sort_follows_creation(
    emulator: EmulatorServer, square: SquareHttp
) -> None:
    await emulator.admin.load_state(DATED)

    body = await square.ok("GET", "/v2/customers", query={"sort_field": "CREATED_AT"})

    assert [item["id"] for item in body["customers"]] == ["OLDEST", "MIDDLE", "NEWEST"]


async def test_created_at_sort_descending(emulator: EmulatorServer, square: SquareHttp) -> None:
    await emulator.admin.load_state(DATED)

    body = await square.ok(
        "GET", "/v2/customers", query={"sort_field": "CREATED_AT", "sort_order": "DESC"}
    )

    assert [item["id"] for item in body["customers"]] == ["NEWEST", "MIDDLE", "OLDEST"]


async def test_created_at_pages_keep_order(emulator: EmulatorServer, square: SquareHttp) -> None:
    await emulator.admin.load_state(DATED)

    pages = await square.list_pages("/v2/customers", {"sort_field": "CREATED_AT", "limit": 2})

    assert _ids(pages) == ["OLDEST", "MIDDLE", "NEWEST"]


async def test_search_sort_descending(square: SquareHttp) -> None:
    for given in ["Bo", "Ada", "Cleo"]:
        await square.create_customer(given_name=given)

    body = await square.ok(
        "POST",
        "/v2/customers/search",
        json_body={"query": {"sort": {"field": "DEFAULT", "order": "DESC"}}},
    )

    assert [item["given_name"] for item in body["customers"]] == ["Cleo", "Bo", "Ada"]


async def test_descending_pages_cover_everyone(square: SquareHttp) -> None:
    created = await square.bulk_create(_profiles(25), key_prefix="p")

    pages = await square.list_pages("/v2/customers", {"limit": 10, "sort_order": "DESC"})

    names = [item["given_name"] for page in pages for item in page["customers"]]
    assert names == sorted(names, reverse=True)
    assert sorted(_ids(pages)) == sorted(created)


async def test_non_integer_limit_is_rejected(square: SquareHttp) -> None:
    response = await square.request("GET", "/v2/customers", query={"limit": "ten"})

    assert response.status == 400
    assert response.error["field"] == "limit"


@pytest.mark.parametrize(("name", "value"), [("sort_order", "SIDEWAYS"), ("sort_field", "NAME")])
async def test_unknown_sort_value_is_rejected(square: SquareHttp, name: str, value: str) -> None:
    response = await square.request("GET", "/v2/customers", query={name: value})

    assert response.status == 400
    assert response.error["field"] == name
