"""Busy time of a connected calendar (design.md section 13, ReadCalendarBusy): what the
request holds, what a read ends as, and the merging of the occurrences a calendar
answered into the few intervals the scheduling service keeps.

Only intervals come out of here: the occurrences the calendar adapter hands over are
bare (start, end) pairs, so nothing else of a person's events (a title, an attendee)
can travel further than the adapter that read them. Pure; no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# The request's own bounds (the proto's contract): a range of at most 400 days, and at
# most 5000 intervals in the answer.
MAX_RANGE = timedelta(days=400)
MAX_INTERVALS = 5000
# A calendar server's sync token (RFC 6578 section 6.2: a URI) is kept and sent back
# only when it is visible ASCII of at most this many characters.
MAX_SYNC_TOKEN = 1024


def usable_sync_token(text: str | None) -> str:
    """`text`, stripped, when it can be kept and sent back as a sync token, else ""."""
    text = (text or "").strip()
    if not 0 < len(text) <= MAX_SYNC_TOKEN or not all("\x21" <= c <= "\x7e" for c in text):
        return ""
    return text


class ReadOutcome(enum.Enum):
    """How one read ended; READ is CALENDAR_WRITE_OUTCOME_WRITTEN on the wire (the
    response shares the writes' outcome enum)."""

    READ = "READ"
    TEMPORARY_FAILURE = "TEMPORARY_FAILURE"
    CREDENTIALS_REJECTED = "CREDENTIALS_REJECTED"
    PERMANENT_FAILURE = "PERMANENT_FAILURE"


@dataclass(frozen=True, order=True)
class Interval:
    """[start, end), aware UTC datetimes."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class BusyReadRequest:
    """ReadCalendarBusy as received; any field may be missing or hostile."""

    user_id: str
    calendar_url: str
    sealed_credentials: bytes = field(repr=False)
    start: datetime | None = None
    end: datetime | None = None
    own_uid_domain: str = ""
    sync_token: str = ""


@dataclass(frozen=True)
class ValidBusyRead:
    """A checked read: UTC times on whole seconds, start < end <= start + MAX_RANGE."""

    user_id: str
    calendar_url: str
    sealed_credentials: bytes = field(repr=False)
    start: datetime
    end: datetime
    own_uid_domain: str
    sync_token: str = ""


@dataclass(frozen=True)
class CalendarBusy:
    """What the calendar adapter read: the occurrences that hold time (in no order,
    possibly overlapping), and what it could not use, as counts only.

    `unreadable`: calendar objects or events it could not read (skipped);
    `unexpanded`: recurring events the server sent unexpanded (counted at their own
    start and RDATEs only); `expanded`: whether the server was asked to expand."""

    occurrences: tuple[Interval, ...]
    unreadable: int = 0
    unexpanded: int = 0
    expanded: bool = True
    # The collection's sync token as of before the read ("" when it offers none), and
    # whether the read asked only what changed since the caller's token and found
    # nothing but the service's own objects (then `occurrences` is empty: the
    # caller's intervals still hold).
    sync_token: str = ""
    unchanged: bool = False


@dataclass(frozen=True)
class BusyReadResult:
    """What one read did. `resealed` holds the credentials sealed anew (a newer key)
    whatever the outcome; `config_error`: this server's settings are at fault."""

    outcome: ReadOutcome
    intervals: tuple[Interval, ...] = ()
    detail: str = ""
    retry_at: datetime | None = None
    resealed: bytes = field(default=b"", repr=False)
    config_error: bool = False
    sync_token: str = ""
    unchanged: bool = False


def merge_busy(
    occurrences: Iterable[Interval],
    start: datetime,
    end: datetime,
    limit: int = MAX_INTERVALS,
) -> tuple[tuple[Interval, ...], bool]:
    """The occurrences clipped to [start, end), merged where they overlap or touch,
    in order; at most `limit` of them. The flag says whether more were left out (the
    latest ones: what is kept is exact up to the last interval kept)."""
    clipped = sorted(
        Interval(max(o.start, start), min(o.end, end))
        for o in occurrences
        if o.start < end and o.end > start and o.end > o.start
    )
    merged: list[Interval] = []
    for interval in clipped:
        if merged and interval.start <= merged[-1].end:
            if interval.end > merged[-1].end:
                merged[-1] = Interval(merged[-1].start, interval.end)
            continue
        if len(merged) == limit:
            return tuple(merged), True
        merged.append(interval)
    return tuple(merged), False
