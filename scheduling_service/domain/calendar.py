"""Calendar connections and the copies of sessions in them (docs/design.md §11). Pure.

A user's connected calendar holds a copy of each session they are in: a host's from the
room's creation, a guest's from their booking. A change marks the copy of everyone it
concerns (the room's participants before and after it) as due; the relay then writes
what the room is *when it claims the copy*: the room as it stands if the user is still
in it (PUT), nothing otherwise (DELETE: a cancelled room, a guest who left, a
connection being removed). Writing the current state instead of replaying each change
is what makes the calendars converge: a later change supersedes an earlier one by
construction, and no retry can bring back an older state.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from scheduling_service.domain.room import Room
from scheduling_service.domain.users import Contact

# The provider of a connection made with a user name and an (app) password.
PROVIDER_CALDAV = "caldav"


class ConnectionState(enum.Enum):
    ACTIVE = "active"
    # The server refused the credentials: the copies wait until the user connects again.
    BROKEN = "broken"
    # Disconnected with `remove_events`: the copies are being deleted, then the row goes.
    REMOVING = "removing"


@dataclass(frozen=True)
class Connection:
    """What the user and the API see of a connection (never its credentials)."""

    user_id: str
    calendar_url: str
    provider: str
    state: ConnectionState
    broken_reason: str
    email_invites: bool
    create_time: datetime
    last_write_time: datetime | None


@dataclass(frozen=True)
class BasicCredentials:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class OAuthCredentials:
    provider: str
    refresh_token: str = field(repr=False)


CalendarCredentials = BasicCredentials | OAuthCredentials


@dataclass(frozen=True)
class VerifiedCalendar:
    """A calendar the notification service checked, with the credentials it sealed."""

    calendar_url: str
    provider: str
    sealed_credentials: bytes = field(repr=False)


class CopyState(enum.Enum):
    """A copy's row in the database."""

    PENDING = "pending"
    WRITTEN = "written"
    REMOVED = "removed"
    FAILED = "failed"


def concerned(before: Room | None, after: Room) -> tuple[str, ...]:
    """Whose copy a change makes due: the participants before and after it (a guest who
    left loses theirs; on a cancel, `after` is the room as it was)."""
    users = set(after.participants)
    if before is not None:
        users |= set(before.participants)
    return tuple(sorted(users))


@dataclass(frozen=True)
class ClaimedCopy:
    """A copy claimed under a lease, with everything its write needs, read in the claim:
    the room as it stands now (None: it is gone) and the contacts it names."""

    room_id: uuid.UUID
    user_id: str
    ics_uid: str
    version: int
    attempts: int
    href: str | None
    etag: str | None
    calendar_url: str
    sealed_credentials: bytes = field(repr=False)
    generation: int
    removing: bool
    room: Room | None
    contacts: dict[str, Contact]

    @property
    def wants_event(self) -> bool:
        """PUT the room (the user is still in it), or DELETE the copy."""
        return (
            not self.removing and self.room is not None and self.user_id in self.room.participants
        )


class WriteOutcome(enum.Enum):
    WRITTEN = "WRITTEN"
    REMOVED = "REMOVED"
    TEMPORARY_FAILURE = "TEMPORARY_FAILURE"
    CREDENTIALS_REJECTED = "CREDENTIALS_REJECTED"
    PERMANENT_FAILURE = "PERMANENT_FAILURE"


@dataclass(frozen=True)
class WriteAttempt:
    """The notification service's answer to one write."""

    outcome: WriteOutcome
    href: str = ""
    etag: str = ""
    detail: str = ""
    retry_at: datetime | None = None
    resealed_credentials: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class CopyResult:
    """An attempt's result, to record while holding the lease (`token`)."""

    copy: ClaimedCopy
    token: uuid.UUID
    attempt: WriteAttempt
    state: CopyState
    next_attempt_at: datetime | None

    @property
    def breaks_connection(self) -> bool:
        return self.attempt.outcome is WriteOutcome.CREDENTIALS_REJECTED


def decide(
    copy: ClaimedCopy,
    attempt: WriteAttempt,
    token: uuid.UUID,
    *,
    now: datetime,
    backoff: timedelta,
    max_attempts: int,
) -> CopyResult:
    """What an attempt leaves the copy as. A copy whose connection broke stays pending
    and waits for the user to connect again (the claim takes only active connections),
    its attempts not counted against it; but a copy being removed after a disconnect
    fails instead (no reconnect will come for it: waiting would retry forever)."""
    outcome = attempt.outcome
    if outcome is WriteOutcome.WRITTEN:
        return CopyResult(copy, token, attempt, CopyState.WRITTEN, None)
    if outcome is WriteOutcome.REMOVED:
        return CopyResult(copy, token, attempt, CopyState.REMOVED, None)
    if outcome is WriteOutcome.CREDENTIALS_REJECTED and not copy.removing:
        return CopyResult(copy, token, attempt, CopyState.PENDING, now)
    if outcome is WriteOutcome.TEMPORARY_FAILURE and copy.attempts < max_attempts:
        later = now + backoff
        if attempt.retry_at is not None and attempt.retry_at > later:
            later = attempt.retry_at
        return CopyResult(copy, token, attempt, CopyState.PENDING, later)
    return CopyResult(copy, token, attempt, CopyState.FAILED, None)
