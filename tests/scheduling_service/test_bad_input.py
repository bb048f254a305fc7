"""Bad input gets INVALID_ARGUMENT naming the field, and nothing is stored."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio
from scheduling.v1 import scheduling_pb2 as pb

from tests.scheduling_service.client import auth, create_request, failure, future, new_user, ts

pytestmark = pytest.mark.slow  # starts PostgreSQL and a server process

NOW = datetime.now(UTC).replace(microsecond=0)

CREATE_CASES = {
    "empty title": ({"title": ""}, "title"),
    "blank title": ({"title": "   "}, "title"),
    "huge title": ({"title": "x" * 201}, "title"),
    "crlf in title": ({"title": "Mock\r\nBcc: victim@example.com"}, "title"),
    "lone cr in title": ({"title": "Mock\rinterview"}, "title"),
    "nul in title": ({"title": "Mock\x00"}, "title"),
    "line separator in title": ({"title": "Mock\u2028x"}, "title"),
    "huge description": ({"description": "x" * 4001}, "description"),
    "cr in description": ({"description": "a\r\nb"}, "description"),
    "escape in description": ({"description": "a\x1b[31m"}, "description"),
    "missing topic": ({"first_round_topic": ""}, "first_round_topic"),
    "newline in topic": ({"first_round_topic": "a\nb"}, "first_round_topic"),
    "missing start": ({"start_time": Timestamp()}, "start_time"),
    "start in the past": ({"start_time": ts(NOW - timedelta(hours=1))}, "start_time"),
    "start far past": ({"start_time": Timestamp(seconds=-62135596800)}, "start_time"),
    "start past year 9999": ({"start_time": Timestamp(seconds=253402300800)}, "start_time"),
    "start too far ahead": ({"start_time": ts(NOW + timedelta(days=366))}, "start_time"),
    "start not on a second": (
        {"start_time": Timestamp(seconds=int((NOW + timedelta(days=3)).timestamp()), nanos=5)},
        "start_time",
    ),
    "duration too short": ({"duration": Duration(seconds=60)}, "duration"),
    "duration too long": ({"duration": Duration(seconds=8 * 3600 + 1)}, "duration"),
    "negative duration": ({"duration": Duration(seconds=-3600)}, "duration"),
    "fractional duration": ({"duration": Duration(seconds=3600, nanos=1)}, "duration"),
    "request id not a uuid": ({"request_id": "retry-1"}, "request_id"),
    "four reminders": (
        {"reminder_offsets": [Duration(seconds=m * 60) for m in (10, 20, 30, 40)]},
        "reminder_offsets",
    ),
    "reminder under 5 minutes": (
        {"reminder_offsets": [Duration(seconds=240)]},
        "reminder_offsets[0]",
    ),
    "reminder over 7 days": (
        {"reminder_offsets": [Duration(seconds=3600), Duration(seconds=7 * 86400 + 60)]},
        "reminder_offsets[1]",
    ),
    "reminder not whole minutes": (
        {"reminder_offsets": [Duration(seconds=330)]},
        "reminder_offsets[0]",
    ),
    "negative reminder": ({"reminder_offsets": [Duration(seconds=-600)]}, "reminder_offsets[0]"),
}


@pytest.mark.parametrize("fields,field", CREATE_CASES.values(), ids=CREATE_CASES.keys())
async def test_create_room_rejects(stub, db, fields, field) -> None:
    host = new_user()
    with pytest.raises(grpc.RpcError) as raised:
        await stub.CreateRoom(create_request(**fields), metadata=auth(host))
    seen = failure(raised.value)
    assert (seen.code, seen.reason, seen.fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
        [field],
    )
    assert db.execute("SELECT count(*) FROM rooms WHERE host_id = %s", [host]).fetchone() == (0,)


async def test_every_bad_field_is_named_at_once(stub) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        await stub.CreateRoom(pb.CreateRoomRequest(), metadata=auth(new_user()))
    assert set(failure(raised.value).fields) == {"title", "first_round_topic", "start_time"}


ID_CASES = ["", "x", "123", "' OR 1=1 --", "0" * 36, "a" * 5000, "123e4567e89b12d3a456426614174000"]


@pytest.mark.parametrize("room_id", ID_CASES)
async def test_malformed_room_ids(stub, room_id) -> None:
    calls = [
        (stub.GetRoom, pb.GetRoomRequest(room_id=room_id)),
        (stub.BookRoom, pb.BookRoomRequest(room_id=room_id)),
        (stub.LeaveRoom, pb.LeaveRoomRequest(room_id=room_id)),
        (stub.RescheduleRoom, pb.RescheduleRoomRequest(room_id=room_id, start_time=ts(future()))),
        (stub.CancelRoom, pb.CancelRoomRequest(room_id=room_id)),
    ]
    for call, request in calls:
        with pytest.raises(grpc.RpcError) as raised:
            await call(request, metadata=auth(new_user()))
        seen = failure(raised.value)
        assert (seen.code, seen.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["room_id"]), call


LIST_CASES = {
    "negative page size": (pb.ListRoomsRequest(page_size=-1), "page_size"),
    "garbage token": (pb.ListRoomsRequest(page_token="garbage"), "page_token"),
    "base64 garbage token": (pb.ListRoomsRequest(page_token="eyJ4IjoxfQ=="), "page_token"),
    "huge token": (pb.ListRoomsRequest(page_token="A" * 10_000), "page_token"),
    "window backwards": (
        pb.ListRoomsRequest(start_after=ts(NOW + timedelta(days=2)), start_before=ts(NOW)),
        "start_before",
    ),
    "control char participant": (pb.ListRoomsRequest(participant_id="a\nb"), "participant_id"),
}


@pytest.mark.parametrize("request_,field", LIST_CASES.values(), ids=LIST_CASES.keys())
async def test_list_rooms_rejects(stub, request_, field) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        await stub.ListRooms(request_, metadata=auth(new_user()))
    seen = failure(raised.value)
    assert (seen.code, seen.fields) == (grpc.StatusCode.INVALID_ARGUMENT, [field])


async def test_reschedule_and_cancel_reject_bad_fields_and_keep_the_room(stub) -> None:
    host = new_user()
    room = await stub.CreateRoom(create_request(), metadata=auth(host))
    bad = [
        (stub.RescheduleRoom, pb.RescheduleRoomRequest(room_id=room.room_id), "start_time"),
        (
            stub.RescheduleRoom,
            pb.RescheduleRoomRequest(room_id=room.room_id, start_time=ts(NOW - timedelta(days=1))),
            "start_time",
        ),
        (
            stub.RescheduleRoom,
            pb.RescheduleRoomRequest(
                room_id=room.room_id, start_time=ts(future()), duration=Duration(seconds=10)
            ),
            "duration",
        ),
        (stub.CancelRoom, pb.CancelRoomRequest(room_id=room.room_id, reason="x" * 501), "reason"),
        (stub.CancelRoom, pb.CancelRoomRequest(room_id=room.room_id, reason="a\r\nb"), "reason"),
    ]
    for call, request, field in bad:
        with pytest.raises(grpc.RpcError) as raised:
            await call(request, metadata=auth(host))
        assert failure(raised.value).fields == [field]
    assert await stub.GetRoom(pb.GetRoomRequest(room_id=room.room_id), metadata=auth(host)) == room


async def test_undecodable_requests_are_invalid_argument(server) -> None:
    bad_utf8 = b"\x0a\x04\xff\xfe\xfd\xfc"  # field 1 (room_id) with bytes that are not UTF-8
    async with aio.insecure_channel(server.address) as channel:
        get_room = channel.unary_unary("/scheduling.v1.SchedulingService/GetRoom")
        with pytest.raises(grpc.RpcError) as raised:
            await get_room(bad_utf8, metadata=auth(new_user()))
    seen = failure(raised.value)
    assert (seen.code, seen.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["request"])


async def test_forged_page_token_and_huge_duration_are_invalid_argument(stub) -> None:
    forged = base64.urlsafe_b64encode(b'{"s":0,"r":5,"f":"x"}').decode()
    cases = [
        (stub.ListRooms, pb.ListRoomsRequest(page_token=forged), "page_token"),
        (stub.CreateRoom, create_request(duration=Duration(seconds=2**62)), "duration"),
    ]
    for call, request, field in cases:
        with pytest.raises(grpc.RpcError) as raised:
            await call(request, metadata=auth(new_user()))
        seen = failure(raised.value)
        assert (seen.code, seen.fields) == (grpc.StatusCode.INVALID_ARGUMENT, [field])
