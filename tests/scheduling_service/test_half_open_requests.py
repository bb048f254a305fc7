"""Requests that never send their message are bounded in time and in count per
connection, before authentication (issue 18, finding 5).

A half-open request is a call whose HEADERS arrive and whose message never does. A
gRPC client makes one by calling a unary method as request-streaming with a request
iterator that never yields: the wire is the same as an attacker's HEADERS without DATA.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from grpc import aio
from scheduling.v1 import scheduling_pb2 as pb
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc

from tests.processes import SchedulingProcess
from tests.scheduling_service.client import auth, failure

pytestmark = pytest.mark.slow

GET_ROOM = "/scheduling.v1.SchedulingService/GetRoom"
# grpc shares one connection among a process's channels to the same target; each of
# these channels gets its own.
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


@contextlib.contextmanager
def running(url: str, tmp_path: Path, **env: str) -> Iterator[SchedulingProcess]:
    replica = SchedulingProcess(url, tmp_path, **env).start()
    try:
        yield replica
    finally:
        assert replica.stop() == 0, replica.log()[-3000:]


def half_open(channel: aio.Channel, never: asyncio.Event) -> asyncio.Task[bytes]:
    """A GetRoom whose HEADERS go out (no token) and whose message never does."""

    async def nothing() -> AsyncIterator[bytes]:
        await never.wait()
        yield b""

    call = channel.stream_unary(
        GET_ROOM, request_serializer=lambda m: m, response_deserializer=lambda m: m
    )
    return asyncio.ensure_future(call(nothing()))


async def _answered(channel: aio.Channel) -> None:
    """One whole call on `channel`: once it is answered, the server has taken up every
    call opened on the channel before it (grpc.aio starts calls in their order)."""
    stub = pb_grpc.SchedulingServiceStub(channel)
    await stub.ListRooms(pb.ListRoomsRequest(page_size=1), metadata=auth("someone"))


async def _failure_of(task: asyncio.Task[bytes]):  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as raised:
        async with asyncio.timeout(60):  # the server's bound is what is under test
            await task
    return failure(raised.value)


async def test_a_request_whose_message_never_comes_ends_in_time(database_url, tmp_path) -> None:
    never = asyncio.Event()
    with running(database_url, tmp_path, GRPC_REQUEST_MESSAGE_TIMEOUT_S="1") as replica:
        async with aio.insecure_channel(replica.address, options=OWN_CONNECTION) as channel:
            seen = await _failure_of(half_open(channel, never))
            # Not UNAUTHENTICATED: the bound holds before the token is read.
            assert (seen.code, seen.reason) == (
                grpc.StatusCode.DEADLINE_EXCEEDED,
                "REQUEST_NOT_SENT",
            )
    assert '"reason": "REQUEST_NOT_SENT"' in replica.log()


async def test_a_call_ended_without_a_message_is_a_bad_request(database_url, tmp_path) -> None:
    async def nothing() -> AsyncIterator[bytes]:
        return
        yield b""

    with running(database_url, tmp_path) as replica:
        async with aio.insecure_channel(replica.address, options=OWN_CONNECTION) as channel:
            call = channel.stream_unary(
                GET_ROOM, request_serializer=lambda m: m, response_deserializer=lambda m: m
            )
            seen = await _failure_of(asyncio.ensure_future(call(nothing())))
    assert (seen.code, seen.reason, seen.fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
        ["request"],
    )


async def test_one_connection_holds_at_most_so_many_waiting_requests(
    database_url, tmp_path
) -> None:
    never = asyncio.Event()
    with running(
        database_url,
        tmp_path,
        GRPC_MAX_PENDING_REQUESTS_PER_CONNECTION="5",
        GRPC_REQUEST_MESSAGE_TIMEOUT_S="120",
    ) as replica:
        async with (
            aio.insecure_channel(replica.address, options=OWN_CONNECTION) as channel,
            aio.insecure_channel(replica.address, options=OWN_CONNECTION) as other_channel,
        ):
            waiting = await _fill(channel, never, 5)
            # Another connection has its own count.
            elsewhere = half_open(other_channel, never)
            await _answered(other_channel)
            assert not elsewhere.done()
            # Calls that end give their places back: once the server has seen the
            # cancels, the connection takes whole calls, then five waiting ones again.
            for task in [*waiting, elsewhere]:
                task.cancel()
            await asyncio.gather(*waiting, elsewhere, return_exceptions=True)
            await _until_answered(channel)
            again = await _fill(channel, never, 5)
            for task in again:
                task.cancel()
            await asyncio.gather(*again, return_exceptions=True)


async def _fill(channel: aio.Channel, never: asyncio.Event, most: int) -> list[asyncio.Task[bytes]]:
    """`most` waiting calls on `channel`, shown by the one more opened with them being
    refused at once (which one is the client's choice: it sends them in any order)."""
    calls = [half_open(channel, never) for _ in range(most + 1)]
    done, waiting = await asyncio.wait(calls, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    assert len(done) == 1, done
    seen = await _failure_of(done.pop())
    assert (seen.code, seen.reason) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "TOO_MANY_PENDING_REQUESTS",
    )
    return list(waiting)


async def _until_answered(channel: aio.Channel) -> None:
    async with asyncio.timeout(30):
        while True:
            try:
                return await _answered(channel)
            except grpc.RpcError as error:
                assert failure(error).reason == "TOO_MANY_PENDING_REQUESTS"
                await asyncio.sleep(0.05)


async def test_a_flood_of_half_open_requests_is_bounded(database_url, tmp_path) -> None:
    """Five connections with a thousand half-open GetRooms each: past each connection's
    100 the rest are refused at once, the 100 end at the timeout, memory comes back."""
    never = asyncio.Event()
    with running(database_url, tmp_path, GRPC_REQUEST_MESSAGE_TIMEOUT_S="3") as replica:
        before = _rss_mib(replica)
        channels = [aio.insecure_channel(replica.address, options=OWN_CONNECTION) for _ in range(5)]
        try:
            calls = [half_open(channel, never) for channel in channels for _ in range(1000)]
            outcomes = await asyncio.gather(*(_failure_of(call) for call in calls))
            during = _rss_mib(replica)
        finally:
            for channel in channels:
                await channel.close(None)
    assert {(o.code, o.reason) for o in outcomes} == {
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "TOO_MANY_PENDING_REQUESTS"),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "REQUEST_NOT_SENT"),
    }
    # Each connection filled its 100 places, and the rest were refused; a call the client
    # got out only after the first ones had timed out (a busy machine) takes a freed
    # place and times out in its turn, so at least 500 end at the timeout.
    timed_out = sum(o.reason == "REQUEST_NOT_SENT" for o in outcomes)
    assert 500 <= timed_out < len(outcomes) // 2
    assert during - before < 40, (before, during)


def _rss_mib(replica: SchedulingProcess) -> float:
    assert replica.process is not None
    status = Path(f"/proc/{replica.process.pid}/status").read_text()
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(kib) / 1024
