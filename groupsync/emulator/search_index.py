"""The customers that ListCustomers and SearchCustomers see, indexed for fast paging.

Every visible customer sits in two sorted key lists (Square's DEFAULT order and
``created_at`` order), in the same two lists of every group it belongs to, and in
exact-match indexes for email, E.164 phone number and reference id. Search by
group therefore reads the group's own list instead of scanning all customers.
The view contains copies of records, which lag behind the store when a consistency
lag is configured.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable

from groupsync.emulator.phone import to_e164
from groupsync.emulator.records import CustomerRecord

SortKey = tuple[str, str]

DEFAULT_ORDER = "DEFAULT"
CREATED_AT_ORDER = "CREATED_AT"
SORT_FIELDS = (DEFAULT_ORDER, CREATED_AT_ORDER)


def default_sort_text(record: CustomerRecord) -> str:
    """Square's DEFAULT order: given name plus family name, else company, email, phone."""
    profile = record.profile
    name = (profile.get("given_name") or "") + (profile.get("family_name") or "")
    if not name:
        name = (
            profile.get("company_name")
            or profile.get("email_address")
            or profile.get("phone_number")
            or ""
        )
    return name.casefold()


def sort_key(record: CustomerRecord, sort_field: str) -> SortKey:
    if sort_field == CREATED_AT_ORDER:
        return (record.created_at, record.id)
    return (default_sort_text(record), record.id)


class SortedKeys:
    """A sorted list of ``(sort text, customer id)`` keys."""

    __slots__ = ("keys",)

    def __init__(self) -> None:
        self.keys: list[SortKey] = []

    def add(self, key: SortKey) -> None:
        insort(self.keys, key)

    def discard(self, key: SortKey) -> None:
        index = bisect_left(self.keys, key)
        if index < len(self.keys) and self.keys[index] == key:
            del self.keys[index]


class OrderedMembers:
    """One set of customers kept in both orders."""

    __slots__ = ("by_created", "by_default")

    def __init__(self) -> None:
        self.by_default = SortedKeys()
        self.by_created = SortedKeys()

    def keys(self, sort_field: str) -> list[SortKey]:
        if sort_field == CREATED_AT_ORDER:
            return self.by_created.keys
        return self.by_default.keys

    def add(self, record: CustomerRecord) -> None:
        self.by_default.add(sort_key(record, DEFAULT_ORDER))
        self.by_created.add(sort_key(record, CREATED_AT_ORDER))

    def discard(self, record: CustomerRecord) -> None:
        self.by_default.discard(sort_key(record, DEFAULT_ORDER))
        self.by_created.discard(sort_key(record, CREATED_AT_ORDER))

    def append_unsorted(self, record: CustomerRecord) -> None:
        self.by_default.keys.append(sort_key(record, DEFAULT_ORDER))
        self.by_created.keys.append(sort_key(record, CREATED_AT_ORDER))

    def sort(self) -> None:
        self.by_default.keys.sort()
        self.by_created.keys.sort()

    def __len__(self) -> int:
        return len(self.by_default.keys)


class SearchView:
    """The indexed customers visible to list and search."""

    def __init__(self) -> None:
        self.records: dict[str, CustomerRecord] = {}
        self.everyone = OrderedMembers()
        self.groups: dict[str, OrderedMembers] = {}
        self.by_email: dict[str, set[str]] = {}
        self.by_phone: dict[str, set[str]] = {}
        self.by_reference: dict[str, set[str]] = {}

    def put(self, record: CustomerRecord) -> None:
        """Show ``record`` instead of the customer's previous version, if any."""
        self.remove(record.id)
        if not record.has_identity():
            return
        self.records[record.id] = record
        self.everyone.add(record)
        for group_id in record.group_ids:
            self._members(group_id).add(record)
        self._index_exact(record)

    def remove(self, customer_id: str) -> None:
        old = self.records.pop(customer_id, None)
        if old is None:
            return
        self.everyone.discard(old)
        for group_id in old.group_ids:
            members = self.groups.get(group_id)
            if members is not None:
                members.discard(old)
        self._unindex_exact(old)

    def put_many(self, records: Iterable[CustomerRecord]) -> None:
        """Add many new customers, sorting each list once (for generated and loaded state)."""
        touched: set[str] = set()
        for record in records:
            if record.id in self.records:
                self.put(record)
                continue
            if not record.has_identity():
                continue
            self.records[record.id] = record
            self.everyone.append_unsorted(record)
            for group_id in record.group_ids:
                self._members(group_id).append_unsorted(record)
                touched.add(group_id)
            self._index_exact(record)
        self.everyone.sort()
        for group_id in touched:
            self.groups[group_id].sort()

    def members(self, group_id: str) -> OrderedMembers | None:
        return self.groups.get(group_id)

    def _members(self, group_id: str) -> OrderedMembers:
        members = self.groups.get(group_id)
        if members is None:
            members = self.groups[group_id] = OrderedMembers()
        return members

    def _index_exact(self, record: CustomerRecord) -> None:
        for index, value in self._exact_values(record):
            index.setdefault(value, set()).add(record.id)

    def _unindex_exact(self, record: CustomerRecord) -> None:
        for index, value in self._exact_values(record):
            ids = index.get(value)
            if ids is None:
                continue
            ids.discard(record.id)
            if not ids:
                del index[value]

    def _exact_values(self, record: CustomerRecord) -> list[tuple[dict[str, set[str]], str]]:
        profile = record.profile
        pairs: list[tuple[dict[str, set[str]], str]] = []
        email = profile.get("email_address")
        if email:
            pairs.append((self.by_email, email.casefold()))
        phone = profile.get("phone_number")
        phone_e164 = to_e164(phone) if phone else None
        if phone_e164:
            pairs.append((self.by_phone, phone_e164))
        reference = profile.get("reference_id")
        if reference:
            pairs.append((self.by_reference, reference.casefold()))
        return pairs
