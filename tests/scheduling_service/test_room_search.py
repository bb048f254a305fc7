"""ListRooms' search (design §13) through a real server and PostgreSQL: `bookable`
against a brute-force model of the booking rules over random rooms, bookings and
durations, for several users, across page boundaries; `query` word by word and field
by field; the duration bounds; and bad filters."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from scheduling.v1 import scheduling_pb2 as pb
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc

from tests.scheduling_service.client import (
    auth,
    create_request,
    failure,
    future,
    minutes,
    new_user,
    trusted,
    ts,
)

pytestmark = pytest.mark.slow  # starts PostgreSQL and a server process

WINDOW = timedelta(hours=9)  # what one future() slot leaves to this test alone


async def _all_pages(
    stub: pb_grpc.SchedulingServiceStub, user: str, **filters: object
) -> list[pb.Room]:
    """Every page of a listing, three rooms a page."""
    rooms: list[pb.Room] = []
    token = ""
    while True:
        request = pb.ListRoomsRequest(page_size=3, page_token=token, **filters)  # type: ignore[arg-type]
        page = await stub.ListRooms(request, metadata=auth(user))
        rooms += page.rooms
        token = page.next_page_token
        if not token:
            return rooms


def _overlaps(a: pb.Room, b: pb.Room) -> bool:
    return a.start_time.ToDatetime() < b.end_time.ToDatetime() and (
        b.start_time.ToDatetime() < a.end_time.ToDatetime()
    )


def _model_bookable(rooms: list[pb.Room], user: str, now: datetime) -> list[str]:
    """The booking rules, brute force: open, not the user's, not started, clear of
    every session the user hosts or has booked."""
    mine = [r for r in rooms if user in (r.host_id, r.guest_id)]
    return [
        r.room_id
        for r in sorted(rooms, key=lambda r: (r.start_time.ToDatetime(), r.room_id))
        if not r.guest_id
        and r.host_id != user
        and r.start_time.ToDatetime(UTC) > now
        and not any(_overlaps(r, m) for m in mine)
    ]


async def test_bookable_is_the_booking_rules_over_random_rooms(stub) -> None:
    rng = random.Random(20261202)
    base = future()
    users = [new_user(f"searcher{n}") for n in range(4)]
    # Two searchers host rooms too; four other hosts make most of them.
    hosts = users[:2] + [new_user("other-host") for _ in range(4)]
    lengths = [30, 45, 60, 90, 120]
    created: list[pb.Room] = []
    for _ in range(40):
        starts = base + timedelta(minutes=15 * rng.randrange(0, 27))
        request = create_request(starts, duration=minutes(rng.choice(lengths)))
        try:
            created.append(await stub.CreateRoom(request, metadata=auth(rng.choice(hosts))))
        except grpc.RpcError as refused:
            assert failure(refused).reason == "SCHEDULE_CONFLICT"
    for _ in range(40):
        room, guest = rng.choice(created), rng.choice(users)
        try:
            await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=auth(guest))
        except grpc.RpcError as refused:
            assert failure(refused).reason in {
                "ROOM_ALREADY_BOOKED",
                "SCHEDULE_CONFLICT",
                "HOST_CANNOT_BOOK",
            }
    current = [
        await stub.GetRoom(pb.GetRoomRequest(room_id=r.room_id), metadata=trusted())
        for r in created
    ]
    window = {"start_after": ts(base), "start_before": ts(base + WINDOW)}
    booked = sum(1 for r in current if r.guest_id)
    assert len(current) >= 15 and booked >= 5  # the random set is not degenerate

    now = datetime.now(UTC)
    for user in users:
        listed = await _all_pages(stub, user, bookable=True, **window)
        assert [r.room_id for r in listed] == _model_bookable(current, user, now), user
        for low, high in ((45, None), (None, 60), (60, 90)):
            bounds: dict[str, object] = {}
            if low:
                bounds["min_duration"] = minutes(low)
            if high:
                bounds["max_duration"] = minutes(high)
            listed = await _all_pages(stub, user, bookable=True, **window, **bounds)
            expected = [
                room_id
                for room_id in _model_bookable(current, user, now)
                for r in current
                if r.room_id == room_id
                and (low is None or _length(r) >= low)
                and (high is None or _length(r) <= high)
            ]
            assert [r.room_id for r in listed] == expected, (user, low, high)


def _length(room: pb.Room) -> float:
    return (room.end_time.ToDatetime() - room.start_time.ToDatetime()).total_seconds() / 60


async def test_bookable_leaves_out_what_booking_would_refuse(stub) -> None:
    me, host = new_user("me"), new_user("host")
    base = future()
    window = {"start_after": ts(base), "start_before": ts(base + WINDOW)}
    mine = await stub.CreateRoom(create_request(base), metadata=auth(me))
    clash = await stub.CreateRoom(create_request(base + timedelta(minutes=30)), metadata=auth(host))
    clear = await stub.CreateRoom(create_request(base + timedelta(hours=2)), metadata=auth(host))
    taken = await stub.CreateRoom(create_request(base + timedelta(hours=4)), metadata=auth(host))
    await stub.BookRoom(pb.BookRoomRequest(room_id=taken.room_id), metadata=auth(new_user()))
    listed = await _all_pages(stub, me, bookable=True, **window)
    assert [r.room_id for r in listed] == [clear.room_id]
    # Booking what the listing left out is refused, and what it showed succeeds.
    with pytest.raises(grpc.RpcError) as refused:
        await stub.BookRoom(pb.BookRoomRequest(room_id=clash.room_id), metadata=auth(me))
    assert failure(refused.value).reason == "SCHEDULE_CONFLICT"
    await stub.BookRoom(pb.BookRoomRequest(room_id=clear.room_id), metadata=auth(me))
    assert await _all_pages(stub, me, bookable=True, **window) == []
    # For the host, my room clashes with the one they host at the same time, and the
    # rest are their own.
    assert await _all_pages(stub, host, bookable=True, **window) == []
    assert mine.room_id in {r.room_id for r in await _all_pages(stub, host, **window)}


async def test_query_finds_each_word_in_each_field_and_not_elsewhere(stub) -> None:
    host, guest, stranger = new_user("qh"), new_user("qg"), new_user("qs")
    tag = uuid.uuid4().hex[:8]
    words = {field: f"{field}{tag}" for field in ("title", "topic", "description", "host")}
    open_room = await stub.CreateRoom(
        create_request(
            future(),
            title=f"Mock {words['title']} interview",
            first_round_topic=f"Graphs, {words['topic']}!",
            description=f"Bring a pen.\n{words['description']}; and water.",
        ),
        metadata=auth(host, name=words["host"]),
    )
    for field in ("title", "topic", "description"):
        # Any case, any spacing, with another word of the room ("mock", in its title).
        for form in (words[field], words[field].upper(), f"  {words[field]}  MOCK  "):
            listed = await _all_pages(stub, stranger, query=form)
            assert [r.room_id for r in listed] == [open_room.room_id], (field, form)
    # Words of two fields together; a word in no field; the host's name is no field.
    both = f"{words['title']} {words['topic']}"
    assert [r.room_id for r in await _all_pages(stub, stranger, query=both)] == [open_room.room_id]
    assert await _all_pages(stub, stranger, query=f"{words['title']} absent{tag}") == []
    assert await _all_pages(stub, stranger, query=words["host"]) == []
    # Part of a word is not the word.
    assert await _all_pages(stub, stranger, query=words["title"][:-1]) == []

    # Booked: the description is its participants' alone, and so is finding it by it.
    await stub.BookRoom(pb.BookRoomRequest(room_id=open_room.room_id), metadata=auth(guest))
    assert await _all_pages(stub, stranger, query=words["description"]) == []
    assert [r.room_id for r in await _all_pages(stub, stranger, query=words["title"])] == [
        open_room.room_id
    ]
    for participant in (host, guest):
        found = await _all_pages(stub, participant, query=words["description"])
        assert [r.room_id for r in found] == [open_room.room_id]


@pytest.mark.parametrize(
    "filters,field",
    [
        ({"query": "!!! ..."}, "query"),
        ({"query": "x" * 201}, "query"),
        ({"query": "a\x00b"}, "query"),
        ({"min_duration": minutes(2)}, "min_duration"),
        ({"min_duration": minutes(60), "max_duration": minutes(30)}, "max_duration"),
    ],
)
async def test_bad_search_filters_are_named(stub, filters: dict[str, object], field: str) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        await stub.ListRooms(pb.ListRoomsRequest(**filters), metadata=auth(new_user()))  # type: ignore[arg-type]
    seen = failure(refused.value)
    assert (seen.code, seen.fields) == (grpc.StatusCode.INVALID_ARGUMENT, [field])


async def test_a_page_token_is_bound_to_the_search(stub) -> None:
    user = new_user("tok")
    base = future()
    for k in range(3):
        await stub.CreateRoom(
            create_request(base + timedelta(hours=k), title=f"Paged {k}"), metadata=auth(user)
        )
    first = await stub.ListRooms(
        pb.ListRoomsRequest(page_size=1, query="paged", start_after=ts(base)),
        metadata=auth(user),
    )
    assert first.next_page_token
    with pytest.raises(grpc.RpcError) as refused:
        await stub.ListRooms(
            pb.ListRoomsRequest(
                page_size=1, query="other", start_after=ts(base), page_token=first.next_page_token
            ),
            metadata=auth(user),
        )
    assert failure(refused.value).fields == ["page_token"]


async def test_respect_calendar_hides_and_refuses_busy_time_as_last_read(stub, db) -> None:
    """Busy time as the busy readers leave it (written here straight into the table:
    tests/system/test_calendar_busy.py reads it from a real calendar)."""
    seeker, host = new_user("busy"), new_user("host")
    base = future()
    window = {"start_after": ts(base), "start_before": ts(base + WINDOW)}
    clash = await stub.CreateRoom(create_request(base), metadata=auth(host))
    clear = await stub.CreateRoom(create_request(base + timedelta(hours=2)), metadata=auth(host))
    await stub.ListRooms(pb.ListRoomsRequest(), metadata=auth(seeker))  # registers the seeker
    db.execute(
        "INSERT INTO calendar_connections (user_id, calendar_url, provider, sealed_credentials)"
        " VALUES (%s, 'https://cal.example/c/', 'caldav', 'x')",
        (seeker,),
    )
    db.execute(
        "INSERT INTO calendar_busy (user_id, user_no, starts, ends)"
        " SELECT user_id, user_no, %s, %s FROM users WHERE user_id = %s",
        (base + timedelta(minutes=59), base + timedelta(minutes=90), seeker),
    )
    listed = await _all_pages(stub, seeker, bookable=True, respect_calendar=True, **window)
    assert [r.room_id for r in listed] == [clear.room_id]
    listed = await _all_pages(stub, seeker, bookable=True, **window)
    assert [r.room_id for r in listed] == [clash.room_id, clear.room_id]
    with pytest.raises(grpc.RpcError) as refused:
        await stub.BookRoom(
            pb.BookRoomRequest(room_id=clash.room_id, respect_calendar=True), metadata=auth(seeker)
        )
    seen = failure(refused.value)
    assert (seen.code, seen.reason) == (grpc.StatusCode.ALREADY_EXISTS, "CALENDAR_BUSY")
    # Someone else's busy time is theirs alone.
    assert [
        r.room_id for r in await _all_pages(stub, new_user(), respect_calendar=True, **window)
    ] == [
        clash.room_id,
        clear.room_id,
    ]
    # A broken connection's busy time no longer counts.
    db.execute("UPDATE calendar_connections SET state = 'broken' WHERE user_id = %s", (seeker,))
    await stub.BookRoom(
        pb.BookRoomRequest(room_id=clash.room_id, respect_calendar=True), metadata=auth(seeker)
    )
