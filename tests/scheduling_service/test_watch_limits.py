"""WatchRooms at its limits: heartbeats, compaction, slow watchers, shutdown, churn."""

from __future__ import annotations

import asyncio
import time
import urllib.request
import uuid

import grpc
import psycopg
import pytest
from grpc import aio
from scheduling.v1 import scheduling_pb2 as pb
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc

from tests import postgres
from tests.processes import SchedulingProcess
from tests.scheduling_service.client import auth, create_request, failure, new_user
from tests.scheduling_service.watching import T, Watcher, changes, head
from tests.smtp_sink import free_port

pytestmark = pytest.mark.slow  # starts PostgreSQL and server processes


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


async def test_compacted_revision_is_out_of_range(postgres_server, tmp_path) -> None:
    with postgres.migrated_database(postgres_server) as url:
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
                    # Request ids past their retention are forgotten by the same task, in
                    # a statement of their own (just after, on a busy machine).
                    await _until_no_request_ids(conn)

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


async def _until_no_request_ids(conn: psycopg.Connection) -> None:
    deadline = time.monotonic() + 30
    while conn.execute("SELECT count(*) FROM room_requests").fetchone()[0]:
        assert time.monotonic() < deadline, "request ids were never pruned"
        await asyncio.sleep(0.1)


async def _until_compacted(conn: psycopg.Connection, revision: int) -> None:
    deadline = time.monotonic() + 30
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
            # A resume point (revision 0 would ask for a snapshot instead).
            await stub.CreateRoom(create_request(), metadata=auth(new_user()))
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
            host = new_user()
            # A resume point: revision 0 (this test first on a fresh database) would ask
            # for a snapshot, and its SYNCED, instead.
            await stub.CreateRoom(create_request(), metadata=auth(host))
            watcher = Watcher(
                stub, pb.WatchRoomsRequest(since_revision=head(db), participant_id=new_user())
            )
            started = time.monotonic()
            while time.monotonic() - started < 2.5:  # an event every 0.1 s, none of theirs
                await stub.CreateRoom(create_request(), metadata=auth(host))
                await asyncio.sleep(0.1)
            await watcher.cancel()
        beats = [e for e in watcher.events if e.type == T.TYPE_HEARTBEAT]
        assert len(beats) >= 3
        assert beats[-1].revision > beats[0].revision  # the resume point moves on
        assert all(e.type == T.TYPE_HEARTBEAT for e in watcher.events), watcher.events
    finally:
        assert replica.stop() == 0


async def test_a_connection_holds_at_most_its_streams_and_queues_the_rest(
    database_url, tmp_path
) -> None:
    replica = SchedulingProcess(database_url, tmp_path, GRPC_MAX_STREAMS_PER_CONNECTION="2").start()
    synced = lambda events: any(e.type == T.TYPE_SYNCED for e in events)  # noqa: E731
    try:
        async with aio.insecure_channel(replica.address) as channel:
            stub = pb_grpc.SchedulingServiceStub(channel)
            first, second = (Watcher(stub, pb.WatchRoomsRequest()) for _ in range(2))
            await first.until(synced)
            await second.until(synced)
            third = Watcher(stub, pb.WatchRoomsRequest())
            # The connection's two streams are taken: the third waits in the client.
            with pytest.raises(TimeoutError):
                await third.until(synced, within_s=1.0)
            await first.cancel()
            await third.until(synced)  # its turn came when a stream closed
            await second.cancel()
            await third.cancel()
    finally:
        assert replica.stop() == 0
