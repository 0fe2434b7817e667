"""Benchmark scenarios: a seller and a desired state that differ by known numbers of
adds, removes and people to create.

The seller (customers with group memberships) is loaded into the emulator; the desired
state becomes rows of ``desired_memberships``. The benchmarks in bench/ and the call-count
tests in tests/perf build them with :func:`build_scenario`.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

CREATED_FROM_S = 1_704_067_200  # 2024-01-01T00:00:00Z


@dataclass(frozen=True)
class ScenarioSize:
    customers: int
    groups: int
    memberships: int
    adds: int
    removes: int
    creates: int


@dataclass
class Scenario:
    """A seller state for the emulator and the desired rows that differ from it."""

    size: ScenarioSize
    group_names: list[str]
    customers: list[dict[str, Any]]
    # (group name, email) per desired membership.
    desired: list[tuple[str, str]]
    groups: list[dict[str, Any]] = field(default_factory=list)


def build_scenario(size: ScenarioSize, *, seed: int = 7) -> Scenario:
    """Return a scenario whose sync needs exactly ``size.adds`` adds (``size.creates`` of
    them for new people), ``size.removes`` removes and ``size.creates`` creations."""
    rng = random.Random(seed)
    group_names = [f"Bench group {index + 1}" for index in range(size.groups)]
    group_ids = [f"BENCHGROUP{index:016d}" for index in range(size.groups)]
    emails = [f"customer{index}@example.com" for index in range(size.customers)]

    existing_pairs = size.memberships - size.creates
    per_group = existing_pairs // size.groups
    if per_group > size.customers:
        raise ValueError("more memberships per group than customers")
    desired_pairs: list[tuple[int, int]] = []
    for group in range(size.groups):
        count = per_group + (1 if group < existing_pairs % size.groups else 0)
        desired_pairs.extend(
            (group, customer) for customer in rng.sample(range(size.customers), count)
        )
    missing = set(rng.sample(range(len(desired_pairs)), size.adds - size.creates))
    present = {pair for index, pair in enumerate(desired_pairs) if index not in missing}

    desired_set = set(desired_pairs)
    extra: set[tuple[int, int]] = set()
    while len(extra) < size.removes:
        pair = (rng.randrange(size.groups), rng.randrange(size.customers))
        if pair not in desired_set:
            extra.add(pair)

    memberships: dict[int, list[str]] = {}
    for group, customer in present | extra:
        memberships.setdefault(customer, []).append(group_ids[group])
    step_s = 365 * 24 * 3600 / max(1, size.customers)
    customers = [
        {
            "id": f"BENCHCUSTOMER{index:013d}",
            "given_name": "Bench",
            "family_name": f"Customer {index}",
            "email_address": emails[index],
            "phone_number": f"+1555{index % 10_000_000:07d}",
            "reference_id": f"BENCH-{index:07d}",
            "created_at": _timestamp(CREATED_FROM_S + index * step_s),
            "updated_at": _timestamp(CREATED_FROM_S + index * step_s),
            "group_ids": memberships.get(index, []),
        }
        for index in range(size.customers)
    ]
    desired = [(group_names[group], emails[customer]) for group, customer in desired_pairs]
    for index in range(size.creates):
        desired.append((group_names[index % size.groups], f"new{index}@example.com"))
    groups = [
        {"id": group_id, "name": name}
        for group_id, name in zip(group_ids, group_names, strict=True)
    ]
    return Scenario(size, group_names, customers, desired, groups)


def _timestamp(seconds: float) -> str:
    moment = time.gmtime(seconds)
    return time.strftime("%Y-%m-%dT%H:%M:%S", moment) + f".{int(seconds * 1000) % 1000:03d}Z"
