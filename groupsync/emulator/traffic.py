"""Traffic shaping and faults: latency, per-seller rate limits, random and scripted faults."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from groupsync.emulator.settings import EmulatorSettings

FAULT_KINDS = ("status", "drop", "hang", "html", "slow")
FAULT_RULE_FIELDS = frozenset({"endpoint", "kind", "status", "times", "retry_after_s", "delay_ms"})


@dataclass
class Fault:
    """What to do to one request instead of (or, for ``slow``, before) serving it."""

    kind: str
    status: int = 500
    retry_after_s: float | None = None
    delay_ms: float = 0.0


@dataclass
class FaultRule:
    """A scripted fault: the next ``times`` requests to ``endpoint`` (None: any) get ``fault``."""

    fault: Fault
    endpoint: str | None
    times: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "kind": self.fault.kind,
            "status": self.fault.status,
            "times": self.times,
            "retry_after_s": self.fault.retry_after_s,
            "delay_ms": self.fault.delay_ms,
        }


def parse_fault_rule(data: dict[str, Any], *, operations: AbstractSet[str]) -> FaultRule:
    """Build a rule from its admin API JSON; raise ValueError naming the bad field.

    ``operations`` are the operation names an ``endpoint`` may name.
    """
    unknown = set(data) - FAULT_RULE_FIELDS
    if unknown:
        raise ValueError(
            f"unknown fault rule fields {sorted(unknown)}; use {sorted(FAULT_RULE_FIELDS)}"
        )
    kind = data.get("kind")
    if kind is None:
        raise ValueError(f"missing fault kind; set kind to one of {list(FAULT_KINDS)}")
    if kind not in FAULT_KINDS:
        raise ValueError(f"invalid fault kind {kind!r}; use one of {list(FAULT_KINDS)}")
    endpoint = data.get("endpoint")
    if endpoint is not None and endpoint not in operations:
        raise ValueError(
            f"unknown endpoint {endpoint!r}; use a Square operation name such as "
            f"AddGroupToCustomer, or leave it out to match any request: {sorted(operations)}"
        )
    status = data.get("status", 502 if kind == "html" else 500)
    if not isinstance(status, int) or not 400 <= status <= 599:
        raise ValueError(f"invalid fault status {status!r}: expected an HTTP error status 400-599")
    times = data.get("times", 1)
    if not isinstance(times, int) or times < 1:
        raise ValueError(f"invalid fault times {times!r}: expected an integer of at least 1")
    delay_ms = data.get("delay_ms", 0)
    if not isinstance(delay_ms, int | float) or delay_ms < 0:
        raise ValueError(f"invalid fault delay_ms {delay_ms!r}: expected milliseconds, at least 0")
    fault = Fault(
        kind=kind,
        status=status,
        retry_after_s=data.get("retry_after_s"),
        delay_ms=float(delay_ms),
    )
    return FaultRule(fault=fault, endpoint=data.get("endpoint"), times=times)


class TokenBucket:
    """A token bucket refilled at ``rate_per_s`` up to ``capacity`` tokens."""

    __slots__ = ("tokens", "updated_at")

    def __init__(self, capacity: float, now: float) -> None:
        self.tokens = capacity
        self.updated_at = now

    def take(self, *, rate_per_s: float, capacity: float, now: float) -> bool:
        elapsed_s = now - self.updated_at
        self.updated_at = now
        self.tokens = min(capacity, self.tokens + elapsed_s * rate_per_s)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class TrafficShaper:
    def __init__(
        self,
        settings: EmulatorSettings,
        *,
        rng: random.Random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.rules: list[FaultRule] = []
        self._rng = rng
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._started_at = clock()

    def delay_s(self) -> float:
        """Return the latency to add to the next response, in seconds."""
        settings = self.settings
        latency_ms = settings.latency_ms
        if settings.jitter_ms > 0:
            latency_ms += self._rng.uniform(0, settings.jitter_ms)
        return latency_ms / 1000

    def admit(self, seller: str) -> bool:
        """Take one token from the seller's bucket; False means answer 429."""
        rate_per_s = self.settings.rate_limit_per_s
        if rate_per_s is None:
            return True
        capacity = float(max(1, self.settings.rate_burst))
        now = self._clock()
        bucket = self._buckets.get(seller)
        if bucket is None:
            bucket = self._buckets[seller] = TokenBucket(capacity, now)
        return bucket.take(rate_per_s=rate_per_s, capacity=capacity, now=now)

    def reset_buckets(self) -> None:
        self._buckets.clear()

    def next_fault(self, operation: str) -> Fault | None:
        """Return the fault for this request: a scripted rule first, then the random rates."""
        if self.rules:
            fault = self._take_rule(operation)
            if fault is not None:
                return fault
        return self._random_fault()

    def _take_rule(self, operation: str) -> Fault | None:
        for index, rule in enumerate(self.rules):
            if rule.endpoint is not None and rule.endpoint != operation:
                continue
            rule.times -= 1
            if rule.times == 0:
                del self.rules[index]
            return rule.fault
        return None

    def _random_fault(self) -> Fault | None:
        settings = self.settings
        total = (
            settings.error_rate
            + settings.rate_limited_rate
            + settings.html_error_rate
            + settings.drop_rate
            + settings.hang_rate
        )
        if total <= 0 or not self._in_burst():
            return None

        draw = self._rng.random()
        if draw < settings.error_rate:
            return Fault(kind="status", status=self._rng.choice((500, 503)))
        draw -= settings.error_rate
        if draw < settings.rate_limited_rate:
            return Fault(kind="status", status=429, retry_after_s=settings.retry_after_s)
        draw -= settings.rate_limited_rate
        if draw < settings.html_error_rate:
            return Fault(kind="html", status=502)
        draw -= settings.html_error_rate
        if draw < settings.drop_rate:
            return Fault(kind="drop")
        draw -= settings.drop_rate
        if draw < settings.hang_rate:
            return Fault(kind="hang")
        return None

    def _in_burst(self) -> bool:
        period_s = self.settings.burst_period_s
        if period_s <= 0:
            return True
        return (self._clock() - self._started_at) % period_s < self.settings.burst_on_s
