"""The cursor walk over Square's paginated listings, with its safety checks.

Square's ``limit`` is advisory, so a page may hold fewer items than asked,
even none, and still carry a cursor; such a page is followed. A walk that
receives a cursor a second time, or needs more than ``max_pages`` pages, raises
:class:`~groupsync.square.errors.PagingError` instead of looping or returning
a partial listing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from groupsync.square.errors import InvalidResponse, PagingError

DEFAULT_MAX_PAGES = 10_000

FetchPage = Callable[[str | None], Awaitable[dict[str, Any]]]


async def iter_pages(
    fetch_page: FetchPage,
    *,
    operation: str,
    items_key: str,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Yield the non-empty ``items_key`` lists of every page, following cursors to the end.

    ``fetch_page(cursor)`` returns one decoded response; the first call gets None.
    """
    if max_pages < 1:
        raise ValueError(f"max_pages must be at least 1, got {max_pages}")

    seen_cursors: set[str] = set()
    cursor: str | None = None
    pages = 0

    while True:
        body = await fetch_page(cursor)
        pages += 1

        items = _items(body, operation=operation, items_key=items_key)
        if items:
            yield items

        cursor = body.get("cursor") or None
        if cursor is None:
            return
        _check_next_page(
            cursor, seen_cursors, operation=operation, pages=pages, max_pages=max_pages
        )
        seen_cursors.add(cursor)


def _items(body: dict[str, Any], *, operation: str, items_key: str) -> list[dict[str, Any]]:
    # Square leaves the key out of an empty page rather than sending an empty list.
    items = body.get(items_key, [])
    if not isinstance(items, list):
        raise InvalidResponse(
            f"the response field {items_key!r} is a {type(items).__name__}, not a list",
            operation=operation,
        )
    return items


def _check_next_page(
    cursor: str, seen_cursors: set[str], *, operation: str, pages: int, max_pages: int
) -> None:
    if cursor in seen_cursors:
        raise PagingError(
            f"page {pages} returned a cursor that an earlier page already returned, "
            "so the listing would never end; stopped after reading "
            f"{pages} pages",
            operation=operation,
        )
    if pages >= max_pages:
        raise PagingError(
            f"the listing has more than max_pages={max_pages} pages; stopped after "
            f"reading {pages} pages",
            operation=operation,
        )
