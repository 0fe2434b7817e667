"""Change triggers: the notifications of migration 0002, their debouncing, and change runs."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from groupsync.service.changes import ChangeBatch, ChangeNotice, parse_change
from tests.service.conftest import Service, eventually

NOTIFY_TIMEOUT_S = 5.0


async def next_notice(queue: asyncio.Queue[dict[str, object]]) -> dict[str, object]:
    return await asyncio.wait_for(queue.get(), NOTIFY_TIMEOUT_S)


async def test_insert_notifies_groups(
    conn: asyncpg.Connection, notices: asyncio.Queue[dict[str, object]]
) -> None:
    await conn.execute(
        "INSERT INTO groupsync.desired_memberships (group_name, email_address) "
        "VALUES ('VIP', 'a@example.com'), ('VIP', 'b@example.com'), ('Staff', 'c@example.com')"
    )

    assert await next_notice(notices) == {"account": "default", "groups": ["Staff", "VIP"]}


async def test_one_notice_per_account(
    conn: asyncpg.Connection, notices: asyncio.Queue[dict[str, object]]
) -> None:
    await conn.execute(
        "INSERT INTO groupsync.desired_memberships (account, group_name, email_address) "
        "VALUES ('a', 'VIP', 'a@example.com'), ('b', 'VIP', 'b@example.com')"
    )

    received = [await next_notice(notices), await next_notice(notices)]
    assert sorted(notice["account"] for notice in received) == ["a", "b"]  # type: ignore[type-var]


async def test_delete_notifies_groups(
    conn: asyncpg.Connection, notices: asyncio.Queue[dict[str, object]]
) -> None:
    await conn.execute(
        "INSERT INTO groupsync.desired_memberships (group_name, email_address) "
        "VALUES ('VIP', 'a@example.com')"
    )
    await next_notice(notices)

    await conn.execute("DELETE FROM groupsync.desired_memberships")

    assert await next_notice(notices) == {"account": "default", "groups": ["VIP"]}


async def test_update_notifies_old_and_new_group(
    conn: asyncpg.Connection, notices: asyncio.Queue[dict[str, object]]
) -> None:
    await conn.execute(
        "INSERT INTO groupsync.desired_memberships (group_name, email_address) "
        "VALUES ('VIP', 'a@example.com')"
    )
    await next_notice(notices)

    await conn.execute("UPDATE groupsync.desired_memberships SET group_name = 'Staff'")

    assert await next_notice(notices) == {"account": "default", "groups": ["Staff", "VIP"]}


async def test_long_group_list_means_all(
    conn: asyncpg.Connection, notices: asyncio.Queue[dict[str, object]]
) -> None:
    # 300 names of 60 bytes do not fit in a NOTIFY payload of at most 8000 bytes.
    await conn.execute(
        "INSERT INTO groupsync.desired_memberships (group_name, email_address) "
        "SELECT 'group-' || g || repeat('x', 54), 'a@example.com' FROM generate_series(1, 300) g"
    )

    assert await next_notice(notices) == {"account": "default", "groups": None}


async def test_group_binding_sends_nothing(
    conn: asyncpg.Connection, notices: asyncio.Queue[dict[str, object]]
) -> None:
    await conn.execute("INSERT INTO groupsync.managed_groups (name) VALUES ('VIP')")
    await next_notice(notices)

    await conn.execute("UPDATE groupsync.managed_groups SET square_group_id = 'G1'")
    await conn.execute("UPDATE groupsync.managed_groups SET mode = 'add_only'")

    assert await next_notice(notices) == {"account": "default", "groups": ["VIP"]}
    assert notices.empty()


def test_parse_change_reads_groups() -> None:
    notice = parse_change('{"account": "a", "groups": ["VIP"]}')

    assert notice == ChangeNotice(account="a", groups=frozenset({"VIP"}))


def test_parse_change_null_groups() -> None:
    assert parse_change('{"account": "a", "groups": null}') == ChangeNotice("a", None)


@pytest.mark.parametrize("payload", ["", "[]", '{"groups": []}', '{"account": "a", "groups": 1}'])
def test_parse_change_rejects(payload: str) -> None:
    assert parse_change(payload) is None


def test_batch_due_after_debounce() -> None:
    batch = ChangeBatch(debounce_s=0.5, max_wait_s=5.0)

    batch.add(frozenset({"VIP"}), now=10.0)
    batch.add(frozenset({"Staff"}), now=10.3)

    assert batch.due_at() == 10.8


def test_batch_due_capped_by_max_wait() -> None:
    batch = ChangeBatch(debounce_s=0.5, max_wait_s=1.0)

    for step in range(10):
        batch.add(frozenset({"VIP"}), now=10.0 + step * 0.4)

    assert batch.due_at() == 11.0


def test_batch_take_empties() -> None:
    batch = ChangeBatch(debounce_s=0.5, max_wait_s=1.0)
    batch.add(frozenset({"VIP"}), now=1.0)
    batch.add(frozenset({"Staff"}), now=1.1)

    groups = batch.take()

    assert groups == frozenset({"VIP", "Staff"})
    assert batch.due_at() is None


def test_batch_all_groups_wins() -> None:
    batch = ChangeBatch(debounce_s=0.5, max_wait_s=1.0)
    batch.add(frozenset({"VIP"}), now=1.0)
    batch.add(None, now=1.1)

    assert batch.take() is None


async def test_insert_starts_change_run(service: Service) -> None:
    await service.execute("INSERT INTO groupsync.managed_groups (name) VALUES ('VIP'), ('Staff')")
    await service.start_daemon()

    async def idle() -> bool:
        runs = await service.runs()
        return len(runs) == 1 and runs[0]["status"] == "succeeded"

    await eventually(idle)

    await service.execute(
        "INSERT INTO groupsync.desired_memberships (group_name, email_address) "
        "VALUES ('VIP', 'new@example.com')"
    )

    async def applied() -> bool:
        return await service.members("VIP") == {"new@example.com"}

    waited_s = await eventually(applied, timeout_s=5, every_s=0.05)

    async def recorded() -> bool:
        return (await service.runs())[-1]["status"] == "succeeded"

    await eventually(recorded)
    change_run = (await service.runs())[-1]
    assert waited_s < 3
    assert change_run["trigger"] == "change"
    assert change_run["group_filter"] == ["VIP"]
    assert change_run["groups"] == 1


async def test_change_run_removes(service: Service) -> None:
    await service.execute("INSERT INTO groupsync.managed_groups (name) VALUES ('VIP')")
    await service.execute(
        "INSERT INTO groupsync.desired_memberships (group_name, email_address) "
        "SELECT 'VIP', 'p' || g || '@example.com' FROM generate_series(1, 20) g"
    )
    await service.start_daemon()

    async def converged() -> bool:
        return len(await service.members("VIP")) == 20

    await eventually(converged)

    await service.execute(
        "DELETE FROM groupsync.desired_memberships WHERE email_address = 'p1@example.com'"
    )

    async def removed() -> bool:
        return "p1@example.com" not in await service.members("VIP")

    await eventually(removed, timeout_s=5)
    assert len(await service.members("VIP")) == 19


async def test_unmanaged_group_change_ignored(service: Service) -> None:
    await service.execute("INSERT INTO groupsync.managed_groups (name) VALUES ('VIP')")
    daemon = await service.start_daemon()

    async def idle() -> bool:
        return len(await service.runs()) == 1

    await eventually(idle)

    await service.execute(
        "INSERT INTO groupsync.desired_memberships (group_name, email_address) "
        "VALUES ('Unknown', 'new@example.com')"
    )

    async def received() -> bool:
        return bool(daemon.events("change_received"))

    await eventually(received, timeout_s=5)
    await asyncio.sleep(1.0)
    assert len(await service.runs()) == 1
