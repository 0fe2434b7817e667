"""Synthetic sellers: N customers and G groups with a random membership distribution."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from groupsync.emulator.ids import format_timestamp, new_id
from groupsync.emulator.records import CustomerRecord
from groupsync.emulator.store import SellerStore

GIVEN_NAMES = (
    "Ada", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jamal",
    "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara",
)  # fmt: skip
FAMILY_NAMES = (
    "Adams", "Baptiste", "Chen", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito",
    "Jensen", "Kowalski", "Lopez", "Moreau", "Nguyen", "Okafor", "Petrov", "Rossi", "Silva",
)  # fmt: skip
CREATION_SOURCES = ("THIRD_PARTY", "DIRECTORY", "IMPORT", "ONLINE_STORE")
DISTRIBUTIONS = ("uniform", "zipf")
# Generated customers were created over the year before 2025-01-01, one after another.
CREATED_FROM = datetime(2024, 1, 1, tzinfo=UTC)
CREATED_SPAN_S = 365 * 24 * 3600


@dataclass
class GenerationRequest:
    customers: int
    groups: int
    memberships_per_customer: float = 1.0
    distribution: str = "uniform"
    seed: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GenerationRequest:
        """Build from admin API JSON; raise ValueError naming the invalid field."""
        request = cls(
            customers=data.get("customers", 0),
            groups=data.get("groups", 0),
            memberships_per_customer=data.get("memberships_per_customer", 1.0),
            distribution=data.get("distribution", "uniform"),
            seed=data.get("seed"),
        )
        for name in ("customers", "groups"):
            value = getattr(request, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"invalid {name} {value!r}: expected an integer of at least 0")
        mean = request.memberships_per_customer
        if not isinstance(mean, int | float) or mean < 0:
            raise ValueError(f"invalid memberships_per_customer {mean!r}: expected a number >= 0")
        if request.distribution not in DISTRIBUTIONS:
            raise ValueError(
                f"invalid distribution {request.distribution!r}; use one of {list(DISTRIBUTIONS)}"
            )
        return request


def generate(store: SellerStore, request: GenerationRequest) -> dict[str, Any]:
    """Add generated groups and customers to ``store``; return their ids and counts.

    Each customer joins a Poisson-distributed number of groups (mean
    ``memberships_per_customer``, at most G), picked uniformly or, with ``zipf``,
    with weight 1/rank so that the first groups are much larger.
    """
    rng = random.Random(request.seed)
    offset = len(store.customers)
    groups = [store.create_group(f"Generated group {i + 1}") for i in range(request.groups)]
    group_ids = [group.id for group in groups]
    weights = _group_weights(request.groups, request.distribution)

    records = []
    memberships = 0
    step_s = CREATED_SPAN_S / max(1, request.customers)
    for index in range(request.customers):
        count = min(request.groups, _poisson(rng, request.memberships_per_customer))
        chosen = _pick_groups(rng, group_ids, weights, count)
        memberships += len(chosen)
        created_at = format_timestamp(CREATED_FROM + timedelta(seconds=index * step_s))
        records.append(
            CustomerRecord(
                customer_id=new_id(rng),
                created_at=created_at,
                updated_at=created_at,
                profile=_profile(rng, offset + index),
                creation_source=rng.choice(CREATION_SOURCES),
                group_ids=chosen,
            )
        )
    store.add_loaded(records)
    return {
        "seller": store.name,
        "customers": len(records),
        "groups": len(groups),
        "memberships": memberships,
        "group_ids": group_ids,
        "customer_ids": [record.id for record in records],
    }


def _profile(rng: random.Random, number: int) -> dict[str, Any]:
    given = rng.choice(GIVEN_NAMES)
    family = rng.choice(FAMILY_NAMES)
    return {
        "given_name": given,
        "family_name": family,
        "email_address": f"{given}.{family}.{number}@example.com".lower(),
        "phone_number": f"+1555{number % 10_000_000:07d}",
        "reference_id": f"GEN-{number:07d}",
    }


def _group_weights(group_count: int, distribution: str) -> list[float] | None:
    if distribution == "uniform" or group_count == 0:
        return None
    return [1 / (rank + 1) for rank in range(group_count)]


def _pick_groups(
    rng: random.Random, group_ids: list[str], weights: list[float] | None, count: int
) -> list[str]:
    if count == 0:
        return []
    if weights is None:
        return rng.sample(group_ids, count)
    chosen: dict[str, None] = {}
    while len(chosen) < count:
        chosen[rng.choices(group_ids, weights)[0]] = None
    return list(chosen)


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; fine for the small means used here."""
    if mean <= 0:
        return 0
    limit = math.exp(-mean)
    count = 0
    product = rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
