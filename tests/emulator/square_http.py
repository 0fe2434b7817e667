"""A raw HTTP client for the emulator's Square API that checks every response's shape.

Tests use it instead of the SDK when they need exact bodies, statuses and headers. Every
response of a ``/v2`` path is checked against the official OpenAPI definitions (see
``tests.schema.validator``) before the test gets it, so a shape drift fails whichever test
hit it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from groupsync.emulator.settings import EmulatorSettings
from groupsync.testing.emulator import EmulatorServer
from tests.schema.validator import SquareSchema

# Passed as ``token`` to send the client's own token; ``None`` sends no Authorization header.
OWN_TOKEN = object()


@dataclass(frozen=True)
class ApiResponse:
    """One response: status, headers, the parsed JSON body (None if not JSON) and the raw text."""

    operation_id: str
    status: int
    headers: CIMultiDictProxy[str]
    body: Any
    text: str

    @property
    def error(self) -> dict[str, Any]:
        """Return the first entry of ``errors``; Square's status matches the first error."""
        assert isinstance(self.body, dict), f"expected a JSON error body, got {self.text[:300]!r}"
        assert self.body.get("errors"), f"expected an errors array, got {self.body}"
        first: dict[str, Any] = self.body["errors"][0]
        return first


class SquareHttp:
    """Calls the Square API of one emulator with one token over a shared aiohttp session."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.schema = SquareSchema.load()

    def with_token(self, token: str) -> SquareHttp:
        """Return a client for the same emulator that sends ``token`` instead."""
        return SquareHttp(self.session, self.base_url, token)

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        json_body: Any = None,
        data: str | None = None,
        token: Any = OWN_TOKEN,
        headers: dict[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> ApiResponse:
        """Send one request and return its response after checking the body's shape."""
        operation = self.schema.operation_for(method, path)
        sent_headers = dict(headers or {})
        if token is OWN_TOKEN:
            token = self.token
        if token is not None:
            sent_headers["Authorization"] = f"Bearer {token}"

        timeout = aiohttp.ClientTimeout(total=timeout_s) if timeout_s is not None else None
        async with self.session.request(
            method,
            self.base_url + path,
            params=_query_strings(query),
            json=json_body,
            data=data,
            headers=sent_headers,
            timeout=timeout,
        ) as response:
            text = await response.text()
            body = _parse_json(response, text)
            result = ApiResponse(
                operation.operation_id, response.status, response.headers, body, text
            )

        if response.status == 200 or body is not None:
            self.schema.check(operation.operation_id, response.status, body)
        return result

    async def ok(self, method: str, path: str, **options: Any) -> Any:
        """Send one request that must succeed; return its body."""
        response = await self.request(method, path, **options)
        assert response.status == 200, f"{method} {path}: {response.status} {response.text[:500]}"
        return response.body

    async def create_customer(self, **fields: Any) -> dict[str, Any]:
        body = await self.ok("POST", "/v2/customers", json_body=fields)
        customer: dict[str, Any] = body["customer"]
        return customer

    async def get_customer(self, customer_id: str) -> dict[str, Any]:
        body = await self.ok("GET", f"/v2/customers/{customer_id}")
        customer: dict[str, Any] = body["customer"]
        return customer

    async def bulk_create(self, profiles: list[dict[str, Any]], *, key_prefix: str) -> list[str]:
        """Create the profiles 100 per request; return their ids in the given order."""
        ids: list[str] = []
        for start in range(0, len(profiles), 100):
            keys = [f"{key_prefix}-{index}" for index in range(start, start + 100)]
            chunk = dict(zip(keys, profiles[start : start + 100], strict=False))
            body = await self.ok(
                "POST", "/v2/customers/bulk-create", json_body={"customers": chunk}
            )
            ids += [body["responses"][key]["customer"]["id"] for key in chunk]
        return ids

    async def create_group(self, name: str) -> dict[str, Any]:
        body = await self.ok("POST", "/v2/customers/groups", json_body={"group": {"name": name}})
        group: dict[str, Any] = body["group"]
        return group

    async def add_member(self, customer_id: str, group_id: str) -> None:
        await self.ok("PUT", f"/v2/customers/{customer_id}/groups/{group_id}")

    async def search_ids(self, query: dict[str, Any]) -> list[str]:
        """Return the ids of every customer a search with ``query`` finds, over all pages."""
        pages = await self.search_pages({"query": query})
        return [customer["id"] for page in pages for customer in page.get("customers", [])]

    async def search_pages(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Return every page body of a search, following cursors in the JSON body."""
        return await self._pages("POST", "/v2/customers/search", body=body)

    async def list_pages(self, path: str, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Return every page body of ListCustomers or ListCustomerGroups, following cursors."""
        return await self._pages("GET", path, query=query)

    async def _pages(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        query: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        pages: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            if method == "GET":
                page = await self.ok(method, path, query={**(query or {}), "cursor": cursor})
            else:
                page = await self.ok(method, path, json_body={**(body or {}), "cursor": cursor})
            pages.append(page)
            cursor = page.get("cursor")
            if cursor is None:
                return pages
            assert len(pages) < 1000, f"{path} did not stop paging after 1000 pages"


@asynccontextmanager
async def square_http(base_url: str, token: str) -> AsyncIterator[SquareHttp]:
    async with aiohttp.ClientSession() as session:
        yield SquareHttp(session, base_url, token)


@asynccontextmanager
async def started_emulator(
    settings: EmulatorSettings,
) -> AsyncIterator[tuple[EmulatorServer, SquareHttp]]:
    """Start an emulator with ``settings``; yield it and a client holding its default token."""
    async with (
        EmulatorServer(settings) as server,
        square_http(server.base_url, server.token) as client,
    ):
        yield server, client


def _query_strings(query: dict[str, Any] | None) -> dict[str, str]:
    """Drop None values and spell booleans as Square's query strings do (``true``/``false``)."""
    strings: dict[str, str] = {}
    for name, value in (query or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            strings[name] = "true" if value else "false"
        else:
            strings[name] = str(value)
    return strings


def _parse_json(response: aiohttp.ClientResponse, text: str) -> Any:
    if response.content_type != "application/json":
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None
