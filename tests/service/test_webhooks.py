"""Square webhooks: signatures, deduplication, and the quick run an event causes."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from structlog.testing import capture_logs

from groupsync.config import load_settings
from groupsync.webhooks import SIGNATURE_HEADER, WebhookReceiver, is_valid_signature, sign
from tests.service.conftest import Service, eventually

KEY = "Ibxx_5AKakO-3qeNVR61Dw"
URL = "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9"
BODY = (
    b'{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification",'
    b'"event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f",'
    b'"created_at":"2022-07-13T20:30:59.037339943Z",'
    b'"data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}'
)
NOTIFY_TIMEOUT_S = 5.0


def test_sign_matches_square_vector() -> None:
    assert sign(signature_key=KEY, notification_url=URL, body=BODY) == (
        "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4="
    )


def test_tampered_body_rejected() -> None:
    signature = sign(signature_key=KEY, notification_url=URL, body=BODY)

    assert not is_valid_signature(
        signature_key=KEY, notification_url=URL, body=BODY + b" ", signature=signature
    )


def test_other_url_rejected() -> None:
    signature = sign(signature_key=KEY, notification_url=URL, body=BODY)

    assert not is_valid_signature(
        signature_key=KEY, notification_url=URL + "x", body=BODY, signature=signature
    )


def customer_event(event_type: str, customer_id: str, **object_fields: Any) -> bytes:
    event = {
        "merchant_id": "M1",
        "type": event_type,
        "event_id": str(uuid.uuid4()),
        "created_at": "2026-01-01T00:00:00Z",
        "data": {"type": "customer", "id": customer_id, "object": object_fields},
    }
    return json.dumps(event).encode()


class Endpoint:
    """A WebhookReceiver served on 127.0.0.1, with a client that posts to it."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url
        self.session = session

    async def post(self, body: bytes, *, signature: str | None = None) -> int:
        if signature is None:
            signature = sign(signature_key=KEY, notification_url=URL, body=body)
        async with self.session.post(
            self.base_url + "/webhooks/square", data=body, headers={SIGNATURE_HEADER: signature}
        ) as response:
            return response.status


@pytest.fixture
async def endpoint(pool: asyncpg.Pool) -> AsyncIterator[Endpoint]:
    settings = load_settings(
        env={"GROUPSYNC_WEBHOOKS_NOTIFICATION_URL": URL, "SQUARE_WEBHOOK_SIGNATURE_KEY": KEY},
        require_token=False,
        require_database=False,
    )
    app = web.Application()
    app.add_routes([WebhookReceiver(pool, settings).route()])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession() as session:
        yield Endpoint(f"http://127.0.0.1:{port}", session)
    await runner.cleanup()


async def link_customer(pool: asyncpg.Pool, *, group_name: str, customer_id: str) -> None:
    """Store a managed group with one desired person, linked to ``customer_id``."""
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO groupsync.managed_groups (name) VALUES ($1); ", group_name)
        await conn.execute(
            "INSERT INTO groupsync.desired_memberships (group_name, email_address) "
            "VALUES ($1, 'ada@example.com')",
            group_name,
        )
        await conn.execute(
            "INSERT INTO groupsync.links (account, person_key, square_customer_id, linked_by) "
            "VALUES ('default', 'email:ada@example.com', $1, 'email')",
            customer_id,
        )


async def drain(queue: asyncio.Queue[dict[str, Any]]) -> None:
    await asyncio.sleep(0.2)
    while not queue.empty():
        queue.get_nowait()


async def test_bad_signature_gets_401(endpoint: Endpoint) -> None:
    with capture_logs() as logs:
        status = await endpoint.post(BODY, signature="not-the-signature")

    assert status == 401
    assert [line["event"] for line in logs] == ["webhook_signature_rejected"]


async def test_missing_signature_gets_401(endpoint: Endpoint) -> None:
    assert await endpoint.post(BODY, signature="") == 401


async def test_unreadable_body_gets_400(endpoint: Endpoint) -> None:
    assert await endpoint.post(b"not json") == 400


async def test_updated_customer_marks_group(
    endpoint: Endpoint, pool: asyncpg.Pool, notices: asyncio.Queue[dict[str, Any]]
) -> None:
    await link_customer(pool, group_name="VIP", customer_id="C1")
    await drain(notices)

    status = await endpoint.post(customer_event("customer.updated", "C1"))

    assert status == 200
    notice = await asyncio.wait_for(notices.get(), NOTIFY_TIMEOUT_S)
    assert notice == {"account": "default", "groups": ["VIP"]}


async def test_duplicate_event_ignored(
    endpoint: Endpoint, pool: asyncpg.Pool, notices: asyncio.Queue[dict[str, Any]]
) -> None:
    await link_customer(pool, group_name="VIP", customer_id="C1")
    await drain(notices)
    body = customer_event("customer.updated", "C1")
    await endpoint.post(body)
    await asyncio.wait_for(notices.get(), NOTIFY_TIMEOUT_S)

    status = await endpoint.post(body)

    await asyncio.sleep(0.3)
    assert status == 200
    assert notices.empty()


async def test_deleted_customer_loses_link(endpoint: Endpoint, pool: asyncpg.Pool) -> None:
    await link_customer(pool, group_name="VIP", customer_id="C1")

    await endpoint.post(customer_event("customer.deleted", "C1"))

    async with pool.acquire() as conn:
        links = await conn.fetch("SELECT * FROM groupsync.links")
    assert links == []


async def test_merged_customers_lose_links(endpoint: Endpoint, pool: asyncpg.Pool) -> None:
    await link_customer(pool, group_name="VIP", customer_id="C1")
    merge = {"merge": {"from_customer_ids": ["C1", "C2"], "to_customer_id": "C3"}}

    await endpoint.post(customer_event("customer.deleted", "C2", event_context=merge))

    async with pool.acquire() as conn:
        links = await conn.fetch("SELECT * FROM groupsync.links")
    assert links == []


async def test_unknown_customer_marks_nothing(
    endpoint: Endpoint, pool: asyncpg.Pool, notices: asyncio.Queue[dict[str, Any]]
) -> None:
    await link_customer(pool, group_name="VIP", customer_id="C1")
    await drain(notices)

    status = await endpoint.post(customer_event("customer.updated", "C9"))

    await asyncio.sleep(0.3)
    assert status == 200
    assert notices.empty()


async def test_updated_customer_checked_by_quick_run(service: Service) -> None:
    service.env.update(
        GROUPSYNC_HTTP_PORT="0",
        GROUPSYNC_WEBHOOKS_NOTIFICATION_URL=URL,
        SQUARE_WEBHOOK_SIGNATURE_KEY=KEY,
        GROUPSYNC_GUARDS_MAX_REMOVAL_SHARE="1",
    )
    await service.execute("INSERT INTO groupsync.managed_groups (name) VALUES ('VIP')")
    await service.execute(
        "INSERT INTO groupsync.desired_memberships (group_name, email_address) "
        "VALUES ('VIP', 'ada@example.com')"
    )
    daemon = await service.start_daemon()

    async def converged() -> bool:
        return await service.members("VIP") == {"ada@example.com"}

    await eventually(converged)
    [group] = await service.fetch("SELECT square_group_id FROM groupsync.managed_groups")
    generated = await service.emulator.admin.generate(customers=1, groups=0, seed=1)
    intruder = generated["customer_ids"][0]
    await service.emulator.admin.add_member_by_hand(intruder, group["square_group_id"])
    port = daemon.events("http_server_started")[0]["port"]

    async with aiohttp.ClientSession() as session:
        endpoint = Endpoint(f"http://127.0.0.1:{port}", session)
        customer = {"id": intruder, "group_ids": [group["square_group_id"]]}
        status = await endpoint.post(
            customer_event("customer.updated", intruder, customer=customer)
        )

    await eventually(converged, timeout_s=5)
    assert status == 200
    assert (await service.runs())[-1]["trigger"] == "change"
