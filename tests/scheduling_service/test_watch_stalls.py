"""A watcher's cost is bounded by what it reads (issue 18): a client that stops reading
holds no snapshot slot and no transaction, one that vanishes mid-write is CANCELLED at
info level, and every end of a stream gives back every count it held."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import psycopg
import pytest
from grpc import aio
from scheduling.v1 import scheduling_pb2 as pb
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc

from tests import postgres
from tests.processes import SchedulingProcess
from tests.scheduling_service.client import auth, create_request, failure, new_user
from tests.scheduling_service.watching import T, Watcher
from tests.smtp_sink import free_port

pytestmark = pytest.mark.slow

# Events this large fill a non-reading client's flow-control window in a few dozen.
BIG = "x" * 3900
# No BDP probing: a client that stops reading keeps a small receive window, so the
# server's writes to it block soon, as they would for a client on a dead network.
SMALL_WINDOW = [("grpc.http2.bdp_probe", 0)]


@pytest.fixture
def database(postgres_server: str) -> Iterator[str]:
    with postgres.migrated_database(postgres_server) as url:
        yield url


@contextlib.asynccontextmanager
async def running(url: str, tmp_path: Path, **env: str) -> AsyncIterator[SchedulingProcess]:
    replica = SchedulingProcess(url, tmp_path, **env).start()
    try:
        yield replica
    finally:
        assert replica.stop() == 0, replica.log()[-3000:]


async def _create_big_rooms(stub: pb_grpc.SchedulingServiceStub, n: int) -> None:
    host = new_user("host")
    for _ in range(n):
        await stub.CreateRoom(create_request(description=BIG), metadata=auth(host))


async def _stalled(address: str, user: str, since: int = 0) -> tuple[aio.Channel, aio.Call]:
    """A watch that reads its first event and then never reads again."""
    channel = aio.insecure_channel(address, options=SMALL_WINDOW)
    call = pb_grpc.SchedulingServiceStub(channel).WatchRooms(
        pb.WatchRoomsRequest(since_revision=since), metadata=auth(user)
    )
    if since == 0:
        assert (await call.read()).type == T.TYPE_SNAPSHOT
    return channel, call


def _idle_in_transaction(url: str) -> int:
    with psycopg.connect(postgres.libpq_url(url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'scheduling_service' AND state = 'idle in transaction'"
        ).fetchone()
    assert row is not None
    return int(row[0])


async def _until(predicate, what: str, within_s: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within_s
    while not predicate():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def test_stalled_readers_leave_other_users_snapshots_alone(database, tmp_path) -> None:
    async with (
        running(database, tmp_path, WATCH_SNAPSHOT_CONCURRENCY="4") as replica,
        aio.insecure_channel(replica.address) as channel,
    ):
        stub = pb_grpc.SchedulingServiceStub(channel)
        await _create_big_rooms(stub, 100)  # a snapshot of ~400 KB
        stalled = [await _stalled(replica.address, "staller") for _ in range(4)]
        # Their snapshots were read whole: no transaction waits on their pace.
        await _until(
            lambda: _idle_in_transaction(database) == 0,
            "a stalled reader's snapshot transaction stayed open",
        )
        other = Watcher(stub, pb.WatchRoomsRequest())
        await other.until(lambda events: any(e.type == T.TYPE_SYNCED for e in events))
        assert sum(e.type == T.TYPE_SNAPSHOT for e in other.events) == 100
        await other.cancel()
        for stalled_channel, _ in stalled:
            await stalled_channel.close(None)


async def test_a_client_gone_mid_write_is_cancelled_at_info_level(database, tmp_path) -> None:
    async with running(database, tmp_path) as replica:
        async with aio.insecure_channel(replica.address) as channel:
            await _create_big_rooms(pb_grpc.SchedulingServiceStub(channel), 60)
        gone, _ = await _stalled(replica.address, "vanisher")
        # Another watcher reads the whole snapshot meanwhile: by then the server has
        # filled the vanisher's window and waits in its write.
        async with aio.insecure_channel(replica.address) as channel:
            other = Watcher(pb_grpc.SchedulingServiceStub(channel), pb.WatchRoomsRequest())
            await other.until(lambda events: any(e.type == T.TYPE_SYNCED for e in events))
            await other.cancel()
        await gone.close(None)  # the connection closes under that write
        await _until(
            lambda: replica.log().count('"method": "WatchRooms", "code": "CANCELLED"') == 2,
            "the vanished watcher was never logged",
        )
    lines = [json.loads(line) for line in replica.log().splitlines() if line.startswith("{")]
    watches = [line for line in lines if line.get("method") == "WatchRooms"]
    assert [(w["level"], w["code"]) for w in watches if w["event"] == "rpc"] == [
        ("info", "CANCELLED")
    ] * 2
    assert not [line for line in lines if line["level"] == "error"]


async def test_watchers_that_come_and_go_give_back_every_count(database, tmp_path) -> None:
    metrics_port = free_port()
    per_user = 6
    async with (
        running(
            database,
            tmp_path,
            METRICS_PORT=str(metrics_port),
            WATCH_QUEUE_SIZE="8",
            WATCH_MAX_PER_USER=str(per_user),
        ) as replica,
        aio.insecure_channel(replica.address) as channel,
    ):
        stub = pb_grpc.SchedulingServiceStub(channel)
        await _create_big_rooms(stub, 40)
        sizes = []
        for _ in range(6):
            await _round(replica.address, stub, "soaker")
            await _until(lambda: _watchers(metrics_port) == 0, "watchers left behind")
            sizes.append(_rss_mib(replica))
        # The user's counts are back to zero: all their places open at once.
        calls = [
            stub.WatchRooms(pb.WatchRoomsRequest(), metadata=auth("soaker"))
            for _ in range(per_user)
        ]
        for call in calls:
            while (await call.read()).type != T.TYPE_SYNCED:
                pass
            call.cancel()
    # Flat after the first rounds warmed the process up (allocator, caches).
    assert sizes[-1] - sizes[1] < 25, sizes


async def _round(address: str, stub: pb_grpc.SchedulingServiceStub, user: str) -> None:
    """Two watchers that stop reading and are cut as too slow, two that vanish while
    their snapshot is written, two that read and cancel: all one user's."""
    head = (await stub.CreateRoom(create_request(), metadata=auth(new_user()))).revision
    slow = [await _stalled(address, user, since=head) for _ in range(2)]
    vanishing = [await _stalled(address, user) for _ in range(2)]
    readers = [
        stub.WatchRooms(pb.WatchRoomsRequest(since_revision=head), metadata=auth(user))
        for _ in range(2)
    ]
    for gone, _ in vanishing:
        await gone.close(None)
    await _create_big_rooms(stub, 60)
    for _, call in slow:
        with pytest.raises(grpc.RpcError) as raised:
            while True:
                await call.read()
        assert failure(raised.value).reason == "WATCHER_TOO_SLOW"
    for call in readers:
        assert (await call.read()).type == T.TYPE_CREATED
        call.cancel()
    for channel, _ in slow:
        await channel.close(None)


def _watchers(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith("scheduling_watchers "):
                return float(line.split()[1])
    raise AssertionError("no scheduling_watchers gauge")


def _rss_mib(replica: SchedulingProcess) -> float:
    assert replica.process is not None
    status = Path(f"/proc/{replica.process.pid}/status").read_text()
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(kib) / 1024
