"""Domain types: what an invite or a reminder is, before and after rendering.

Plain frozen dataclasses, free of protobuf and of I/O, so that rendering and
validation are testable on their own. `CalendarMessage` (an invite, named as in the
API) and `ReminderMessage` are what the caller sent (unchecked); invite_validation and
reminder_validation turn them into `ValidInvite` and `ValidReminder`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


class Method(enum.Enum):
    REQUEST = "REQUEST"
    CANCEL = "CANCEL"


class Status(enum.Enum):
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"


class Change(enum.Enum):
    """What happened to the session: chooses the subject and the first lines."""

    BOOKED = "BOOKED"
    RESCHEDULED = "RESCHEDULED"
    GUEST_LEFT = "GUEST_LEFT"
    CANCELLED = "CANCELLED"


class Outcome(enum.Enum):
    DELIVERED = "DELIVERED"
    TEMPORARY_FAILURE = "TEMPORARY_FAILURE"
    PERMANENT_FAILURE = "PERMANENT_FAILURE"
    DRY_RUN = "DRY_RUN"


@dataclass(frozen=True)
class Mailbox:
    address: str
    name: str = ""

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


@dataclass(frozen=True)
class Round:
    number: int
    topic: str


@dataclass(frozen=True)
class CalendarMessage:
    """The request as received; any field may be missing or hostile.

    `method` and `status` are None when unspecified (or unknown); times are None
    when unset.
    """

    method: Method | None
    uid: str
    sequence: int
    start: datetime | None
    end: datetime | None
    title: str
    description: str
    status: Status | None
    cancel_reason: str
    organizer: Mailbox | None
    attendees: tuple[Mailbox, ...]
    recipient: Mailbox
    time_zone: str
    dtstamp: datetime | None
    idempotency_key: str = ""
    uninvite: bool = False
    # None when unspecified: derived from the method (see invite_validation).
    change: Change | None = None
    rounds: tuple[Round, ...] = ()
    previous_start: datetime | None = None
    previous_end: datetime | None = None
    departed: Mailbox | None = None
    # Raw enum numbers the caller sent that match no known value, for the error.
    unknown_method: int | None = None
    unknown_status: int | None = None
    unknown_change: int | None = None


@dataclass(frozen=True)
class ValidInvite:
    """A checked invite: safe to put in headers and ICS lines.

    Times are aware UTC datetimes on whole seconds; `status` is what goes in
    STATUS (None on an uninvite); `attendees` are the ATTENDEEs to list.
    """

    method: Method
    uid: str
    sequence: int
    start: datetime
    end: datetime
    title: str
    description: str
    status: Status | None
    cancel_reason: str
    organizer: Mailbox | None
    attendees: tuple[Mailbox, ...]
    recipient: Mailbox
    zone: ZoneInfo
    dtstamp: datetime
    idempotency_key: str
    uninvite: bool
    change: Change
    rounds: tuple[Round, ...]
    # Both or neither; only with Change.RESCHEDULED.
    previous_start: datetime | None
    previous_end: datetime | None
    # Only with Change.GUEST_LEFT.
    departed: Mailbox | None


@dataclass(frozen=True)
class ReminderMessage:
    """A reminder request as received; any field may be missing or hostile."""

    uid: str
    start: datetime | None
    end: datetime | None
    title: str
    description: str
    rounds: tuple[Round, ...]
    recipient: Mailbox
    time_zone: str
    participants: tuple[Mailbox, ...]
    offset: timedelta | None
    send_time: datetime | None
    due_time: datetime | None
    idempotency_key: str = ""


@dataclass(frozen=True)
class ValidReminder:
    """A checked reminder; times are aware UTC datetimes on whole seconds.

    `other` is the participant the session is with (None when the request names
    no one but the recipient).
    """

    uid: str
    start: datetime
    end: datetime
    title: str
    description: str
    rounds: tuple[Round, ...]
    recipient: Mailbox
    zone: ZoneInfo
    other: Mailbox | None
    offset: timedelta
    send_time: datetime
    due_time: datetime
    idempotency_key: str


@dataclass(frozen=True)
class RenderedMessage:
    """A mail ready to send, with what the log lines say about it."""

    kind: str  # "invite" or "reminder"
    message_id: str
    sender: str
    recipient: str
    mime: bytes
    uid: str
    idempotency_key: str
    # Invites only.
    ics: bytes = b""
    sequence: int | None = None
    method: Method | None = None
    uninvite: bool = False


@dataclass(frozen=True)
class DeliveryResult:
    outcome: Outcome
    detail: str = ""
    # The relay's reply code, when there was one.
    smtp_code: int | None = None
    # Authentication/TLS trouble: retrying will not help until someone fixes
    # the settings, but the message must not be thrown away either.
    config_error: bool = False
