"""SquareClient: the Customers and Customer Groups operations that groupsync uses.

Customers are plain dicts in Square's JSON shape; groups are :class:`Group`.
Every request goes through one :class:`~groupsync.square.transport.Transport`,
so rate limiting, retries and request counting apply to all of them.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from groupsync.errors import ConfigError
from groupsync.square.errors import InvalidResponse, NotFound, SquareError, error_for_item
from groupsync.square.limiter import RateLimiter
from groupsync.square.paging import DEFAULT_MAX_PAGES, iter_pages
from groupsync.square.retry import RetryPolicy
from groupsync.square.stats import RequestStats
from groupsync.square.transport import Transport

DEFAULT_SQUARE_VERSION = "2025-08-20"

BASE_URL_ALIASES = {
    "production": "https://connect.squareup.com",
    "sandbox": "https://connect.squareupsandbox.com",
}

# Page sizes and batch sizes are Square's documented maximums.
GROUPS_PAGE_LIMIT = 50
CUSTOMERS_PAGE_LIMIT = 100
BULK_CHUNK_SIZE = 100

# Used when the caller passes no limiter: no rate cap until the first 429,
# and a few requests in flight, which a single seller's limit tolerates.
DEFAULT_MAX_IN_FLIGHT = 8


@dataclass(frozen=True)
class Group:
    """A Square customer group."""

    id: str
    name: str


def resolve_base_url(value: str) -> str:
    """Return the base URL for ``"production"``, ``"sandbox"`` or an http(s) URL.

    Raises ConfigError naming SQUARE_BASE_URL for anything else.
    """
    alias = BASE_URL_ALIASES.get(value.strip().lower())
    if alias is not None:
        return alias

    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"SQUARE_BASE_URL is invalid: {value!r}. Use 'production', 'sandbox' or an "
            "http:// or https:// URL such as http://127.0.0.1:8080 for the emulator."
        )
    return value.strip().rstrip("/")


class SquareClient:
    """An async client for Square's Customers and Customer Groups APIs.

    Use it as ``async with SquareClient(...) as client:``. It creates and closes
    its own aiohttp session unless ``session`` is given; a given session is
    left open. ``stats`` counts every request it sends.
    """

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        square_version: str = DEFAULT_SQUARE_VERSION,
        request_timeout_s: float = 30.0,
        retry_policy: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base_url = resolve_base_url(base_url)
        self.stats = RequestStats()
        self._token = token
        self._square_version = square_version
        self._request_timeout_s = request_timeout_s
        self._retry_policy = retry_policy or RetryPolicy()
        self.limiter = limiter or RateLimiter(
            rate_per_s=math.inf, max_in_flight=DEFAULT_MAX_IN_FLIGHT
        )
        self._given_session = session
        self._session: aiohttp.ClientSession | None = None
        self._transport: Transport | None = None

    def __repr__(self) -> str:
        return f"SquareClient(base_url={self.base_url!r})"

    async def __aenter__(self) -> SquareClient:
        self._session = self._given_session or aiohttp.ClientSession()
        self._transport = Transport(
            session=self._session,
            base_url=self.base_url,
            token=self._token,
            square_version=self._square_version,
            request_timeout_s=self._request_timeout_s,
            retry_policy=self._retry_policy,
            limiter=self.limiter,
            stats=self.stats,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session if this client created it."""
        if self._session is not None and self._given_session is None:
            await self._session.close()
        self._session = None
        self._transport = None

    # Customer groups

    async def list_groups(self) -> list[Group]:
        """Return every customer group of the seller (ListCustomerGroups, all pages)."""

        async def fetch_page(cursor: str | None) -> dict[str, Any]:
            params: dict[str, str | int] = {"limit": GROUPS_PAGE_LIMIT}
            if cursor is not None:
                params["cursor"] = cursor
            return await self._send(
                "GET", "/v2/customers/groups", operation="ListCustomerGroups", params=params
            )

        groups: list[Group] = []
        async for page in iter_pages(
            fetch_page, operation="ListCustomerGroups", items_key="groups"
        ):
            groups.extend(_group(item, operation="ListCustomerGroups") for item in page)
        return groups

    async def retrieve_group(self, group_id: str) -> Group:
        """Return one group; raises NotFound when it does not exist."""
        operation = "RetrieveCustomerGroup"
        body = await self._send(
            "GET", f"/v2/customers/groups/{_segment(group_id)}", operation=operation
        )
        return _group(body.get("group"), operation=operation)

    async def create_group(self, name: str, *, idempotency_key: str) -> Group:
        """Create a group; repeating the call with the same key returns the same group."""
        operation = "CreateCustomerGroup"
        body = await self._send(
            "POST",
            "/v2/customers/groups",
            operation=operation,
            json_body={"idempotency_key": idempotency_key, "group": {"name": name}},
        )
        return _group(body.get("group"), operation=operation)

    async def update_group(self, group_id: str, *, name: str) -> Group:
        """Rename a group and return it as Square stored it."""
        operation = "UpdateCustomerGroup"
        body = await self._send(
            "PUT",
            f"/v2/customers/groups/{_segment(group_id)}",
            operation=operation,
            json_body={"group": {"name": name}},
        )
        return _group(body.get("group"), operation=operation)

    async def delete_group(self, group_id: str) -> None:
        """Delete a group; raises NotFound when it does not exist."""
        await self._send(
            "DELETE", f"/v2/customers/groups/{_segment(group_id)}", operation="DeleteCustomerGroup"
        )

    # Memberships

    async def add_group_to_customer(self, customer_id: str, group_id: str) -> None:
        """Make the customer a member of the group (AddGroupToCustomer)."""
        await self._send(
            "PUT",
            _membership_path(customer_id, group_id),
            operation="AddGroupToCustomer",
        )

    async def remove_group_from_customer(self, customer_id: str, group_id: str) -> None:
        """Remove the customer from the group (RemoveGroupFromCustomer)."""
        await self._send(
            "DELETE",
            _membership_path(customer_id, group_id),
            operation="RemoveGroupFromCustomer",
        )

    # Customer listings

    def iter_search_pages(
        self,
        query: dict[str, Any] | None,
        *,
        limit: int = CUSTOMERS_PAGE_LIMIT,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield the customers matching ``query`` page by page (SearchCustomers).

        Each follow-up request repeats the same body with the cursor added, as
        Square requires. Empty pages are followed, not yielded. Raises
        PagingError on a repeated cursor or past ``max_pages``.
        """
        operation = "SearchCustomers"
        request: dict[str, Any] = {"limit": limit}
        if query is not None:
            request["query"] = query

        async def fetch_page(cursor: str | None) -> dict[str, Any]:
            body = dict(request) if cursor is None else {**request, "cursor": cursor}
            return await self._send(
                "POST", "/v2/customers/search", operation=operation, json_body=body
            )

        return iter_pages(
            fetch_page, operation=operation, items_key="customers", max_pages=max_pages
        )

    def iter_group_members(
        self, group_id: str, *, max_pages: int = DEFAULT_MAX_PAGES
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield the customers in the group page by page (SearchCustomers on ``group_ids``)."""
        query = {"filter": {"group_ids": {"any": [group_id]}}}
        return self.iter_search_pages(query, max_pages=max_pages)

    def iter_customer_pages(
        self,
        *,
        limit: int = CUSTOMERS_PAGE_LIMIT,
        max_pages: int = DEFAULT_MAX_PAGES,
        sort_field: str | None = None,
        sort_order: str | None = None,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield every customer of the seller page by page (ListCustomers).

        ``sort_field`` is ``DEFAULT`` or ``CREATED_AT``, ``sort_order`` ``ASC`` or ``DESC``.
        """
        operation = "ListCustomers"
        sorting = {
            name: value
            for name, value in (("sort_field", sort_field), ("sort_order", sort_order))
            if value is not None
        }

        async def fetch_page(cursor: str | None) -> dict[str, Any]:
            params: dict[str, str | int] = {"limit": limit, **sorting}
            if cursor is not None:
                params["cursor"] = cursor
            return await self._send("GET", "/v2/customers", operation=operation, params=params)

        return iter_pages(
            fetch_page, operation=operation, items_key="customers", max_pages=max_pages
        )

    async def count_customers(self) -> int:
        """Return how many customers the seller has (ListCustomers with ``count``).

        The request fetches one customer, since only the count is used.
        """
        operation = "ListCustomers"
        body = await self._send(
            "GET", "/v2/customers", operation=operation, params={"limit": 1, "count": "true"}
        )
        count = body.get("count")
        if isinstance(count, bool) or not isinstance(count, int):
            raise InvalidResponse("the response has no integer 'count'", operation=operation)
        return count

    async def search_customers_exact(
        self,
        *,
        email_address: str | None = None,
        phone_number: str | None = None,
        reference_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Return every customer whose field equals the value (exact filter, all pages).

        Exactly one of the three arguments must be given. Square compares emails
        and reference ids case-insensitively and phone numbers in E.164 form.
        """
        given = {
            field: value
            for field, value in (
                ("email_address", email_address),
                ("phone_number", phone_number),
                ("reference_id", reference_id),
            )
            if value is not None
        }
        if len(given) != 1:
            raise ValueError(
                "search_customers_exact needs exactly one of email_address, phone_number "
                f"and reference_id; got {sorted(given) or 'none'}"
            )

        ((field, value),) = given.items()
        query = {"filter": {field: {"exact": value}}}
        customers: list[dict[str, Any]] = []
        async for page in self.iter_search_pages(query):
            customers.extend(page)
        return customers

    # Single customers

    async def retrieve_customer(self, customer_id: str) -> dict[str, Any]:
        """Return one customer; raises NotFound when it does not exist."""
        operation = "RetrieveCustomer"
        body = await self._send(
            "GET", f"/v2/customers/{_segment(customer_id)}", operation=operation
        )
        return _object_field(body, "customer", operation=operation)

    async def create_customer(
        self, fields: dict[str, Any], *, idempotency_key: str
    ) -> dict[str, Any]:
        """Create a customer from Square's customer fields; the key makes retries safe."""
        operation = "CreateCustomer"
        body = await self._send(
            "POST",
            "/v2/customers",
            operation=operation,
            json_body={**fields, "idempotency_key": idempotency_key},
        )
        return _object_field(body, "customer", operation=operation)

    # Bulk operations

    async def bulk_retrieve_customers(self, ids: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        """Return each customer by id, None for ids Square does not know (chunks of 100).

        Raises the mapped SquareError when an item fails for another reason.
        """
        operation = "BulkRetrieveCustomers"
        unique_ids = list(dict.fromkeys(ids))
        results: dict[str, dict[str, Any] | None] = {}

        for chunk in _chunks(unique_ids, BULK_CHUNK_SIZE):
            body = await self._send(
                "POST",
                "/v2/customers/bulk-retrieve",
                operation=operation,
                json_body={"customer_ids": chunk},
            )
            responses = _object_field(body, "responses", operation=operation)
            for customer_id in chunk:
                results[customer_id] = _retrieved_customer(
                    responses, customer_id, operation=operation
                )
        return results

    async def bulk_create_customers(
        self, items: dict[str, dict[str, Any]]
    ) -> dict[str, dict[str, Any] | SquareError]:
        """Create customers keyed by idempotency key (chunks of 100).

        Returns, per key, the created customer or the SquareError of that item;
        a failed request as a whole raises.
        """
        operation = "BulkCreateCustomers"
        results: dict[str, dict[str, Any] | SquareError] = {}

        for chunk in _chunks(list(items), BULK_CHUNK_SIZE):
            body = await self._send(
                "POST",
                "/v2/customers/bulk-create",
                operation=operation,
                json_body={"customers": {key: items[key] for key in chunk}},
            )
            responses = _object_field(body, "responses", operation=operation)
            for key in chunk:
                results[key] = _created_customer(responses, key, operation=operation)
        return results

    # Plumbing

    async def _send(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: dict[str, str | int] | None = None,
        json_body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        if self._transport is None:
            raise RuntimeError("SquareClient is not open; use it as 'async with SquareClient(...)'")
        return await self._transport.send(
            method, path, operation=operation, params=params, json_body=json_body
        )


def _segment(value: str) -> str:
    # Ids are opaque strings; quoting keeps a stray '/' or '?' from changing the path.
    return quote(value, safe="")


def _membership_path(customer_id: str, group_id: str) -> str:
    return f"/v2/customers/{_segment(customer_id)}/groups/{_segment(group_id)}"


def _chunks(values: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _object_field(body: dict[str, Any], key: str, *, operation: str) -> dict[str, Any]:
    value = body.get(key)
    if not isinstance(value, dict):
        raise InvalidResponse(
            f"the response has no {key!r} object: {sorted(body)!r}", operation=operation
        )
    return value


def _group(value: Any, *, operation: str) -> Group:
    if not isinstance(value, dict) or not isinstance(value.get("id"), str):
        raise InvalidResponse("the response has no group with an id", operation=operation)
    return Group(id=value["id"], name=str(value.get("name", "")))


def _retrieved_customer(
    responses: dict[str, Any], customer_id: str, *, operation: str
) -> dict[str, Any] | None:
    item = _bulk_item(responses, customer_id, operation=operation)
    errors = item.get("errors")
    if errors:
        error = error_for_item(operation=operation, errors=errors)
        if isinstance(error, NotFound):
            return None
        raise error
    return _object_field(item, "customer", operation=operation)


def _created_customer(
    responses: dict[str, Any], key: str, *, operation: str
) -> dict[str, Any] | SquareError:
    try:
        item = _bulk_item(responses, key, operation=operation)
    except InvalidResponse as error:
        return error

    errors = item.get("errors")
    if errors:
        return error_for_item(operation=operation, errors=errors)
    try:
        return _object_field(item, "customer", operation=operation)
    except InvalidResponse as error:
        return error


def _bulk_item(responses: dict[str, Any], key: str, *, operation: str) -> dict[str, Any]:
    item = responses.get(key)
    if not isinstance(item, dict):
        raise InvalidResponse(f"the response has no entry for {key!r}", operation=operation)
    return item
