"""Reading JSON request bodies the way Square rejects them."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from groupsync.emulator.errors import bad_request


async def read_json_object(
    request: web.Request, *, empty_as: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Return the body as a JSON object; an empty body gives ``empty_as`` when that is set.

    Raises 400 EXPECTED_JSON_BODY when the body is missing, is not JSON or is not an object.
    """
    raw = await request.read()
    if not raw.strip() and empty_as is not None:
        return dict(empty_as)
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise bad_request("EXPECTED_JSON_BODY", "The request body must be a JSON object.") from None
    if not isinstance(body, dict):
        raise bad_request("EXPECTED_JSON_BODY", "The request body must be a JSON object.")
    return body
