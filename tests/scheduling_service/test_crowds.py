"""Many callers at once on one replica, with the default limits.

A crowd of watchers: every stream reaches SYNCED or ends with a documented status and
reason, the server logs a line for each, and unary calls keep being answered meanwhile
(their latency is printed; speed is `make bench`'s business, not a test's). A crowd of
connections that never say anything: each is closed after the handshake timeout."""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import time
from collections import Counter

import grpc
import pytest
from grpc import aio
from scheduling.v1 import scheduling_pb2 as pb
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc

from tests import postgres
from tests.processes import SchedulingProcess
from tests.scheduling_service.client import auth, create_request, failure, new_user

pytestmark = pytest.mark.slow  # starts PostgreSQL and server processes

WATCHERS = 2000
PER_USER = 10  # within WATCH_MAX_PER_USER (20)
GREEDY = 25  # one user asks for more than that
CHANNELS = 20  # 100 streams each: within GRPC_MAX_STREAMS_PER_CONNECTION (1000)


async def _watch(stub, metadata, held: asyncio.Event | None = None) -> tuple[str, str]:
    """How a watch ended: SYNCED, or its status. `held`: once synced, the stream stays
    open until it is set (a stream closed at once gives its user's place back)."""
    call = stub.WatchRooms(pb.WatchRoomsRequest(), metadata=metadata)
    try:
        # Seconds on a quiet machine; minutes beside a CPU hog.
        async with asyncio.timeout(300):
            async for event in call:
                if event.type == pb.RoomEvent.TYPE_SYNCED:
                    if held is not None:
                        await held.wait()
                    return "SYNCED", ""
        return "ENDED", ""
    except grpc.RpcError as error:
        seen = failure(error)
        return seen.code.name, seen.reason
    finally:
        call.cancel()


async def test_two_thousand_watchers_at_once(postgres_server, tmp_path) -> None:
    with postgres.migrated_database(postgres_server) as url:
        replica = SchedulingProcess(url, tmp_path).start()
        try:
            # A connection each (channels to one target otherwise share one).
            separate = [("grpc.use_local_subchannel_pool", 1)]
            channels = [
                aio.insecure_channel(replica.address, options=separate) for _ in range(CHANNELS + 1)
            ]
            stubs = [pb_grpc.SchedulingServiceStub(c) for c in channels]
            unary = stubs[-1]
            host = new_user("host")
            rooms = [
                await unary.CreateRoom(create_request(), metadata=auth(host)) for _ in range(5)
            ]
            users = [new_user("w") for _ in range(WATCHERS // PER_USER)]
            plan = [auth(u) for u in users for _ in range(PER_USER)]
            watches = [
                asyncio.ensure_future(_watch(stubs[i % CHANNELS], metadata))
                for i, metadata in enumerate(plan)
            ]
            # The greedy user's streams stay open once synced: all 25 are asked for
            # while the first ones still hold their places, whatever the machine's pace.
            greedy, greedy_held = auth(new_user("greedy")), asyncio.Event()
            greedy_watches = [
                asyncio.ensure_future(_watch(stubs[i % CHANNELS], greedy, greedy_held))
                for i in range(GREEDY)
            ]
            refused_greedy = asyncio.ensure_future(_until_refused(greedy_watches, GREEDY - 20))
            refused_greedy.add_done_callback(lambda _: greedy_held.set())
            watches += greedy_watches
            plan += [greedy] * GREEDY

            latencies = []
            while not all(w.done() for w in watches):
                started = time.perf_counter()
                await unary.GetRoom(
                    pb.GetRoomRequest(room_id=rooms[0].room_id), metadata=auth(host), timeout=30
                )
                latencies.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(0.01)
            outcomes = Counter(w.result() for w in watches)
            for channel in channels:
                await channel.close()
        finally:
            assert replica.stop() == 0

    # Every watcher synced, but for the greedy user's streams beyond the limit.
    refused = ("RESOURCE_EXHAUSTED", "TOO_MANY_WATCHES")
    assert outcomes == Counter({("SYNCED", ""): WATCHERS + 20, refused: GREEDY - 20})
    # The server said so, one `rpc` line per stream.
    lines = [json.loads(line) for line in replica.log().splitlines() if line.startswith("{")]
    logged = Counter(
        (line["code"], line.get("reason"))
        for line in lines
        if line.get("event") == "rpc" and line.get("method") == "WatchRooms"
    )
    assert logged == Counter({("CANCELLED", None): WATCHERS + 20, refused: GREEDY - 20})
    p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) > 1 else latencies[0]
    print(f"\nGetRoom during {len(plan)} watch opens: {len(latencies)} calls, p99 {p99:.1f} ms")


async def _until_refused(watches: list[asyncio.Future[tuple[str, str]]], count: int) -> None:
    """Until `count` of `watches` have ended without syncing (refused)."""
    pending = set(watches)
    ended = 0
    while ended < count and pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        ended += len(done)


async def test_connections_that_never_speak_are_closed(database_url, tmp_path) -> None:
    replica = SchedulingProcess(database_url, tmp_path, GRPC_HANDSHAKE_TIMEOUT_S="1").start()
    silent = [socket.create_connection(("127.0.0.1", replica.port)) for _ in range(200)]
    try:
        for sock in silent:
            sock.settimeout(15)  # a read that times out fails the test
            while sock.recv(4096):  # the server's own SETTINGS, then the close
                pass
        # Meanwhile, and after, a caller that does speak is served.
        async with aio.insecure_channel(replica.address) as channel:
            stub = pb_grpc.SchedulingServiceStub(channel)
            room = await stub.CreateRoom(create_request(), metadata=auth(new_user()))
            assert room.room_id
    finally:
        for sock in silent:
            sock.close()
        assert replica.stop() == 0
