"""What a change to a room is, and how writing it ended.

Every change (create, book, leave, reschedule, cancel) is written under a guard: the
room must still be the version the rules were applied to. When another change got there
first, nothing of this one is written and the room as it now stands comes back, so the
rules can decide again without another read.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from scheduling_service.domain.room import Room


class Change(enum.Enum):
    """Kinds of change recorded in the room change log (WatchRooms event types)."""

    CREATED = "CREATED"
    BOOKED = "BOOKED"
    LEFT = "LEFT"
    RESCHEDULED = "RESCHEDULED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True)
class Written:
    """How a unit of work's commit ended.

    `applied`: the guard held and everything was committed; `revision` is the change's
    change-log position (0 when the work recorded no change). Otherwise nothing was
    written and `current` is the room as it stands now (None if it is gone).
    """

    applied: bool
    revision: int = 0
    current: Room | None = None
