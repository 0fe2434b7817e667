"""SearchCustomers queries: checking a ``CustomerQuery`` and choosing the index to read.

Filters combine with AND. The query reads the smallest fitting source, in this
order: an exact email, phone or reference id index; the members of an ``all``
group; the members of the ``any`` groups; every visible customer. The other
filters then test each candidate.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from groupsync.emulator.errors import bad_request
from groupsync.emulator.ids import parse_timestamp
from groupsync.emulator.phone import to_e164
from groupsync.emulator.records import CustomerRecord
from groupsync.emulator.search_index import (
    CREATED_AT_ORDER,
    DEFAULT_ORDER,
    SORT_FIELDS,
    SearchView,
    SortKey,
    sort_key,
)
from groupsync.emulator.validation import require_object

Predicate = Callable[[CustomerRecord], bool]

SORT_ORDERS = ("ASC", "DESC")
CREATION_SOURCES = frozenset(
    {
        "OTHER", "APPOINTMENTS", "COUPON", "DELETION_RECOVERY", "DIRECTORY", "EGIFTING",
        "EMAIL_COLLECTION", "FEEDBACK", "IMPORT", "INVOICES", "LOYALTY", "MARKETING", "MERGE",
        "ONLINE_STORE", "INSTANT_PROFILE", "TERMINAL", "THIRD_PARTY", "THIRD_PARTY_IMPORT",
        "UNMERGE_RECOVERY",
    }
)  # fmt: skip
FILTER_FIELDS = frozenset(
    {
        "creation_source", "created_at", "updated_at", "email_address", "phone_number",
        "reference_id", "group_ids", "custom_attribute", "segment_ids",
    }
)  # fmt: skip
MAX_SEGMENT_IDS = 3
NON_ALPHANUMERIC = re.compile(r"[^0-9a-z]+")
NON_DIGIT = re.compile(r"[^0-9]+")


@dataclass
class CustomerQuery:
    """A checked query. ``impossible`` means Square returns ``{}``, as for an unknown group."""

    sort_field: str = DEFAULT_ORDER
    descending: bool = False
    impossible: bool = False
    exact_sources: list[tuple[str, str]] = field(default_factory=list)
    all_groups: list[str] = field(default_factory=list)
    any_groups: list[str] = field(default_factory=list)
    predicates: list[Predicate] = field(default_factory=list)

    def candidate_keys(self, view: SearchView) -> list[SortKey]:
        """Return the sorted keys of the smallest source that contains every match."""
        if self.exact_sources:
            return self._keys_of(view, self._exact_candidate_ids(view))
        if self.all_groups:
            groups = [view.members(group_id) for group_id in self.all_groups]
            if any(members is None for members in groups):
                return []
            smallest = min(groups, key=len)  # type: ignore[arg-type]
            return smallest.keys(self.sort_field)  # type: ignore[union-attr]
        if self.any_groups:
            return self._any_group_keys(view)
        return view.everyone.keys(self.sort_field)

    def predicate(self) -> Predicate | None:
        checks = list(self.predicates)
        if self.all_groups:
            wanted = self.all_groups
            checks.append(lambda record: all(g in record.group_ids for g in wanted))
        if self.any_groups and (self.exact_sources or self.all_groups):
            choices = self.any_groups
            checks.append(lambda record: any(g in record.group_ids for g in choices))
        if not checks:
            return None
        if len(checks) == 1:
            return checks[0]
        return lambda record: all(check(record) for check in checks)

    def _exact_candidate_ids(self, view: SearchView) -> set[str]:
        indexes = {"email": view.by_email, "phone": view.by_phone, "reference": view.by_reference}
        result: set[str] | None = None
        for index_name, value in self.exact_sources:
            ids = indexes[index_name].get(value, set())
            result = set(ids) if result is None else result & ids
        return result or set()

    def _any_group_keys(self, view: SearchView) -> list[SortKey]:
        if len(self.any_groups) == 1:
            members = view.members(self.any_groups[0])
            return members.keys(self.sort_field) if members is not None else []
        ids: set[str] = set()
        for group_id in self.any_groups:
            members = view.members(group_id)
            if members is not None:
                ids.update(key[1] for key in members.by_default.keys)
        return self._keys_of(view, ids)

    def _keys_of(self, view: SearchView, ids: set[str]) -> list[SortKey]:
        return sorted(sort_key(view.records[i], self.sort_field) for i in ids if i in view.records)


def parse_query(body: dict[str, Any], *, known_group_ids: Any) -> CustomerQuery:
    """Check a SearchCustomers body's ``query`` and compile it."""
    query = CustomerQuery()
    raw = body.get("query")
    if raw is None:
        return query
    raw = require_object(raw, field="query")

    sort = raw.get("sort")
    if sort is not None:
        _parse_sort(require_object(sort, field="query.sort"), query)

    raw_filter = raw.get("filter")
    if raw_filter is not None:
        _parse_filter(require_object(raw_filter, field="query.filter"), query, known_group_ids)
    return query


def parse_sort_options(sort_field: Any, sort_order: Any, *, prefix: str) -> tuple[str, bool]:
    """Check a sort field and order (None means the default); return (field, descending)."""
    sort_field = sort_field or DEFAULT_ORDER
    sort_order = sort_order or "ASC"
    if sort_field not in SORT_FIELDS:
        raise bad_request(
            "INVALID_ENUM_VALUE",
            f"`{prefix}field` must be one of {', '.join(SORT_FIELDS)}, got `{sort_field}`.",
            field=f"{prefix}field",
        )
    if sort_order not in SORT_ORDERS:
        raise bad_request(
            "INVALID_ENUM_VALUE",
            f"`{prefix}order` must be ASC or DESC, got `{sort_order}`.",
            field=f"{prefix}order",
        )
    return sort_field, sort_order == "DESC"


def _parse_sort(sort: dict[str, Any], query: CustomerQuery) -> None:
    query.sort_field, query.descending = parse_sort_options(
        sort.get("field"), sort.get("order"), prefix="query.sort."
    )


def _parse_filter(raw: dict[str, Any], query: CustomerQuery, known_group_ids: Any) -> None:
    for name in raw:
        if name not in FILTER_FIELDS:
            raise bad_request(
                "BAD_REQUEST",
                f"Unrecognized field `query.filter.{name}`.",
                field=f"query.filter.{name}",
            )

    for name, index_name in (
        ("email_address", "email"),
        ("phone_number", "phone"),
        ("reference_id", "reference"),
    ):
        if raw.get(name) is not None:
            _parse_text_filter(name, index_name, raw[name], query)

    if raw.get("group_ids") is not None:
        _parse_group_filter(raw["group_ids"], query, known_group_ids)
    if raw.get("segment_ids") is not None:
        _reject_segment_filter(raw["segment_ids"])
    if raw.get("custom_attribute") is not None:
        raise bad_request(
            "BAD_REQUEST",
            "The emulator does not support `query.filter.custom_attribute`.",
            field="query.filter.custom_attribute",
        )

    for name in ("created_at", "updated_at"):
        if raw.get(name) is not None:
            query.predicates.append(_time_range_predicate(name, raw[name]))
    if raw.get("creation_source") is not None:
        query.predicates.append(_creation_source_predicate(raw["creation_source"]))


def _parse_text_filter(name: str, index_name: str, raw: Any, query: CustomerQuery) -> None:
    field_path = f"query.filter.{name}"
    text_filter = require_object(raw, field=field_path)
    exact, fuzzy = text_filter.get("exact"), text_filter.get("fuzzy")
    if exact is not None and fuzzy is not None:
        raise bad_request(
            "BAD_REQUEST",
            f"`{field_path}` takes `exact` or `fuzzy`, not both.",
            field=field_path,
        )
    if exact is None and fuzzy is None:
        return
    value = exact if exact is not None else fuzzy
    if not isinstance(value, str):
        raise bad_request(
            "EXPECTED_STRING", f"Expected `{field_path}` to be a string.", field=field_path
        )

    if exact is not None:
        query.exact_sources.append((index_name, _exact_form(name, value, field_path)))
    else:
        query.predicates.append(_fuzzy_predicate(name, value))


def _exact_form(name: str, value: str, field_path: str) -> str:
    if name != "phone_number":
        return value.casefold()
    # Square requires an E.164 number (a leading `+` and a country code) for an exact search.
    e164 = to_e164(value, default_region=None) if value.lstrip().startswith("+") else None
    if e164 is None:
        raise bad_request(
            "INVALID_PHONE_NUMBER",
            f"`{field_path}.exact` must be an E.164 phone number such as +12062223333, "
            f"got `{value}`.",
            field=f"{field_path}.exact",
        )
    return e164


def _fuzzy_predicate(name: str, value: str) -> Predicate:
    """Square's fuzzy match: every query token occurs in the stored value, in any order."""
    if name == "phone_number":
        digit_tokens = [token for token in NON_DIGIT.split(value) if token]

        def phone_matches(record: CustomerRecord) -> bool:
            stored = NON_DIGIT.sub("", record.profile.get("phone_number") or "")
            return bool(stored) and all(token in stored for token in digit_tokens)

        return phone_matches

    tokens = [token for token in NON_ALPHANUMERIC.split(value.casefold()) if token]

    def text_matches(record: CustomerRecord) -> bool:
        stored = NON_ALPHANUMERIC.sub(" ", (record.profile.get(name) or "").casefold())
        return bool(stored.strip()) and all(token in stored for token in tokens)

    return text_matches


def _parse_group_filter(raw: Any, query: CustomerQuery, known_group_ids: Any) -> None:
    filter_value = require_object(raw, field="query.filter.group_ids")
    lists: dict[str, list[str]] = {}
    for rule in ("all", "any", "none"):
        ids = filter_value.get(rule)
        if ids is None:
            continue
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise bad_request(
                "EXPECTED_ARRAY",
                f"Expected `query.filter.group_ids.{rule}` to be an array of strings.",
                field=f"query.filter.group_ids.{rule}",
            )
        lists[rule] = ids

    # Square returns {} when any group id in the filter does not exist.
    if any(group_id not in known_group_ids for ids in lists.values() for group_id in ids):
        query.impossible = True
        return

    query.all_groups = lists.get("all", [])
    query.any_groups = lists.get("any", [])
    excluded = lists.get("none", [])
    if excluded:
        query.predicates.append(lambda record: not any(g in record.group_ids for g in excluded))


def _reject_segment_filter(raw: Any) -> None:
    filter_value = require_object(raw, field="query.filter.segment_ids")
    segment_ids = [i for rule in ("all", "any", "none") for i in filter_value.get(rule) or []]
    if len(segment_ids) > MAX_SEGMENT_IDS:
        raise bad_request(
            "BAD_REQUEST",
            f"At most {MAX_SEGMENT_IDS} segment ids are allowed in `query.filter.segment_ids`.",
            field="query.filter.segment_ids",
        )
    # The emulator has no segments, so every segment id is unknown, as Square reports it.
    if segment_ids:
        raise bad_request(
            "BAD_REQUEST",
            f"Segment with ID `{segment_ids[0]}` not found.",
            field="query.filter.segment_ids",
        )


def _time_range_predicate(name: str, raw: Any) -> Predicate:
    """Match timestamps in ``[start_at, end_at]``; both bounds inclusive, either may be absent."""
    time_range = require_object(raw, field=f"query.filter.{name}")
    start = _parse_bound(time_range.get("start_at"), f"query.filter.{name}.start_at")
    end = _parse_bound(time_range.get("end_at"), f"query.filter.{name}.end_at")

    def in_range(record: CustomerRecord) -> bool:
        moment = parse_timestamp(getattr(record, name))
        return (start is None or moment >= start) and (end is None or moment <= end)

    return in_range


def _parse_bound(value: Any, field_path: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except (TypeError, ValueError):
        raise bad_request(
            "INVALID_TIME",
            f"`{field_path}` must be an RFC 3339 timestamp, got `{value}`.",
            field=field_path,
        ) from None


def _creation_source_predicate(raw: Any) -> Predicate:
    source_filter = require_object(raw, field="query.filter.creation_source")
    values = source_filter.get("values") or []
    rule = source_filter.get("rule") or "INCLUDE"
    unknown = [value for value in values if value not in CREATION_SOURCES]
    if unknown:
        raise bad_request(
            "INVALID_ENUM_VALUE",
            f"Unknown creation source `{unknown[0]}`.",
            field="query.filter.creation_source.values",
        )
    if rule not in ("INCLUDE", "EXCLUDE"):
        raise bad_request(
            "INVALID_ENUM_VALUE",
            f"`query.filter.creation_source.rule` must be INCLUDE or EXCLUDE, got `{rule}`.",
            field="query.filter.creation_source.rule",
        )
    chosen = frozenset(values)
    if rule == "INCLUDE":
        return lambda record: record.creation_source in chosen
    return lambda record: record.creation_source not in chosen


__all__ = ["CREATED_AT_ORDER", "CustomerQuery", "parse_query", "parse_sort_options"]
