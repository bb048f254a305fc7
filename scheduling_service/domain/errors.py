"""Every error a caller of the scheduling service can get, drawn once, here.

The gRPC layer maps each class to a status code; `reason` is the google.rpc.ErrorInfo
reason the API promises for the case (docs/design.md §2).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class SchedulingError(Exception):
    """Base of every rule violation a caller can cause."""

    reason = "SCHEDULING_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(SchedulingError):
    reason = "INVALID_ARGUMENT"

    def __init__(self, violations: list[FieldViolation]) -> None:
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))
        self.violations = violations


class Unauthenticated(SchedulingError):
    reason = "UNAUTHENTICATED"


class PermissionDenied(SchedulingError):
    """The caller is not the participant the action needs."""


class NotRoomHost(PermissionDenied):
    reason = "NOT_ROOM_HOST"


class NotRoomGuest(PermissionDenied):
    reason = "NOT_ROOM_GUEST"


class NotOwnSchedule(PermissionDenied):
    """A `participant_id` filter naming someone else, without the trusted scope."""

    reason = "NOT_OWN_SCHEDULE"


class RoomNotFound(SchedulingError):
    reason = "ROOM_NOT_FOUND"


class Conflict(SchedulingError):
    """The change collides with the state another change left."""


class RoomAlreadyBooked(Conflict):
    reason = "ROOM_ALREADY_BOOKED"


class ScheduleConflict(Conflict):
    reason = "SCHEDULE_CONFLICT"


class CalendarBusy(Conflict):
    """The session overlaps busy time in the booker's connected calendar (as last read);
    the message names nothing of the other event."""

    reason = "CALENDAR_BUSY"


class FailedPrecondition(SchedulingError):
    """The room is not in a state that allows the action."""


class HostCannotBook(FailedPrecondition):
    reason = "HOST_CANNOT_BOOK"


class RoomStarted(FailedPrecondition):
    reason = "ROOM_STARTED"


class RoomNotBooked(FailedPrecondition):
    """JoinWaitlist on a room open to all: book it instead."""

    reason = "ROOM_NOT_BOOKED"


class AlreadyParticipant(FailedPrecondition):
    """JoinWaitlist by the room's host or guest."""

    reason = "ALREADY_PARTICIPANT"


class RoomHeld(FailedPrecondition):
    """The room is held for the first on its waitlist (the message never says who)."""

    reason = "ROOM_HELD"


class WaitlistFull(SchedulingError):
    """WAITLIST_MAX people wait for the room already."""

    reason = "WAITLIST_FULL"


class CalendarRefused(FailedPrecondition):
    """ConnectCalendar: the calendar could not be checked or did not pass; the
    subclass says how (the message never holds a credential)."""


class CalendarUnreachable(CalendarRefused):
    reason = "CALENDAR_UNREACHABLE"


class CalendarAuthRejected(CalendarRefused):
    reason = "CALENDAR_AUTH_REJECTED"


class CalendarNotFound(CalendarRefused):
    reason = "CALENDAR_NOT_FOUND"


class CalendarNotWritable(CalendarRefused):
    reason = "CALENDAR_NOT_WRITABLE"


class CalendarSyncDisabled(CalendarRefused):
    """The deployment has no CALENDAR_SEAL_KEYS (or no OAuth client for the provider)."""

    reason = "CALENDAR_SYNC_DISABLED"


class CalendarUrlNotAllowed(SchedulingError):
    """The URL may not be reached (https only, no private addresses, ...)."""

    reason = "CALENDAR_URL_NOT_ALLOWED"


class CalendarNotConnected(SchedulingError):
    reason = "CALENDAR_NOT_CONNECTED"


class FeedNotFound(SchedulingError):
    """No live feed has this token: unknown, rotated and revoked alike (no hint which)."""

    reason = "FEED_NOT_FOUND"


class FeedRateLimited(SchedulingError):
    """The feed's token was read more often than FEED_RATE_PER_MIN allows."""

    reason = "FEED_RATE_LIMITED"


class EtagMismatch(SchedulingError):
    reason = "ETAG_MISMATCH"


class RevisionCompacted(SchedulingError):
    reason = "REVISION_COMPACTED"


class WatcherTooSlow(SchedulingError):
    reason = "WATCHER_TOO_SLOW"


class TooManyWatches(SchedulingError):
    """The caller already has WATCH_MAX_PER_USER streams open on this replica."""

    reason = "TOO_MANY_WATCHES"


class Unavailable(SchedulingError):
    """The database cannot be reached, is too busy for the deadline, or the server is
    stopping; the caller may retry (elsewhere)."""

    reason = "UNAVAILABLE"
