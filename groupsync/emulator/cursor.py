"""Opaque pagination cursors, signed with HMAC and bound to a seller and a query.

A cursor carries the sort key of the last item served and the page number, so
the next page continues after that key even if customers were added or removed
in between. A cursor that was altered, made by another emulator instance, made
for another seller or used with a different query is rejected with
``INVALID_CURSOR``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from groupsync.emulator.errors import SquareApiError, bad_request

SIGNATURE_BYTES = 12


@dataclass(frozen=True)
class CursorPosition:
    """The start of the next page: after ``after_key``, or the first item when it is None."""

    after_key: tuple[Any, ...] | None
    page: int


def query_fingerprint(operation: str, query: Any) -> str:
    """Hash the parts of a request that must not change between pages."""
    text = json.dumps([operation, query], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class CursorCodec:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def encode(self, *, seller: str, fingerprint: str, position: CursorPosition) -> str:
        payload = json.dumps(
            {"s": seller, "q": fingerprint, "k": position.after_key, "p": position.page},
            separators=(",", ":"),
        ).encode()
        signature = self._sign(payload)
        return base64.urlsafe_b64encode(signature + payload).decode().rstrip("=")

    def decode(self, cursor: Any, *, seller: str, fingerprint: str) -> CursorPosition:
        """Return the position a cursor points at; raise 400 INVALID_CURSOR if it is not valid."""
        if not isinstance(cursor, str) or not cursor:
            raise _invalid_cursor()
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError) as error:
            raise _invalid_cursor() from error

        signature, payload = raw[:SIGNATURE_BYTES], raw[SIGNATURE_BYTES:]
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise _invalid_cursor()
        data = json.loads(payload)
        if data["s"] != seller or data["q"] != fingerprint:
            raise _invalid_cursor()

        after_key = tuple(data["k"]) if data["k"] is not None else None
        return CursorPosition(after_key=after_key, page=int(data["p"]))

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:SIGNATURE_BYTES]


def _invalid_cursor() -> SquareApiError:
    return bad_request(
        "INVALID_CURSOR",
        "The pagination cursor included in the request is invalid.",
        field="cursor",
    )
