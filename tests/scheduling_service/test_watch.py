"""WatchRooms against real replicas: gap-free, ordered, resumable, filtered."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from grpc import aio
from scheduling.v1 import scheduling_pb2 as pb
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc

from tests.scheduling_service.client import auth, create_request, failure, new_user, trusted
from tests.scheduling_service.watching import T, Watcher, changes, churn, head, logged

pytestmark = pytest.mark.slow  # starts PostgreSQL and server processes


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
        # Read as the watcher reads (a trusted backend): the same view of every room,
        # but for the add-to-calendar links, which events leave out.
        got = await a.GetRoom(pb.GetRoomRequest(room_id=room_id), metadata=trusted())
        assert got.add_to_calendar.google_url and not room.HasField("add_to_calendar")
        got.ClearField("add_to_calendar")
        assert got == room
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


async def test_bad_and_future_revisions(stub, db) -> None:
    for since, field in [(-1, "since_revision"), (head(db) + 1000, "since_revision")]:
        call = stub.WatchRooms(pb.WatchRoomsRequest(since_revision=since), metadata=auth("w"))
        with pytest.raises(grpc.RpcError) as raised:
            await call.read()
        seen = failure(raised.value)
        assert (seen.code, seen.fields) == (grpc.StatusCode.INVALID_ARGUMENT, [field])


async def test_connections_dropped_under_watchers_lose_nothing(stubs, db, database_url) -> None:
    a, b = stubs
    start = head(db)
    watcher = Watcher(b, pb.WatchRoomsRequest(since_revision=start))
    host = new_user()
    await a.CreateRoom(create_request(), metadata=auth(host))
    # Live first (its backlog read and done): the cut is under a watcher that streams.
    # A watcher still reading its backlog when the cut comes may end UNAVAILABLE, and
    # resume: seen once on a two-core machine running four test workers.
    await watcher.reached(head(db))
    # What a database restart does to the replicas: every connection is cut.
    db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name LIKE 'scheduling_service%%'"
    )
    # The replica answers UNAVAILABLE until its pool has connected again: a generous
    # bound, since a busy machine may take seconds to start the new backends.
    deadline = time.monotonic() + 60
    while True:
        try:
            await a.CreateRoom(create_request(), metadata=auth(host))
            break
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.UNAVAILABLE
            assert time.monotonic() < deadline, "the replica never reconnected"
            await asyncio.sleep(0.1)
    for _ in range(3):
        await a.CreateRoom(create_request(), metadata=auth(host))
    end = head(db)
    await watcher.reached(end)
    await watcher.cancel()
    assert changes(watcher.events) == logged(db, start, end)


async def test_an_event_of_a_kind_this_release_does_not_know_is_skipped(stubs, db) -> None:
    """A newer release's kind of change, in the log during a rolling update: live and
    resumed watchers go past it (it is sent to nobody), and see what comes after."""
    a, b = stubs
    start = head(db)
    live = Watcher(b, pb.WatchRoomsRequest(since_revision=start))
    with db.transaction():
        (revision,) = db.execute(
            "UPDATE revision_counter SET value = value + 1 RETURNING value"
        ).fetchone()
        db.execute(
            "INSERT INTO room_events (revision, room_id, change, room, participants,"
            " open_before, open_after, event_time)"
            " VALUES (%s, gen_random_uuid(), 'FROM_THE_FUTURE', '\\x00', '{}', true, true, now())",
            (revision,),
        )
        db.execute("SELECT pg_notify('room_events', '')")
    after = await a.CreateRoom(create_request(), metadata=auth(new_user()))
    await live.reached(after.revision)
    resumed = Watcher(a, pb.WatchRoomsRequest(since_revision=start))
    await resumed.reached(after.revision)
    for watcher in (live, resumed):
        assert revision not in {e.revision for e in watcher.events}
        assert after.room_id in {e.room.room_id for e in watcher.events if e.type == T.TYPE_CREATED}
        await watcher.cancel()
