"""The room use cases: read the room, let the rules decide, write the outcome.

Each change is one unit of work: the room and the people it concerns are read, the
domain computes the new state and who is told, and the writes go to the database with
the COMMIT in one round trip, guarded by the version the rules saw. When another change
got there first, the rules decide again on the room as it now stands (the commit brings
it back): a second booker learns at once that the room is taken.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from scheduling_service.domain import (
    calendar,
    calendar_feed,
    change_log,
    errors,
    outbox_writes,
    queries,
    waitlist_changes,
)
from scheduling_service.domain.changes import Change
from scheduling_service.domain.room import Room
from scheduling_service.domain.users import People, User
from scheduling_service.domain.visibility import RoomView, check_schedule_filter, view_for
from scheduling_service.domain.waitlist import DEFAULT_HOLD
from scheduling_service.service_layer.ports import Clock, Database, UnitOfWork, utc_now


@dataclass(frozen=True)
class CreateRoom:
    title: str
    description: str
    starts: datetime
    length: timedelta
    first_round_topic: str
    request_id: uuid.UUID | None
    # The room's own reminder offsets; None: the service's default.
    reminder_offsets: tuple[timedelta, ...] | None = None


@dataclass(frozen=True)
class ListRooms:
    query: queries.RoomQuery
    page_size: int
    page_token: str


@dataclass(frozen=True)
class Reschedule:
    room_id: uuid.UUID
    starts: datetime
    length: timedelta | None
    etag: str


@dataclass(frozen=True)
class Page:
    rooms: list[RoomView]
    next_page_token: str


# How often a change is decided again after losing a race to another change of the
# same room that the rules still allow (e.g. a reschedule landing before a booking). The
# waitlist's changes move the room's version too (a line filling up while its guest
# leaves): each lost round means another change committed, so this only bounds a crowd.
_RACES = 50
_PAUSE_S = 0.002


class RoomService:
    def __init__(
        self,
        database: Database,
        *,
        uid_domain: str,
        reminder_offsets: tuple[timedelta, ...] = (),
        waitlist_hold: timedelta = DEFAULT_HOLD,
        clock: Clock = utc_now,
    ) -> None:
        self._db = database
        self._uid_domain = uid_domain
        self._reminder_offsets = reminder_offsets
        # How long a room that reopens is held for the first on its waitlist.
        self._hold = waitlist_hold
        self._clock = clock

    async def register(self, caller: User, time_left_s: float | None = None) -> int:
        """The caller's directory key, after recording any change in their claims
        (every RPC does this: it is how invites find current addresses)."""

        async def work(uow: UnitOfWork) -> int:
            return await uow.directory.register(caller)

        return await self._db.run(work, time_left_s=time_left_s)

    async def create_room(
        self, caller: User, command: CreateRoom, time_left_s: float | None = None
    ) -> RoomView:
        now = self._clock()
        room = Room.new(
            host_id=caller.user_id,
            title=command.title,
            description=command.description,
            starts=command.starts,
            length=command.length,
            first_round_topic=command.first_round_topic,
            uid_domain=self._uid_domain,
            now=now,
            reminder_offsets=(
                self._reminder_offsets
                if command.reminder_offsets is None
                else command.reminder_offsets
            ),
        )

        async def work(uow: UnitOfWork) -> RoomView:
            host_no = await uow.directory.register(caller)
            uow.rooms.add(room, host_no, command.request_id)
            uow.changes.record(change_log.entry_for(Change.CREATED, None, room, now))
            uow.calendars.mark(room.room_id, room.ics_uid, calendar.concerned(None, room))
            result = await uow.commit()
            if result.applied:
                return view_for(replace(room, revision=result.revision), caller)
            # A repeat of an earlier request: the room that request created.
            if result.current is None:
                raise errors.RoomNotFound("the room this request_id created no longer exists")
            return view_for(result.current, caller)

        return await self._db.run(work, time_left_s=time_left_s)

    async def get_room(
        self, caller: User, room_id: uuid.UUID, time_left_s: float | None = None
    ) -> RoomView:
        async def work(uow: UnitOfWork) -> RoomView:
            await uow.directory.register(caller)
            room = await uow.rooms.get(room_id, caller)
            if room is None:
                raise _not_found(room_id)
            return view_for(room, caller)

        return await self._db.run(work, time_left_s=time_left_s)

    async def list_rooms(
        self, caller: User, command: ListRooms, time_left_s: float | None = None
    ) -> Page:
        check_schedule_filter(command.query.participant_id, caller)
        filters = command.query.filters
        after = None
        if command.page_token:
            try:
                after = queries.decode(command.page_token, filters)
            except queries.BadPageToken as bad:
                raise errors.InvalidArgument(
                    [errors.FieldViolation("page_token", str(bad))]
                ) from None

        now = self._clock()

        async def work(uow: UnitOfWork) -> Page:
            caller_no = await uow.directory.register(caller)
            rooms = await uow.rooms.list(
                command.query,
                caller,
                viewer_no=caller_no,
                now=now,
                after=after,
                limit=command.page_size + 1,
            )
            token = ""
            if len(rooms) > command.page_size:
                rooms = rooms[: command.page_size]
                token = queries.encode(rooms[-1].starts, rooms[-1].room_id, filters)
            return Page([view_for(room, caller) for room in rooms], token)

        return await self._db.run(work, time_left_s=time_left_s)

    async def book_room(
        self,
        caller: User,
        room_id: uuid.UUID,
        time_left_s: float | None = None,
        *,
        respect_calendar: bool = False,
    ) -> RoomView:
        now = self._clock()

        async def work(uow: UnitOfWork) -> RoomView:
            guest_no = await uow.directory.register(caller)

            async def clear_of_busy_time(before: Room) -> None:
                # Busy time as last read: no calendar server is called in a booking.
                if await uow.busy.overlaps(guest_no, before.starts, before.ends):
                    raise errors.CalendarBusy(
                        "the session overlaps busy time in your connected calendar"
                    )

            return await _change(
                uow,
                room_id,
                caller,
                Change.BOOKED,
                now,
                decide=lambda before: before.booked_by(caller.user_id, now),
                store=lambda before, after: uow.rooms.book(before, after, guest_no),
                check=clear_of_busy_time if respect_calendar else None,
            )

        return await self._db.run(work, time_left_s=time_left_s)

    async def leave_room(
        self, caller: User, room_id: uuid.UUID, time_left_s: float | None = None
    ) -> RoomView:
        now = self._clock()

        async def work(uow: UnitOfWork) -> RoomView:
            await uow.directory.register(caller)
            return await _change(
                uow,
                room_id,
                caller,
                Change.LEFT,
                now,
                decide=lambda before: before.left_by(caller.user_id, now, hold=self._hold),
                store=uow.rooms.leave,
            )

        return await self._db.run(work, time_left_s=time_left_s)

    async def reschedule_room(
        self, caller: User, command: Reschedule, time_left_s: float | None = None
    ) -> RoomView:
        now = self._clock()

        def decide(before: Room) -> Room:
            return before.rescheduled_by(
                caller.user_id,
                starts=command.starts,
                length=command.length,
                etag=command.etag,
                now=now,
                hold=self._hold,
            )

        async def work(uow: UnitOfWork) -> RoomView:
            await uow.directory.register(caller)
            return await _change(
                uow, command.room_id, caller, Change.RESCHEDULED, now, decide, uow.rooms.reschedule
            )

        return await self._db.run(work, time_left_s=time_left_s)

    async def cancel_room(
        self,
        caller: User,
        room_id: uuid.UUID,
        *,
        reason: str,
        etag: str,
        time_left_s: float | None = None,
    ) -> None:
        now = self._clock()

        async def work(uow: UnitOfWork) -> None:
            await uow.directory.register(caller)
            # The CANCELs are recorded in the transaction that deletes the rounds and
            # the room: none is sent if the delete rolls back, none is lost if it commits.
            await _change(
                uow,
                room_id,
                caller,
                Change.CANCELLED,
                now,
                decide=lambda before: before.cancelled_by(caller.user_id, etag=etag, now=now),
                store=uow.rooms.remove,
                cancel_reason=reason,
            )

        await self._db.run(work, time_left_s=time_left_s)


async def _change(
    uow: UnitOfWork,
    room_id: uuid.UUID,
    caller: User,
    change: Change,
    now: datetime,
    decide: Callable[[Room], Room],
    store: Callable[[Room, Room], None],
    *,
    cancel_reason: str = "",
    check: Callable[[Room], Awaitable[None]] | None = None,
) -> RoomView:
    """Read the room, let `decide` apply the rule, write the outcome: `store` queues the
    room's own write (the guard, so it goes first), then what the domain decides the
    change writes to the outbox, the waitlist and the change log, the calendar copies it
    makes due and the feeds' tombstones, follow; all of it goes with the COMMIT."""
    before, people = await _read_for_change(uow, room_id, caller)
    for attempt in range(_RACES):
        if attempt:
            # Lost to another change the rules still allow (a crowd joining the line):
            # a short random pause, growing, so the contenders do not meet again at once.
            await asyncio.sleep(random.uniform(0, _PAUSE_S * min(attempt, 10)))
        after = decide(before)
        if after is before:
            return view_for(before, caller)  # nothing to change (a retried booking by its winner)
        if check is not None:
            await check(before)  # the caller's own condition, once the rules allow it
        store(before, after)
        uow.outbox.record(
            outbox_writes.for_change(
                change, before, after, people, now=now, cancel_reason=cancel_reason
            )
        )
        uow.waitlist.record(waitlist_changes.writes_for(change, before, after, people, now))
        uow.changes.record(change_log.entry_for(change, before, after, now))
        # After the change-log write: under the revision counter's lock (calendar_sql.py).
        uow.calendars.mark(after.room_id, after.ics_uid, calendar.concerned(before, after))
        uow.feeds.record(calendar_feed.writes_for(change, before, after, now))
        result = await uow.commit()
        if result.applied:
            return view_for(replace(after, revision=result.revision), caller)
        if result.current is None:
            raise _not_found(room_id)
        # Another change won the race. The rules decide on what it left, most often
        # that this change is no longer allowed (the room is taken): no read needed.
        current = result.current
        if decide(current) is current:
            return view_for(current, caller)
        before, people = await _read_for_change(uow, room_id, caller)
    raise errors.Unavailable("the room kept changing while this change was decided; retry")


async def _read_for_change(
    uow: UnitOfWork, room_id: uuid.UUID, caller: User
) -> tuple[Room, People]:
    found = await uow.rooms.get_for_change(room_id, caller.user_id)
    if found is None:
        raise _not_found(room_id)
    return found


def _not_found(room_id: uuid.UUID) -> errors.RoomNotFound:
    return errors.RoomNotFound(f"no room {room_id}")
