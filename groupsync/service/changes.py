"""Change notifications and their debouncing.

Triggers on ``desired_memberships`` and ``managed_groups`` send ``{"account": ..., "groups":
[...]}`` on :data:`CHANGE_CHANNEL` when a statement commits; ``"groups": null`` means every
group of the account. A :class:`ChangeBatch` collects the groups of one account until no
notification has come for ``debounce_s``, or ``max_wait_s`` after the first one, so a burst
of statements makes one run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

# The channel name is fixed in the triggers of migration 0002.
CHANGE_CHANNEL = "groupsync_changes"


@dataclass(frozen=True)
class ChangeNotice:
    """One notification: the account and the changed groups (None: all of them)."""

    account: str
    groups: frozenset[str] | None


def parse_change(payload: str) -> ChangeNotice | None:
    """Return the notice in ``payload``, or None when the payload is not one."""
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("account"), str):
        return None

    groups = data.get("groups")
    if groups is None:
        return ChangeNotice(account=data["account"], groups=None)
    if not isinstance(groups, list) or not all(isinstance(name, str) for name in groups):
        return None
    return ChangeNotice(account=data["account"], groups=frozenset(groups))


def change_payload(account: str, groups: frozenset[str] | None) -> str:
    """Return the payload the triggers send, for senders outside the database."""
    names = None if groups is None else sorted(groups)
    return json.dumps({"account": account, "groups": names})


@dataclass
class ChangeBatch:
    """Groups waiting for a change run, and when that run is due. Times are monotonic seconds."""

    debounce_s: float
    max_wait_s: float
    groups: set[str] = field(default_factory=set)
    all_groups: bool = False
    first_at: float | None = None
    last_at: float | None = None

    @property
    def pending(self) -> bool:
        return self.first_at is not None

    def add(self, groups: frozenset[str] | None, *, now: float) -> None:
        if groups is None:
            self.all_groups = True
        else:
            self.groups |= groups
        if self.first_at is None:
            self.first_at = now
        self.last_at = now

    def due_at(self) -> float | None:
        """Return when the run is due, or None when nothing is pending."""
        if self.first_at is None or self.last_at is None:
            return None
        return min(self.last_at + self.debounce_s, self.first_at + self.max_wait_s)

    def take(self) -> frozenset[str] | None:
        """Return the groups to run (None: all groups) and empty the batch."""
        groups = None if self.all_groups else frozenset(self.groups)
        self.clear()
        return groups

    def clear(self) -> None:
        self.groups = set()
        self.all_groups = False
        self.first_at = None
        self.last_at = None
