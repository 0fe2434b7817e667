"""Square webhooks: verify a notification, then have the customer's groups checked.

Square signs each notification with the subscription's signature key: the header
``x-square-hmacsha256-signature`` carries base64(HMAC-SHA256(key, notification URL + raw
body)) (Square's "Validate notifications" guide). A notification with a bad signature gets
401 and a log line. A valid ``customer.updated`` or ``customer.deleted`` event finds the
managed groups the customer is desired in, drops the links to a deleted or merged-away
customer, and sends those groups on the change channel, so the replica that holds the
account's lease runs them within seconds. Event ids are stored, so a redelivered event is
acknowledged and otherwise ignored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from aiohttp import web

from groupsync.accounts import account_for_merchant
from groupsync.config import Settings
from groupsync.db.queries import QUERIES
from groupsync.service.changes import CHANGE_CHANNEL, change_payload

log = structlog.get_logger(__name__)

SIGNATURE_HEADER = "x-square-hmacsha256-signature"
CUSTOMER_EVENTS = ("customer.updated", "customer.deleted")
# Square waits 10 s for an answer and retries for 72 h, so a body this large is no notification.
MAX_BODY_BYTES = 256 * 1024


def sign(*, signature_key: str, notification_url: str, body: bytes) -> str:
    """Return the signature Square sends for ``body`` posted to ``notification_url``."""
    digest = hmac.new(
        signature_key.encode(), notification_url.encode() + body, hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


def is_valid_signature(
    *, signature_key: str, notification_url: str, body: bytes, signature: str
) -> bool:
    """Return True when ``signature`` is Square's signature of ``body``, in constant time."""
    expected = sign(signature_key=signature_key, notification_url=notification_url, body=body)
    return hmac.compare_digest(expected.encode(), signature.encode())


@dataclass(frozen=True)
class CustomerEvent:
    """The parts of a customer webhook event that groupsync acts on."""

    event_id: str
    type: str
    merchant_id: str | None
    customer_id: str | None
    group_ids: list[str]
    merged_customer_ids: list[str]

    @property
    def removes_customer(self) -> bool:
        return self.type == "customer.deleted"


class InvalidEvent(ValueError):
    """A signed notification whose body is not an event groupsync can read."""


def parse_event(body: bytes) -> CustomerEvent:
    """Return the event in ``body``; raise InvalidEvent when it is not a webhook event."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidEvent(f"the body is not JSON: {error}") from error
    if not isinstance(data, dict):
        raise InvalidEvent("the body is not a JSON object")
    event_id = data.get("event_id")
    event_type = data.get("type")
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str):
        raise InvalidEvent("the event has no event_id or type")

    payload = _dict(data.get("data"))
    inner = _dict(payload.get("object"))
    customer = _dict(inner.get("customer"))
    merge = _dict(_dict(inner.get("event_context")).get("merge"))
    customer_id = payload.get("id") or customer.get("id")
    return CustomerEvent(
        event_id=event_id,
        type=event_type,
        merchant_id=_text(data.get("merchant_id")),
        customer_id=_text(customer_id),
        group_ids=_texts(customer.get("group_ids")),
        merged_customer_ids=_texts(merge.get("from_customer_ids")),
    )


class WebhookReceiver:
    """The ``POST`` endpoint that Square's webhook subscription posts to."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        webhooks = settings.webhooks
        if webhooks.notification_url is None or webhooks.signature_key is None:
            raise ValueError("a WebhookReceiver needs a notification URL and a signature key")
        self._pool = pool
        self._settings = settings
        self._notification_url = webhooks.notification_url
        self._signature_key = webhooks.signature_key
        self.path = webhooks.path

    def route(self) -> web.RouteDef:
        return web.post(self.path, self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.content.read(MAX_BODY_BYTES + 1)
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if len(body) > MAX_BODY_BYTES or not is_valid_signature(
            signature_key=self._signature_key,
            notification_url=self._notification_url,
            body=body,
            signature=signature,
        ):
            log.warning(
                "webhook_signature_rejected",
                remote=request.remote,
                body_bytes=len(body),
                signature_present=bool(signature),
            )
            return web.json_response({"error": "invalid signature"}, status=401)

        try:
            event = parse_event(body)
        except InvalidEvent as error:
            log.warning(
                "webhook_event_invalid", error=str(error), body=body[:200].decode(errors="replace")
            )
            return web.json_response({"error": str(error)}, status=400)

        await self._accept(event)
        return web.json_response({"status": "accepted"})

    async def _accept(self, event: CustomerEvent) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            account = await account_for_merchant(conn, event.merchant_id, self._settings)
            first = await conn.fetchval(
                QUERIES["insert_webhook_event"], event.event_id, account, event.type
            )
            if first is None:
                log.info("webhook_event_duplicate", event_id=event.event_id, type=event.type)
                return
            groups = await self._mark_groups(conn, account, event)
        log.info(
            "webhook_event_received",
            event_id=event.event_id,
            type=event.type,
            account=account,
            customer_id=event.customer_id,
            groups=sorted(groups),
        )

    async def _mark_groups(
        self, conn: asyncpg.Connection, account: str, event: CustomerEvent
    ) -> set[str]:
        """Send the groups to check on the change channel; return them.

        The groups are found before the links are dropped, because the links lead to them.
        """
        if event.type not in CUSTOMER_EVENTS or event.customer_id is None:
            return set()

        customer_ids = [event.customer_id, *event.merged_customer_ids]
        groups: set[str] = set()
        for customer_id in dict.fromkeys(customer_ids):
            rows = await conn.fetch(
                QUERIES["customer_groups"], account, customer_id, event.group_ids
            )
            groups.update(row["name"] for row in rows)
        if event.removes_customer:
            for customer_id in dict.fromkeys(customer_ids):
                await conn.execute(QUERIES["delete_links_to_customer"], account, customer_id)

        if groups:
            # Sent when the transaction commits, like the triggers' notifications.
            await conn.execute(
                QUERIES["notify"],
                CHANGE_CHANNEL,
                change_payload(account, frozenset(groups)),
            )
        return groups


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _texts(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, str) and item]
