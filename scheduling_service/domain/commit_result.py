"""How a unit of work's commit ended.

Every change (create, book, leave, reschedule, cancel) is written under a guard: a
conditional write that applies only if the room is still the version the rules were
applied to. When another change got there first, nothing of this one is written and the
room as it now stands comes back, so the rules can decide again without another read.
"""

from __future__ import annotations

from dataclasses import dataclass

from scheduling_service.domain.room import Room


@dataclass(frozen=True)
class CommitResult:
    """`applied`: the guard held and everything was committed; `revision` is the
    change's change-log position (0 when the work recorded no change). Otherwise nothing
    was written and `current` is the room as it stands now (None if it is gone)."""

    applied: bool
    revision: int = 0
    current: Room | None = None
