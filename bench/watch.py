"""WatchRooms fan-out: watcher processes, a writer, and delivery latency.

Watcher processes each hold many streams (spread over a few channels, each its own
HTTP/2 connection), open them from revision 0 and report "ready" once every stream is
SYNCED. The writer (the parent) then creates rooms at a fixed rate and records, per
revision, the time.time() at which each CreateRoom returned; the watchers record the
time.time() at which each event arrived. One host, one clock: latency = receipt -
return (it can be slightly negative: the NOTIFY goes out at commit, before the reply).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from collections import defaultdict
from datetime import timedelta
from multiprocessing.connection import Connection
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration

from bench.load import CHANNEL_OPTIONS, metadata, percentiles, ts
from bench.seed import next_day
from bench.services import rss_kib

STREAMS_PER_CHANNEL = 100
WRITE_RATE = 10.0  # rooms created per second while the watchers listen


def _watcher_main(conn: Connection, target: str, count: int, index: int) -> None:
    from scheduling.v1 import scheduling_pb2 as pb
    from scheduling.v1 import scheduling_pb2_grpc

    async def main() -> dict[int, list[float]]:
        received: dict[int, list[float]] = defaultdict(list)
        synced = 0
        all_synced = asyncio.Event()
        n_channels = max(1, -(-count // STREAMS_PER_CHANNEL))
        chans = [
            grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS) for _ in range(n_channels)
        ]
        stubs = [scheduling_pb2_grpc.SchedulingServiceStub(c) for c in chans]
        # A user per watcher, as in life (one user may hold only WATCH_MAX_PER_USER).
        auths = [metadata(f"watcher-{index}-{n}") for n in range(count)]
        live = (pb.RoomEvent.TYPE_CREATED, pb.RoomEvent.TYPE_BOOKED)

        async def watch(n: int) -> None:
            nonlocal synced
            call = stubs[n % n_channels].WatchRooms(
                pb.WatchRoomsRequest(since_revision=0), metadata=auths[n]
            )
            async for event in call:
                if event.type in live:
                    received[event.revision].append(time.time())
                elif event.type == pb.RoomEvent.TYPE_SYNCED:
                    synced += 1
                    if synced == count:
                        all_synced.set()

        tasks = [asyncio.create_task(watch(n)) for n in range(count)]
        waiter = asyncio.create_task(all_synced.wait())
        done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            for task in done:
                task.result()  # a stream ended before SYNCED: raise its error
            raise RuntimeError("a watch stream ended before SYNCED")
        conn.send("ready")
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # "stop"
        ended = sum(t.done() for t in tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for c in chans:
            await c.close()
        if ended:
            received[-1].append(float(ended))  # streams that ended early
        return dict(received)

    try:
        conn.send(asyncio.run(main()))
    except BaseException as error:
        conn.send(RuntimeError(f"watcher process failed: {error!r}"))
        raise


class Watchers:
    """`total` watchers over `processes` processes on `target`; receipts on stop()."""

    def __init__(self, target: str, total: int, processes: int) -> None:
        ctx = mp.get_context("spawn")
        self.total = total
        self.pipes: list[Connection] = []
        self.procs = []
        for i in range(processes):
            parent, child = ctx.Pipe()
            share = total // processes + (1 if i < total % processes else 0)
            proc = ctx.Process(target=_watcher_main, args=(child, target, share, i), daemon=True)
            self.pipes.append(parent)
            self.procs.append(proc)

    def start(self, timeout: float = 120) -> None:
        for proc in self.procs:
            proc.start()
        for pipe in self.pipes:
            _receive(pipe, timeout)

    def stop(self) -> tuple[dict[int, list[float]], int]:
        """Receipt times per revision (all watchers), and streams that ended early."""
        for pipe in self.pipes:
            pipe.send("stop")
        merged: dict[int, list[float]] = defaultdict(list)
        for pipe in self.pipes:
            for revision, times in _receive(pipe, 60).items():
                merged[revision] += times
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
        ended = int(sum(merged.pop(-1, [])))
        return dict(merged), ended


def _receive(pipe: Connection, timeout: float) -> Any:
    if not pipe.poll(timeout):
        raise TimeoutError(f"watcher process silent for {timeout}s")
    message = pipe.recv()
    if isinstance(message, BaseException):
        raise message
    return message


def write_rooms(target: str, count: int, rate_per_s: float, user: str) -> dict[int, float]:
    """CreateRoom `count` times at a fixed rate; revision -> time.time() of the return."""
    from scheduling.v1 import scheduling_pb2 as pb
    from scheduling.v1 import scheduling_pb2_grpc

    returned: dict[int, float] = {}
    auth = metadata(user)  # a host of its own per call: its rooms never overlap others
    base = next_day() + timedelta(days=2)
    with grpc.insecure_channel(target) as channel:
        stub = scheduling_pb2_grpc.SchedulingServiceStub(channel)
        due = time.monotonic()
        for n in range(-1, count):  # the first write warms the channel up, unmeasured
            request = pb.CreateRoomRequest(
                title="Watched room",
                start_time=ts(base + timedelta(minutes=5 * (n + 1))),
                duration=Duration(seconds=300),
                first_round_topic="Warm-up",
            )
            room = stub.CreateRoom(request, metadata=auth, timeout=10)
            if n >= 0:
                returned[room.revision] = time.time()
            due += 1 / rate_per_s
            time.sleep(max(0.0, due - time.monotonic()))
    return returned


def delivery(
    returned: dict[int, float], received: dict[int, list[float]], watchers: int
) -> dict[str, Any]:
    """Latency from each write's return to each watcher's receipt, and what was missed."""
    latencies = [
        (t - at) * 1000 for revision, at in returned.items() for t in received.get(revision, [])
    ]
    expected = len(returned) * watchers
    return {
        "watchers": watchers,
        "writes": len(returned),
        "deliveries": len(latencies),
        "missed": expected - len(latencies),
        **percentiles(latencies),
    }


def fanout(target: str, server_pid: int, watchers: int, writes: int) -> dict[str, Any]:
    """`watchers` on one replica: delivery latency, and the server's RSS per idle watcher."""
    write_rooms(target, 3, WRITE_RATE, "warm-writer")
    time.sleep(0.5)
    before = rss_kib(server_pid)
    group = Watchers(target, watchers, 2)
    group.start()
    time.sleep(1.0)
    after = rss_kib(server_pid)
    returned = write_rooms(target, writes, WRITE_RATE, "writer-1")
    time.sleep(0.5)
    received, ended = group.stop()
    return {
        **delivery(returned, received, watchers),
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_watcher": round((after - before) / watchers, 2),
        "ended_early": ended,
        "write_rate": WRITE_RATE,
    }


def across(writer_target: str, other_target: str, watchers: int, writes: int) -> dict[str, Any]:
    """Half the watchers on each replica, writes on the first; the other's latency leads."""
    half = watchers // 2
    near = Watchers(writer_target, half, 1)
    far = Watchers(other_target, half, 1)
    near.start()
    far.start()
    returned = write_rooms(writer_target, writes, WRITE_RATE, "writer-2")
    time.sleep(0.5)
    near_received, near_ended = near.stop()
    far_received, far_ended = far.stop()
    return {
        **delivery(returned, far_received, half),
        "same_replica": delivery(returned, near_received, half),
        "ended_early": near_ended + far_ended,
        "write_rate": WRITE_RATE,
    }
