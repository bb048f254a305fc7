"""Busy time from connected calendars (docs/design.md §17): what a read covers, and what
its outcome does to the intervals kept and to the next read. Pure: no I/O.

The intervals are a cache of the user's calendar, read at connect and every
CALENDAR_BUSY_REFRESH; only intervals are kept (no titles, no attendees), and the
service's own sessions never count (the notification service leaves out events whose UID
is one of ours). A booking or a search uses them as last read: no calendar server is
called inside a booking.

- A read replaces the intervals.
- A temporary failure keeps them (they were right a moment ago) and tries again with
  the relay's backoff, not before the server's Retry-After.
- Refused credentials or an unusable answer clear them: busy time nobody can read any
  more must not keep rooms hidden or refused. The connection itself is broken by the
  calendar writes, which tell its owner.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from scheduling_service.domain.calendar import WriteOutcome

# The notification service reads at most 400 days at once; bookings reach
# MAX_ADVANCE_DAYS ahead.
MAX_RANGE = timedelta(days=400)

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class BusyRead:
    """A connection claimed for a read of its busy time."""

    user_id: str
    calendar_url: str
    sealed_credentials: bytes = field(repr=False)
    generation: int
    attempts: int


@dataclass(frozen=True)
class BusyAttempt:
    """The notification service's answer to one read."""

    outcome: WriteOutcome
    intervals: tuple[Interval, ...] = ()
    detail: str = ""
    retry_at: datetime | None = None
    resealed_credentials: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class BusyResult:
    """What to record, while holding the lease (`token`)."""

    read: BusyRead
    token: uuid.UUID
    # The intervals to keep from now on; None keeps those already kept.
    intervals: tuple[Interval, ...] | None
    next_read_at: datetime
    attempts: int
    resealed_credentials: bytes = field(default=b"", repr=False)


def read_range(now: datetime, max_advance_days: int) -> tuple[datetime, datetime]:
    """From now to as far as a session may start, plus the longest session."""
    return now, now + min(MAX_RANGE, timedelta(days=max_advance_days, hours=9))


def decide(
    read: BusyRead,
    attempt: BusyAttempt,
    token: uuid.UUID,
    *,
    now: datetime,
    refresh: timedelta,
    backoff: timedelta,
) -> BusyResult:
    if attempt.outcome is WriteOutcome.WRITTEN:
        return BusyResult(
            read, token, attempt.intervals, now + refresh, 0, attempt.resealed_credentials
        )
    if attempt.outcome is WriteOutcome.TEMPORARY_FAILURE:
        later = now + backoff
        if attempt.retry_at is not None and attempt.retry_at > later:
            later = attempt.retry_at
        return BusyResult(read, token, None, later, read.attempts + 1, attempt.resealed_credentials)
    return BusyResult(
        read, token, (), now + refresh, read.attempts + 1, attempt.resealed_credentials
    )
