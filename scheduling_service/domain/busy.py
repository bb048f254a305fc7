"""Busy time from connected calendars (docs/design.md §17): what a read covers, and what
its outcome does to the intervals kept and to the next read. Pure: no I/O.

The intervals are a cache of the user's calendar, read at connect and every
CALENDAR_BUSY_REFRESH; only intervals are kept (no titles, no attendees), and the
service's own sessions never count (the notification service leaves out events whose UID
is one of ours). A booking or a search uses them as last read: no calendar server is
called inside a booking.

- A read replaces the intervals. A read that only asked the calendar what changed since
  the last one (its sync token, RFC 6578) and heard "nothing but your sessions" keeps
  them; it is asked only while the last full read still covers what bookings can reach
  (a full read looks COVER_AHEAD further, so at least one a day).
- A temporary failure keeps them (they were right a moment ago) and tries again with
  the relay's backoff, not before the server's Retry-After, with a full read (the
  token goes with any failure: a server failing the sync report alone must not fail
  every read).
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
COVER_AHEAD = timedelta(days=1)
# The notification service sends at most this; a longer one is not kept.
MAX_SYNC_TOKEN = 1024

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class BusyRead:
    """A connection claimed for a read of its busy time."""

    user_id: str
    calendar_url: str
    sealed_credentials: bytes = field(repr=False)
    generation: int
    attempts: int
    # The calendar's sync token as of the last full read, and how far that read reached.
    sync_token: str = ""
    covered_until: datetime | None = None


@dataclass(frozen=True)
class BusyPlan:
    """What to ask the notification service: the range, and the sync token ("" for a
    full read)."""

    starts: datetime
    ends: datetime
    sync_token: str


@dataclass(frozen=True)
class BusyAttempt:
    """The notification service's answer to one read; `unchanged`: nothing but our own
    sessions changed since the plan's sync token (no intervals come with it)."""

    outcome: WriteOutcome
    intervals: tuple[Interval, ...] = ()
    detail: str = ""
    retry_at: datetime | None = None
    resealed_credentials: bytes = field(default=b"", repr=False)
    sync_token: str = ""
    unchanged: bool = False


@dataclass(frozen=True)
class BusyResult:
    """What to record, while holding the lease (`token`)."""

    read: BusyRead
    token: uuid.UUID
    # The intervals to keep from now on, and how far they reach; None keeps those
    # already kept (and how far they reach).
    intervals: tuple[Interval, ...] | None
    next_read_at: datetime
    attempts: int
    resealed_credentials: bytes = field(default=b"", repr=False)
    covered_until: datetime | None = None
    # The calendar's sync token to keep ("" none): replaces the one kept.
    sync_token: str = ""


def plan_read(read: BusyRead, now: datetime, max_advance_days: int) -> BusyPlan:
    """From now to as far as a session may end (a start MAX_ADVANCE_DAYS ahead, plus
    the longest session), and COVER_AHEAD more; with the sync token while the last
    full read still covers as far as a session may end."""
    needed = now + min(MAX_RANGE, timedelta(days=max_advance_days, hours=9))
    ends = min(now + MAX_RANGE, needed + COVER_AHEAD)
    covered = read.covered_until is not None and read.covered_until >= needed
    return BusyPlan(now, ends, read.sync_token if covered else "")


def decide(
    read: BusyRead,
    plan: BusyPlan,
    attempt: BusyAttempt,
    token: uuid.UUID,
    *,
    now: datetime,
    refresh: timedelta,
    backoff: timedelta,
) -> BusyResult:
    resealed = attempt.resealed_credentials
    outcome = attempt.outcome
    if outcome is WriteOutcome.WRITTEN and attempt.unchanged and not plan.sync_token:
        # "Unchanged" since a token never sent: nothing to trust, nothing to clear.
        outcome = WriteOutcome.TEMPORARY_FAILURE
    if outcome is WriteOutcome.WRITTEN:
        sync_token = attempt.sync_token if len(attempt.sync_token) <= MAX_SYNC_TOKEN else ""
        if attempt.unchanged:  # the intervals and how far they reach stay
            return BusyResult(read, token, None, now + refresh, 0, resealed, None, sync_token)
        return BusyResult(
            read, token, attempt.intervals, now + refresh, 0, resealed, plan.ends, sync_token
        )
    if outcome is WriteOutcome.TEMPORARY_FAILURE:
        later = now + backoff
        if attempt.retry_at is not None and attempt.retry_at > later:
            later = attempt.retry_at
        return BusyResult(read, token, None, later, read.attempts + 1, resealed, None, "")
    return BusyResult(read, token, (), now + refresh, read.attempts + 1, resealed, None, "")
