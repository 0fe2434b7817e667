"""Plan files: a dry run's plan saved by ``groupsync plan`` and applied by ``groupsync apply``.

A plan file is JSON. Beside the full list of changes it stores, per group, three SHA-256
fingerprints: of the desired state (each staged person key with the customer it resolved
to), of the snapshot (the member ids Square reported), and of the group's changes. Before
``apply`` sends anything, the run computes the same fingerprints again and rejects the plan
when any differs, naming each group and whether the desired state or Square moved. When
none differs, the run's own plan is the saved plan, change for change.

A plan is saved only when it can be applied exactly: a dry run creates no customers and no
groups, so a plan made while people still need a Square customer, or a managed group still
needs creating, is rejected with a message to run ``groupsync sync`` first.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from groupsync.db.queries import QUERIES
from groupsync.engine.desired import ManagedGroup
from groupsync.engine.report import PlannedChange, RunReport
from groupsync.errors import InputError

FORMAT = "groupsync-plan"
FORMAT_VERSION = 1
# Rows fetched per round trip while fingerprinting the run's working sets.
FETCH_ROWS = 10_000


class PlanFileError(InputError):
    """A plan file is missing, unreadable, of another format or version, or edited."""


@dataclass(frozen=True)
class PlannedGroup:
    """One group of a plan with the fingerprints of what the plan was computed from."""

    name: str
    square_group_id: str
    mode: str
    desired_sha256: str
    snapshot_sha256: str
    changes_sha256: str
    adds: int
    removes: int


@dataclass(frozen=True)
class SavedPlan:
    """The contents of a plan file."""

    account: str
    created_at: str
    run_id: int
    only_groups: list[str] | None
    allow_mass_removal: bool
    groups: list[PlannedGroup]
    changes: list[PlannedChange]

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": FORMAT_VERSION, **asdict(self)}


def write_plan(plan: SavedPlan, path: Path) -> None:
    """Write ``plan`` to ``path`` as JSON, replacing the file only once it is complete."""
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as file:
        json.dump(plan.to_dict(), file, indent=1)
        file.write("\n")
    partial.replace(path)


def read_plan(path: Path) -> SavedPlan:
    """Read a plan file; raise PlanFileError saying what is wrong with it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise PlanFileError(f"plan file {path} not found: check the path") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PlanFileError(f"cannot read plan file {path}: {error}") from error

    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PlanFileError(f"{path} is not a groupsync plan file (made by `groupsync plan`)")
    if data.get("version") != FORMAT_VERSION:
        raise PlanFileError(
            f"plan file {path} has format version {data.get('version')!r}; this groupsync "
            f"reads version {FORMAT_VERSION}: make the plan again with this version"
        )
    try:
        plan = _plan_from_dict(data)
    except (KeyError, TypeError, ValueError) as error:
        raise PlanFileError(f"plan file {path} is incomplete or invalid: {error!r}") from error

    _check_integrity(plan, path)
    return plan


def _plan_from_dict(data: dict[str, Any]) -> SavedPlan:
    only_groups = data["only_groups"]
    return SavedPlan(
        account=str(data["account"]),
        created_at=str(data["created_at"]),
        run_id=int(data["run_id"]),
        only_groups=None if only_groups is None else [str(name) for name in only_groups],
        allow_mass_removal=bool(data["allow_mass_removal"]),
        groups=[PlannedGroup(**group) for group in data["groups"]],
        changes=[PlannedChange(**change) for change in data["changes"]],
    )


def _check_integrity(plan: SavedPlan, path: Path) -> None:
    """Reject a file whose change list no longer matches its own fingerprints."""
    hashes = _changes_hashes(
        (change.group_name, change.kind, change.square_customer_id) for change in plan.changes
    )
    for group in plan.groups:
        if hashes.hexdigest(group.name) != group.changes_sha256:
            raise PlanFileError(
                f"plan file {path}: the changes of group {group.name!r} do not match their "
                "fingerprint, so the file was edited: make the plan again"
            )
    unknown = sorted(hashes.keys() - {group.name for group in plan.groups})
    if unknown:
        raise PlanFileError(
            f"plan file {path} has changes for groups it does not list "
            f"({', '.join(map(repr, unknown))}), so the file was edited: make the plan again"
        )


def unsaveable_reasons(report: RunReport, groups: Sequence[ManagedGroup]) -> list[str]:
    """Return why the dry run's plan cannot be applied exactly later; empty when it can."""
    reasons = []
    if report.errors:
        reasons.append(f"the dry run reported {len(report.errors)} error(s): fix them first")
    if report.planned_creates:
        reasons.append(
            f"{report.planned_creates} people have no Square customer yet, and a plan does "
            "not create customers: run `groupsync sync` first, then make the plan again"
        )
    to_create = sorted(group.name for group in groups if not group.square_group_id)
    if to_create:
        reasons.append(
            f"group(s) {', '.join(map(repr, to_create))} do not exist in Square yet, and a "
            "plan does not create groups: run `groupsync sync` first, then make the plan again"
        )
    return reasons


async def capture_plan(
    pool: asyncpg.Pool,
    *,
    run_id: int,
    account: str,
    groups: Sequence[ManagedGroup],
    only_groups: Iterable[str] | None,
    allow_mass_removal: bool,
) -> SavedPlan:
    """Return the run's plan with the fingerprints of ``groups``, as a plan file stores it."""
    planned = await current_groups(pool, run_id=run_id, account=account, groups=groups)
    async with pool.acquire() as conn:
        rows = await conn.fetch(QUERIES["plan_changes"], run_id)
    return SavedPlan(
        account=account,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        run_id=run_id,
        only_groups=None if only_groups is None else sorted(only_groups),
        allow_mass_removal=allow_mass_removal,
        groups=list(planned.values()),
        changes=[PlannedChange(**dict(row)) for row in rows],
    )


async def current_groups(
    pool: asyncpg.Pool, *, run_id: int, account: str, groups: Sequence[ManagedGroup]
) -> dict[str, PlannedGroup]:
    """Fingerprint the desired state, snapshot and plan of each group of the run."""
    desired = _Hashes()
    snapshot = _Hashes()
    changes: list[tuple[str, str, str]] = []
    async with pool.acquire() as conn, conn.transaction():
        desired_rows = conn.cursor(
            QUERIES["plan_desired_rows"], run_id, account, prefetch=FETCH_ROWS
        )
        async for row in desired_rows:
            desired.add(
                row["group_name"], f"{row['person_key']}\t{row['square_customer_id'] or ''}"
            )

        async for row in conn.cursor(QUERIES["plan_snapshot_rows"], run_id, prefetch=FETCH_ROWS):
            snapshot.add(row["square_group_id"], row["square_customer_id"])

        async for row in conn.cursor(QUERIES["plan_changes"], run_id, prefetch=FETCH_ROWS):
            changes.append((row["group_name"], row["kind"], row["square_customer_id"]))

    change_hashes = _changes_hashes(changes)
    change_counts = Counter((name, kind) for name, kind, _customer in changes)
    current = {}
    for group in sorted(groups, key=lambda group: group.name):
        assert group.square_group_id is not None
        current[group.name] = PlannedGroup(
            name=group.name,
            square_group_id=group.square_group_id,
            mode=group.mode,
            desired_sha256=desired.hexdigest(group.name),
            snapshot_sha256=snapshot.hexdigest(group.square_group_id),
            changes_sha256=change_hashes.hexdigest(group.name),
            adds=change_counts[(group.name, "add")],
            removes=change_counts[(group.name, "remove")],
        )
    return current


def plan_differences(saved: SavedPlan, current: dict[str, PlannedGroup]) -> list[str]:
    """Name each group whose desired state, Square state or changes moved since ``saved``."""
    differences = []
    saved_groups = {group.name: group for group in saved.groups}
    for name in sorted(saved_groups.keys() | current.keys()):
        before = saved_groups.get(name)
        now = current.get(name)
        if before is None:
            differences.append(f"group {name!r}: managed now but not in the plan")
        elif now is None:
            differences.append(
                f"group {name!r}: in the plan but not part of this run (it is no longer "
                "managed, or it has an error now)"
            )
        else:
            difference = _group_difference(before, now)
            if difference:
                differences.append(f"group {name!r}: {difference}")
    return differences


def _group_difference(before: PlannedGroup, now: PlannedGroup) -> str | None:
    if before.square_group_id != now.square_group_id:
        return (
            f"Square moved: the group is now {now.square_group_id} "
            f"(the plan has {before.square_group_id})"
        )
    moved = []
    if before.desired_sha256 != now.desired_sha256:
        moved.append("the desired state")
    if before.snapshot_sha256 != now.snapshot_sha256:
        moved.append("Square (the group's members)")
    if moved:
        return " and ".join(moved) + " moved since the plan was made"
    if before.changes_sha256 != now.changes_sha256:
        return (
            "the changes computed now differ from the plan although neither side moved "
            "(a change applied within sync.applied_change_window_s, or other guard settings)"
        )
    return None


class _Hashes:
    """One SHA-256 per key over the lines added for it, in the order added."""

    def __init__(self) -> None:
        self._hashers: dict[str, Any] = {}

    def add(self, key: str, line: str) -> None:
        hasher = self._hashers.get(key)
        if hasher is None:
            hasher = self._hashers[key] = hashlib.sha256()
        hasher.update(line.encode() + b"\n")

    def hexdigest(self, key: str) -> str:
        hasher = self._hashers.get(key)
        return (hasher or hashlib.sha256()).hexdigest()

    def keys(self) -> set[str]:
        return set(self._hashers)


def _changes_hashes(changes: Iterable[tuple[str, str, str]]) -> _Hashes:
    hashes = _Hashes()
    for group_name, kind, customer_id in sorted(changes):
        hashes.add(group_name, f"{kind}\t{customer_id}")
    return hashes
