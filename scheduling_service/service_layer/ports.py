"""What the service layer needs from the outside world, as typing.Protocols.

Adapters implement these (adapters/ never import the service layer); tests stand in
in-memory fakes (tests/scheduling_service/service_layer/fakes/).

Writes that make up a room change are queued on the unit of work and sent with its
COMMIT in one round trip: the first is the guard, the change's conditional write (the
room is still the version the rules saw), and every later one takes effect only if the
guard held. Reads run at once. What a change writes beyond the room itself (the outbox's
messages, the change log's event) is decided by the domain and handed over whole
(OutboxWrites, ChangeLogEntry): implementations execute it, they decide nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from scheduling_service.domain.busy import BusyAttempt, BusyPlan, BusyRead, BusyResult
from scheduling_service.domain.calendar import (
    CalendarCredentials,
    ClaimedCopy,
    Connection,
    CopyResult,
    CopyState,
    VerifiedCalendar,
    WriteAttempt,
)
from scheduling_service.domain.calendar_feed import FeedSession, FeedWrites, Tombstone
from scheduling_service.domain.change_log import ChangeLogEntry
from scheduling_service.domain.commit_result import CommitResult
from scheduling_service.domain.outbox import (
    Attempt,
    Claimed,
    DueReminder,
    FailedCopy,
    FailedMessage,
    Finished,
    OutboxStats,
    State,
)
from scheduling_service.domain.outbox_writes import OutboxWrites
from scheduling_service.domain.queries import RoomQuery
from scheduling_service.domain.room import Room
from scheduling_service.domain.users import People, User
from scheduling_service.domain.waitlist_changes import DueHold, WaitlistWrites
from scheduling_service.domain.watch import WatchEvent, WatchFilter

T = TypeVar("T")


class Clock(Protocol):
    def __call__(self) -> datetime: ...


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


class RoomRepository(Protocol):
    async def get(self, room_id: uuid.UUID, viewer: User) -> Room | None:
        """The room, with its participants' mail when `viewer` takes part or is trusted."""

    async def get_for_change(
        self, room_id: uuid.UUID, caller_id: str
    ) -> tuple[Room, People] | None:
        """The room with the people a change to it concerns (its participants, the
        holders of its event, and the caller)."""

    async def list(
        self,
        query: RoomQuery,
        viewer: User,
        *,
        viewer_no: int,
        now: datetime,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[Room]:
        """A page of rooms after `after` in (starts, room_id) order; `viewer_no` and
        `now` decide what `bookable` means for this viewer."""

    # Each queues the room's own write of a change, first: the guard. It applies only
    # if the room is still `before`'s version (a lost race finds the room as it now
    # stands as `CommitResult.current`); the participants' slots follow it.

    def add(self, room: Room, host_no: int, request_id: uuid.UUID | None) -> None:
        """The room, its first round, the host's slot; with a request id, only if it is
        the first (a repeat finds the room the first created as `CommitResult.current`)."""

    def book(self, before: Room, after: Room, guest_no: int) -> None:
        """The guest, and their slot (`guest_no`: their directory key)."""

    def leave(self, before: Room, after: Room) -> None:
        """No guest any more; their slot freed."""

    def reschedule(self, before: Room, after: Room) -> None:
        """The new time; the participants' slots moved."""

    def remove(self, before: Room, after: Room) -> None:
        """The room's rounds deleted, then the room."""


class OutboxRepository(Protocol):
    def record(self, writes: OutboxWrites) -> None:
        """Queue what the change writes to the outbox, as the domain decided it
        (follows the guard)."""

    async def claim(self, token: uuid.UUID, limit: int, lease_s: float) -> list[Claimed]: ...

    def hold_room(
        self, claimed: Claimed, hold_s: float
    ) -> AbstractAsyncContextManager[DueReminder]:
        """A claimed reminder against its room as it stands now, the room held until the
        block ends (at most about `hold_s`): a change to it (cancel, leave, reschedule)
        that committed first is what this sees; one that comes during the block waits."""

    async def finish(self, results: list[Finished]) -> dict[int, State]:
        """Record attempts' results; a message whose lease was lost is left out."""

    async def failed(self, limit: int) -> list[FailedMessage]: ...

    async def retry_failed(self, ids: list[int] | None) -> list[int]: ...

    async def purge(self, before: datetime) -> int: ...

    async def stats(self) -> OutboxStats: ...


class CalendarRepository(Protocol):
    """Calendar connections and the copies of sessions in them (domain/calendar.py)."""

    def mark(self, room_id: uuid.UUID, ics_uid: str, users: tuple[str, ...]) -> None:
        """Queue a change's copies, due again for each of `users` who has a connection
        (follows the change-log write)."""

    def connect(self, user_id: str, verified: VerifiedCalendar, email_invites: bool) -> None:
        """Queue the connection, replacing any; the copies of the sessions the user is in
        become due (another calendar gets them anew)."""

    def disconnect(self, user_id: str, *, remove_events: bool) -> None:
        """Queue the end of the connection: at once, or once its copies are deleted."""

    async def get(self, user_id: str) -> Connection | None: ...

    async def claim(self, token: uuid.UUID, limit: int, lease_s: float) -> list[ClaimedCopy]: ...

    async def finish(self, results: list[CopyResult]) -> dict[tuple[uuid.UUID, str], CopyState]:
        """Record attempts' results; a copy whose lease was lost is left out."""

    async def break_connection(
        self, result: CopyResult, notice: bytes | None, not_sent_reason: str | None
    ) -> bool:
        """Turn the connection BROKEN (once, for the credentials the attempt used), with
        its owner's notice e-mail queued; whether it broke now."""

    async def failed(self, limit: int) -> list[FailedCopy]: ...

    async def retry_failed(
        self, keys: list[tuple[uuid.UUID, str]] | None
    ) -> list[tuple[uuid.UUID, str]]: ...

    async def purge(self, before: datetime) -> int: ...

    async def stats(self) -> tuple[int, int, int]: ...


class CalendarFeedRepository(Protocol):
    """Calendar feeds (domain/calendar_feed.py): tokens by hash, their rate-limit
    buckets, what a feed shows."""

    def record(self, writes: FeedWrites) -> None:
        """Queue what a change writes for the feeds (tombstones for users with one)."""

    async def rotate(self, user_id: str, token_hash: bytes, now: datetime, burst: float) -> None:
        """The user's one feed, now with this token (the previous one ends)."""

    async def revoke(self, user_id: str) -> bool:
        """End the user's feed; whether they had one."""

    async def spend(
        self, token_hash: bytes, now: datetime, *, per_s: float, burst: float
    ) -> tuple[str, bytes, float] | None:
        """One read from the token's bucket: (owner, stored hash, what is left; below
        0 refused), or None when no feed has the token."""

    async def sessions(self, user_id: str, since: datetime, limit: int) -> list[FeedSession]:
        """The sessions the user is in that ended at or after `since`."""

    async def tombstones(self, user_id: str, since: datetime, limit: int) -> list[Tombstone]:
        """The user's tombstones written at or after `since`."""

    async def prune(self, before: datetime) -> int: ...


class BusyRepository(Protocol):
    """Busy time read from connected calendars (domain/busy.py)."""

    async def claim(self, token: uuid.UUID, limit: int, lease_s: float) -> list[BusyRead]: ...

    async def finish(self, result: BusyResult) -> None:
        """Record a read's result, if the lease and the connection still hold."""

    async def overlaps(self, user_no: int, starts: datetime, ends: datetime) -> bool:
        """Whether the user's busy time (of an active connection) overlaps the range."""


class WaitlistRepository(Protocol):
    """Waitlists and their holds (domain/waitlist.py); the rest of a room comes with it."""

    def lock(self, before: Room) -> None:
        """Queue the guard of a waitlist's own change (a join, a leave of the line, a
        lapse): the room is still `before`'s version, held until the commit. A lost race
        reads nothing back (`CommitResult.current` is None)."""

    def record(self, writes: WaitlistWrites) -> None:
        """Queue what a change writes for the waitlist, as the domain decided it
        (follows the guard)."""

    async def due(self, now: datetime, limit: int) -> list[DueHold]:
        """Holds whose end has come by `now`, the oldest first."""

    async def next_due(self) -> datetime | None:
        """When the next hold ends; None with no hold."""


class Directory(Protocol):
    async def register(self, user: User) -> int:
        """The user's integer key, after recording any change in their claims."""


class ChangeLog(Protocol):
    def record(self, entry: ChangeLogEntry) -> None:
        """Queue the change-log entry (the last write of a change; follows the guard)."""

    async def head(self) -> tuple[int, int]:
        """(latest revision, highest pruned revision)."""

    async def after(self, revision: int, limit: int) -> list[WatchEvent]: ...

    def stream_snapshot(
        self, watch_filter: WatchFilter, viewer: User, now: datetime
    ) -> AsyncIterator[bytes]:
        """A SNAPSHOT event per room not yet ended, serialized as `viewer` may see it
        (in a snapshot unit of work)."""

    async def prune(self, cutoff: datetime) -> tuple[int, int]:
        """Delete events older than `cutoff`; (compacted revision, rows deleted)."""

    async def prune_requests(self, cutoff: datetime) -> int:
        """Forget CreateRoom request ids older than `cutoff`."""


class UnitOfWork(Protocol):
    @property
    def rooms(self) -> RoomRepository: ...

    @property
    def outbox(self) -> OutboxRepository: ...

    @property
    def directory(self) -> Directory: ...

    @property
    def calendars(self) -> CalendarRepository: ...

    @property
    def changes(self) -> ChangeLog: ...

    @property
    def feeds(self) -> CalendarFeedRepository: ...

    @property
    def busy(self) -> BusyRepository: ...

    @property
    def waitlist(self) -> WaitlistRepository: ...

    async def commit(self) -> CommitResult:
        """Send the queued writes and COMMIT, in one round trip."""

    async def ping(self) -> None:
        """One trivial statement (readiness)."""


class Database(Protocol):
    """Where units of work come from: the one way to talk to the database."""

    async def run(
        self, work: Callable[[UnitOfWork], Awaitable[T]], *, time_left_s: float | None = None
    ) -> T:
        """Run `work` in a fresh unit of work, again when the database says another try
        may succeed (deadlock, serialization failure, a connection dropped before
        anything was sent); `time_left_s` bounds every statement."""

    def snapshot(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A unit of work whose reads all see one snapshot (REPEATABLE READ)."""


class Notices(Protocol):
    """Wake-up hints from the database (LISTEN/NOTIFY): a reason to look now, never the
    data itself; a poll every `poll_s` stands behind them."""

    async def listen_forever(
        self,
        channel: str,
        on_wake: Callable[[], Awaitable[None]],
        *,
        poll_s: float,
        connected: asyncio.Event | None = None,
    ) -> None: ...


class Markers(Protocol):
    """The stream's own events, serialized: SYNCED after a snapshot, HEARTBEAT."""

    def synced(self, revision: int) -> bytes: ...

    def heartbeat(self, revision: int) -> bytes: ...


class NotificationSender(Protocol):
    async def deliver(self, message: Claimed) -> Attempt: ...


class CalendarWriter(Protocol):
    """The notification service's calendar side."""

    async def verify(
        self, user_id: str, url: str, credentials: CalendarCredentials
    ) -> VerifiedCalendar:
        """The calendar checked and the credentials sealed; a CalendarRefused error
        (domain/errors.py) says why not."""

    async def write(self, copy: ClaimedCopy) -> WriteAttempt: ...

    def notice(self, copy: ClaimedCopy, reason: str, now: datetime) -> bytes | None:
        """The serialized e-mail telling `copy`'s owner their connection broke; None
        when no address is known for them."""


class BusySource(Protocol):
    """Where busy time is read from (the notification service's ReadCalendarBusy)."""

    async def read_busy(self, read: BusyRead, plan: BusyPlan) -> BusyAttempt:
        """The busy intervals over the plan's range, "unchanged" since its sync token,
        or why not (never raises for a calendar's failure)."""
