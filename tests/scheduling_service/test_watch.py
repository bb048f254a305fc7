"""WatchRooms against real replicas: gap-free, ordered, resumable, bounded."""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.request
import uuid

import grpc
import psycopg
import pytest
from grpc import aio
from scheduling.v1 import scheduling_pb2 as pb
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc

from scheduling_service.adapters import schema
from tests import postgres
from tests.processes import SchedulingProcess
from tests.scheduling_service.client import auth, create_request, failure, future, new_user, ts
from tests.smtp_sink import free_port

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
        self.call = stub.WatchRooms(request, metadata=auth(new_user("watcher")))
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


@pytest.fixture
async def stubs(server, second_server):
    async with (
        aio.insecure_channel(server.address) as a,
        aio.insecure_channel(second_server.address) as b,
    ):
        yield pb_grpc.SchedulingServiceStub(a), pb_grpc.SchedulingServiceStub(b)


async def test_watcher_on_b_sees_every_change_made_on_a_in_order(stubs, db) -> None:
    a, b = stubs
    start = head(db)
    watcher = Watcher(b, pb.WatchRoomsRequest(since_revision=start))
    await churn(a, writers=8, rounds=3)
    end = head(db)
    await watcher.reached(end)
    await watcher.cancel()
    seen = [c for c in changes(watcher.events) if c[0] <= end]
    assert seen == logged(db, start, end)
    assert len(seen) == 8 * 3 * 5


async def test_resume_after_disconnect_loses_and_repeats_nothing(stubs, db) -> None:
    a, b = stubs
    start = head(db)
    first = Watcher(b, pb.WatchRoomsRequest(since_revision=start))
    writes = asyncio.ensure_future(churn(a, writers=4, rounds=4))
    await first.until(lambda events: len(changes(events)) >= 10)
    await first.cancel()
    part_one = changes(first.events)

    second = Watcher(a, pb.WatchRoomsRequest(since_revision=part_one[-1][0]))
    await writes
    end = head(db)
    await second.reached(end)
    await second.cancel()
    union = part_one + changes(second.events)
    assert [c for c in union if c[0] <= end] == logged(db, start, end)


async def test_snapshot_then_live_matches_get_room(stubs, db) -> None:
    a, b = stubs
    writes = asyncio.ensure_future(churn(a, writers=4, rounds=3))
    host = new_user("keeper")
    kept = [await a.CreateRoom(create_request(), metadata=auth(host)) for _ in range(3)]
    watcher = Watcher(b, pb.WatchRoomsRequest())
    await writes
    await b.BookRoom(pb.BookRoomRequest(room_id=kept[0].room_id), metadata=auth(new_user()))
    end = head(db)
    await watcher.reached(end)
    await watcher.cancel()

    kinds = [e.type for e in watcher.events]
    synced = kinds.index(T.TYPE_SYNCED)
    assert set(kinds[:synced]) <= {T.TYPE_SNAPSHOT}
    view: dict[str, pb.Room] = {}
    for event in watcher.events:
        if event.type in (T.TYPE_SYNCED, T.TYPE_HEARTBEAT):
            continue
        if event.type == T.TYPE_CANCELLED:
            view.pop(event.room.room_id, None)
        else:
            view[event.room.room_id] = event.room
    for room_id, room in view.items():
        assert await a.GetRoom(pb.GetRoomRequest(room_id=room_id), metadata=auth(host)) == room
    assert {r.room_id for r in kept} <= set(view)
    stored = db.execute("SELECT count(*) FROM rooms WHERE ends > now()").fetchone()[0]
    assert len(view) == stored


async def test_filters_see_a_room_leave_their_view(stubs, db) -> None:
    a, b = stubs
    host, guest = new_user(), new_user()
    start = head(db)
    open_view = Watcher(b, pb.WatchRoomsRequest(since_revision=start, open_only=True))
    guest_view = Watcher(b, pb.WatchRoomsRequest(since_revision=start, participant_id=guest))
    room = await a.CreateRoom(create_request(), metadata=auth(host))
    await a.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=auth(guest))
    await a.LeaveRoom(pb.LeaveRoomRequest(room_id=room.room_id), metadata=auth(guest))
    other = await a.CreateRoom(create_request(), metadata=auth(new_user()))
    await a.BookRoom(pb.BookRoomRequest(room_id=other.room_id), metadata=auth(new_user()))
    end = head(db)
    await open_view.reached(end)
    await guest_view.until(lambda ev: any(e.type == T.TYPE_LEFT for e in ev))
    await asyncio.sleep(0.2)
    await open_view.cancel()
    await guest_view.cancel()

    mine = [(e.type, e.room.room_id) for e in open_view.events if e.room.room_id]
    assert mine == [
        (T.TYPE_CREATED, room.room_id),
        (T.TYPE_BOOKED, room.room_id),  # leaves the open view
        (T.TYPE_LEFT, room.room_id),  # comes back
        (T.TYPE_CREATED, other.room_id),
        (T.TYPE_BOOKED, other.room_id),
    ]
    assert [e.type for e in guest_view.events if e.room.room_id] == [T.TYPE_BOOKED, T.TYPE_LEFT]


async def test_heartbeats_carry_a_resume_point(database_url, tmp_path, db) -> None:
    replica = SchedulingProcess(database_url, tmp_path, WATCH_HEARTBEAT_S="0.2").start()
    try:
        async with aio.insecure_channel(replica.address) as channel:
            stub = pb_grpc.SchedulingServiceStub(channel)
            now = head(db)
            watcher = Watcher(
                stub, pb.WatchRoomsRequest(since_revision=now, participant_id=new_user())
            )
            await watcher.until(lambda ev: sum(e.type == T.TYPE_HEARTBEAT for e in ev) >= 2)
            await watcher.cancel()
            assert all(e.revision >= now for e in watcher.events)
    finally:
        assert replica.stop() == 0


async def test_bad_and_future_revisions(stub, db) -> None:
    for since, field in [(-1, "since_revision"), (head(db) + 1000, "since_revision")]:
        call = stub.WatchRooms(pb.WatchRoomsRequest(since_revision=since), metadata=auth("w"))
        with pytest.raises(grpc.RpcError) as raised:
            await call.read()
        seen = failure(raised.value)
        assert (seen.code, seen.fields) == (grpc.StatusCode.INVALID_ARGUMENT, [field])


async def test_compacted_revision_is_out_of_range(postgres_server, tmp_path) -> None:
    with postgres.fresh_database(postgres_server) as url:
        schema.upgrade_to_head(url)
        replica = SchedulingProcess(
            url,
            tmp_path,
            WATCH_RETENTION_H="0.0003",
            REQUEST_ID_RETENTION_H="0.0003",
            WATCH_PRUNE_EVERY_S="0.2",
        ).start()
        try:
            async with aio.insecure_channel(replica.address) as channel:
                stub = pb_grpc.SchedulingServiceStub(channel)
                for _ in range(2):
                    await stub.CreateRoom(
                        create_request(request_id=str(uuid.uuid4())), metadata=auth(new_user())
                    )
                with psycopg.connect(postgres.libpq_url(url), autocommit=True) as conn:
                    await _until_compacted(conn, 2)
                    # Request ids past their retention are forgotten by the same task.
                    assert conn.execute("SELECT count(*) FROM room_requests").fetchone() == (0,)

                old = stub.WatchRooms(pb.WatchRoomsRequest(since_revision=1), metadata=auth("w"))
                with pytest.raises(grpc.RpcError) as raised:
                    await old.read()
                seen = failure(raised.value)
                assert (seen.code, seen.reason) == (
                    grpc.StatusCode.OUT_OF_RANGE,
                    "REVISION_COMPACTED",
                )
                # From the newest revision nothing is missing: the stream goes on.
                fresh = stub.WatchRooms(pb.WatchRoomsRequest(since_revision=2), metadata=auth("w"))
                room = await stub.CreateRoom(create_request(), metadata=auth(new_user()))
                event = await fresh.read()
                assert (event.type, event.room.room_id) == (T.TYPE_CREATED, room.room_id)
                fresh.cancel()
                # A fresh watch still lists the rooms, pruned history or not.
                listing = stub.WatchRooms(pb.WatchRoomsRequest(), metadata=auth("w"))
                kinds = [(await listing.read()).type for _ in range(4)]
                assert kinds == [T.TYPE_SNAPSHOT] * 3 + [T.TYPE_SYNCED]
                listing.cancel()
        finally:
            assert replica.stop() == 0


async def _until_compacted(conn: psycopg.Connection, revision: int) -> None:
    deadline = time.monotonic() + 15
    while conn.execute("SELECT compacted FROM room_events_horizon").fetchone()[0] < revision:
        assert time.monotonic() < deadline, "the change log was never pruned"
        await asyncio.sleep(0.1)


async def test_stalled_watcher_is_cut_and_others_keep_receiving(database_url, tmp_path, db) -> None:
    replica = SchedulingProcess(database_url, tmp_path, WATCH_QUEUE_SIZE="8").start()
    # No BDP probing: the stalled client's receive window stays small, so the server's
    # writes to it block soon, as they would for a client on a dead network.
    small_window = [("grpc.http2.bdp_probe", 0)]
    try:
        async with (
            aio.insecure_channel(replica.address, options=small_window) as slow_channel,
            aio.insecure_channel(replica.address) as channel,
        ):
            stub = pb_grpc.SchedulingServiceStub(channel)
            start = head(db)
            stalled = pb_grpc.SchedulingServiceStub(slow_channel).WatchRooms(
                pb.WatchRoomsRequest(since_revision=start), metadata=auth("slow")
            )
            healthy = Watcher(stub, pb.WatchRoomsRequest(since_revision=start))
            host = new_user()
            big = "x" * 3900
            for _ in range(60):
                await stub.CreateRoom(create_request(description=big), metadata=auth(host))
            await healthy.reached(head(db))
            assert len(changes(healthy.events)) == 60
            with pytest.raises(grpc.RpcError) as raised:
                while True:
                    await stalled.read()
            seen = failure(raised.value)
            assert (seen.code, seen.reason) == (
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "WATCHER_TOO_SLOW",
            )
            # The healthy watcher goes on.
            room = await stub.CreateRoom(create_request(), metadata=auth(new_user()))
            await healthy.until(lambda ev: ev[-1].room.room_id == room.room_id)
            await healthy.cancel()
    finally:
        assert replica.stop() == 0


async def test_connections_dropped_under_watchers_lose_nothing(stubs, db, database_url) -> None:
    a, b = stubs
    start = head(db)
    watcher = Watcher(b, pb.WatchRoomsRequest(since_revision=start))
    host = new_user()
    await a.CreateRoom(create_request(), metadata=auth(host))
    # What a database restart does to the replicas: every connection is cut.
    db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name LIKE 'scheduling_service%%'"
    )
    for _ in range(50):
        try:
            await a.CreateRoom(create_request(), metadata=auth(host))
            break
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.UNAVAILABLE
            await asyncio.sleep(0.1)
    for _ in range(3):
        await a.CreateRoom(create_request(), metadata=auth(host))
    end = head(db)
    await watcher.reached(end)
    await watcher.cancel()
    assert changes(watcher.events) == logged(db, start, end)


async def test_streams_end_unavailable_on_sigterm(database_url, tmp_path, db) -> None:
    replica = SchedulingProcess(database_url, tmp_path, SHUTDOWN_GRACE_S="30").start()
    async with aio.insecure_channel(replica.address) as channel:
        stub = pb_grpc.SchedulingServiceStub(channel)
        call = stub.WatchRooms(pb.WatchRoomsRequest(since_revision=head(db)), metadata=auth("w"))
        await asyncio.sleep(0.3)
        started = time.monotonic()
        assert replica.process is not None
        replica.process.terminate()
        with pytest.raises(grpc.RpcError) as raised:
            while True:
                await call.read()
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert replica.stop() == 0
    assert time.monotonic() - started < 10  # not the 30 s grace


async def test_a_thousand_connect_cancel_cycles_leave_no_subscription(
    database_url, tmp_path
) -> None:
    metrics_port = free_port()
    replica = SchedulingProcess(database_url, tmp_path, METRICS_PORT=str(metrics_port)).start()
    try:
        async with aio.insecure_channel(replica.address) as channel:
            stub = pb_grpc.SchedulingServiceStub(channel)
            nobody = new_user("nobody")
            for _ in range(1000):
                call = stub.WatchRooms(
                    pb.WatchRoomsRequest(participant_id=nobody), metadata=auth(nobody)
                )
                assert (await call.read()).type == T.TYPE_SYNCED  # subscribed by now
                call.cancel()
        deadline = time.monotonic() + 10
        while _watchers(metrics_port) != 0:
            assert time.monotonic() < deadline, "subscriptions left behind"
            await asyncio.sleep(0.1)
    finally:
        assert replica.stop() == 0


def _watchers(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith("scheduling_watchers "):
                return float(line.split()[1])
    raise AssertionError("no scheduling_watchers gauge")


async def test_a_filtered_watcher_on_a_busy_system_still_gets_heartbeats(
    database_url, tmp_path, db
) -> None:
    replica = SchedulingProcess(database_url, tmp_path, WATCH_HEARTBEAT_S="0.5").start()
    try:
        async with aio.insecure_channel(replica.address) as channel:
            stub = pb_grpc.SchedulingServiceStub(channel)
            watcher = Watcher(
                stub, pb.WatchRoomsRequest(since_revision=head(db), participant_id=new_user())
            )
            host = new_user()
            started = time.monotonic()
            while time.monotonic() - started < 2.5:  # an event every 0.1 s, none of theirs
                await stub.CreateRoom(create_request(), metadata=auth(host))
                await asyncio.sleep(0.1)
            await watcher.cancel()
        beats = [e for e in watcher.events if e.type == T.TYPE_HEARTBEAT]
        assert len(beats) >= 3
        assert beats[-1].revision > beats[0].revision  # the resume point moves on
        assert all(e.type == T.TYPE_HEARTBEAT for e in watcher.events)
    finally:
        assert replica.stop() == 0
