"""Square-like object ids and RFC 3339 timestamps."""

from __future__ import annotations

import random
from datetime import UTC, datetime

# Square's customer and group ids are 26 uppercase characters from this alphabet
# (Crockford's base32: digits and letters without I, L, O and U).
ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_LENGTH = 26


def new_id(rng: random.Random) -> str:
    return "".join(rng.choices(ID_ALPHABET, k=ID_LENGTH))


def format_timestamp(moment: datetime) -> str:
    """Format like Square does: UTC, milliseconds, ``Z`` suffix."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def now_timestamp() -> str:
    return format_timestamp(datetime.now(UTC))


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 timestamp; raise ValueError when it is not one or has no offset."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return moment
