"""Guards against large removals: a plan that would remove too many members is held.

A group's removals are held when they exceed ``max_removals``, exceed
``max_removal_share`` of the group's members, or would empty a non-empty group. Held
removals are dropped from the plan; the group's adds still go ahead.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GuardLimits:
    """The thresholds above which a group's removals are held."""

    max_removal_share: float
    max_removals: int


def hold_reason(*, members: int, removes: int, limits: GuardLimits) -> str | None:
    """Return why removing ``removes`` of ``members`` must be held, or None if it may go ahead."""
    if removes == 0:
        return None
    if members > 0 and removes >= members:
        return f"the plan would remove all {members} members of the group"
    if removes > limits.max_removals:
        return (
            f"the plan would remove {removes} members, more than max_removals "
            f"({limits.max_removals})"
        )
    if removes > limits.max_removal_share * members:
        return (
            f"the plan would remove {removes} of {members} members, more than "
            f"max_removal_share ({limits.max_removal_share:.0%})"
        )
    return None
