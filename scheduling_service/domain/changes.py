"""The kinds of change to a room: what the change log records and WatchRooms streams."""

from __future__ import annotations

import enum


class Change(enum.Enum):
    """Kinds of change recorded in the room change log (WatchRooms event types)."""

    CREATED = "CREATED"
    BOOKED = "BOOKED"
    LEFT = "LEFT"
    RESCHEDULED = "RESCHEDULED"
    CANCELLED = "CANCELLED"
    # The waitlist changed (a join or a leave, a hold begun, passed on or ended).
    WAITLIST = "WAITLIST"
