"""Square-shaped API errors and the JSON responses that carry them."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

INVALID_REQUEST = "INVALID_REQUEST_ERROR"
AUTHENTICATION = "AUTHENTICATION_ERROR"
RATE_LIMIT = "RATE_LIMIT_ERROR"
API_ERROR = "API_ERROR"


class SquareApiError(Exception):
    """One Square error: raised by a handler, turned into ``{"errors": [...]}`` with ``status``."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        category: str = INVALID_REQUEST,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.category = category
        self.field = field
        self.headers = headers or {}

    def to_dict(self) -> dict[str, Any]:
        """Return the error as one entry of Square's ``errors`` array."""
        error: dict[str, Any] = {
            "category": self.category,
            "code": self.code,
            "detail": self.detail,
        }
        if self.field is not None:
            error["field"] = self.field
        return error

    def body(self) -> dict[str, Any]:
        return {"errors": [self.to_dict()]}

    def to_response(self) -> web.Response:
        return json_response(self.body(), status=self.status, headers=self.headers)


def bad_request(code: str, detail: str, *, field: str | None = None) -> SquareApiError:
    return SquareApiError(400, code, detail, field=field)


def not_found(detail: str, *, field: str | None = None) -> SquareApiError:
    return SquareApiError(404, "NOT_FOUND", detail, field=field)


def customer_not_found(customer_id: str) -> SquareApiError:
    return not_found(f"Customer with ID `{customer_id}` not found.")


def group_not_found(group_id: str) -> SquareApiError:
    return not_found(f"Customer group with ID `{group_id}` not found.")


def json_response(
    body: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        text=json.dumps(body, separators=(",", ":")),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def text_json_response(text: str, *, status: int = 200) -> web.Response:
    """Wrap JSON text that was already serialized (search pages join cached customer JSON)."""
    return web.Response(text=text, status=status, content_type="application/json")


EMPTY_RESPONSE_TEXT = "{}"
