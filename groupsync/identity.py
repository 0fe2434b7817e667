"""A person's identity, normalised the way Square's exact customer search compares it.

Square's SearchCustomers compares ``email_address`` and ``reference_id`` case-insensitively and
``phone_number`` in E.164 form, so two desired rows that differ only in case or phone layout
name the same person and get the same :attr:`Person.key`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

import email_validator
import phonenumbers

from groupsync.errors import InputError

# Maximum lengths of CreateCustomer fields, from Square's BulkCreateCustomerData schema.
MAX_LENGTHS = {
    "given_name": 300,
    "family_name": 300,
    "company_name": 500,
    "email_address": 254,
    "reference_id": 100,
}

# Square accepts phone numbers of 9 to 16 digits, counting the country code.
MIN_PHONE_DIGITS = 9
MAX_PHONE_DIGITS = 16

PARSE_ERRORS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "its country code is unknown",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "it is not a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "it is too short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "it is too short",
    phonenumbers.NumberParseException.TOO_LONG: "it is too long",
}

IDENTITY_FIELDS = ("square_customer_id", "email_address", "phone_number", "reference_id")
NAME_FIELDS = ("given_name", "family_name", "company_name")
PERSON_FIELDS = IDENTITY_FIELDS + NAME_FIELDS

# Raise when normalize_person changes what it returns for some input, so that people
# normalised by the earlier code and kept in ``normalised_rows`` are normalised again.
NORMALISATION_VERSION = 1

# The fields a CreateCustomer request may carry, in Square's order.
CREATION_FIELDS = (
    "given_name",
    "family_name",
    "company_name",
    "email_address",
    "phone_number",
    "reference_id",
)


class InvalidIdentity(InputError):
    """A desired row whose identity Square would reject, or that has no identity field.

    ``reason`` is a stable code: ``no_identity``, ``invalid_email``, ``invalid_phone`` or
    ``value_too_long``. ``field`` names the offending field, or is None for ``no_identity``.
    """

    def __init__(self, reason: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field


@dataclass(frozen=True)
class Person:
    """One desired row's identity after normalisation. Empty values are None."""

    square_customer_id: str | None = None
    email_address: str | None = None
    phone_number: str | None = None
    reference_id: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    company_name: str | None = None

    @property
    def key(self) -> str:
        """Person key for links and de-duplication, from the strongest identity present."""
        if self.square_customer_id is not None:
            return f"id:{self.square_customer_id}"
        if self.email_address is not None:
            return f"email:{self.email_address}"
        if self.phone_number is not None:
            return f"phone:{self.phone_number}"
        if self.reference_id is not None:
            return f"ref:{self.reference_id.lower()}"
        # normalize_person never builds such a Person, but the dataclass itself allows it.
        raise ValueError("a Person needs a Square customer id, email, phone or reference id")

    def creation_fields(self) -> dict[str, str]:
        """Return the CreateCustomer body fields that are set."""
        fields = {name: getattr(self, name) for name in CREATION_FIELDS}
        return {name: value for name, value in fields.items() if value is not None}


def normalisation_rules(default_region: str) -> str:
    """Name the rules :func:`normalize_person` applies with ``default_region``.

    A stored normalised person is reused only under the same rules: the phone region, this
    module's version and the versions of phonenumbers and email-validator, whose releases
    change which numbers and addresses are valid.
    """
    return (
        f"v{NORMALISATION_VERSION};region {default_region};"
        f"phonenumbers {phonenumbers.__version__};email-validator {email_validator.__version__}"
    )


def is_supported_region(region: str) -> bool:
    """Return whether ``region`` is a two-letter region code that phonenumbers supports."""
    return region in phonenumbers.SUPPORTED_REGIONS


def normalize_person(raw: Mapping[str, str | None], *, default_region: str = "US") -> Person:
    """Build a Person from a desired row's raw values, or raise InvalidIdentity.

    Values are trimmed and NFC-normalised, and empty strings become None. Keys of ``raw``
    other than the person fields are ignored. Phone numbers without a leading ``+`` are read
    as numbers of ``default_region`` (a region code such as ``US`` or ``GB``).
    """
    if not is_supported_region(default_region):
        raise InputError(
            f"unknown phone region {default_region!r}: use a two-letter region code "
            "such as US or GB"
        )

    values = {name: _clean_text(raw.get(name)) for name in PERSON_FIELDS}
    _check_lengths(values)

    if values["email_address"] is not None:
        values["email_address"] = _normalize_email(values["email_address"])
    if values["phone_number"] is not None:
        values["phone_number"] = _normalize_phone(values["phone_number"], default_region)

    if all(values[name] is None for name in IDENTITY_FIELDS):
        raise InvalidIdentity(
            "no_identity",
            "the row has no square_customer_id, email_address, phone_number or reference_id: "
            "fill in at least one of them",
        )
    return Person(**values)


def _clean_text(value: str | None) -> str | None:
    if value is None:
        return None
    value = unicodedata.normalize("NFC", value.strip())
    return value or None


def _check_lengths(values: Mapping[str, str | None]) -> None:
    for name, max_length in MAX_LENGTHS.items():
        value = values[name]
        if value is not None and len(value) > max_length:
            raise InvalidIdentity(
                "value_too_long",
                f"{name} is {len(value)} characters long ({_preview(value)}), but Square "
                f"accepts at most {max_length}: shorten it",
                field=name,
            )


def _normalize_email(email: str) -> str:
    try:
        email_validator.validate_email(email, check_deliverability=False)
    except email_validator.EmailNotValidError as error:
        raise InvalidIdentity(
            "invalid_email",
            f"email_address {_preview(email)} is invalid: {error} Correct the address or "
            "leave it empty",
            field="email_address",
        ) from error

    # The local part is kept as written rather than in email_validator's normalised form,
    # and the whole address is lower-cased because Square's exact email search ignores case.
    return email.lower()


def _normalize_phone(phone: str, default_region: str) -> str:
    try:
        number = phonenumbers.parse(phone, default_region)
    except phonenumbers.NumberParseException as error:
        problem = PARSE_ERRORS.get(error.error_type, "it is not a phone number")
        raise _invalid_phone(phone, problem, default_region) from error

    if not phonenumbers.is_valid_number(number):
        raise _invalid_phone(phone, "it is not a valid number", default_region)

    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    digit_count = len(e164) - 1
    if not MIN_PHONE_DIGITS <= digit_count <= MAX_PHONE_DIGITS:
        raise _invalid_phone(
            phone,
            f"it has {digit_count} digits with the country code, and Square accepts "
            f"{MIN_PHONE_DIGITS} to {MAX_PHONE_DIGITS}",
            default_region,
        )
    return e164


def _invalid_phone(phone: str, problem: str, default_region: str) -> InvalidIdentity:
    return InvalidIdentity(
        "invalid_phone",
        f"phone_number {_preview(phone)} is invalid: {problem}. Write it with its country code "
        f"(such as +44 20 7946 0958); numbers without one are read as {default_region} numbers",
        field="phone_number",
    )


def _preview(value: str, max_chars: int = 60) -> str:
    """Quote ``value`` for a message, shortened so an over-long field cannot flood a log."""
    if len(value) <= max_chars:
        return repr(value)
    return repr(value[:max_chars] + "…")
