"""Domain types: what a calendar message is, before and after rendering.

Plain frozen dataclasses, free of protobuf and of I/O, so that rendering and
validation are testable on their own. `CalendarMessage` is what the caller sent
(unchecked); `validation.validate` turns it into a `ValidMessage`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo


class Method(enum.Enum):
    REQUEST = "REQUEST"
    CANCEL = "CANCEL"


class Status(enum.Enum):
    CONFIRMED = "CONFIRMED"
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
    # Raw enum numbers the caller sent that match no known value, for the error.
    unknown_method: int | None = None
    unknown_status: int | None = None


@dataclass(frozen=True)
class ValidMessage:
    """A checked message: safe to put in headers and ICS lines.

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


@dataclass(frozen=True)
class RenderedMessage:
    message_id: str
    sender: str
    recipient: str
    mime: bytes
    ics: bytes
    # Copied from the request for log lines.
    uid: str
    sequence: int
    method: Method
    uninvite: bool
    idempotency_key: str


@dataclass(frozen=True)
class DeliveryResult:
    outcome: Outcome
    detail: str = ""
    # The relay's reply code, when there was one.
    smtp_code: int | None = None
    # Authentication/TLS trouble: retrying will not help until someone fixes
    # the settings, but the message must not be thrown away either.
    config_error: bool = False
