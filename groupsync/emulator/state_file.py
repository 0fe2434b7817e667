"""Loading and dumping a seller's customers and groups as JSON, for the admin API and ``--state``.

The format is ``{"sellers": {NAME: {"customers": [Customer], "groups": [CustomerGroup]}}}``
with Square's object shapes. Ids, timestamps, ``version`` and ``creation_source``
are optional on load; customers may carry ``group_ids`` naming groups of the
same file. Loading replaces the named sellers' data.
"""

from __future__ import annotations

from typing import Any

from groupsync.emulator.errors import SquareApiError
from groupsync.emulator.ids import format_timestamp, now_timestamp, parse_timestamp
from groupsync.emulator.records import CustomerRecord
from groupsync.emulator.state import EmulatorState
from groupsync.emulator.store import SellerStore
from groupsync.emulator.validation import profile_changes, require_object


def load_state(state: EmulatorState, data: Any) -> dict[str, Any]:
    """Replace the data of every seller in ``data``; return counts per seller.

    Raises ValueError naming the first invalid entry; sellers before it are already replaced.
    """
    sellers = _object(data, "the state").get("sellers")
    summary: dict[str, Any] = {}
    for name, seller_data in _object(sellers, "`sellers`").items():
        state.sellers.pop(name, None)
        store = state.seller(name)
        _load_seller(store, _object(seller_data, f"seller {name!r}"))
        summary[name] = {"customers": len(store.customers), "groups": len(store.groups)}
    return {"sellers": summary}


def dump_seller(store: SellerStore) -> dict[str, Any]:
    return {
        "sellers": {
            store.name: {
                "customers": [record.to_dict() for record in store.customers.values()],
                "groups": [
                    group.to_dict()
                    for group in sorted(store.groups.values(), key=lambda g: g.sequence)
                ],
            }
        }
    }


def _load_seller(store: SellerStore, data: dict[str, Any]) -> None:
    for index, group in enumerate(data.get("groups") or []):
        group = _object(group, f"groups[{index}]")
        name = group.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"groups[{index}] has no name")
        created = store.create_group(
            name, group_id=group.get("id"), created_at=group.get("created_at")
        )
        created.updated_at = group.get("updated_at") or created.updated_at

    records = [
        _customer_record(store, _object(customer, f"customers[{index}]"), index)
        for index, customer in enumerate(data.get("customers") or [])
    ]
    store.add_loaded(records)


def _customer_record(store: SellerStore, data: dict[str, Any], index: int) -> CustomerRecord:
    try:
        profile = profile_changes(data)
    except SquareApiError as error:
        raise ValueError(f"customers[{index}]: {error.detail}") from error

    group_ids = data.get("group_ids") or []
    unknown = [group_id for group_id in group_ids if group_id not in store.groups]
    if unknown:
        raise ValueError(f"customers[{index}] names unknown groups {unknown}")

    now = now_timestamp()
    return CustomerRecord(
        customer_id=data.get("id") or store.new_id(),
        created_at=_timestamp(data.get("created_at"), now, f"customers[{index}].created_at"),
        updated_at=_timestamp(data.get("updated_at"), now, f"customers[{index}].updated_at"),
        profile={name: value for name, value in profile.items() if value is not None},
        creation_source=data.get("creation_source") or "THIRD_PARTY",
        group_ids=list(dict.fromkeys(group_ids)),
        version=int(data.get("version") or 0),
    )


def _timestamp(value: Any, default: str, where: str) -> str:
    """Rewrite a timestamp in Square's form, so that CREATED_AT order can compare strings."""
    if value is None:
        return default
    try:
        return format_timestamp(parse_timestamp(value))
    except (TypeError, ValueError):
        raise ValueError(f"{where} is not an RFC 3339 timestamp: {value!r}") from None


def _object(value: Any, what: str) -> dict[str, Any]:
    try:
        return require_object(value)
    except SquareApiError:
        raise ValueError(f"{what} must be a JSON object") from None
