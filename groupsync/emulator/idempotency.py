"""Idempotency keys: the first successful response per key, replayed for the same body."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from groupsync.emulator.errors import SquareApiError, bad_request


def body_fingerprint(body: Any) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class IdempotencyCache:
    """Stored responses by (operation, key). Keys never expire; Square does not publish a window."""

    def __init__(self) -> None:
        self._responses: dict[tuple[str, str], tuple[str, Any]] = {}

    def replay(self, operation: str, key: str, fingerprint: str) -> Any | None:
        """Return the stored response for this key, or None if the key is new.

        Raises 400 IDEMPOTENCY_KEY_REUSED when the key was used with another body.
        """
        stored = self._responses.get((operation, key))
        if stored is None:
            return None
        stored_fingerprint, response = stored
        if stored_fingerprint != fingerprint:
            raise key_reused(key)
        return response

    def remember(self, operation: str, key: str, fingerprint: str, response: Any) -> None:
        self._responses[(operation, key)] = (fingerprint, response)

    def respond_once(
        self, operation: str, key: str | None, body: Any, create: Callable[[], Any]
    ) -> Any:
        """Return the stored response for ``key`` and ``body``, else ``create()`` and store it.

        Without a key, ``create()`` runs every time. Errors raised by ``create`` are not stored.
        """
        if not key:
            return create()
        fingerprint = body_fingerprint(body)
        replayed = self.replay(operation, key, fingerprint)
        if replayed is not None:
            return replayed
        response = create()
        self.remember(operation, key, fingerprint, response)
        return response


def idempotency_key(body: dict[str, Any]) -> str | None:
    """Return the body's optional ``idempotency_key``; raise 400 when it is not a string."""
    key = body.get("idempotency_key")
    if key is not None and not isinstance(key, str):
        raise bad_request(
            "EXPECTED_STRING", "Expected `idempotency_key` to be a string.", field="idempotency_key"
        )
    return key


def key_reused(key: str) -> SquareApiError:
    return bad_request(
        "IDEMPOTENCY_KEY_REUSED",
        f"The idempotency key `{key}` has already been used with a different request.",
        field="idempotency_key",
    )
