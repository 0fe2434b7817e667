"""The Customer Groups API endpoints."""

from __future__ import annotations

from aiohttp import web

from groupsync.emulator.cursor import CursorPosition, query_fingerprint
from groupsync.emulator.errors import (
    EMPTY_RESPONSE_TEXT,
    json_response,
    text_json_response,
)
from groupsync.emulator.idempotency import idempotency_key
from groupsync.emulator.paging import GROUP_PAGE_LIMIT, parse_limit, planned_size, take_page
from groupsync.emulator.request_body import read_json_object
from groupsync.emulator.state import SQUARE_VERSION_KEY, STATE_KEY, STORE_KEY
from groupsync.emulator.validation import check_group_body

CREATE_FIELDS = frozenset({"idempotency_key", "group"})
UPDATE_FIELDS = frozenset({"group"})


async def list_customer_groups(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    store = request[STORE_KEY]
    limit = parse_limit(request.query.get("limit"), max_limit=GROUP_PAGE_LIMIT)
    fingerprint = query_fingerprint("ListCustomerGroups", None)
    position = CursorPosition(after_key=None, page=0)
    cursor = request.query.get("cursor")
    if cursor is not None:
        position = state.cursors.decode(cursor, seller=store.name, fingerprint=fingerprint)

    keys = sorted((group.sequence, group.id) for group in store.groups.values())
    page_mode = state.settings.page_mode
    page = take_page(
        keys,
        after=position.after_key,
        descending=False,
        size=planned_size(limit, page=position.page, page_mode=page_mode),
        page_mode=page_mode,
    )

    body: dict[str, object] = {}
    if page.keys:
        body["groups"] = [store.groups[group_id].to_dict() for _, group_id in page.keys]
    if page.has_cursor:
        body["cursor"] = state.cursors.encode(
            seller=store.name,
            fingerprint=fingerprint,
            position=CursorPosition(after_key=page.next_after, page=position.page + 1),
        )
    return json_response(body)


async def create_customer_group(request: web.Request) -> web.Response:
    store = request[STORE_KEY]
    body = await read_json_object(request)
    group = check_group_body(
        body, allowed_top_level=CREATE_FIELDS, square_version=request[SQUARE_VERSION_KEY]
    )
    response = store.idempotency.respond_once(
        "CreateCustomerGroup",
        idempotency_key(body),
        body,
        lambda: {"group": store.create_group(group["name"]).to_dict()},
    )
    return json_response(response)


async def retrieve_customer_group(request: web.Request) -> web.Response:
    store = request[STORE_KEY]
    group = store.group(request.match_info["group_id"])
    return json_response({"group": group.to_dict()})


async def update_customer_group(request: web.Request) -> web.Response:
    store = request[STORE_KEY]
    group_id = request.match_info["group_id"]
    store.group(group_id)
    body = await read_json_object(request)
    group = check_group_body(
        body, allowed_top_level=UPDATE_FIELDS, square_version=request[SQUARE_VERSION_KEY]
    )
    return json_response({"group": store.rename_group(group_id, group["name"]).to_dict()})


async def delete_customer_group(request: web.Request) -> web.Response:
    store = request[STORE_KEY]
    store.delete_group(request.match_info["group_id"])
    return text_json_response(EMPTY_RESPONSE_TEXT)
