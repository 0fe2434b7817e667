"""A small world for reliability tests: managed groups, people, a Square state to start from,
and the checks every scenario ends with (final state exact, no duplicates, journal sound).

The world is deterministic. People are ``person00@example.com`` and so on; the first
``existing`` of them are already customers in Square, the rest are created by groupsync.
The first group already exists in Square, with half of its desired members and with
strangers who must be removed. groupsync creates the other groups.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from groupsync.testing.emulator import EmulatorAdmin

ACCOUNT = "default"
STRANGERS = 3


@dataclass(frozen=True)
class World:
    """The desired memberships by group name, as sets of email addresses."""

    desired: dict[str, set[str]]
    existing_group: str
    existing_customers: int

    @property
    def people(self) -> set[str]:
        return set().union(*self.desired.values())


def email(index: int) -> str:
    return f"person{index:02d}@example.com"


def make_world(*, people: int = 30, existing: int = 15) -> World:
    """Return a world of three groups over ``people`` people, ``existing`` of them in Square.

    Groups overlap, so one person can be in two groups.
    """
    third = people // 3
    desired = {
        "Regulars": {email(index) for index in range(0, third + 2)},
        "Newsletter": {email(index) for index in range(third // 2, 2 * third + 4)},
        "VIP": {email(index) for index in range(2 * third, people)},
    }
    return World(desired=desired, existing_group="Regulars", existing_customers=existing)


async def seed(world: World, *, conn: asyncpg.Connection, admin: EmulatorAdmin) -> None:
    """Load the starting Square state and write the managed groups and desired rows."""
    await admin.load_state(_square_state(world))

    for name in sorted(world.desired):
        await conn.execute(
            "INSERT INTO groupsync.managed_groups (account, name, mode) VALUES ($1, $2, 'mirror')",
            ACCOUNT,
            name,
        )
    rows = [
        (ACCOUNT, name, address, address.split("@")[0].title())
        for name, addresses in sorted(world.desired.items())
        for address in sorted(addresses)
    ]
    await conn.executemany(
        "INSERT INTO groupsync.desired_memberships (account, group_name, email_address, "
        "given_name) VALUES ($1, $2, $3, $4)",
        rows,
    )


def _square_state(world: World) -> dict[str, Any]:
    group_id = "existing-group"
    # The existing group starts with the first half of its desired members, plus strangers.
    wanted = sorted(world.desired[world.existing_group])
    existing_members = set(wanted[: len(wanted) // 2])
    customers = [
        {
            "email_address": email(index),
            "given_name": f"Person{index:02d}",
            "group_ids": [group_id] if email(index) in existing_members else [],
        }
        for index in range(world.existing_customers)
    ]
    customers += [
        {
            "email_address": f"stranger{index}@example.com",
            "given_name": f"Stranger{index}",
            "group_ids": [group_id],
        }
        for index in range(STRANGERS)
    ]
    groups = [{"id": group_id, "name": world.existing_group}]
    return {"sellers": {"default": {"customers": customers, "groups": groups}}}


@dataclass(frozen=True)
class SquareView:
    """What Square holds, by email address, from the emulator's state dump."""

    members: dict[str, set[str]]
    duplicate_emails: list[str]
    duplicate_group_names: list[str]
    customers: int = 0
    group_ids: dict[str, str] = field(default_factory=dict)


async def square_view(admin: EmulatorAdmin) -> SquareView:
    state = (await admin.dump())["sellers"]["default"]
    groups = state["groups"]
    names_by_id = {group["id"]: group["name"] for group in groups}
    members: dict[str, set[str]] = {name: set() for name in names_by_id.values()}
    for customer in state["customers"]:
        for group_id in customer.get("group_ids", []):
            members[names_by_id[group_id]].add(customer.get("email_address", customer["id"]))

    email_counts = Counter(customer.get("email_address") for customer in state["customers"])
    name_counts = Counter(group["name"] for group in groups)
    return SquareView(
        members=members,
        duplicate_emails=sorted(str(key) for key, count in email_counts.items() if count > 1),
        duplicate_group_names=sorted(key for key, count in name_counts.items() if count > 1),
        customers=len(state["customers"]),
        group_ids={group["name"]: group["id"] for group in groups},
    )


def membership_differences(world: World, view: SquareView) -> dict[str, dict[str, set[str]]]:
    """Return, per group that differs, the emails ``missing`` from Square and ``extra`` in it."""
    differences = {}
    for name, wanted in world.desired.items():
        held = view.members.get(name, set())
        if held != wanted:
            differences[name] = {"missing": wanted - held, "extra": held - wanted}
    return differences


async def doubly_applied_changes(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Return (kind, group, customer) triples that the journal shows applied more than once.

    In these tests the desired state never changes between runs, so a membership change
    applied twice means a change was sent again after it had already succeeded.
    """
    return list(
        await conn.fetch(
            "SELECT kind, square_group_id, square_customer_id, count(*) AS applied "
            "FROM groupsync.changes WHERE status = 'applied' "
            "GROUP BY kind, square_group_id, square_customer_id, person_key "
            "HAVING count(*) > 1"
        )
    )


async def run_rows(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT * FROM groupsync.sync_runs ORDER BY id"))


async def change_statuses(conn: asyncpg.Connection, run_id: int) -> Counter[str]:
    rows = await conn.fetch(
        "SELECT status, count(*) AS n FROM groupsync.changes WHERE run_id = $1 GROUP BY status",
        run_id,
    )
    return Counter({row["status"]: row["n"] for row in rows})
