"""Mapping HTTP outcomes and client exceptions to the Square error tree."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import aiohttp
import pytest

from groupsync.errors import PermanentError, TemporaryError
from groupsync.square.errors import (
    MAX_DETAIL_CHARS,
    AuthenticationFailed,
    BadRequest,
    Conflict,
    ConnectionFailed,
    Forbidden,
    InvalidResponse,
    NotFound,
    RateLimited,
    RequestTimedOut,
    ServerError,
    SquareError,
    Unauthorized,
    error_for_exception,
    error_for_item,
    error_for_status,
    invalid_body_error,
    parse_retry_after_s,
    truncate,
)


def square_body(code: str, detail: str = "", category: str = "INVALID_REQUEST_ERROR") -> str:
    return json.dumps({"errors": [{"category": category, "code": code, "detail": detail}]})


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, BadRequest),
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (408, RequestTimedOut),
        (409, Conflict),
        (422, BadRequest),
        (429, RateLimited),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
    ],
)
def test_status_maps_to_class(status: int, expected: type[SquareError]) -> None:
    error = error_for_status(operation="ListCustomers", status=status, body_text="{}")

    assert type(error) is expected
    assert error.status == status
    assert error.operation == "ListCustomers"


@pytest.mark.parametrize(
    "error_class", [RateLimited, ServerError, ConnectionFailed, RequestTimedOut, InvalidResponse]
)
def test_transient_classes_are_temporary(error_class: type[SquareError]) -> None:
    assert issubclass(error_class, TemporaryError)
    assert not issubclass(error_class, PermanentError)


@pytest.mark.parametrize("error_class", [BadRequest, Unauthorized, Forbidden, NotFound, Conflict])
def test_client_errors_are_permanent(error_class: type[SquareError]) -> None:
    assert issubclass(error_class, PermanentError)
    assert not issubclass(error_class, TemporaryError)


def test_auth_errors_share_parent() -> None:
    assert issubclass(Unauthorized, AuthenticationFailed)
    assert issubclass(Forbidden, AuthenticationFailed)


def test_square_errors_kept() -> None:
    error = error_for_status(
        operation="RetrieveCustomer",
        status=404,
        body_text=square_body("NOT_FOUND", "Customer with ID `X1` not found."),
    )

    assert error.errors[0]["code"] == "NOT_FOUND"
    assert error.detail == "NOT_FOUND: Customer with ID `X1` not found."


def test_message_names_operation_and_status() -> None:
    error = error_for_status(operation="RetrieveCustomer", status=404, body_text="{}")

    assert str(error).startswith("Square RetrieveCustomer failed (HTTP 404)")


def test_unauthorized_message_says_fix() -> None:
    error = error_for_status(
        operation="ListCustomerGroups",
        status=401,
        body_text=square_body("UNAUTHORIZED", category="AUTHENTICATION_ERROR"),
    )

    assert "missing, invalid, expired or revoked" in str(error)
    assert "SQUARE_ACCESS_TOKEN" in str(error)
    assert "token file" in str(error)


def test_forbidden_names_write_scope() -> None:
    error = error_for_status(operation="AddGroupToCustomer", status=403, body_text="{}")

    assert isinstance(error, Forbidden)
    assert error.missing_scope == "CUSTOMERS_WRITE"
    assert "Grant CUSTOMERS_WRITE" in str(error)


def test_forbidden_names_read_scope() -> None:
    error = error_for_status(operation="SearchCustomers", status=403, body_text="{}")

    assert isinstance(error, Forbidden)
    assert error.missing_scope == "CUSTOMERS_READ"
    assert "Grant CUSTOMERS_READ" in str(error)


def test_html_body_becomes_server_error() -> None:
    html = "<html><body>" + "<h1>502 Bad Gateway</h1>\n" * 100 + "</body></html>"

    error = error_for_status(operation="ListCustomers", status=502, body_text=html)

    assert isinstance(error, ServerError)
    assert error.detail.startswith("<html><body><h1>502 Bad Gateway</h1> <h1>")
    assert len(error.detail) <= MAX_DETAIL_CHARS
    assert error.errors == []


def test_secret_redacted_from_body() -> None:
    error = error_for_status(
        operation="ListCustomers",
        status=500,
        body_text="<pre>Authorization: Bearer sq-secret-123</pre>",
        secret="sq-secret-123",
    )

    assert "sq-secret-123" not in str(error)
    assert "[REDACTED]" in error.detail


def test_rate_limited_reads_retry_after() -> None:
    error = error_for_status(operation="ListCustomers", status=429, body_text="{}", retry_after="3")

    assert isinstance(error, RateLimited)
    assert error.retry_after_s == 3.0


def test_rate_limited_without_retry_after() -> None:
    error = error_for_status(operation="ListCustomers", status=429, body_text="{}")

    assert isinstance(error, RateLimited)
    assert error.retry_after_s is None


def test_retry_after_seconds() -> None:
    assert parse_retry_after_s("120") == 120.0
    assert parse_retry_after_s(" 0.25 ") == 0.25


def test_retry_after_http_date() -> None:
    now = datetime(2025, 8, 20, 12, 0, 0, tzinfo=UTC)

    assert parse_retry_after_s("Wed, 20 Aug 2025 12:00:30 GMT", now=now) == 30.0


def test_retry_after_past_date_is_zero() -> None:
    now = datetime(2025, 8, 20, 12, 0, 0, tzinfo=UTC)

    assert parse_retry_after_s("Wed, 20 Aug 2025 11:00:00 GMT", now=now) == 0.0


def test_retry_after_negative_is_zero() -> None:
    assert parse_retry_after_s("-5") == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "nan", "inf"])
def test_retry_after_unreadable(value: str | None) -> None:
    assert parse_retry_after_s(value) is None


def test_timeout_maps_to_timed_out() -> None:
    error = error_for_exception(TimeoutError(), operation="ListCustomers")

    assert isinstance(error, RequestTimedOut)
    assert error.status is None


def test_socket_read_timeout_maps_to_timed_out() -> None:
    error = error_for_exception(aiohttp.SocketTimeoutError(), operation="ListCustomers")

    assert isinstance(error, RequestTimedOut)


def test_disconnect_maps_to_connection_failed() -> None:
    error = error_for_exception(aiohttp.ServerDisconnectedError(), operation="ListCustomers")

    assert isinstance(error, ConnectionFailed)
    assert "closed the connection" in error.detail


def test_refused_maps_to_connection_failed() -> None:
    error = error_for_exception(ConnectionRefusedError(111, "refused"), operation="ListCustomers")

    assert isinstance(error, ConnectionFailed)


def test_truncated_body_maps_to_connection_failed() -> None:
    error = error_for_exception(aiohttp.ClientPayloadError("cut"), operation="ListCustomers")

    assert isinstance(error, ConnectionFailed)


def test_exception_text_redacted() -> None:
    error = error_for_exception(
        aiohttp.ClientConnectionError("failed with tok-9"), operation="X", secret="tok-9"
    )

    assert "tok-9" not in str(error)


def test_invalid_body_is_temporary() -> None:
    error = invalid_body_error(operation="ListCustomers", status=200, body_text="<html>ok</html>")

    assert isinstance(error, InvalidResponse)
    assert isinstance(error, TemporaryError)
    assert "<html>ok</html>" in error.detail


def test_item_not_found() -> None:
    errors = [{"category": "INVALID_REQUEST_ERROR", "code": "NOT_FOUND", "detail": "gone"}]

    error = error_for_item(operation="BulkRetrieveCustomers", errors=errors)

    assert isinstance(error, NotFound)
    assert error.status is None


def test_item_invalid_email() -> None:
    errors = [{"category": "INVALID_REQUEST_ERROR", "code": "INVALID_EMAIL_ADDRESS"}]

    error = error_for_item(operation="BulkCreateCustomers", errors=errors)

    assert isinstance(error, BadRequest)
    assert error.detail == "INVALID_EMAIL_ADDRESS"


def test_truncate_marks_cut() -> None:
    text = truncate("x" * 600)

    assert len(text) == MAX_DETAIL_CHARS
    assert text.endswith("...")


def test_truncate_keeps_short_text() -> None:
    assert truncate("short") == "short"
