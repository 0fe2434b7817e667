"""Input checks for customer and group bodies, with the error codes Square documents."""

from __future__ import annotations

import re
from typing import Any

from groupsync.emulator.errors import SquareApiError, bad_request
from groupsync.emulator.records import IDENTITY_FIELDS, PROFILE_FIELDS

# Maximum lengths from the official BulkCreateCustomerData / BulkUpdateCustomerData schemas,
# which Square applies to CreateCustomer and UpdateCustomer as well.
MAX_LENGTHS = {
    "given_name": 300,
    "family_name": 300,
    "company_name": 500,
    "nickname": 100,
    "email_address": 254,
    "reference_id": 100,
}
MAX_EU_VAT_LENGTH = 20
MIN_PHONE_DIGITS = 9
MAX_PHONE_DIGITS = 16
STRING_FIELDS = frozenset(PROFILE_FIELDS) - {"address", "tax_ids"}
ADDRESS_FIELDS = frozenset(
    {
        "address_line_1",
        "address_line_2",
        "address_line_3",
        "locality",
        "sublocality",
        "sublocality_2",
        "sublocality_3",
        "administrative_district_level_1",
        "administrative_district_level_2",
        "administrative_district_level_3",
        "postal_code",
        "country",
        "first_name",
        "last_name",
    }
)

# A syntactic check only: one @, no spaces, a dot in the domain.
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
PHONE_PATTERN = re.compile(r"^\+?[0-9 ()\-.]+$")
BIRTHDAY_PATTERN = re.compile(r"^(?:(\d{4})-)?(\d{2})-(\d{2})$")

# Since Square-Version 2022-03-16 an unknown field in a group body is a 400 BAD_REQUEST;
# before, Square ignored it.
STRICT_GROUP_FIELDS_SINCE = "2022-03-16"
GROUP_FIELDS = frozenset({"id", "name", "created_at", "updated_at"})


def require_object(body: Any, *, field: str | None = None) -> dict[str, Any]:
    if not isinstance(body, dict):
        where = f"`{field}`" if field else "the request body"
        raise bad_request("EXPECTED_OBJECT", f"Expected {where} to be a JSON object.", field=field)
    return body


def profile_changes(body: dict[str, Any], *, field_prefix: str = "") -> dict[str, Any]:
    """Check the profile fields present in ``body``; return them normalized (``None`` clears).

    Fields that are not profile fields (``version``, ``idempotency_key`` and unknown
    names) are left to the caller.
    """
    changes: dict[str, Any] = {}
    for name in PROFILE_FIELDS:
        if name not in body:
            continue
        value = body[name]
        field = f"{field_prefix}{name}"
        if value is not None:
            value = _check_profile_value(name, value, field=field)
        changes[name] = value
    return changes


def check_identity(profile: dict[str, Any]) -> None:
    """Raise unless the profile has at least one of Square's five identity fields."""
    if any(profile.get(name) for name in IDENTITY_FIELDS):
        return
    raise bad_request(
        "MISSING_REQUIRED_PARAMETER",
        "At least one of `given_name`, `family_name`, `company_name`, `email_address` or "
        "`phone_number` is required.",
    )


def parse_version(value: Any, *, field: str = "version") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request("EXPECTED_INTEGER", f"Expected `{field}` to be an integer.", field=field)
    return value


def check_group_body(
    body: dict[str, Any], *, allowed_top_level: frozenset[str], square_version: str
) -> dict[str, Any]:
    """Check a CreateCustomerGroup or UpdateCustomerGroup body; return its ``group`` object."""
    strict = square_version >= STRICT_GROUP_FIELDS_SINCE
    if strict:
        _reject_unknown_fields(body, allowed_top_level, prefix="")

    if "group" not in body:
        raise bad_request("MISSING_REQUIRED_PARAMETER", "Field `group` is required.", field="group")
    group = require_object(body["group"], field="group")
    if strict:
        _reject_unknown_fields(group, GROUP_FIELDS, prefix="group.")

    name = group.get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad_request(
            "MISSING_REQUIRED_PARAMETER",
            "Field `group.name` is required and must be a non-empty string.",
            field="group.name",
        )
    return group


def _reject_unknown_fields(body: dict[str, Any], allowed: frozenset[str], *, prefix: str) -> None:
    for name in body:
        if name not in allowed:
            raise bad_request(
                "BAD_REQUEST",
                f"Unrecognized field `{prefix}{name}`.",
                field=f"{prefix}{name}",
            )


def _check_profile_value(name: str, value: Any, *, field: str) -> Any:
    if name == "address":
        return _check_address(value, field=field)
    if name == "tax_ids":
        return _check_tax_ids(value, field=field)

    if not isinstance(value, str):
        raise bad_request("EXPECTED_STRING", f"Expected `{field}` to be a string.", field=field)
    max_length = MAX_LENGTHS.get(name)
    if max_length is not None and len(value) > max_length:
        raise _too_long(field, max_length)
    if name == "email_address" and value and not EMAIL_PATTERN.match(value):
        raise bad_request("INVALID_EMAIL_ADDRESS", f"Invalid email address `{value}`.", field=field)
    if name == "phone_number" and value:
        _check_phone(value, field=field)
    if name == "birthday" and value:
        return _normalize_birthday(value, field=field)
    return value


def _check_phone(value: str, *, field: str) -> None:
    digit_count = sum(character.isdigit() for character in value)
    if not PHONE_PATTERN.match(value) or not MIN_PHONE_DIGITS <= digit_count <= MAX_PHONE_DIGITS:
        raise bad_request(
            "INVALID_PHONE_NUMBER",
            f"Invalid phone number `{value}`: it must contain {MIN_PHONE_DIGITS} to "
            f"{MAX_PHONE_DIGITS} digits, with an optional leading `+`.",
            field=field,
        )


def _normalize_birthday(value: str, *, field: str) -> str:
    """Accept ``YYYY-MM-DD`` or ``MM-DD``; Square stores a birthday with no year as 0000-MM-DD."""
    match = BIRTHDAY_PATTERN.match(value)
    if match is None or not (1 <= int(match[2]) <= 12 and 1 <= int(match[3]) <= 31):
        raise bad_request(
            "INVALID_TIME", f"Invalid birthday `{value}`: use YYYY-MM-DD or MM-DD.", field=field
        )
    year = match[1] or "0000"
    return f"{year}-{match[2]}-{match[3]}"


def _check_address(value: Any, *, field: str) -> dict[str, Any]:
    address = require_object(value, field=field)
    result: dict[str, Any] = {}
    for name, part in address.items():
        if name not in ADDRESS_FIELDS:
            continue
        if part is not None and not isinstance(part, str):
            raise bad_request(
                "EXPECTED_STRING",
                f"Expected `{field}.{name}` to be a string.",
                field=f"{field}.{name}",
            )
        # Square ignores the address's first and last name on customer profiles.
        if part is not None and name not in ("first_name", "last_name"):
            result[name] = part
    return result


def _check_tax_ids(value: Any, *, field: str) -> dict[str, Any]:
    tax_ids = require_object(value, field=field)
    eu_vat = tax_ids.get("eu_vat")
    if eu_vat is None:
        return {}
    if not isinstance(eu_vat, str):
        raise bad_request(
            "EXPECTED_STRING", f"Expected `{field}.eu_vat` to be a string.", field=f"{field}.eu_vat"
        )
    if len(eu_vat) > MAX_EU_VAT_LENGTH:
        raise _too_long(f"{field}.eu_vat", MAX_EU_VAT_LENGTH)
    return {"eu_vat": eu_vat}


def _too_long(field: str, max_length: int) -> SquareApiError:
    return bad_request(
        "VALUE_TOO_LONG",
        f"Field `{field}` must be at most {max_length} characters long.",
        field=field,
    )
