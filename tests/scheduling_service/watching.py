"""Test-side helpers for WatchRooms: a background watcher, the stored change log."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import grpc
import psycopg
from scheduling.v1 import scheduling_pb2 as pb
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc

from tests.scheduling_service.client import auth, create_request, future, new_user, trusted, ts

T = pb.RoomEvent


def head(db: psycopg.Connection) -> int:
    return db.execute("SELECT value FROM revision_counter").fetchone()[0]


def logged(db: psycopg.Connection, after: int, upto: int) -> list[tuple[int, str]]:
    rows = db.execute(
        "SELECT revision, change FROM room_events WHERE revision > %s AND revision <= %s"
        " ORDER BY revision",
        [after, upto],
    ).fetchall()
    return [(r, c) for r, c in rows]


def changes(events: list[pb.RoomEvent]) -> list[tuple[int, str]]:
    return [
        (e.revision, T.Type.Name(e.type).removeprefix("TYPE_"))
        for e in events
        if e.type not in (T.TYPE_HEARTBEAT, T.TYPE_SYNCED, T.TYPE_SNAPSHOT)
    ]


class Watcher:
    """Collects a stream's events in the background."""

    def __init__(self, stub: pb_grpc.SchedulingServiceStub, request: pb.WatchRoomsRequest) -> None:
        # A trusted backend: it sees every room whole and may follow anyone's schedule,
        # so that what these tests compare is the protocol, not who may see what.
        self.call = stub.WatchRooms(request, metadata=trusted(new_user("watcher")))
        self.events: list[pb.RoomEvent] = []
        self.error: grpc.RpcError | None = None
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            async for event in self.call:
                self.events.append(event)
        except grpc.RpcError as error:
            self.error = error

    async def until(self, predicate, within_s: float = 20.0) -> None:
        deadline = time.monotonic() + within_s
        while not predicate(self.events):
            if self.task.done():
                raise AssertionError(f"stream ended: {self.error}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited for {predicate}; have {changes(self.events)[-5:]}")
            await asyncio.sleep(0.02)

    async def reached(self, revision: int) -> None:
        await self.until(lambda events: any(e.revision >= revision for e in events))

    async def cancel(self) -> None:
        self.call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def churn(stub: pb_grpc.SchedulingServiceStub, writers: int, rounds: int) -> None:
    """Concurrent writers creating, booking, moving and cancelling rooms."""

    async def writer() -> None:
        host, guest = new_user("host"), new_user("guest")
        for _ in range(rounds):
            room = await stub.CreateRoom(create_request(), metadata=auth(host))
            await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=auth(guest))
            await stub.RescheduleRoom(
                pb.RescheduleRoomRequest(room_id=room.room_id, start_time=ts(future())),
                metadata=auth(host),
            )
            await stub.LeaveRoom(pb.LeaveRoomRequest(room_id=room.room_id), metadata=auth(guest))
            await stub.CancelRoom(pb.CancelRoomRequest(room_id=room.room_id), metadata=auth(host))

    await asyncio.gather(*(writer() for _ in range(writers)))


class RoomChanges:
    """The changes of one room on a stream, as they arrive."""

    def __init__(self) -> None:
        self.events: list[pb.RoomEvent] = []
        self._arrived = asyncio.Condition()

    async def add(self, event: pb.RoomEvent) -> None:
        async with self._arrived:
            self.events.append(event)
            self._arrived.notify_all()

    async def at_least(self, count: int) -> list[pb.RoomEvent]:
        async with asyncio.timeout(20), self._arrived:
            await self._arrived.wait_for(lambda: len(self.events) >= count)
        return self.events


@contextlib.asynccontextmanager
async def watching_room(
    stub: pb_grpc.SchedulingServiceStub, user: str, room: pb.Room
) -> AsyncIterator[RoomChanges]:
    """The changes of `room` on a stream opened now by `user`."""
    call = stub.WatchRooms(pb.WatchRoomsRequest(), metadata=auth(user))
    seen = RoomChanges()
    synced = asyncio.Event()

    async def read() -> None:
        async for event in call:
            if event.type == pb.RoomEvent.TYPE_SYNCED:
                synced.set()
            elif event.room.room_id == room.room_id and event.type != pb.RoomEvent.TYPE_SNAPSHOT:
                await seen.add(event)

    task = asyncio.ensure_future(read())
    try:
        async with asyncio.timeout(20):
            await synced.wait()  # live from here: every later change reaches it
        yield seen
    finally:
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError, grpc.RpcError):
            await task
