"""Normalising a desired row into a Person, and the person key."""

from __future__ import annotations

import unicodedata

import pytest

from groupsync.errors import InputError
from groupsync.identity import InvalidIdentity, Person, normalize_person


@pytest.mark.parametrize(
    "email",
    ["ada@example.com", "Ada@Example.com", "ADA@EXAMPLE.COM", "  ada@example.COM\t"],
)
def test_email_case_and_spaces_same_key(email: str) -> None:
    person = normalize_person({"email_address": email})

    assert person.key == "email:ada@example.com"


def test_email_local_part_kept_as_written() -> None:
    person = normalize_person({"email_address": "Ada.Lovelace+News@Example.com"})

    assert person.email_address == "ada.lovelace+news@example.com"


@pytest.mark.parametrize(
    ("phone", "region", "e164"),
    [
        ("(206) 222-3333", "US", "+12062223333"),
        ("206.222.3333", "US", "+12062223333"),
        ("206 222 3333", "US", "+12062223333"),
        ("+1 206 222 3333", "GB", "+12062223333"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
    ],
)
def test_phone_formats_to_e164(phone: str, region: str, e164: str) -> None:
    person = normalize_person({"phone_number": phone}, default_region=region)

    assert person.phone_number == e164
    assert person.key == f"phone:{e164}"


def test_values_trimmed() -> None:
    person = normalize_person(
        {
            "square_customer_id": " CUST1 ",
            "reference_id": "  Ref-7 ",
            "given_name": "  Ada ",
            "family_name": "\tLovelace\n",
            "company_name": " Analytical Engines ",
        }
    )

    assert person.square_customer_id == "CUST1"
    assert person.reference_id == "Ref-7"
    assert person.given_name == "Ada"
    assert person.family_name == "Lovelace"
    assert person.company_name == "Analytical Engines"


def test_empty_strings_become_none() -> None:
    person = normalize_person(
        {
            "email_address": "ada@example.com",
            "phone_number": "",
            "reference_id": "   ",
            "given_name": "",
            "family_name": None,
        }
    )

    assert person.phone_number is None
    assert person.reference_id is None
    assert person.given_name is None
    assert person.family_name is None
    assert person.company_name is None


def test_unknown_keys_ignored() -> None:
    person = normalize_person({"id": "7", "group_name": "VIP", "email_address": "a@example.com"})

    assert person == Person(email_address="a@example.com")


def test_unicode_names_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Zoë Ångström")

    person = normalize_person({"email_address": "z@example.com", "given_name": decomposed})

    assert person.given_name == "Zoë Ångström"
    assert person.given_name == unicodedata.normalize("NFC", decomposed)


def test_unicode_names_kept() -> None:
    person = normalize_person({"reference_id": "r1", "family_name": "山田", "given_name": "Ólafur"})

    assert person.family_name == "山田"
    assert person.given_name == "Ólafur"


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (
            {
                "square_customer_id": "C1",
                "email_address": "a@example.com",
                "phone_number": "+12062223333",
                "reference_id": "R1",
            },
            "id:C1",
        ),
        (
            {
                "email_address": "a@example.com",
                "phone_number": "+12062223333",
                "reference_id": "R1",
            },
            "email:a@example.com",
        ),
        ({"phone_number": "+12062223333", "reference_id": "R1"}, "phone:+12062223333"),
        ({"reference_id": "Ref-ABC"}, "ref:ref-abc"),
    ],
)
def test_key_precedence(raw: dict[str, str], key: str) -> None:
    assert normalize_person(raw).key == key


def test_reference_id_case_kept_in_field() -> None:
    person = normalize_person({"reference_id": "Ref-ABC"})

    assert person.reference_id == "Ref-ABC"


@pytest.mark.parametrize(
    ("raw", "reason", "field"),
    [
        ({}, "no_identity", None),
        ({"given_name": "Ada", "family_name": "Lovelace"}, "no_identity", None),
        ({"email_address": "  ", "phone_number": ""}, "no_identity", None),
        ({"email_address": "ada"}, "invalid_email", "email_address"),
        ({"email_address": "ada@"}, "invalid_email", "email_address"),
        ({"email_address": "a..b@example.com"}, "invalid_email", "email_address"),
        ({"email_address": "ada lovelace@example.com"}, "invalid_email", "email_address"),
        ({"phone_number": "call me"}, "invalid_phone", "phone_number"),
        ({"phone_number": "12"}, "invalid_phone", "phone_number"),
        ({"phone_number": "555-0100"}, "invalid_phone", "phone_number"),
        ({"phone_number": "+999 123 456 789"}, "invalid_phone", "phone_number"),
        # Valid for its region but only 7 digits long, below Square's minimum of 9.
        ({"phone_number": "+683 4002"}, "invalid_phone", "phone_number"),
        ({"reference_id": "r" * 101}, "value_too_long", "reference_id"),
        (
            {"email_address": "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63},
            "value_too_long",
            "email_address",
        ),
        ({"reference_id": "r", "given_name": "g" * 301}, "value_too_long", "given_name"),
        ({"reference_id": "r", "family_name": "f" * 301}, "value_too_long", "family_name"),
        ({"reference_id": "r", "company_name": "c" * 501}, "value_too_long", "company_name"),
    ],
)
def test_rejection_reason(raw: dict[str, str], reason: str, field: str | None) -> None:
    with pytest.raises(InvalidIdentity) as caught:
        normalize_person(raw)

    assert caught.value.reason == reason
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("field", "max_length"),
    [("given_name", 300), ("family_name", 300), ("company_name", 500), ("reference_id", 100)],
)
def test_names_at_max_length_accepted(field: str, max_length: int) -> None:
    value = "x" * max_length

    person = normalize_person({"reference_id": "r", field: value})

    assert getattr(person, field) == value


def test_invalid_email_message_names_value() -> None:
    with pytest.raises(InvalidIdentity) as caught:
        normalize_person({"email_address": "ada@"})

    assert "email_address 'ada@'" in str(caught.value)


def test_invalid_phone_message_names_region() -> None:
    with pytest.raises(InvalidIdentity) as caught:
        normalize_person({"phone_number": "555-0100"}, default_region="GB")

    assert "'555-0100'" in str(caught.value)
    assert "GB numbers" in str(caught.value)


def test_too_long_message_shortens_value() -> None:
    with pytest.raises(InvalidIdentity) as caught:
        normalize_person({"reference_id": "r", "company_name": "c" * 501})

    assert "501 characters" in str(caught.value)
    assert "c" * 61 not in str(caught.value)


def test_unknown_region_rejected() -> None:
    with pytest.raises(InputError) as caught:
        normalize_person({"phone_number": "206 222 3333"}, default_region="XX")

    assert not isinstance(caught.value, InvalidIdentity)
    assert "'XX'" in str(caught.value)


def test_creation_fields_only_set_values() -> None:
    person = normalize_person(
        {
            "square_customer_id": "",
            "email_address": "Ada@Example.com",
            "given_name": "Ada",
            "company_name": "",
        }
    )

    assert person.creation_fields() == {"given_name": "Ada", "email_address": "ada@example.com"}


def test_creation_fields_exclude_customer_id() -> None:
    person = normalize_person(
        {
            "square_customer_id": "C1",
            "email_address": "a@example.com",
            "phone_number": "+12062223333",
            "reference_id": "R1",
            "given_name": "A",
            "family_name": "L",
            "company_name": "Co",
        }
    )

    assert person.creation_fields() == {
        "given_name": "A",
        "family_name": "L",
        "company_name": "Co",
        "email_address": "a@example.com",
        "phone_number": "+12062223333",
        "reference_id": "R1",
    }
