"""The stored form of customers and groups, and how they render as Square JSON."""

from __future__ import annotations

import json
from typing import Any

# Identity fields: Square returns only profiles with at least one of them from
# ListCustomers and SearchCustomers, and requires one on create.
IDENTITY_FIELDS = ("given_name", "family_name", "company_name", "email_address", "phone_number")

# Writable profile fields, in the order Square's examples list them.
PROFILE_FIELDS = (
    "given_name",
    "family_name",
    "nickname",
    "company_name",
    "email_address",
    "address",
    "phone_number",
    "birthday",
    "reference_id",
    "note",
    "tax_ids",
)


class CustomerRecord:
    """One customer profile. ``group_ids`` keeps insertion order, like Square's responses."""

    __slots__ = (
        "_json_text",
        "created_at",
        "creation_source",
        "group_ids",
        "id",
        "profile",
        "updated_at",
        "version",
    )

    def __init__(
        self,
        *,
        customer_id: str,
        created_at: str,
        updated_at: str,
        profile: dict[str, Any],
        creation_source: str,
        group_ids: list[str] | None = None,
        version: int = 0,
    ) -> None:
        self.id = customer_id
        self.created_at = created_at
        self.updated_at = updated_at
        self.profile = profile
        self.creation_source = creation_source
        self.group_ids = group_ids if group_ids is not None else []
        self.version = version
        self._json_text: str | None = None

    def copy(self) -> CustomerRecord:
        return CustomerRecord(
            customer_id=self.id,
            created_at=self.created_at,
            updated_at=self.updated_at,
            profile=dict(self.profile),
            creation_source=self.creation_source,
            group_ids=list(self.group_ids),
            version=self.version,
        )

    def has_identity(self) -> bool:
        return any(self.profile.get(name) for name in IDENTITY_FIELDS)

    def to_dict(self) -> dict[str, Any]:
        """Render as Square's ``Customer``: unset fields and an empty ``group_ids`` are absent."""
        body: dict[str, Any] = {
            "id": self.id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        for name in PROFILE_FIELDS:
            value = self.profile.get(name)
            if value is not None:
                body[name] = value
        body["preferences"] = {"email_unsubscribed": False}
        body["creation_source"] = self.creation_source
        if self.group_ids:
            body["group_ids"] = list(self.group_ids)
        body["version"] = self.version
        return body

    def json_text(self) -> str:
        """Return ``to_dict()`` serialized and cached; call it only on records that never change."""
        if self._json_text is None:
            self._json_text = json.dumps(self.to_dict(), separators=(",", ":"))
        return self._json_text


class GroupRecord:
    """One customer group; ``sequence`` orders ListCustomerGroups by creation."""

    __slots__ = ("created_at", "id", "name", "sequence", "updated_at")

    def __init__(
        self, *, group_id: str, name: str, created_at: str, updated_at: str, sequence: int
    ) -> None:
        self.id = group_id
        self.name = name
        self.created_at = created_at
        self.updated_at = updated_at
        self.sequence = sequence

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
