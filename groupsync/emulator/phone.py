"""Phone number normalization to E.164, which Square's exact phone search compares."""

from __future__ import annotations

import functools

import phonenumbers

# Square stores numbers without a country code as given; the emulator reads them as US numbers.
DEFAULT_REGION = "US"


@functools.lru_cache(maxsize=65536)
def to_e164(text: str, *, default_region: str | None = DEFAULT_REGION) -> str | None:
    """Return ``text`` in E.164 form, or None when it cannot be read as a phone number."""
    # Always parse, even text that already looks like E.164: "+49 0711 2842222" carries a
    # trunk 0 that the E.164 form drops, as groupsync's own normalisation does.
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
