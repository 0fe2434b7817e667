"""Bearer tokens, OAuth scopes and separate sellers.

Square rejects a missing or unknown token with 401 ``UNAUTHORIZED`` and a token without the
operation's scope with 403 ``INSUFFICIENT_SCOPES``, both in category ``AUTHENTICATION_ERROR``.
Reads (including the POST endpoints SearchCustomers and BulkRetrieveCustomers) need
``CUSTOMERS_READ``; writes need ``CUSTOMERS_WRITE``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from groupsync.emulator.settings import EmulatorSettings, TokenGrant
from groupsync.testing.emulator import EmulatorServer

from .square_http import SquareHttp, started_emulator

READ_ONLY = frozenset({"CUSTOMERS_READ"})
WRITE_ONLY = frozenset({"CUSTOMERS_WRITE"})
TOKENS = [
    TokenGrant("token-both"),
    TokenGrant("token-read", scopes=READ_ONLY),
    TokenGrant("token-write", scopes=WRITE_ONLY),
    TokenGrant("token-other-seller", seller="other"),
]

READ_CALLS: list[tuple[str, str, Any]] = [
    ("GET", "/v2/customers", None),
    ("POST", "/v2/customers/search", {}),
    ("GET", "/v2/customers/ANYCUSTOMER", None),
    ("POST", "/v2/customers/bulk-retrieve", {"customer_ids": ["ANYCUSTOMER"]}),
    ("GET", "/v2/customers/groups", None),
    ("GET", "/v2/customers/groups/ANYGROUP", None),
]
WRITE_CALLS: list[tuple[str, str, Any]] = [
    ("POST", "/v2/customers", {"given_name": "Ada"}),
    ("PUT", "/v2/customers/ANYCUSTOMER", {"note": "x"}),
    ("DELETE", "/v2/customers/ANYCUSTOMER", None),
    ("POST", "/v2/customers/bulk-create", {"customers": {"k": {"given_name": "Ada"}}}),
    ("POST", "/v2/customers/bulk-update", {"customers": {"ANYCUSTOMER": {"note": "x"}}}),
    ("POST", "/v2/customers/bulk-delete", {"customer_ids": ["ANYCUSTOMER"]}),
    ("POST", "/v2/customers/groups", {"group": {"name": "Gold"}}),
    ("PUT", "/v2/customers/groups/ANYGROUP", {"group": {"name": "Gold"}}),
    ("DELETE", "/v2/customers/groups/ANYGROUP", None),
    ("PUT", "/v2/customers/ANYCUSTOMER/groups/ANYGROUP", None),
    ("DELETE", "/v2/customers/ANYCUSTOMER/groups/ANYGROUP", None),
]


@pytest.fixture
async def scoped() -> AsyncIterator[tuple[EmulatorServer, SquareHttp]]:
    """An emulator with a token per scope set and one for a second seller."""
    async with started_emulator(EmulatorSettings(tokens=TOKENS)) as started:
        yield started


@pytest.mark.parametrize(("method", "path", "body"), READ_CALLS + WRITE_CALLS)
async def test_missing_token_is_unauthorized(
    square: SquareHttp, method: str, path: str, body: Any
) -> None:
    response = await square.request(method, path, json_body=body, token=None)

    assert response.status == 401
    assert response.error["code"] == "UNAUTHORIZED"
    assert response.error["category"] == "AUTHENTICATION_ERROR"


async def test_unknown_token_is_unauthorized(square: SquareHttp) -> None:
    response = await square.request("GET", "/v2/customers", token="no-such-token")

    assert response.status == 401
    assert response.error["code"] == "UNAUTHORIZED"
    assert response.error["category"] == "AUTHENTICATION_ERROR"


async def test_basic_scheme_is_unauthorized(square: SquareHttp) -> None:
    response = await square.request(
        "GET", "/v2/customers", token=None, headers={"Authorization": f"Basic {square.token}"}
    )

    assert response.status == 401
    assert response.error["code"] == "UNAUTHORIZED"


async def test_token_without_scheme_is_unauthorized(square: SquareHttp) -> None:
    response = await square.request(
        "GET", "/v2/customers", token=None, headers={"Authorization": square.token}
    )

    assert response.status == 401
    assert response.error["code"] == "UNAUTHORIZED"


async def test_unauthorized_write_changes_nothing(square: SquareHttp) -> None:
    await square.request("POST", "/v2/customers", json_body={"given_name": "Ada"}, token=None)

    body = await square.ok("GET", "/v2/customers")

    assert body == {}


@pytest.mark.parametrize(
    ("token", "method", "path", "body"),
    [("token-read", *call) for call in WRITE_CALLS]
    + [("token-write", *call) for call in READ_CALLS],
)
async def test_token_without_scope_is_forbidden(
    scoped: tuple[EmulatorServer, SquareHttp], token: str, method: str, path: str, body: Any
) -> None:
    _, square = scoped

    response = await square.request(method, path, json_body=body, token=token)

    assert response.status == 403
    assert response.error["code"] == "INSUFFICIENT_SCOPES"
    assert response.error["category"] == "AUTHENTICATION_ERROR"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [call for call in READ_CALLS if "ANY" not in call[1]]
    + [("POST", "/v2/customers/bulk-retrieve", {"customer_ids": ["ANYCUSTOMER"]})],
)
async def test_read_only_token_can_read(
    scoped: tuple[EmulatorServer, SquareHttp], method: str, path: str, body: Any
) -> None:
    _, square = scoped

    response = await square.request(method, path, json_body=body, token="token-read")

    assert response.status == 200


async def test_write_only_token_can_write(scoped: tuple[EmulatorServer, SquareHttp]) -> None:
    _, square = scoped

    response = await square.request(
        "POST", "/v2/customers", json_body={"given_name": "Ada"}, token="token-write"
    )

    assert response.status == 200


async def test_sellers_see_only_own_customers(scoped: tuple[EmulatorServer, SquareHttp]) -> None:
    _, square = scoped
    await square.with_token("token-both").create_customer(given_name="Ada")

    body = await square.with_token("token-other-seller").ok("GET", "/v2/customers")

    assert body == {}


async def test_other_seller_customer_is_not_found(
    scoped: tuple[EmulatorServer, SquareHttp],
) -> None:
    _, square = scoped
    customer = await square.with_token("token-both").create_customer(given_name="Ada")

    response = await square.request(
        "GET", f"/v2/customers/{customer['id']}", token="token-other-seller"
    )

    assert response.status == 404
    assert response.error["code"] == "NOT_FOUND"


async def test_other_seller_group_is_not_found(scoped: tuple[EmulatorServer, SquareHttp]) -> None:
    _, square = scoped
    group = await square.with_token("token-both").create_group("Gold")

    response = await square.request(
        "GET", f"/v2/customers/groups/{group['id']}", token="token-other-seller"
    )

    assert response.status == 404
    assert response.error["code"] == "NOT_FOUND"


async def test_tokens_of_one_seller_share_data(scoped: tuple[EmulatorServer, SquareHttp]) -> None:
    _, square = scoped
    customer = await square.with_token("token-write").create_customer(given_name="Ada")

    fetched = await square.with_token("token-read").get_customer(customer["id"])

    assert fetched == customer


async def test_added_token_is_accepted(scoped: tuple[EmulatorServer, SquareHttp]) -> None:
    server, square = scoped
    await server.admin.add_token(
        "token-late", seller="other", scopes=["CUSTOMERS_READ", "CUSTOMERS_WRITE"]
    )

    response = await square.request("GET", "/v2/customers", token="token-late")

    assert response.status == 200


async def test_added_token_reaches_its_seller(scoped: tuple[EmulatorServer, SquareHttp]) -> None:
    server, square = scoped
    await server.admin.add_token(
        "token-late", seller="other", scopes=["CUSTOMERS_READ", "CUSTOMERS_WRITE"]
    )
    customer = await square.with_token("token-other-seller").create_customer(given_name="Ada")

    fetched = await square.with_token("token-late").get_customer(customer["id"])

    assert fetched == customer


async def test_added_read_only_token_cannot_write(
    scoped: tuple[EmulatorServer, SquareHttp],
) -> None:
    server, square = scoped
    await server.admin.add_token("token-late", seller="default", scopes=["CUSTOMERS_READ"])

    response = await square.request(
        "POST", "/v2/customers", json_body={"given_name": "Ada"}, token="token-late"
    )

    assert response.status == 403
    assert response.error["code"] == "INSUFFICIENT_SCOPES"
