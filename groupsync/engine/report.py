"""The report of a run: counts, per-group outcomes and the final status."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class RunCounts:
    """The counters recorded in ``sync_runs`` and in the ``sync_run_finished`` log line."""

    groups: int = 0
    reads: int = 0
    adds: int = 0
    removes: int = 0
    creates: int = 0
    rejected: int = 0
    failed: int = 0
    held_groups: int = 0
    api_calls: int = 0
    retries: int = 0
    rate_limited: int = 0


@dataclass
class GroupOutcome:
    """One managed group's outcome in a run."""

    name: str
    mode: str
    square_group_id: str | None = None
    members: int | None = None
    planned_adds: int = 0
    planned_removes: int = 0
    adds: int = 0
    removes: int = 0
    failed: int = 0
    read_complete: bool = False
    held: bool = False
    # Why the guards held the group's removals; planned_removes still counts them.
    hold_reason: str | None = None
    # A dry run found no Square group for it: a real run would create the group.
    would_create_group: bool = False
    error: str | None = None


@dataclass
class PlannedChange:
    """One membership change of a dry run's plan."""

    kind: str
    group_name: str
    square_group_id: str
    square_customer_id: str
    # The person the customer is linked to, such as "email:ada@example.com", when known.
    person_key: str | None = None


@dataclass
class RunReport:
    """The result of one run, as shown by ``groupsync sync`` and recorded in ``sync_runs``."""

    run_id: int
    account: str
    trigger: str
    dry_run: bool
    status: str = "running"
    duration_s: float = 0.0
    counts: RunCounts = field(default_factory=RunCounts)
    groups: dict[str, GroupOutcome] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    # True when the run stopped because Square could not be reached at all.
    square_unreachable: bool = False
    # Customers a dry run would create; a real run counts them in counts.creates.
    planned_creates: int = 0
    plan: list[PlannedChange] = field(default_factory=list)
    # Seconds each step took, by step name in the order the steps ran. A step that failed
    # is included, and the steps after a failure or a stop are absent.
    step_durations_s: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["groups"] = [asdict(outcome) for outcome in self.groups.values()]
        return data
