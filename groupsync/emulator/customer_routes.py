"""The Customers API endpoints, including bulk operations and group membership."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from groupsync.emulator.customer_pages import customer_page_response
from groupsync.emulator.customer_query import CustomerQuery, parse_query, parse_sort_options
from groupsync.emulator.errors import (
    EMPTY_RESPONSE_TEXT,
    SquareApiError,
    bad_request,
    json_response,
    text_json_response,
)
from groupsync.emulator.idempotency import idempotency_key
from groupsync.emulator.paging import CUSTOMER_PAGE_LIMIT, parse_limit
from groupsync.emulator.request_body import read_json_object
from groupsync.emulator.state import STORE_KEY
from groupsync.emulator.store import SellerStore
from groupsync.emulator.validation import (
    check_identity,
    parse_version,
    profile_changes,
    require_object,
)

MAX_BULK_ENTRIES = 100


async def list_customers(request: web.Request) -> web.Response:
    params = request.query
    limit = parse_limit(params.get("limit"), max_limit=CUSTOMER_PAGE_LIMIT)
    query = CustomerQuery()
    query.sort_field, query.descending = parse_sort_options(
        params.get("sort_field"), params.get("sort_order"), prefix="sort_"
    )
    return customer_page_response(
        request,
        query,
        operation="ListCustomers",
        fingerprint_source=[query.sort_field, query.descending],
        cursor=params.get("cursor"),
        limit=limit,
        count=_parse_bool(params.get("count"), field="count"),
    )


async def search_customers(request: web.Request) -> web.Response:
    store = request[STORE_KEY]
    body = await read_json_object(request, empty_as={})
    limit = parse_limit(body.get("limit"), max_limit=CUSTOMER_PAGE_LIMIT)
    count = body.get("count", False)
    if not isinstance(count, bool):
        raise bad_request("EXPECTED_BOOLEAN", "Expected `count` to be a boolean.", field="count")
    query = parse_query(body, known_group_ids=store.groups)
    return customer_page_response(
        request,
        query,
        operation="SearchCustomers",
        fingerprint_source=body.get("query"),
        cursor=body.get("cursor"),
        limit=limit,
        count=count,
    )


async def create_customer(request: web.Request) -> web.Response:
    store = request[STORE_KEY]
    body = await read_json_object(request)
    response = store.idempotency.respond_once(
        "CreateCustomer", idempotency_key(body), body, lambda: _create_one(store, body)
    )
    return json_response(response)


async def retrieve_customer(request: web.Request) -> web.Response:
    store = request[STORE_KEY]
    record = store.customer(request.match_info["customer_id"])
    return json_response({"customer": record.to_dict()})


async def update_customer(request: web.Request) -> web.Response:
    store = request[STORE_KEY]
    body = await read_json_object(request)
    response = _update_one(store, request.match_info["customer_id"], body)
    return json_response(response)


async def delete_customer(request: web.Request) -> web.Response:
    store = request[STORE_KEY]
    version = _query_version(request.query.get("version"))
    store.delete_customer(request.match_info["customer_id"], version=version)
    return text_json_response(EMPTY_RESPONSE_TEXT)


async def bulk_create_customers(request: web.Request) -> web.Response:
    store = request[STORE_KEY]
    body = await read_json_object(request)
    entries = _bulk_map(body, "customers")

    responses: dict[str, Any] = {}
    for key, entry in entries.items():
        responses[key] = _bulk_item(lambda k=key, e=entry: _bulk_create_one(store, k, e))
    return json_response({"responses": responses})


async def bulk_retrieve_customers(request: web.Request) -> web.Response:
    store = request[STORE_KEY]
    body = await read_json_object(request)
    customer_ids = _id_list(body)
    responses = {
        customer_id: _bulk_item(lambda c=customer_id: {"customer": store.customer(c).to_dict()})
        for customer_id in customer_ids
    }
    return json_response({"responses": responses})


async def bulk_update_customers(request: web.Request) -> web.Response:
    store = request[STORE_KEY]
    body = await read_json_object(request)
    entries = _bulk_map(body, "customers")
    responses = {
        customer_id: _bulk_item(
            lambda c=customer_id, e=entry: _update_one(
                store, c, require_object(e, field=f"customers.{c}")
            )
        )
        for customer_id, entry in entries.items()
    }
    return json_response({"responses": responses})


async def bulk_delete_customers(request: web.Request) -> web.Response:
    store = request[STORE_KEY]
    body = await read_json_object(request)
    customer_ids = _id_list(body)
    responses = {
        customer_id: _bulk_item(lambda c=customer_id: _delete_one(store, c))
        for customer_id in customer_ids
    }
    return json_response({"responses": responses})


async def add_group_to_customer(request: web.Request) -> web.Response:
    store = request[STORE_KEY]
    info = request.match_info
    store.add_to_group(info["customer_id"], info["group_id"])
    return text_json_response(EMPTY_RESPONSE_TEXT)


async def remove_group_from_customer(request: web.Request) -> web.Response:
    store = request[STORE_KEY]
    info = request.match_info
    store.remove_from_group(info["customer_id"], info["group_id"])
    return text_json_response(EMPTY_RESPONSE_TEXT)


def _create_one(
    store: SellerStore, body: dict[str, Any], *, field_prefix: str = ""
) -> dict[str, Any]:
    changes = profile_changes(body, field_prefix=field_prefix)
    check_identity(changes)
    record = store.create_customer(changes)
    return {"customer": record.to_dict()}


def _update_one(store: SellerStore, customer_id: str, body: dict[str, Any]) -> dict[str, Any]:
    record = store.customer(customer_id)
    version = parse_version(body["version"]) if body.get("version") is not None else None
    store.check_version(record, version)
    changes = profile_changes(body)
    check_identity({**record.profile, **changes})
    store.update_customer(customer_id, changes, version=version)
    return {"customer": record.to_dict()}


def _delete_one(store: SellerStore, customer_id: str) -> dict[str, Any]:
    store.delete_customer(customer_id, version=None)
    return {}


def _bulk_create_one(store: SellerStore, key: str, entry: Any) -> dict[str, Any]:
    entry = require_object(entry, field=f"customers.{key}")
    return store.idempotency.respond_once(  # type: ignore[no-any-return]
        "BulkCreateCustomers", key, entry, lambda: _create_one(store, entry)
    )


def _bulk_item(action: Any) -> dict[str, Any]:
    """Run one bulk entry; a Square error becomes that entry's ``errors``, inside a 200."""
    try:
        return action()  # type: ignore[no-any-return]
    except SquareApiError as error:
        return error.body()


def _bulk_map(body: dict[str, Any], name: str) -> dict[str, Any]:
    entries = body.get(name)
    if entries is None:
        raise bad_request("MISSING_REQUIRED_PARAMETER", f"Field `{name}` is required.", field=name)
    entries = require_object(entries, field=name)
    if not entries:
        raise bad_request(
            "BAD_REQUEST",
            f"`{name}` must contain 1 to {MAX_BULK_ENTRIES} entries.",
            field=name,
        )
    if len(entries) > MAX_BULK_ENTRIES:
        raise bad_request(
            "TOO_MANY_MAP_ENTRIES",
            f"`{name}` must contain at most {MAX_BULK_ENTRIES} entries, got {len(entries)}.",
            field=name,
        )
    return entries


def _id_list(body: dict[str, Any]) -> list[str]:
    ids = body.get("customer_ids")
    if ids is None:
        raise bad_request(
            "MISSING_REQUIRED_PARAMETER", "Field `customer_ids` is required.", field="customer_ids"
        )
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise bad_request(
            "EXPECTED_ARRAY",
            "Expected `customer_ids` to be an array of strings.",
            field="customer_ids",
        )
    if not ids:
        raise bad_request("ARRAY_EMPTY", "`customer_ids` must not be empty.", field="customer_ids")
    return ids


def _query_version(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise bad_request(
            "EXPECTED_INTEGER",
            f"Expected `version` to be an integer, got `{value}`.",
            field="version",
        ) from None


def _parse_bool(value: str | None, *, field: str) -> bool:
    if value is None:
        return False
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise bad_request("EXPECTED_BOOLEAN", f"Expected `{field}` to be true or false.", field=field)
