"""Page sizes, limits and the walk through a sorted key list that makes one page.

In ``exact`` page mode a page contains ``limit`` items and carries a cursor only
when more items follow. In ``uneven`` mode the limit is advisory, as Square
documents: pages cycle through full, empty (still with a cursor) and half
size, and an exactly full last page still carries a cursor, whose next page is
empty and has none.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from groupsync.emulator.errors import bad_request

Item = TypeVar("Item")

CUSTOMER_PAGE_LIMIT = 100
GROUP_PAGE_LIMIT = 50


def parse_limit(value: Any, *, max_limit: int) -> int:
    """Check a ``limit`` from the query string or a JSON body; None means the maximum."""
    if value is None:
        return max_limit
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise bad_request(
                "EXPECTED_INTEGER",
                f"Expected `limit` to be an integer, got `{value}`.",
                field="limit",
            ) from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request("EXPECTED_INTEGER", "Expected `limit` to be an integer.", field="limit")
    if value < 1:
        raise bad_request(
            "VALUE_TOO_LOW", f"`limit` must be at least 1, got {value}.", field="limit"
        )
    if value > max_limit:
        raise bad_request(
            "VALUE_TOO_HIGH", f"`limit` must be at most {max_limit}, got {value}.", field="limit"
        )
    return value


def planned_size(limit: int, *, page: int, page_mode: str) -> int:
    if page_mode != "uneven":
        return limit
    phase = page % 3
    if phase == 1:
        return 0
    if phase == 2:
        return max(1, (limit + 1) // 2)
    return limit


@dataclass
class Page:
    """One page of sort keys, and whether a cursor follows it."""

    keys: list[Any]
    next_after: Any
    has_cursor: bool


def take_page(
    keys: Sequence[Any],
    *,
    after: Any,
    descending: bool,
    size: int,
    page_mode: str,
    matches: Callable[[Any], bool] | None = None,
) -> Page:
    """Collect up to ``size`` keys past ``after`` that pass ``matches``, in sorted ``keys``."""
    if descending:
        start = len(keys) - 1 if after is None else bisect_left(keys, after) - 1
        indexes: Any = range(start, -1, -1)
    else:
        start = 0 if after is None else bisect_right(keys, after)
        indexes = range(start, len(keys))

    taken: list[Any] = []
    has_more = False
    for index in indexes:
        key = keys[index]
        if matches is not None and not matches(key):
            continue
        if len(taken) == size:
            has_more = True
            break
        taken.append(key)

    next_after = taken[-1] if taken else after
    full_last_page = page_mode == "uneven" and size > 0 and len(taken) == size
    return Page(keys=taken, next_after=next_after, has_cursor=has_more or full_last_page)


def record_matcher(
    records: Mapping[str, Item], predicate: Callable[[Item], bool] | None
) -> Callable[[Any], bool] | None:
    """Adapt a predicate on records to one on ``(sort text, id)`` keys."""
    if predicate is None:
        return None
    return lambda key: predicate(records[key[1]])
