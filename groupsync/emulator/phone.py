"""Phone number normalization to E.164, which Square's exact phone search compares."""

from __future__ import annotations

import functools
import re

import phonenumbers

E164_PATTERN = re.compile(r"^\+[1-9][0-9]{7,14}$")
# Square stores numbers without a country code as given; the emulator reads them as US numbers.
DEFAULT_REGION = "US"


@functools.lru_cache(maxsize=65536)
def to_e164(text: str, *, default_region: str | None = DEFAULT_REGION) -> str | None:
    """Return ``text`` in E.164 form, or None when it cannot be read as a phone number."""
    compact = re.sub(r"[ ()\-.]", "", text)
    if E164_PATTERN.match(compact):
        return compact
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
