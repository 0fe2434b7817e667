"""The emulator's settings: accepted tokens, traffic shaping, faults and paging."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, fields
from typing import Any, Literal

READ_SCOPE = "CUSTOMERS_READ"
WRITE_SCOPE = "CUSTOMERS_WRITE"
ALL_SCOPES = frozenset({READ_SCOPE, WRITE_SCOPE})

DEFAULT_SELLER = "default"

# Square's current API version in the official OpenAPI definitions (release 2025-08-20).
DEFAULT_SQUARE_VERSION = "2025-08-20"

PageMode = Literal["exact", "uneven"]
PAGE_MODES: tuple[str, ...] = ("exact", "uneven")


@dataclass(frozen=True)
class TokenGrant:
    """One bearer token the emulator accepts, the seller whose data it reaches, and its scopes."""

    token: str
    seller: str = DEFAULT_SELLER
    scopes: frozenset[str] = ALL_SCOPES


def parse_token_spec(spec: str) -> TokenGrant:
    """Parse ``TOKEN``, ``TOKEN:SELLER`` or ``TOKEN:SELLER:SCOPE,SCOPE`` into a grant."""
    token, _, rest = spec.partition(":")
    seller, _, scope_text = rest.partition(":")
    if not token:
        raise ValueError(f"invalid token spec {spec!r}: the token is empty")

    scopes = ALL_SCOPES
    if scope_text:
        scopes = frozenset(scope.strip() for scope in scope_text.split(",") if scope.strip())
        unknown = scopes - ALL_SCOPES
        if unknown:
            raise ValueError(
                f"invalid token spec {spec!r}: unknown scopes {sorted(unknown)}; "
                f"use {READ_SCOPE} and/or {WRITE_SCOPE}"
            )
    return TokenGrant(token=token, seller=seller or DEFAULT_SELLER, scopes=scopes)


def make_up_token() -> TokenGrant:
    """Return a random token with both scopes for the default seller."""
    return TokenGrant(token=f"emulator-{secrets.token_urlsafe(16)}")


@dataclass
class EmulatorSettings:
    """Everything that shapes the emulator's behaviour; the traffic fields can change at run time.

    The fault rates are shares of requests between 0 and 1. Burst mode: when
    ``burst_period_s`` is above 0, the fault rates apply only during the first
    ``burst_on_s`` of every period.
    """

    tokens: list[TokenGrant] = field(default_factory=lambda: [TokenGrant("test-token")])
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    rate_limit_per_s: float | None = None
    rate_burst: int = 10
    retry_after_s: float | None = 1.0
    error_rate: float = 0.0
    # Share of requests that get 429 RATE_LIMITED (with ``retry_after_s``), apart from the
    # token bucket: a storm of 429s that does not depend on the client's pace.
    rate_limited_rate: float = 0.0
    html_error_rate: float = 0.0
    drop_rate: float = 0.0
    hang_rate: float = 0.0
    consistency_lag_s: float = 0.0
    page_mode: PageMode = "exact"
    burst_period_s: float = 0.0
    burst_on_s: float = 0.0
    seed: int | None = None
    square_version_default: str = DEFAULT_SQUARE_VERSION

    def traffic_dict(self) -> dict[str, Any]:
        """Return the settings that the admin API may read and change, as JSON values."""
        return {name: getattr(self, name) for name in TRAFFIC_FIELDS}

    def update_traffic(self, changes: dict[str, Any]) -> None:
        """Apply a partial update of the traffic fields; raise ValueError on a bad name or value."""
        unknown = set(changes) - set(TRAFFIC_FIELDS)
        if unknown:
            raise ValueError(
                f"unknown fault settings {sorted(unknown)}; known: {sorted(TRAFFIC_FIELDS)}"
            )
        for name, value in changes.items():
            _check_traffic_value(name, value)
        for name, value in changes.items():
            setattr(self, name, value)


TRAFFIC_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(EmulatorSettings) if f.name not in ("tokens", "seed")
)
RATE_FIELDS = (
    "error_rate",
    "rate_limited_rate",
    "html_error_rate",
    "drop_rate",
    "hang_rate",
)
OPTIONAL_NUMBER_FIELDS = ("rate_limit_per_s", "retry_after_s")


def _check_traffic_value(name: str, value: Any) -> None:
    if name == "page_mode":
        if value not in PAGE_MODES:
            raise ValueError(f"invalid page_mode {value!r}; use one of {list(PAGE_MODES)}")
        return
    if name == "square_version_default":
        if not isinstance(value, str):
            raise ValueError(f"invalid square_version_default {value!r}; use YYYY-MM-DD")
        return
    if value is None and name in OPTIONAL_NUMBER_FIELDS:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"invalid {name} {value!r}: expected a number of at least 0")
    if name in RATE_FIELDS and value > 1:
        raise ValueError(f"invalid {name} {value!r}: a share of requests is between 0 and 1")
