"""Binding managed groups to Square groups: adopt, create, rename back or recreate.

A managed group is bound when its Square id is known and the Square group carries the
managed name. Binding writes to Square only through journaled changes.
"""

from __future__ import annotations

import hashlib

import structlog

from groupsync.engine.desired import ManagedGroup
from groupsync.engine.journal import Journal
from groupsync.square.client import Group, SquareClient

log = structlog.get_logger(__name__)


class GroupBindingError(Exception):
    """A managed group cannot be bound this run; the message names the cause and the fix."""


def group_idempotency_key(account: str, name: str, replaces: str | None) -> str:
    """Return the CreateCustomerGroup key for ``name``.

    The key includes the id of the group being replaced, so recreating a group that was
    deleted in Square does not replay the creation of the deleted one.
    """
    material = f"groupsync:create_group:{account}:{name}:{replaces or '-'}"
    return hashlib.sha256(material.encode()).hexdigest()[:45]


class GroupBinder:
    """Binds each managed group of a run to exactly one Square group."""

    def __init__(self, client: SquareClient, journal: Journal, *, account: str) -> None:
        self._client = client
        self._journal = journal
        self._account = account

    async def bind(self, groups: list[ManagedGroup]) -> dict[str, str]:
        """Bind ``groups`` in place; return an error message per group that could not be bound."""
        square_groups = await self._client.list_groups()
        by_id = {group.id: group for group in square_groups}
        errors: dict[str, str] = {}

        for managed in groups:
            try:
                await self._bind_one(managed, square_groups, by_id)
            except GroupBindingError as error:
                errors[managed.name] = str(error)
                log.error("group_binding_failed", group_name=managed.name, error=str(error))
        return errors

    async def _bind_one(
        self, managed: ManagedGroup, square_groups: list[Group], by_id: dict[str, Group]
    ) -> None:
        remembered = by_id.get(managed.square_group_id) if managed.square_group_id else None

        if remembered is not None:
            if remembered.name != managed.name:
                await self._rename_back(managed, remembered)
            return

        if managed.square_group_id is not None:
            log.warning(
                "managed_group_missing",
                group_name=managed.name,
                group_id=managed.square_group_id,
                action="recreate",
            )
            await self._create(managed, replaces=managed.square_group_id)
            return

        named = [group for group in square_groups if group.name == managed.name]
        if len(named) > 1:
            ids = ", ".join(sorted(group.id for group in named))
            raise GroupBindingError(
                f"{len(named)} Square groups are named {managed.name!r} ({ids}); delete or "
                "rename all but one in the Square Dashboard, or set "
                "managed_groups.square_group_id to the one groupsync should own"
            )
        if len(named) == 1:
            await self._journal.remember_group(managed, named[0].id)
            log.info("group_adopted", group_name=managed.name, group_id=named[0].id)
            return
        await self._create(managed, replaces=None)

    async def _create(self, managed: ManagedGroup, *, replaces: str | None) -> None:
        key = group_idempotency_key(self._account, managed.name, replaces)
        group = await self._journal.create_group(
            managed,
            idempotency_key=key,
            send=lambda: self._client.create_group(managed.name, idempotency_key=key),
        )
        event = "group_recreated" if replaces else "group_created"
        log_method = log.warning if replaces else log.info
        log_method(event, group_name=managed.name, group_id=group.id, replaces=replaces)

    async def _rename_back(self, managed: ManagedGroup, square_group: Group) -> None:
        assert managed.square_group_id is not None
        await self._journal.rename_group(
            managed,
            send=lambda: self._client.update_group(square_group.id, name=managed.name),
        )
        log.warning(
            "group_renamed_back",
            group_name=managed.name,
            group_id=square_group.id,
            name_in_square=square_group.name,
        )
