"""Reminder e-mails before a booked session (docs/design.md §9). Pure: no I/O.

Each participant of a booked room is reminded at each of the room's offsets before its
start. Reminders are written with the change that makes them right and removed with the
change that makes them wrong, in the same transaction: a booking writes them, a
reschedule moves them (removes, writes anew), a leave or a cancel removes them. An
offset already past when they are written is skipped. When one comes due, it is checked
once more against the room as it stands, right before it is handed to the notification
service, and no change to the room commits until that hand-off is over (the relay holds
the room): what no longer fits is dropped, never sent.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduling_service.domain.changes import Change
from scheduling_service.domain.outbox import DueReminder
from scheduling_service.domain.room import Room


@dataclass(frozen=True)
class Reminder:
    recipient_id: str
    offset: timedelta
    starts: datetime  # the start it is for: checked again when it comes due

    @property
    def due(self) -> datetime:
        return self.starts - self.offset


@dataclass(frozen=True)
class ReminderPlan:
    """What a change does to a room's reminders: drop the ones waiting, write these."""

    remove_pending: bool
    add: tuple[Reminder, ...]

    @property
    def changes_anything(self) -> bool:
        return self.remove_pending or bool(self.add)


NOTHING = ReminderPlan(remove_pending=False, add=())


def plan(change: Change, before: Room | None, after: Room, now: datetime) -> ReminderPlan:
    if change is Change.BOOKED:
        return ReminderPlan(remove_pending=False, add=_for(after, now))
    if change is Change.RESCHEDULED:
        if after.is_open:
            return NOTHING  # nobody to remind; a booking writes them
        return ReminderPlan(remove_pending=True, add=_for(after, now))
    if change in (Change.LEFT, Change.CANCELLED):
        # An open room has no session to remind of; a new booking writes them anew.
        return ReminderPlan(remove_pending=True, add=())
    return NOTHING


def _for(room: Room, now: datetime) -> tuple[Reminder, ...]:
    return tuple(
        Reminder(user, offset, room.starts)
        for offset in room.reminder_offsets
        if room.starts - offset > now  # already past: skipped, no burst of stale mail
        for user in room.participants
    )


class Dropped(enum.Enum):
    """Why a reminder that came due was not sent."""

    ROOM_GONE = "room_gone"
    MOVED = "moved"
    NOT_A_PARTICIPANT = "not_a_participant"
    TOO_LATE = "too_late"


def why_not_send(due: DueReminder, now: datetime) -> Dropped | None:
    """None when the reminder still fits the room and can reach the person in time."""
    if due.room_starts is None:
        return Dropped.ROOM_GONE
    if due.room_starts != due.starts:
        return Dropped.MOVED
    if due.recipient_id not in due.participants:
        return Dropped.NOT_A_PARTICIPANT
    if now >= due.starts:
        return Dropped.TOO_LATE
    return None
