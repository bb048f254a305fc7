"""Every error of the notification service, drawn once, here.

    NotificationError            the base: nothing else is raised on purpose
    ├── InvalidMessage           the request is wrong; `violations` names each bad field
    ├── UnrenderableMessage      the request validated, but the mail rendered from it is
    │                            not provably what was meant (the structural check refused
    │                            it, or a renderer failed on it): it is never sent
    ├── Unauthenticated          no service token, or the wrong one
    ├── CalendarSyncDisabled     calendar connections are not configured here (no
    │                            CALENDAR_SEAL_KEYS, or `google` without its OAuth client)
    └── CalendarError            a calendar check or write failed (delivery/calendar/)
        ├── CalendarUrlNotAllowed      the user's URL (or a redirect, or a discovered href)
        │                              breaks the address rules: refused before connecting
        ├── CalendarAuthRejected       401/403, or an OAuth `invalid_grant`: the
        │   │                          connection turns BROKEN
        │   └── CalendarTokenEndpointError  the OAuth token endpoint refused our client
        │                              or answered unreadably: most likely our own
        │                              GOOGLE_OAUTH_* settings, not the user's grant
        ├── CalendarTemporaryFailure   5xx, network errors: back off and retry
        │   ├── CalendarTimeout        connect/read timeout, or the total time cap
        │   └── CalendarRetryLater     429/503 with a Retry-After: retry at `retry_at`
        └── CalendarPermanentFailure   other 4xx: the job fails for good
            ├── CalendarProtocolError  a hostile or broken answer: an XML bomb, a body
            │                          over the cap, malformed XML, too many redirects
            ├── CalendarNotFound       discovery found no collection that takes VEVENT
            └── CalendarNotWritable    ... only collections the user may not write

entrypoints/status.py maps each to a gRPC status. VerifyCalendar raises the calendar
errors (a CalendarError's `reason` is the name design.md section 11 gives the failure,
ConnectCalendar's reasons; `status` is the HTTP status when there was one);
WriteCalendarEvent reports them as an outcome instead (service_layer/calendars.py). Two
kinds of failure are not here on purpose: a bad setting is servicekit's `ConfigError` (shared
with the scheduling service, it stops `serve` before any request), and a failed mail
delivery is never raised: a provider returns it as a `DeliveryResult` (domain/model.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class NotificationError(Exception):
    """Base of the service's domain errors."""


class InvalidMessage(NotificationError):
    """The request cannot be rendered; `violations` names each bad field."""

    def __init__(self, violations: list[FieldViolation]) -> None:
        self.violations = tuple(violations)
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))


class UnrenderableMessage(NotificationError):
    """The rendered mail is not provably what was meant; it must not be sent."""

    def __init__(self, detail: str, *, message_id: str = "") -> None:
        self.detail = detail
        self.message_id = message_id
        super().__init__(detail)


class Unauthenticated(NotificationError):
    """No service token, or the wrong one."""


class CalendarSyncDisabled(NotificationError):
    """Calendar connections are not configured on this server (FAILED_PRECONDITION)."""

    reason = "CALENDAR_SYNC_DISABLED"

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class CalendarError(NotificationError):
    """Base of the calendar failures; `status` is the HTTP status when there was one."""

    reason = "CALENDAR_UNREACHABLE"

    def __init__(self, detail: str, *, status: int | None = None) -> None:
        self.detail = detail
        self.status = status
        super().__init__(detail)


class CalendarUrlNotAllowed(CalendarError):
    reason = "CALENDAR_URL_NOT_ALLOWED"


class CalendarAuthRejected(CalendarError):
    reason = "CALENDAR_AUTH_REJECTED"


class CalendarTokenEndpointError(CalendarAuthRejected):
    """The token endpoint refused the refresh for a reason other than `invalid_grant`
    (`invalid_client`, another 4xx), or its answer was not a token response. A check
    (VerifyCalendar) says CALENDAR_AUTH_REJECTED; a write is a temporary failure logged
    as a configuration error, since the user's connection is not what is broken."""


class CalendarTemporaryFailure(CalendarError):
    reason = "CALENDAR_UNREACHABLE"


class CalendarTimeout(CalendarTemporaryFailure):
    pass


class CalendarRetryLater(CalendarTemporaryFailure):
    def __init__(self, detail: str, *, retry_at: datetime, status: int | None = None) -> None:
        self.retry_at = retry_at
        super().__init__(detail, status=status)


class CalendarPermanentFailure(CalendarError):
    reason = "CALENDAR_UNREACHABLE"


class CalendarProtocolError(CalendarPermanentFailure):
    pass


class CalendarNotFound(CalendarPermanentFailure):
    reason = "CALENDAR_NOT_FOUND"


class CalendarNotWritable(CalendarPermanentFailure):
    reason = "CALENDAR_NOT_WRITABLE"
