"""Errors raised by the Square API client, and the mapping from HTTP outcomes to them.

Every failure of a request to Square ends as one :class:`SquareError` subclass.
Temporary ones (rate limits, server errors, broken connections, timeouts,
unreadable success bodies) are retried by :mod:`groupsync.square.retry`.
Permanent ones (bad requests, authentication, missing objects, conflicts) are
raised at once. aiohttp and asyncio exceptions are mapped here and chained
with ``raise ... from``, so callers never handle a third-party error.
"""

from __future__ import annotations

import email.utils
import json
from datetime import UTC, datetime
from typing import Any

import aiohttp

from groupsync.errors import GroupsyncError, PermanentError, TemporaryError

MAX_DETAIL_CHARS = 500

REDACTED = "[REDACTED]"

# Square's operations that need only the CUSTOMERS_READ scope. Every other
# operation of the Customers and Customer Groups APIs needs CUSTOMERS_WRITE.
# Source: the OAuth scopes listed per operation in Square's OpenAPI spec.
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


class SquareError(GroupsyncError):
    """A request to Square failed.

    ``operation`` is Square's name for the endpoint (``"AddGroupToCustomer"``),
    ``status`` the HTTP status (None when no response arrived), ``errors`` the
    ``errors`` array of Square's response body, and ``detail`` a short
    description, truncated for logs.
    """

    def __init__(
        self,
        detail: str,
        *,
        operation: str,
        status: int | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        self.operation = operation
        self.status = status
        self.errors = list(errors or [])
        self.detail = truncate(detail)
        super().__init__(self._message())

    def _message(self) -> str:
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"Square {self.operation} failed{status}: {self.detail}"


class RateLimited(SquareError, TemporaryError):
    """Square returned 429 Too Many Requests.

    ``retry_after_s`` is the wait the ``Retry-After`` header asked for, or None
    when the response had no usable header.
    """

    def __init__(self, detail: str, *, retry_after_s: float | None = None, **kwargs: Any) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(detail, **kwargs)


class ServerError(SquareError, TemporaryError):
    """Square, or a proxy in front of it, returned a 5xx status."""


class ConnectionFailed(SquareError, TemporaryError):
    """The connection was refused, dropped, or closed before a full response arrived."""


class RequestTimedOut(SquareError, TemporaryError):
    """No full response arrived within the request timeout."""


class InvalidResponse(SquareError, TemporaryError):
    """A response that cannot be used, such as a 2xx status whose body is not a JSON object."""


class BadRequest(SquareError, PermanentError):
    """Square rejected the request as invalid (400, or a 4xx status without its own class)."""


class AuthenticationFailed(SquareError, PermanentError):
    """Square rejected the access token; no request with it can succeed, so stop the run."""


class Unauthorized(AuthenticationFailed):
    """Square returned 401: the access token is missing, invalid, expired or revoked."""


class Forbidden(AuthenticationFailed):
    """Square returned 403: the access token lacks the scope the operation needs.

    ``missing_scope`` is ``"CUSTOMERS_READ"`` or ``"CUSTOMERS_WRITE"``.
    """

    def __init__(self, detail: str, *, missing_scope: str, **kwargs: Any) -> None:
        self.missing_scope = missing_scope
        super().__init__(detail, **kwargs)


class NotFound(SquareError, PermanentError):
    """Square returned 404: the customer or group does not exist (any more)."""


class Conflict(SquareError, PermanentError):
    """Square returned 409: the request conflicts with the object's current state."""


class PagingError(SquareError, PermanentError):
    """A paginated listing cannot be read to its end: a cursor repeated, or too many pages."""


def truncate(text: str, *, max_chars: int = MAX_DETAIL_CHARS) -> str:
    """Return ``text`` cut to ``max_chars`` characters, marking the cut."""
    if len(text) <= max_chars:
        return text
    return text[: max_chars - 3] + "..."


def redact(text: str, secret: str | None) -> str:
    """Return ``text`` with every occurrence of ``secret`` replaced by a marker."""
    if not secret:
        return text
    return text.replace(secret, REDACTED)


def required_scope(operation: str) -> str:
    """Return the OAuth scope that Square requires for ``operation``."""
    return "CUSTOMERS_READ" if operation in READ_OPERATIONS else "CUSTOMERS_WRITE"


def parse_retry_after_s(value: str | None, *, now: datetime | None = None) -> float | None:
    """Parse a ``Retry-After`` header, in seconds or as an HTTP date, into seconds from now.

    Returns None for a missing or unreadable header; a date in the past gives 0.
    """
    if value is None or not value.strip():
        return None

    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        return _seconds_until_http_date(text, now=now)

    if seconds != seconds or seconds == float("inf"):
        return None
    return max(0.0, seconds)


def _seconds_until_http_date(text: str, *, now: datetime | None) -> float | None:
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None

    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    reference = now if now is not None else datetime.now(UTC)
    return max(0.0, (moment - reference).total_seconds())


def square_errors_in(body: Any) -> list[dict[str, Any]]:
    """Return the ``errors`` array of a decoded Square body, or an empty list."""
    if not isinstance(body, dict):
        return []
    errors = body.get("errors")
    if not isinstance(errors, list):
        return []
    return [error for error in errors if isinstance(error, dict)]


def describe_square_errors(errors: list[dict[str, Any]]) -> str:
    """Return Square's errors as ``CODE (field): detail`` parts joined by ``; ``."""
    parts = []
    for error in errors:
        code = error.get("code", "UNKNOWN")
        field = f" ({error['field']})" if error.get("field") else ""
        detail = f": {error['detail']}" if error.get("detail") else ""
        parts.append(f"{code}{field}{detail}")
    return "; ".join(parts)


def error_for_status(
    *,
    operation: str,
    status: int,
    body_text: str,
    retry_after: str | None = None,
    secret: str | None = None,
) -> SquareError:
    """Build the error for a response with a non-2xx ``status``.

    ``body_text`` is the raw body (JSON from Square, often HTML from a proxy),
    ``retry_after`` the raw ``Retry-After`` header and ``secret`` a value,
    the access token, that must not appear in the message.
    """
    body_text = redact(body_text, secret)
    errors = square_errors_in(_decode_json(body_text))
    detail = describe_square_errors(errors) if errors else _describe_body(body_text)
    common: dict[str, Any] = {"operation": operation, "status": status, "errors": errors}

    if status == 429:
        return RateLimited(detail, retry_after_s=parse_retry_after_s(retry_after), **common)
    if status == 401:
        return Unauthorized(_unauthorized_detail(detail), **common)
    if status == 403:
        scope = required_scope(operation)
        return Forbidden(_forbidden_detail(detail, scope), missing_scope=scope, **common)
    if status == 404:
        return NotFound(detail, **common)
    if status == 409:
        return Conflict(detail, **common)
    # 408 means the server gave up waiting for the request, so it is retried like a timeout.
    if status == 408:
        return RequestTimedOut(detail, **common)
    if 400 <= status < 500:
        return BadRequest(detail, **common)
    if status >= 500:
        return ServerError(detail, **common)
    return InvalidResponse(f"unexpected HTTP status {status}: {detail}", **common)


def error_for_item(*, operation: str, errors: list[dict[str, Any]]) -> SquareError:
    """Build the error for one failed item of a bulk response, which carries no HTTP status."""
    detail = describe_square_errors(errors) or "the item failed without an error description"
    codes = {error.get("code") for error in errors}
    if "NOT_FOUND" in codes or "CUSTOMER_NOT_FOUND" in codes:
        return NotFound(detail, operation=operation, errors=errors)
    if "CONFLICT" in codes:
        return Conflict(detail, operation=operation, errors=errors)
    if codes & {"RATE_LIMITED", "TEMPORARY_ERROR", "INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE"}:
        return ServerError(detail, operation=operation, errors=errors)
    return BadRequest(detail, operation=operation, errors=errors)


def error_for_exception(
    error: BaseException, *, operation: str, secret: str | None = None
) -> SquareError:
    """Map an aiohttp or asyncio exception raised while sending a request to a SquareError.

    The caller chains the result with ``raise ... from error``.
    """
    text = redact(f"{type(error).__name__}: {error}", secret)

    # aiohttp's ServerTimeoutError is also a connection error, so timeouts are checked first.
    if isinstance(error, TimeoutError):
        return RequestTimedOut(
            f"no response within the request timeout ({text})", operation=operation
        )
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return ConnectionFailed(f"the server closed the connection ({text})", operation=operation)
    if isinstance(error, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError | OSError):
        return ConnectionFailed(f"the connection failed ({text})", operation=operation)
    return ConnectionFailed(f"the HTTP client failed ({text})", operation=operation)


def invalid_body_error(
    *, operation: str, status: int, body_text: str, secret: str | None = None
) -> InvalidResponse:
    """Build the error for a 2xx response whose body is not a JSON object."""
    shown = _describe_body(redact(body_text, secret))
    return InvalidResponse(
        f"the response body is not a JSON object: {shown}", operation=operation, status=status
    )


def _decode_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _describe_body(body_text: str) -> str:
    collapsed = " ".join(body_text.split())
    return truncate(collapsed) if collapsed else "(empty body)"


def _unauthorized_detail(square_detail: str) -> str:
    return (
        "Square rejected the access token: it is missing, invalid, expired or revoked. "
        "Set SQUARE_ACCESS_TOKEN or the token file to a valid access token. "
        f"Square said: {square_detail}"
    )


def _forbidden_detail(square_detail: str, scope: str) -> str:
    return (
        f"the access token lacks the {scope} permission that this operation needs. "
        f"Grant {scope} to the application (OAuth scopes or personal access token "
        f"permissions) and use the new token. Square said: {square_detail}"
    )
