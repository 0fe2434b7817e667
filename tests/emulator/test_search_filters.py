"""SearchCustomers filters, their combination and the empty result.

The matching rules and their examples come from Square's ``CustomerFilter`` and
``CustomerTextFilter`` reference: exact and fuzzy text filters, case-insensitive email and
reference id, E.164 comparison for exact phone numbers, ``group_ids`` with any/all/none,
time ranges, creation sources, and AND between filters. A search that matches nothing,
including one naming a group that does not exist, returns 200 ``{}``.
"""

from __future__ import annotations

from typing import Any

from groupsync.testing.emulator import EmulatorServer

from .square_http import SquareHttp


async def _named(square: SquareHttp, **fields: Any) -> str:
    customer = await square.create_customer(**fields)
    customer_id: str = customer["id"]
    return customer_id


def _text_filter(field: str, kind: str, value: str) -> dict[str, Any]:
    return {"filter": {field: {kind: value}}}


async def test_no_query_returns_everyone_by_name(square: SquareHttp) -> None:
    bo = await _named(square, given_name="Bo")
    ada = await _named(square, given_name="Ada")

    assert await square.search_ids({}) == [ada, bo]


async def test_no_match_is_empty_object(square: SquareHttp) -> None:
    await _named(square, email_address="ada@example.com")

    response = await square.request(
        "POST",
        "/v2/customers/search",
        json_body={"query": _text_filter("email_address", "exact", "nobody@example.com")},
    )

    assert response.status == 200
    assert response.body == {}


async def test_search_without_customers_is_empty_object(square: SquareHttp) -> None:
    response = await square.request("POST", "/v2/customers/search", json_body={})

    assert response.status == 200
    assert response.body == {}


async def test_email_exact_ignores_case(square: SquareHttp) -> None:
    ada = await _named(square, email_address="Ada.Lovelace@Example.com")
    await _named(square, email_address="ada@example.com")

    found = await square.search_ids(
        _text_filter("email_address", "exact", "ada.lovelace@example.COM")
    )

    assert found == [ada]


async def test_email_exact_needs_whole_address(square: SquareHttp) -> None:
    await _named(square, email_address="ada.lovelace@example.com")

    found = await square.search_ids(_text_filter("email_address", "exact", "lovelace@example.com"))

    assert found == []


async def test_email_fuzzy_matches_tokens_in_any_order(square: SquareHttp) -> None:
    johnson = await _named(square, given_name="A", email_address="steven.johnson@gmail.com")
    bakery = await _named(square, given_name="B", email_address="mygmail@stevensbakery.com")
    await _named(square, given_name="C", email_address="steven@yahoo.com")

    found = await square.search_ids(_text_filter("email_address", "fuzzy", "Steven gmail"))

    assert found == [johnson, bakery]


async def test_phone_exact_compares_e164(square: SquareHttp) -> None:
    stored = await _named(square, phone_number="+1 206-222-3333")
    await _named(square, phone_number="+1 206-222-4444")

    found = await square.search_ids(_text_filter("phone_number", "exact", "+12062223333"))

    assert found == [stored]


async def test_phone_exact_accepts_formatted_query(square: SquareHttp) -> None:
    stored = await _named(square, phone_number="+12062223333")

    found = await square.search_ids(_text_filter("phone_number", "exact", "+1 (206) 222-3333"))

    assert found == [stored]


async def test_phone_fuzzy_matches_digit_runs(square: SquareHttp) -> None:
    first = await _named(square, given_name="A", phone_number="+1-415-212-1200")
    second = await _named(square, given_name="B", phone_number="+1-212-415-1234")
    third = await _named(square, given_name="C", phone_number="+1 (551) 234-1567")
    await _named(square, given_name="D", phone_number="+1-206-222-3333")

    found = await square.search_ids(_text_filter("phone_number", "fuzzy", "415"))

    assert found == [first, second, third]


async def test_phone_fuzzy_needs_every_token(square: SquareHttp) -> None:
    await _named(square, given_name="A", phone_number="+1-415-212-1200")
    second = await _named(square, given_name="B", phone_number="+1-212-415-1234")
    third = await _named(square, given_name="C", phone_number="+1 (551) 234-1567")

    found = await square.search_ids(_text_filter("phone_number", "fuzzy", "415 123"))

    assert found == [second, third]


async def test_reference_id_exact_ignores_case(square: SquareHttp) -> None:
    stored = await _named(square, given_name="A", reference_id="NYC_M_35")
    await _named(square, given_name="B", reference_id="NYC_M_36")

    found = await square.search_ids(_text_filter("reference_id", "exact", "nyc_m_35"))

    assert found == [stored]


async def test_reference_id_fuzzy_matches_tokens(square: SquareHttp) -> None:
    johnson = await _named(square, given_name="A", reference_id="NYC_M_35_JOHNSON")
    murray = await _named(square, given_name="B", reference_id="NYC_27_MURRAY")
    await _named(square, given_name="C", reference_id="LA_M_12_SMITH")

    found = await square.search_ids(_text_filter("reference_id", "fuzzy", "NYC M"))

    assert found == [johnson, murray]


async def test_group_any_matches_either_group(square: SquareHttp) -> None:
    gold = (await square.create_group("Gold"))["id"]
    silver = (await square.create_group("Silver"))["id"]
    ada = await _named(square, given_name="Ada")
    bo = await _named(square, given_name="Bo")
    await _named(square, given_name="Cleo")
    await square.add_member(ada, gold)
    await square.add_member(bo, silver)

    found = await square.search_ids({"filter": {"group_ids": {"any": [gold, silver]}}})

    assert found == [ada, bo]


async def test_group_all_needs_every_group(square: SquareHttp) -> None:
    gold = (await square.create_group("Gold"))["id"]
    silver = (await square.create_group("Silver"))["id"]
    ada = await _named(square, given_name="Ada")
    bo = await _named(square, given_name="Bo")
    for group in (gold, silver):
        await square.add_member(ada, group)
    await square.add_member(bo, gold)

    found = await square.search_ids({"filter": {"group_ids": {"all": [gold, silver]}}})

    assert found == [ada]


async def test_group_none_excludes_members(square: SquareHttp) -> None:
    gold = (await square.create_group("Gold"))["id"]
    ada = await _named(square, given_name="Ada")
    bo = await _named(square, given_name="Bo")
    await square.add_member(ada, gold)

    found = await square.search_ids({"filter": {"group_ids": {"none": [gold]}}})

    assert found == [bo]


async def test_group_any_and_none_combine(square: SquareHttp) -> None:
    gold = (await square.create_group("Gold"))["id"]
    banned = (await square.create_group("Banned"))["id"]
    ada = await _named(square, given_name="Ada")
    bo = await _named(square, given_name="Bo")
    await square.add_member(ada, gold)
    await square.add_member(bo, gold)
    await square.add_member(bo, banned)

    found = await square.search_ids({"filter": {"group_ids": {"any": [gold], "none": [banned]}}})

    assert found == [ada]


async def test_unknown_group_is_empty_object(square: SquareHttp) -> None:
    gold = (await square.create_group("Gold"))["id"]
    ada = await _named(square, given_name="Ada")
    await square.add_member(ada, gold)

    response = await square.request(
        "POST",
        "/v2/customers/search",
        json_body={"query": {"filter": {"group_ids": {"any": [gold, "NOSUCHGROUP"]}}}},
    )

    assert response.status == 200
    assert response.body == {}


async def test_unknown_group_in_none_is_empty_object(square: SquareHttp) -> None:
    await _named(square, given_name="Ada")

    response = await square.request(
        "POST",
        "/v2/customers/search",
        json_body={"query": {"filter": {"group_ids": {"none": ["NOSUCHGROUP"]}}}},
    )

    assert response.status == 200
    assert response.body == {}


async def test_created_at_range_selects_window(
    emulator: EmulatorServer, square: SquareHttp
) -> None:
    await _load_dated(emulator)

    found = await square.search_ids(
        {
            "filter": {
                "created_at": {
                    "start_at": "2024-02-01T00:00:00Z",
                    "end_at": "2024-03-15T00:00:00Z",
                }
            }
        }
    )

    assert found == ["CUSTOMERFEB"]


async def test_created_at_open_end_selects_later(
    emulator: EmulatorServer, square: SquareHttp
) -> None:
    await _load_dated(emulator)

    found = await square.search_ids(
        {"filter": {"created_at": {"start_at": "2024-02-01T00:00:00Z"}}}
    )

    assert found == ["CUSTOMERAPR", "CUSTOMERFEB"]


async def test_updated_at_range_selects_window(
    emulator: EmulatorServer, square: SquareHttp
) -> None:
    await _load_dated(emulator)

    found = await square.search_ids(
        {
            "filter": {
                "updated_at": {
                    "start_at": "2024-05-01T00:00:00Z",
                    "end_at": "2024-07-01T00:00:00Z",
                }
            }
        }
    )

    assert found == ["CUSTOMERJAN"]


async def test_creation_source_include(emulator: EmulatorServer, square: SquareHttp) -> None:
    await _load_dated(emulator)

    found = await square.search_ids(
        {"filter": {"creation_source": {"values": ["DIRECTORY"], "rule": "INCLUDE"}}}
    )

    assert found == ["CUSTOMERFEB"]


async def test_creation_source_defaults_to_include(
    emulator: EmulatorServer, square: SquareHttp
) -> None:
    await _load_dated(emulator)

    found = await square.search_ids({"filter": {"creation_source": {"values": ["DIRECTORY"]}}})

    assert found == ["CUSTOMERFEB"]


async def test_creation_source_exclude(emulator: EmulatorServer, square: SquareHttp) -> None:
    await _load_dated(emulator)

    found = await square.search_ids(
        {"filter": {"creation_source": {"values": ["DIRECTORY"], "rule": "EXCLUDE"}}}
    )

    assert found == ["CUSTOMERAPR", "CUSTOMERJAN"]


async def test_filters_combine_with_and(square: SquareHttp) -> None:
    gold = (await square.create_group("Gold"))["id"]
    ada = await _named(square, given_name="Ada", email_address="ada@gmail.com")
    bo = await _named(square, given_name="Bo", email_address="bo@gmail.com")
    await _named(square, given_name="Cleo", email_address="cleo@yahoo.com")
    await square.add_member(ada, gold)

    found = await square.search_ids(
        {
            "filter": {
                "email_address": {"fuzzy": "gmail"},
                "group_ids": {"none": [gold]},
            }
        }
    )

    assert found == [bo]


async def test_search_sort_created_at(emulator: EmulatorServer, square: SquareHttp) -> None:
    await _load_dated(emulator)

    found = await square.search_ids({"sort": {"field": "CREATED_AT", "order": "ASC"}})

    assert found == ["CUSTOMERJAN", "CUSTOMERFEB", "CUSTOMERAPR"]


async def test_search_sort_created_at_descending(
    emulator: EmulatorServer, square: SquareHttp
) -> None:
    await _load_dated(emulator)

    found = await square.search_ids({"sort": {"field": "CREATED_AT", "order": "DESC"}})

    assert found == ["CUSTOMERAPR", "CUSTOMERFEB", "CUSTOMERJAN"]


async def test_search_count_counts_matches(square: SquareHttp) -> None:
    await _named(square, given_name="Ada", email_address="ada@gmail.com")
    await _named(square, given_name="Bo", email_address="bo@gmail.com")
    await _named(square, given_name="Cleo", email_address="cleo@yahoo.com")

    body = await square.ok(
        "POST",
        "/v2/customers/search",
        json_body={
            "count": True,
            "limit": 1,
            "query": _text_filter("email_address", "fuzzy", "gmail"),
        },
    )

    assert body["count"] == 2
    assert len(body["customers"]) == 1


async def test_profile_without_identity_is_not_searched(
    emulator: EmulatorServer, square: SquareHttp
) -> None:
    await _load_dated(emulator)

    found = await square.search_ids({})

    assert "CUSTOMERNOTE" not in found
    assert len(found) == 3


async def test_profile_without_identity_is_not_listed(
    emulator: EmulatorServer, square: SquareHttp
) -> None:
    await _load_dated(emulator)

    pages = await square.list_pages("/v2/customers", {"count": True})

    assert [item["id"] for item in pages[0]["customers"]] == [
        "CUSTOMERAPR",
        "CUSTOMERFEB",
        "CUSTOMERJAN",
    ]
    assert pages[0]["count"] == 3


async def test_profile_without_identity_is_retrievable(
    emulator: EmulatorServer, square: SquareHttp
) -> None:
    await _load_dated(emulator)

    customer = await square.get_customer("CUSTOMERNOTE")

    assert customer["note"] == "walk-in, no name given"


async def _load_dated(emulator: EmulatorServer) -> None:
    """Seed three customers with known dates and sources, and one without any identity field."""
    customers = [
        _seeded("CUSTOMERJAN", "Cleo", "2024-01-10T09:00:00.000Z", "2024-06-01T09:00:00.000Z"),
        _seeded("CUSTOMERFEB", "Bo", "2024-02-10T09:00:00.000Z", "2024-02-10T09:00:00.000Z"),
        _seeded("CUSTOMERAPR", "Ada", "2024-04-10T09:00:00.000Z", "2024-04-10T09:00:00.000Z"),
        {
            "id": "CUSTOMERNOTE",
            "created_at": "2024-03-01T09:00:00.000Z",
            "updated_at": "2024-03-01T09:00:00.000Z",
            "note": "walk-in, no name given",
            "creation_source": "DIRECTORY",
            "version": 0,
        },
    ]
    customers[1]["creation_source"] = "DIRECTORY"
    await emulator.admin.load_state(
        {"sellers": {"default": {"customers": customers, "groups": []}}}
    )


def _seeded(customer_id: str, given_name: str, created_at: str, updated_at: str) -> dict[str, Any]:
    return {
        "id": customer_id,
        "given_name": given_name,
        "created_at": created_at,
        "updated_at": updated_at,
        "creation_source": "THIRD_PARTY",
        "version": 0,
    }


async def test_phone_exact_reads_stored_national_number(square: SquareHttp) -> None:
    # The emulator places every seller in the US, so a stored number without country code is +1.
    stored = await _named(square, phone_number="206-222-3333")

    found = await square.search_ids(_text_filter("phone_number", "exact", "+12062223333"))

    assert found == [stored]


async def test_text_filter_with_exact_and_fuzzy_is_rejected(square: SquareHttp) -> None:
    response = await square.request(
        "POST",
        "/v2/customers/search",
        json_body={"query": {"filter": {"email_address": {"exact": "a@b.co", "fuzzy": "a"}}}},
    )

    assert response.status == 400
    assert response.error["category"] == "INVALID_REQUEST_ERROR"


async def test_unknown_segment_is_bad_request(square: SquareHttp) -> None:
    response = await square.request(
        "POST",
        "/v2/customers/search",
        json_body={"query": {"filter": {"segment_ids": {"any": ["NOSUCHSEGMENT"]}}}},
    )

    assert response.status == 400
    assert response.error["code"] == "BAD_REQUEST"
    assert "NOSUCHSEGMENT" in response.error["detail"]


async def test_four_segments_are_bad_request(square: SquareHttp) -> None:
    response = await square.request(
        "POST",
        "/v2/customers/search",
        json_body={"query": {"filter": {"segment_ids": {"any": ["A", "B"], "none": ["C", "D"]}}}},
    )

    assert response.status == 400
    assert response.error["code"] == "BAD_REQUEST"


async def test_malformed_time_range_is_rejected(square: SquareHttp) -> None:
    response = await square.request(
        "POST",
        "/v2/customers/search",
        json_body={"query": {"filter": {"created_at": {"start_at": "yesterday"}}}},
    )

    assert response.status == 400
    assert response.error["category"] == "INVALID_REQUEST_ERROR"


async def test_unknown_creation_source_is_rejected(square: SquareHttp) -> None:
    response = await square.request(
        "POST",
        "/v2/customers/search",
        json_body={"query": {"filter": {"creation_source": {"values": ["FAX"]}}}},
    )

    assert response.status == 400
    assert response.error["category"] == "INVALID_REQUEST_ERROR"
