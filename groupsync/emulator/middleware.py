"""The request pipeline in front of every ``/v2`` handler.

In order: latency, bearer token, scopes, ``Square-Version``, the seller's rate
limit, then scripted and random faults; the handler runs last. Every outcome,
including rejections and faults, is counted per operation. Paths under
``/_emulator/`` skip all of this.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import date

from aiohttp import web

from groupsync.emulator.errors import (
    API_ERROR,
    AUTHENTICATION,
    RATE_LIMIT,
    SquareApiError,
    bad_request,
    json_response,
)
from groupsync.emulator.settings import READ_SCOPE, WRITE_SCOPE
from groupsync.emulator.state import SQUARE_VERSION_KEY, STATE_KEY, STORE_KEY, EmulatorState
from groupsync.emulator.stats import DROPPED, HUNG
from groupsync.emulator.traffic import Fault

ADMIN_PREFIX = "/_emulator/"
UNKNOWN_OPERATION = "UnknownRoute"
SQUARE_VERSION_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Operations that only read, although SearchCustomers and BulkRetrieveCustomers are POSTs.
READ_OPERATIONS = frozenset(
    {
        "ListCustomers",
        "SearchCustomers",
        "RetrieveCustomer",
        "BulkRetrieveCustomers",
        "ListCustomerGroups",
        "RetrieveCustomerGroup",
    }
)
HANG_POLL_S = 0.05
HTML_ERROR_BODY = (
    "<html><head><title>502 Bad Gateway</title></head>"
    "<body><center><h1>502 Bad Gateway</h1></center></body></html>"
)
STATUS_CODES = {
    429: ("RATE_LIMITED", RATE_LIMIT),
    500: ("INTERNAL_SERVER_ERROR", API_ERROR),
    502: ("BAD_GATEWAY", API_ERROR),
    503: ("SERVICE_UNAVAILABLE", API_ERROR),
    504: ("GATEWAY_TIMEOUT", API_ERROR),
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ConnectionDropped(Exception):
    """The emulator closed the connection on purpose, without a response.

    ``outcome`` is the stats key: dropped at once, or hung until the client gave up.
    """

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


@web.middleware
async def square_pipeline(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(ADMIN_PREFIX):
        return await handler(request)

    state = request.app[STATE_KEY]
    operation = request.app[OPERATIONS_KEY].get(request.match_info.handler, UNKNOWN_OPERATION)
    outcome: int | str = 500
    try:
        response = await _serve(request, handler, state, operation)
        outcome = response.status
        return response
    except ConnectionDropped as dropped:
        # The transport is closed already, so aiohttp sends nothing of this placeholder.
        outcome = dropped.outcome
        return web.Response(status=499)
    except asyncio.CancelledError:
        outcome = DROPPED
        raise
    finally:
        state.stats.record(operation, outcome)


async def _serve(
    request: web.Request, handler: Handler, state: EmulatorState, operation: str
) -> web.StreamResponse:
    delay_s = state.traffic.delay_s()
    if delay_s > 0:
        await asyncio.sleep(delay_s)

    try:
        square_version = _square_version(request, state)
    except SquareApiError as error:
        return error.to_response()
    try:
        response = await _serve_authorized(request, handler, state, operation, square_version)
    except SquareApiError as error:
        response = error.to_response()
    response.headers["Square-Version"] = square_version
    return response


async def _serve_authorized(
    request: web.Request,
    handler: Handler,
    state: EmulatorState,
    operation: str,
    square_version: str,
) -> web.StreamResponse:
    if operation == UNKNOWN_OPERATION:
        raise SquareApiError(
            404, "NOT_FOUND", f"No API endpoint at {request.method} {request.path}."
        )

    grant = _authorize(request, state, operation)
    if not state.traffic.admit(grant.seller):
        raise _rate_limited(state.settings.retry_after_s)

    fault = state.traffic.next_fault(operation)
    if fault is not None:
        response = await _apply_fault(request, fault)
        if response is not None:
            return response

    request[STORE_KEY] = state.seller(grant.seller)
    request[SQUARE_VERSION_KEY] = square_version
    return await handler(request)


def _square_version(request: web.Request, state: EmulatorState) -> str:
    version = request.headers.get("Square-Version")
    if version is None:
        return state.settings.square_version_default
    if not SQUARE_VERSION_PATTERN.match(version) or not _is_date(version):
        raise bad_request(
            "INVALID_SQUARE_VERSION_FORMAT",
            f"The provided Square-Version `{version}` is incorrectly formatted; use YYYY-MM-DD.",
        )
    return version


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _authorize(request: web.Request, state: EmulatorState, operation: str):  # type: ignore[no-untyped-def]
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    grant = state.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
    if grant is None:
        raise SquareApiError(
            401, "UNAUTHORIZED", "This request could not be authorized.", category=AUTHENTICATION
        )

    needed = READ_SCOPE if operation in READ_OPERATIONS else WRITE_SCOPE
    if needed not in grant.scopes:
        raise SquareApiError(
            403,
            "INSUFFICIENT_SCOPES",
            f"The provided access token does not have permission to execute the requested "
            f"action: {operation} requires {needed}.",
            category=AUTHENTICATION,
        )
    return grant


def _rate_limited(retry_after_s: float | None) -> SquareApiError:
    headers = {"Retry-After": f"{retry_after_s:g}"} if retry_after_s is not None else None
    return SquareApiError(
        429,
        "RATE_LIMITED",
        "Rate limit exceeded; retry later.",
        category=RATE_LIMIT,
        headers=headers,
    )


async def _apply_fault(request: web.Request, fault: Fault) -> web.StreamResponse | None:
    """Carry out a fault; return its response, or None to serve the request normally."""
    if fault.kind == "slow":
        await asyncio.sleep(fault.delay_ms / 1000)
        return None
    if fault.kind == "drop":
        _close_connection(request)
        raise ConnectionDropped(DROPPED)
    if fault.kind == "hang":
        await _hang_until_client_leaves(request)
        raise ConnectionDropped(HUNG)
    if fault.kind == "html":
        return web.Response(text=HTML_ERROR_BODY, status=fault.status, content_type="text/html")

    if fault.status == 429:
        raise _rate_limited(fault.retry_after_s)
    code, category = STATUS_CODES.get(fault.status, ("INTERNAL_SERVER_ERROR", API_ERROR))
    headers = (
        {"Retry-After": f"{fault.retry_after_s:g}"} if fault.retry_after_s is not None else None
    )
    return json_response(
        {"errors": [{"category": category, "code": code, "detail": "Injected fault."}]},
        status=fault.status,
        headers=headers,
    )


def _close_connection(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


async def _hang_until_client_leaves(request: web.Request) -> None:
    """Send no response: wait until the client closes the connection or the server shuts down."""
    closing = request.app[SHUTDOWN_KEY]
    while not closing.is_set():
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        try:
            await asyncio.wait_for(closing.wait(), HANG_POLL_S)
        except TimeoutError:
            continue
    _close_connection(request)


SHUTDOWN_KEY = web.AppKey("emulator_shutdown", asyncio.Event)
# Square's operation name for each /v2 handler, used in stats, fault rules and logs.
OPERATIONS_KEY = web.AppKey("emulator_operations", dict)
