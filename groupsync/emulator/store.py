"""One seller's customers and groups: the source of truth behind every endpoint.

Retrieve and bulk retrieve read the records here directly. List and search read
a :class:`SearchView`, which receives a copy of every changed customer once the
configured consistency lag has passed.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from groupsync.emulator.errors import (
    SquareApiError,
    customer_not_found,
    group_not_found,
)
from groupsync.emulator.idempotency import IdempotencyCache
from groupsync.emulator.ids import new_id, now_timestamp
from groupsync.emulator.records import PROFILE_FIELDS, CustomerRecord, GroupRecord
from groupsync.emulator.search_index import SearchView

API_CREATION_SOURCE = "THIRD_PARTY"
MERGE_CREATION_SOURCE = "MERGE"


def version_conflict(customer_id: str, *, expected: int, current: int) -> SquareApiError:
    # Square documents a "version mismatch" error for stale versions without its status or
    # code; the ErrorCode enum has CONFLICT but no VERSION_MISMATCH. The emulator answers
    # 400, not 409, because the official Python SDK retries 409 on its own, which would hide
    # the conflict from a caller that must re-read the customer.
    return SquareApiError(
        400,
        "CONFLICT",
        f"Version mismatch for customer `{customer_id}`: the request has version {expected}, "
        f"the current version is {current}.",
        field="version",
    )


class SellerStore:
    def __init__(
        self,
        name: str,
        *,
        rng: random.Random,
        lag_s: Callable[[], float],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.customers: dict[str, CustomerRecord] = {}
        self.groups: dict[str, GroupRecord] = {}
        self.idempotency = IdempotencyCache()
        self._view = SearchView()
        self._pending: deque[tuple[float, str, CustomerRecord | None]] = deque()
        self._rng = rng
        self._lag_s = lag_s
        self._clock = clock
        self._group_sequence = 0

    # Reading

    def view(self) -> SearchView:
        """Return the search view with every change whose lag has passed applied."""
        pending = self._pending
        if pending:
            now = self._clock()
            while pending and pending[0][0] <= now:
                _, customer_id, snapshot = pending.popleft()
                self._apply(customer_id, snapshot)
        return self._view

    def customer(self, customer_id: str) -> CustomerRecord:
        record = self.customers.get(customer_id)
        if record is None:
            raise customer_not_found(customer_id)
        return record

    def group(self, group_id: str) -> GroupRecord:
        group = self.groups.get(group_id)
        if group is None:
            raise group_not_found(group_id)
        return group

    # Customers

    def create_customer(
        self,
        profile: dict[str, Any],
        *,
        creation_source: str = API_CREATION_SOURCE,
        group_ids: list[str] | None = None,
    ) -> CustomerRecord:
        now = now_timestamp()
        record = CustomerRecord(
            customer_id=self.new_id(),
            created_at=now,
            updated_at=now,
            profile={name: value for name, value in profile.items() if value is not None},
            creation_source=creation_source,
            group_ids=group_ids,
        )
        self.customers[record.id] = record
        self._publish(record.id)
        return record

    def update_customer(
        self, customer_id: str, changes: dict[str, Any], *, version: int | None
    ) -> CustomerRecord:
        record = self.customer(customer_id)
        self.check_version(record, version)
        for name, value in changes.items():
            if value is None:
                record.profile.pop(name, None)
            else:
                record.profile[name] = value
        self._commit(record)
        return record

    def delete_customer(self, customer_id: str, *, version: int | None) -> None:
        record = self.customer(customer_id)
        self.check_version(record, version)
        del self.customers[customer_id]
        self._publish(customer_id)

    def check_version(self, record: CustomerRecord, version: int | None) -> None:
        if version is not None and version != record.version:
            raise version_conflict(record.id, expected=version, current=record.version)

    def add_to_group(self, customer_id: str, group_id: str) -> None:
        record = self.customer(customer_id)
        self.group(group_id)
        if group_id in record.group_ids:
            return
        record.group_ids.append(group_id)
        self._commit(record)

    def remove_from_group(self, customer_id: str, group_id: str) -> None:
        record = self.customer(customer_id)
        self.group(group_id)
        if group_id not in record.group_ids:
            return
        record.group_ids.remove(group_id)
        self._commit(record)

    def merge_customers(self, customer_ids: list[str]) -> CustomerRecord:
        """Merge profiles as the Seller Dashboard does: a new id, the old ids are deleted.

        Each profile field comes from the first listed profile that has it; the new
        profile belongs to every group any of the old ones belonged to.
        """
        records = [self.customer(customer_id) for customer_id in customer_ids]
        profile: dict[str, Any] = {}
        group_ids: list[str] = []
        for record in records:
            for name in PROFILE_FIELDS:
                if name not in profile and record.profile.get(name) is not None:
                    profile[name] = record.profile[name]
            group_ids.extend(g for g in record.group_ids if g not in group_ids)

        merged = self.create_customer(
            profile, creation_source=MERGE_CREATION_SOURCE, group_ids=group_ids
        )
        for record in records:
            del self.customers[record.id]
            self._publish(record.id)
        return merged

    # Groups

    def create_group(
        self, name: str, *, group_id: str | None = None, created_at: str | None = None
    ) -> GroupRecord:
        self._group_sequence += 1
        now = created_at or now_timestamp()
        group = GroupRecord(
            group_id=group_id or self.new_id(),
            name=name,
            created_at=now,
            updated_at=now,
            sequence=self._group_sequence,
        )
        self.groups[group.id] = group
        return group

    def rename_group(self, group_id: str, name: str) -> GroupRecord:
        group = self.group(group_id)
        if group.name != name:
            group.name = name
            group.updated_at = now_timestamp()
        return group

    def delete_group(self, group_id: str) -> None:
        """Delete a group and remove it from every member's ``group_ids`` (a new version each)."""
        self.group(group_id)
        del self.groups[group_id]
        for record in list(self.customers.values()):
            if group_id in record.group_ids:
                record.group_ids.remove(group_id)
                self._commit(record)

    # Bulk state, for the admin API

    def add_loaded(self, records: Iterable[CustomerRecord]) -> None:
        """Add fully built customers at once; they are visible to search without lag."""
        added = []
        for record in records:
            self.customers[record.id] = record
            added.append(record.copy())
        self._view.put_many(added)

    def new_id(self) -> str:
        return new_id(self._rng)

    # Publication to the search view

    def _commit(self, record: CustomerRecord) -> None:
        record.version += 1
        record.updated_at = now_timestamp()
        self._publish(record.id)

    def _publish(self, customer_id: str) -> None:
        record = self.customers.get(customer_id)
        snapshot = record.copy() if record is not None else None
        lag_s = self._lag_s()
        if lag_s <= 0 and not self._pending:
            self._apply(customer_id, snapshot)
            return
        self._pending.append((self._clock() + lag_s, customer_id, snapshot))

    def _apply(self, customer_id: str, snapshot: CustomerRecord | None) -> None:
        if snapshot is None:
            self._view.remove(customer_id)
        else:
            self._view.put(snapshot)
