"""Calendar connections (design.md section 11): what VerifyCalendar and
WriteCalendarEvent receive, what their checks make of it, and what a write ends as.

Plain frozen dataclasses, free of protobuf, of I/O and of the credentials' sealing, so
that the checks (calendar_validation.py) are testable on their own. The unchecked
requests keep secrets out of their reprs: a request lands in a traceback sooner or later.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from notification_service.domain.model import Mailbox, Round, Status


class CalendarAction(enum.Enum):
    PUT = "PUT"
    DELETE = "DELETE"


class WriteOutcome(enum.Enum):
    """How one write ended (WriteCalendarEventResponse.outcome)."""

    WRITTEN = "WRITTEN"
    REMOVED = "REMOVED"
    TEMPORARY_FAILURE = "TEMPORARY_FAILURE"
    CREDENTIALS_REJECTED = "CREDENTIALS_REJECTED"
    PERMANENT_FAILURE = "PERMANENT_FAILURE"


@dataclass(frozen=True)
class BasicLogin:
    """A user name and an app password, as received."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class OAuthGrant:
    """An OAuth 2.0 refresh token for `provider`, as received."""

    provider: str
    refresh_token: str = field(repr=False)


@dataclass(frozen=True)
class VerifyRequest:
    """VerifyCalendar as received; `credentials` is None when neither was given."""

    user_id: str
    url: str
    credentials: BasicLogin | OAuthGrant | None


@dataclass(frozen=True)
class ValidVerify:
    user_id: str
    url: str
    credentials: BasicLogin | OAuthGrant

    @property
    def provider(self) -> str:
        """`caldav` for a user name and password, else the OAuth provider."""
        if isinstance(self.credentials, OAuthGrant):
            return self.credentials.provider
        return "caldav"


@dataclass(frozen=True)
class CalendarWriteRequest:
    """WriteCalendarEvent as received; any field may be missing or hostile.

    The event's fields are flat, as in CalendarMessage; `action` and `status` are None
    when unspecified (or unknown: the raw number is kept for the error)."""

    user_id: str
    calendar_url: str
    sealed_credentials: bytes = field(repr=False)
    action: CalendarAction | None = None
    uid: str = ""
    sequence: int = 0
    start: datetime | None = None
    end: datetime | None = None
    title: str = ""
    description: str = ""
    status: Status | None = None
    rounds: tuple[Round, ...] = ()
    attendees: tuple[Mailbox, ...] = ()
    dtstamp: datetime | None = None
    href: str = ""
    etag: str = ""
    idempotency_key: str = ""
    unknown_action: int | None = None
    unknown_status: int | None = None


@dataclass(frozen=True)
class EventCopy:
    """A checked session as its copy in a person's calendar says it: the invitation's
    UID, SEQUENCE, DTSTAMP, times, texts and attendees. Times are aware UTC datetimes on
    whole seconds; texts are free of control characters (line feeds in `description`)."""

    uid: str
    sequence: int
    start: datetime
    end: datetime
    title: str
    description: str
    rounds: tuple[Round, ...]
    attendees: tuple[Mailbox, ...]
    dtstamp: datetime


@dataclass(frozen=True)
class ValidCalendarWrite:
    """A checked write. `copy` is set for PUT only (DELETE uses the UID alone); `href`
    and `etag` are empty when unknown."""

    user_id: str
    calendar_url: str
    sealed_credentials: bytes = field(repr=False)
    action: CalendarAction = CalendarAction.PUT
    uid: str = ""
    copy: EventCopy | None = None
    href: str = ""
    etag: str = ""
    idempotency_key: str = ""


@dataclass(frozen=True)
class CalendarCopy:
    """Where a copy lives in the calendar now (absolute URL), and its ETag if known."""

    href: str
    etag: str | None


@dataclass(frozen=True)
class CalendarWriteResult:
    """What one write did. `resealed` holds the credentials sealed anew (a newer key)
    whatever the outcome; `config_error`: this server's settings are at fault (logged
    as such), not the user's calendar."""

    outcome: WriteOutcome
    href: str = ""
    etag: str = ""
    detail: str = ""
    retry_at: datetime | None = None
    resealed: bytes = field(default=b"", repr=False)
    config_error: bool = False
