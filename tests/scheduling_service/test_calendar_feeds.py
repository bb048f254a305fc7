"""Calendar feeds (design §12) through real servers on one PostgreSQL: what a subscribed
calendar shows after each change, read by icalendar, vobject and ical.js; conditional
reads; rotate and revoke on every replica; the rate limit; hostile tokens; and no token
anywhere in the database or the logs."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from grpc import aio
from scheduling.v1 import scheduling_pb2 as pb
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc

from tests.feed_readers import ReadFeed, read_three_ways
from tests.processes import SchedulingProcess
from tests.scheduling_service.client import (
    auth,
    create_request,
    failure,
    future,
    minutes,
    new_user,
    ts,
)
from tests.system.calendar_system import secrets_found

pytestmark = pytest.mark.slow  # starts PostgreSQL and server processes

ALICE_NAME = "Alice Host"
BOB_NAME = "Bob Guest"


class Person:
    def __init__(self, prefix: str, name: str) -> None:
        self.user_id = new_user(prefix)
        self.name = name
        self.email = f"{self.user_id}@example.test"

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return auth(self.user_id, name=self.name, email=self.email)


async def _feed(
    stub: pb_grpc.SchedulingServiceStub, token: str, etag: str | None = None
) -> tuple[bytes, dict[str, str]]:
    metadata = (("feed-if-none-match", etag),) if etag else None
    call = stub.GetCalendarFeed(pb.GetCalendarFeedRequest(token=token), metadata=metadata)
    body = await call
    headers = {k: v for k, v in (await call.initial_metadata()) or () if isinstance(v, str)}
    assert body.content_type == "text/calendar; charset=utf-8"
    return body.data, headers


async def _read(stub: pb_grpc.SchedulingServiceStub, token: str) -> ReadFeed:
    body, _ = await _feed(stub, token)
    return read_three_ways(body)


async def _rotate(stub: pb_grpc.SchedulingServiceStub, person: Person) -> str:
    feed = await stub.RotateCalendarFeed(pb.RotateCalendarFeedRequest(), metadata=person.metadata)
    return feed.token


async def test_rotate_returns_a_secret_url_once(stub, server: SchedulingProcess) -> None:
    alice = Person("feed-url", ALICE_NAME)
    before = datetime.now(UTC) - timedelta(seconds=5)
    feed = await stub.RotateCalendarFeed(pb.RotateCalendarFeedRequest(), metadata=alice.metadata)
    assert len(feed.token) == 43 and feed.token.replace("-", "").replace("_", "").isalnum()
    assert feed.feed_url == f"http://localhost:8080/v1/calendarFeeds/{feed.token}.ics"
    assert feed.create_time.ToDatetime(UTC) >= before
    # Another rotate: another token.
    assert await _rotate(stub, alice) != feed.token


async def test_the_feed_follows_book_reschedule_leave_and_cancel(stub) -> None:
    alice, bob, carol = Person("feed-h", ALICE_NAME), Person("feed-g", BOB_NAME), Person("c", "C")
    alice_token, bob_token = await _rotate(stub, alice), await _rotate(stub, bob)
    kept = await stub.CreateRoom(
        create_request(future(), title="Kept: graphs, trees", description="Bring; a pen\\"),
        metadata=alice.metadata,
    )
    left = await stub.CreateRoom(create_request(future(), title="Left"), metadata=alice.metadata)
    cancelled = await stub.CreateRoom(
        create_request(future(), title="Cancelled"), metadata=alice.metadata
    )
    strangers = await stub.CreateRoom(create_request(future()), metadata=carol.metadata)
    for room in (kept, left, cancelled):
        await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=bob.metadata)

    feed = await _read(stub, bob_token)
    assert feed.uids == {kept.ics_uid, left.ics_uid, cancelled.ics_uid}
    event = feed.by_uid(kept.ics_uid)
    assert (event.status, event.transp, event.summary) == ("CONFIRMED", "OPAQUE", kept.title)
    assert (event.start, event.end) == (
        kept.start_time.ToDatetime(UTC),
        kept.end_time.ToDatetime(UTC),
    )
    # The other participant by name only; the room's description and rounds as invited.
    assert event.description.startswith(f"Your host: {ALICE_NAME}\n\n")
    assert "Bring; a pen\\" in event.description and "Round 1: Warm-up" in event.description
    assert alice.email not in (await _feed(stub, bob_token))[0].decode()
    assert strangers.ics_uid not in feed.uids
    assert (
        (await _read(stub, alice_token))
        .by_uid(kept.ics_uid)
        .description.startswith(f"Your guest: {BOB_NAME}\n\n")
    )

    moved_to = future()
    moved = await stub.RescheduleRoom(
        pb.RescheduleRoomRequest(room_id=kept.room_id, start_time=ts(moved_to)),
        metadata=alice.metadata,
    )
    await stub.LeaveRoom(pb.LeaveRoomRequest(room_id=left.room_id), metadata=bob.metadata)
    await stub.CancelRoom(pb.CancelRoomRequest(room_id=cancelled.room_id), metadata=alice.metadata)

    for token in (alice_token, bob_token):
        feed = await _read(stub, token)
        event = feed.by_uid(kept.ics_uid)
        assert (event.start, event.sequence) == (moved_to, moved.sequence)
        assert event.sequence > kept.sequence
        gone = feed.by_uid(cancelled.ics_uid)
        assert (gone.status, gone.transp) == ("CANCELLED", "TRANSPARENT")
        assert gone.start == cancelled.start_time.ToDatetime(UTC)
        assert gone.sequence > cancelled.sequence
        assert (feed.refresh, feed.ttl) == ("PT1H", "PT1H")
    # The guest who left sees the session cancelled; the host still has it, open.
    assert (await _read(stub, bob_token)).by_uid(left.ics_uid).status == "CANCELLED"
    hosts = (await _read(stub, alice_token)).by_uid(left.ics_uid)
    assert (hosts.status, hosts.description.split("\n")[0]) == ("CONFIRMED", "Not booked yet")

    # Booked again by the one who left: the session, not its tombstone.
    await stub.BookRoom(pb.BookRoomRequest(room_id=left.room_id), metadata=bob.metadata)
    assert (await _read(stub, bob_token)).by_uid(left.ics_uid).status == "CONFIRMED"


async def test_a_conditional_read_is_answered_not_modified(stub) -> None:
    alice = Person("feed-etag", ALICE_NAME)
    token = await _rotate(stub, alice)
    room = await stub.CreateRoom(create_request(future()), metadata=alice.metadata)
    body, headers = await _feed(stub, token)
    etag = headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and "x-http-code" not in headers
    assert headers["cache-control"] == "private, max-age=0, must-revalidate"

    again, headers = await _feed(stub, token, etag)
    assert (again, headers["etag"], headers["x-http-code"]) == (b"", etag, "304")
    # A bare if-none-match (as Envoy's transcoder forwards one) is not taken: Envoy
    # would turn the empty body into a 200 and wipe the client's calendar.
    call = stub.GetCalendarFeed(
        pb.GetCalendarFeedRequest(token=token), metadata=(("if-none-match", etag),)
    )
    assert (await call).data == body
    # A list and a weak form match too; another tag does not.
    assert (await _feed(stub, token, f'"other", W/{etag}'))[0] == b""
    assert (await _feed(stub, token, '"other"'))[0] == body

    await stub.RescheduleRoom(
        pb.RescheduleRoomRequest(room_id=room.room_id, start_time=ts(future())),
        metadata=alice.metadata,
    )
    changed, headers = await _feed(stub, token, etag)
    assert changed and changed != body and headers["etag"] != etag
    assert "x-http-code" not in headers


async def test_rotate_and_revoke_end_the_old_token_on_every_replica(
    stub, second_server: SchedulingProcess
) -> None:
    alice = Person("feed-rot", ALICE_NAME)
    async with aio.insecure_channel(second_server.address) as channel:
        other = pb_grpc.SchedulingServiceStub(channel)
        first = await _rotate(stub, alice)
        await _feed(other, first)
        second = await _rotate(stub, alice)
        for replica in (stub, other):
            with pytest.raises(grpc.RpcError) as refused:
                await _feed(replica, first)
            assert (failure(refused.value).code, failure(refused.value).reason) == (
                grpc.StatusCode.NOT_FOUND,
                "FEED_NOT_FOUND",
            )
            await _feed(replica, second)

        await other.RevokeCalendarFeed(pb.RevokeCalendarFeedRequest(), metadata=alice.metadata)
        for replica in (stub, other):
            with pytest.raises(grpc.RpcError) as refused:
                await _feed(replica, second)
            assert failure(refused.value).reason == "FEED_NOT_FOUND"
        with pytest.raises(grpc.RpcError) as refused:
            await stub.RevokeCalendarFeed(pb.RevokeCalendarFeedRequest(), metadata=alice.metadata)
        assert (failure(refused.value).code, failure(refused.value).reason) == (
            grpc.StatusCode.NOT_FOUND,
            "FEED_NOT_FOUND",
        )


async def test_a_burst_of_reads_is_limited_across_replicas(
    stub, second_server: SchedulingProcess
) -> None:
    alice = Person("feed-burst", ALICE_NAME)
    token = await _rotate(stub, alice)
    async with aio.insecure_channel(second_server.address) as channel:
        replicas = (stub, pb_grpc.SchedulingServiceStub(channel))
        started = time.monotonic()
        outcomes = []
        for _ in range(10):  # 100 reads, alternating replicas, 10 at a time
            results = await asyncio.gather(
                *(_feed(replicas[i % 2], token) for i in range(10)), return_exceptions=True
            )
            outcomes += results
        elapsed = time.monotonic() - started
    served = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [failure(o) for o in outcomes if isinstance(o, grpc.RpcError)]
    assert len(served) + len(refused) == 100
    # FEED_RATE_PER_MIN=60: a burst of 60, then one a second.
    assert 60 <= len(served) <= 60 + int(elapsed) + 1
    assert {(f.code, f.reason) for f in refused} == {
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "FEED_RATE_LIMITED")
    }
    # Another user's feed is not limited by this one's readers.
    await _feed(stub, await _rotate(stub, Person("feed-calm", "Calm")))


@pytest.mark.parametrize(
    "token",
    [
        "x" * 43 + "x",
        "A" * 43,
        "A" * 42 + "=",
        "../../../etc/passwd",
        "%2e%2e%2f" * 5,
        "a;b,c:d",
        "A" * 43 + ".ics.ics",
        "A" * 100_000,
        "\u202e" + "A" * 42,
        "\x00" * 43,
        "A" * 20 + "\r\n" + "A" * 21,
    ],
    ids=lambda t: repr(t[:12]),
)
async def test_hostile_tokens_are_not_found_alike(stub, token: str) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        await _feed(stub, token)
    seen = failure(refused.value)
    assert (seen.code, seen.reason) == (grpc.StatusCode.NOT_FOUND, "FEED_NOT_FOUND")
    assert seen.message == "no such calendar feed"


async def test_a_missing_token_is_invalid(stub) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        await _feed(stub, "")
    seen = failure(refused.value)
    assert (seen.code, seen.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["token"])


async def test_the_feed_needs_no_bearer_token_and_the_others_do(stub) -> None:
    token = await _rotate(stub, Person("feed-anon", ALICE_NAME))
    await _feed(stub, token)  # no metadata at all
    for call in (stub.RotateCalendarFeed(pb.RotateCalendarFeedRequest()),):
        with pytest.raises(grpc.RpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as refused:
        await stub.RevokeCalendarFeed(pb.RevokeCalendarFeedRequest())
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_no_token_in_the_database_or_the_logs(
    stub, server: SchedulingProcess, second_server: SchedulingProcess, database_url: str
) -> None:
    alice, bob = Person("feed-leak", ALICE_NAME), Person("feed-leak-g", BOB_NAME)
    tokens = [await _rotate(stub, alice), await _rotate(stub, bob)]
    room = await stub.CreateRoom(
        create_request(future(), duration=minutes(30)), metadata=alice.metadata
    )
    await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=bob.metadata)
    async with aio.insecure_channel(second_server.address) as channel:
        other = pb_grpc.SchedulingServiceStub(channel)
        await _feed(other, tokens[0])
        await _feed(other, tokens[1] + ".ics")
    with pytest.raises(grpc.RpcError):
        await _feed(stub, tokens[0][::-1])
    await stub.CancelRoom(pb.CancelRoomRequest(room_id=room.room_id), metadata=alice.metadata)
    tokens.append(await _rotate(stub, alice))  # the first one rotated away
    await _feed(stub, tokens[-1])
    logs = [server.log_path, second_server.log_path]
    assert secrets_found(database_url, logs, tokens + [t[::-1] for t in tokens]) == []
    # The log lines name the feed by a hash prefix.
    assert '"feed":' in server.log_path.read_text()
