"""Pages of customers for ListCustomers and SearchCustomers, rendered as Square JSON."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from groupsync.emulator.cursor import CursorPosition, query_fingerprint
from groupsync.emulator.customer_query import CustomerQuery
from groupsync.emulator.errors import EMPTY_RESPONSE_TEXT, text_json_response
from groupsync.emulator.paging import planned_size, record_matcher, take_page
from groupsync.emulator.state import STATE_KEY, STORE_KEY


def customer_page_response(
    request: web.Request,
    query: CustomerQuery,
    *,
    operation: str,
    fingerprint_source: Any,
    cursor: str | None,
    limit: int,
    count: bool,
) -> web.Response:
    """Serve one page of the customers ``query`` matches, with a cursor if more may follow."""
    state = request.app[STATE_KEY]
    store = request[STORE_KEY]
    fingerprint = query_fingerprint(operation, fingerprint_source)
    position = CursorPosition(after_key=None, page=0)
    if cursor is not None:
        position = state.cursors.decode(cursor, seller=store.name, fingerprint=fingerprint)

    if query.impossible:
        return text_json_response(EMPTY_RESPONSE_TEXT)

    view = store.view()
    keys = query.candidate_keys(view)
    matcher = record_matcher(view.records, query.predicate())
    page = take_page(
        keys,
        after=position.after_key,
        descending=query.descending,
        size=planned_size(limit, page=position.page, page_mode=state.settings.page_mode),
        page_mode=state.settings.page_mode,
        matches=matcher,
    )

    parts: list[str] = []
    if page.keys:
        records = view.records
        customers = ",".join(records[key[1]].json_text() for key in page.keys)
        parts.append(f'"customers":[{customers}]')
    if page.has_cursor:
        next_position = CursorPosition(after_key=page.next_after, page=position.page + 1)
        next_cursor = state.cursors.encode(
            seller=store.name, fingerprint=fingerprint, position=next_position
        )
        parts.append(f'"cursor":{json.dumps(next_cursor)}')
    if count:
        total = len(keys) if matcher is None else sum(1 for key in keys if matcher(key))
        parts.append(f'"count":{total}')

    if not parts:
        return text_json_response(EMPTY_RESPONSE_TEXT)
    return text_json_response("{" + ",".join(parts) + "}")
