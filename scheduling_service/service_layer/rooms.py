"""The room use cases: each one transaction that loads, applies a rule, and records.

Callers pass validated commands (see entrypoints/requests.py); rules live in
domain/room.py; every change appends to the change log in its own transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from scheduling_service.adapters.directory import Directory
from scheduling_service.adapters.repository import RoomQuery
from scheduling_service.domain import errors, paging
from scheduling_service.domain.invites import invites_for
from scheduling_service.domain.room import Change, Room
from scheduling_service.domain.users import User
from scheduling_service.service_layer.unit_of_work import (
    Transactions,
    UnitOfWork,
    database_errors,
)


@dataclass(frozen=True)
class CreateRoom:
    title: str
    description: str
    starts: datetime
    length: timedelta
    first_round_topic: str
    request_id: uuid.UUID | None


@dataclass(frozen=True)
class ListRooms:
    query: RoomQuery
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
    rooms: list[Room]
    next_page_token: str


_BOOKING_TRIES = 3


def utc_now() -> datetime:
    return datetime.now(UTC)


class RoomService:
    def __init__(
        self,
        transactions: Transactions,
        directory: Directory,
        *,
        uid_domain: str,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._tx = transactions
        self._directory = directory
        self._uid_domain = uid_domain
        self._clock = clock

    async def register(self, caller: User) -> int:
        """The caller's directory key, after recording any change in their claims
        (every RPC does this: it is how invites find current addresses)."""
        async with database_errors():
            return await self._directory.user_no(caller)

    async def create_room(
        self, caller: User, command: CreateRoom, time_left_s: float | None = None
    ) -> Room:
        host_no = await self.register(caller)
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
        )

        async def work(uow: UnitOfWork) -> Room:
            if command.request_id is not None:
                earlier = await uow.rooms.claim_request(
                    caller.user_id, command.request_id, room.room_id
                )
                if earlier is not None:
                    return await _existing(uow, earlier)
            await uow.rooms.add(room, host_no)
            revision = await uow.commit_change(Change.CREATED, None, room, now)
            return _at(room, revision)

        return await self._tx.run(work, time_left_s=time_left_s)

    async def get_room(self, room_id: uuid.UUID, time_left_s: float | None = None) -> Room:
        async def work(uow: UnitOfWork) -> Room:
            return await _existing(uow, room_id)

        return await self._tx.run(work, time_left_s=time_left_s, read_only=True)

    async def list_rooms(self, command: ListRooms, time_left_s: float | None = None) -> Page:
        filters = (
            command.query.open_only,
            command.query.participant_id,
            command.query.start_after,
            command.query.start_before,
        )
        after = None
        if command.page_token:
            try:
                after = paging.decode(command.page_token, filters)
            except paging.BadPageToken as bad:
                raise errors.InvalidArgument(
                    [errors.FieldViolation("page_token", str(bad))]
                ) from None

        async def work(uow: UnitOfWork) -> Page:
            rooms = await uow.rooms.list(command.query, after=after, limit=command.page_size + 1)
            if len(rooms) <= command.page_size:
                return Page(rooms, "")
            rooms = rooms[: command.page_size]
            last = rooms[-1]
            return Page(rooms, paging.encode(last.starts, last.room_id, filters))

        return await self._tx.run(work, time_left_s=time_left_s, read_only=True)

    async def book_room(
        self, caller: User, room_id: uuid.UUID, time_left_s: float | None = None
    ) -> Room:
        guest_no = await self.register(caller)
        now = self._clock()

        async def work(uow: UnitOfWork) -> Room:
            for _ in range(_BOOKING_TRIES):
                booked = await uow.rooms.book_if_open(room_id, caller.user_id, guest_no, now)
                if booked is not None:
                    break
                # Lost the race or never could book: the room as it stands says why.
                current = await _existing(uow, room_id)
                if current.already_guest(caller.user_id, now):
                    return current  # a retried booking by its winner
                # Open again already (the winner left in between): try once more.
            else:
                raise errors.RoomAlreadyBooked("the room changed hands while booking; retry")
            before = _before_booking(booked)
            await _queue_invites(uow, Change.BOOKED, before, booked, now)
            revision = await uow.commit_change(Change.BOOKED, before, booked, now)
            return _at(booked, revision)

        return await self._tx.run(work, time_left_s=time_left_s)

    async def leave_room(
        self, caller: User, room_id: uuid.UUID, time_left_s: float | None = None
    ) -> Room:
        await self.register(caller)
        now = self._clock()

        async def work(uow: UnitOfWork) -> Room:
            before = await _existing(uow, room_id, for_update=True)
            after = before.left_by(caller.user_id, now)
            await uow.rooms.update(before, after)
            await _queue_invites(uow, Change.LEFT, before, after, now)
            revision = await uow.commit_change(Change.LEFT, before, after, now)
            return _at(after, revision)

        return await self._tx.run(work, time_left_s=time_left_s)

    async def reschedule_room(
        self, caller: User, command: Reschedule, time_left_s: float | None = None
    ) -> Room:
        await self.register(caller)
        now = self._clock()

        async def work(uow: UnitOfWork) -> Room:
            before = await _existing(uow, command.room_id, for_update=True)
            after = before.rescheduled_by(
                caller.user_id,
                starts=command.starts,
                length=command.length,
                etag=command.etag,
                now=now,
            )
            await uow.rooms.update(before, after)
            await _queue_invites(uow, Change.RESCHEDULED, before, after, now)
            revision = await uow.commit_change(Change.RESCHEDULED, before, after, now)
            return _at(after, revision)

        return await self._tx.run(work, time_left_s=time_left_s)

    async def cancel_room(
        self,
        caller: User,
        room_id: uuid.UUID,
        *,
        reason: str,
        etag: str,
        time_left_s: float | None = None,
    ) -> None:
        await self.register(caller)
        now = self._clock()

        async def work(uow: UnitOfWork) -> None:
            before = await _existing(uow, room_id, for_update=True)
            cancelled = before.cancelled_by(caller.user_id, etag=etag, now=now)
            # The CANCELs are recorded in the transaction that deletes the room: none
            # is sent if the delete rolls back, none is lost if it commits.
            await _queue_invites(uow, Change.CANCELLED, before, cancelled, now, reason)
            await uow.rooms.delete(room_id)
            await uow.commit_change(Change.CANCELLED, before, cancelled, now)

        await self._tx.run(work, time_left_s=time_left_s)


async def _existing(uow: UnitOfWork, room_id: uuid.UUID, *, for_update: bool = False) -> Room:
    room = await uow.rooms.get(room_id, for_update=for_update)
    if room is None:
        raise errors.RoomNotFound(f"no room {room_id}")
    return room


async def _queue_invites(
    uow: UnitOfWork,
    change: Change,
    before: Room,
    after: Room,
    now: datetime,
    cancel_reason: str = "",
) -> None:
    people = set(before.participants) | set(after.participants)
    known = await uow.outbox.recipients(after.room_id, people)
    invites = invites_for(change, before, after, known.holders)
    await uow.outbox.record(after, invites, known, now=now, cancel_reason=cancel_reason)


def _at(room: Room, revision: int) -> Room:
    return replace(room, revision=revision)


def _before_booking(room: Room) -> Room:
    """The room as it was just before `room` was booked: what the change log's
    participants and open flags are computed from."""
    return replace(room, guest_id=None, sequence=room.sequence - 1)
