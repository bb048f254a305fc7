"""Messages waiting in the notification outbox, and how an attempt to deliver one ended.

What a change records in the outbox is decided in outbox_writes.py; whether a reminder
that came due is still sent, in reminders.py.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime


class Outcome(enum.Enum):
    """The notification service's verdict on one attempt."""

    DELIVERED = "DELIVERED"
    DRY_RUN = "DRY_RUN"
    TEMPORARY_FAILURE = "TEMPORARY_FAILURE"
    PERMANENT_FAILURE = "PERMANENT_FAILURE"


class State(enum.Enum):
    """Where a message stands in the outbox."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    SKIPPED = "skipped"  # never sent: no address known for the recipient
    DROPPED = "dropped"  # a reminder that no longer fit the room when it came due


@dataclass(frozen=True)
class DueReminder:
    """A reminder that came due, with its room as it stands now (`room_starts` None: the
    room is gone); reminders.why_not_send decides whether it still goes."""

    recipient_id: str
    starts: datetime  # the start it was written for
    room_starts: datetime | None
    participants: tuple[str, ...]


@dataclass(frozen=True)
class Claimed:
    """A message claimed under a lease, ready to deliver; `payload` is opaque here
    (the notification client knows its format)."""

    id: int
    room_id: uuid.UUID
    ics_uid: str
    sequence: int
    method: str
    recipient_id: str
    attempts: int
    payload: bytes
    # A reminder, with the room as it stands now: checked again before it is sent.
    reminder: DueReminder | None = None
    # 'invite', 'reminder', 'notice' (a user's calendar connection broke) or 'waitlist'
    # (an offer to a room's new holder, or its cancel told to those waiting).
    kind: str = "invite"


@dataclass(frozen=True)
class Attempt:
    outcome: Outcome
    message_id: str
    detail: str


@dataclass(frozen=True)
class Finished:
    """An attempt's result, to record while holding the lease (`token`)."""

    claimed: Claimed
    token: uuid.UUID
    state: State
    outcome: Outcome | None
    error: str | None
    message_id: str | None
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class FailedMessage:
    id: int
    room_id: uuid.UUID
    ics_uid: str
    sequence: int
    method: str
    recipient_id: str
    attempts: int
    last_error: str | None
    update_time: datetime


@dataclass(frozen=True)
class FailedCopy:
    """A calendar copy given up on (domain/calendar.py)."""

    room_id: uuid.UUID
    user_id: str
    ics_uid: str
    attempts: int
    last_error: str | None
    update_time: datetime


@dataclass(frozen=True)
class OutboxStats:
    pending: int
    failed: int
    oldest_pending_s: float
