"""Every route of docs/http.md through the real grpc-gateway, as an HTTP client sees it.

Assertions are what a client of each route relies on (status, the fields it reads,
proto3 JSON's spelling), not whole bodies: the API gains fields over time.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta, timezone

import pytest

from tests.e2e.gateway.stack import Stack
from tests.e2e.gateway.users import create, ok, rfc3339, start_at, token, user

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_create_room(gw: Stack) -> None:
    host, start = user("host"), start_at()
    body = {
        "title": "Mock interview",
        "description": "Bring a pen. ☕ <b>&amp;</b>",
        "startTime": rfc3339(start),
        "duration": "5400s",
        "firstRoundTopic": "Arrays",
        "requestId": str(uuid.uuid4()),
    }
    room = ok(gw.http.call("POST", "/v1/rooms", token=token(host), body=body))
    assert UUID.match(room["roomId"])
    assert (room["hostId"], room["title"], room["description"]) == (
        host,
        "Mock interview",
        "Bring a pen. ☕ <b>&amp;</b>",
    )
    assert room["startTime"] == rfc3339(start)
    assert room["endTime"] == rfc3339(start + timedelta(seconds=5400))
    assert room["icsUid"] == f"{room['roomId']}@rooms.localhost"
    # int64 as strings; the etag comes from the revision.
    assert isinstance(room["revision"], str) and int(room["revision"]) > 0
    assert room["etag"]
    (first,) = room["rounds"]
    assert (first["number"], first["topic"]) == (1, "Arrays")
    # Zero values are left out: an open, never-changed room has no guest, no sequence.
    assert "guestId" not in room and "sequence" not in room

    again = ok(gw.http.call("POST", "/v1/rooms", token=token(host), body=body))
    assert again["roomId"] == room["roomId"]  # the same request_id: the same room


def test_create_room_takes_proto_names_and_offsets_in_the_body(gw: Stack) -> None:
    start = start_at()
    body = {
        "title": "Proto names",
        "start_time": start.astimezone(timezone(timedelta(hours=2))).isoformat(),
        "first_round_topic": "Graphs",
    }
    room = ok(gw.http.call("POST", "/v1/rooms", token=token(user()), body=body))
    assert room["startTime"] == rfc3339(start)  # printed in UTC
    assert room["endTime"] == rfc3339(start + timedelta(hours=1))  # the default length


def test_get_room(gw: Stack) -> None:
    host = user("host")
    room = create(gw.http, host)
    got = ok(gw.http.call("GET", f"/v1/rooms/{room['roomId']}", token=token(user("other"))))
    assert {k: got[k] for k in ("roomId", "hostId", "startTime", "etag")} == {
        k: room[k] for k in ("roomId", "hostId", "startTime", "etag")
    }


def test_list_rooms_pages_and_filters(gw: Stack) -> None:
    host, guest = user("host"), user("guest")
    rooms = [create(gw.http, host) for _ in range(3)]
    ids = [r["roomId"] for r in rooms]
    query = {"participant_id": host, "page_size": 2}
    first = ok(gw.http.call("GET", "/v1/rooms", token=token(host), query=query))
    assert [r["roomId"] for r in first["rooms"]] == ids[:2]  # by start time
    assert first["nextPageToken"]
    second = ok(
        gw.http.call(
            "GET",
            "/v1/rooms",
            token=token(host),
            query={**query, "page_token": first["nextPageToken"]},
        )
    )
    assert [r["roomId"] for r in second["rooms"]] == ids[2:]
    assert "nextPageToken" not in second  # absent on the last page

    ok(gw.http.call("POST", f"/v1/rooms/{ids[1]}:book", token=token(guest), body={}))
    open_ = ok(
        gw.http.call(
            "GET",
            "/v1/rooms",
            token=token(host),
            query={"participant_id": host, "open_only": "true"},
        )
    )
    assert [r["roomId"] for r in open_["rooms"]] == [ids[0], ids[2]]

    window = {
        "participant_id": host,
        "start_after": rooms[1]["startTime"],
        "start_before": rooms[2]["startTime"],
    }
    only = ok(gw.http.call("GET", "/v1/rooms", token=token(host), query=window))
    assert [r["roomId"] for r in only["rooms"]] == [ids[1]]


def test_book_and_leave(gw: Stack) -> None:
    host, guest = user("host"), user("guest")
    room = create(gw.http, host)
    path = f"/v1/rooms/{room['roomId']}"
    booked = ok(gw.http.call("POST", f"{path}:book", token=token(guest), body={}))
    assert (booked["guestId"], booked["sequence"]) == (guest, "1")
    retry = ok(
        gw.http.call(
            "POST", f"{path}:book", token=token(guest), body={"requestId": str(uuid.uuid4())}
        )
    )
    assert retry["guestId"] == guest  # a retry by the winner is OK

    left = ok(gw.http.call("POST", f"{path}:leave", token=token(guest), body={}))
    assert "guestId" not in left
    assert int(left["sequence"]) > int(booked["sequence"])


def test_reschedule_with_the_etag_read_before(gw: Stack) -> None:
    host = user("host")
    room = create(gw.http, host)
    new_start = start_at(days=5)
    moved = ok(
        gw.http.call(
            "POST",
            f"/v1/rooms/{room['roomId']}:reschedule",
            token=token(host),
            body={"startTime": rfc3339(new_start), "duration": "2700s", "etag": room["etag"]},
        )
    )
    assert moved["startTime"] == rfc3339(new_start)
    assert moved["endTime"] == rfc3339(new_start + timedelta(seconds=2700))
    assert moved["etag"] != room["etag"]


def test_cancel_takes_reason_and_etag_as_query_parameters(gw: Stack) -> None:
    host = user("host")
    room = create(gw.http, host)
    path = f"/v1/rooms/{room['roomId']}"
    reply = gw.http.call(
        "DELETE",
        path,
        token=token(host),
        query={"reason": "Feeling ill — désolé & sorry", "etag": room["etag"]},
    )
    assert (reply.status, reply.body) == (200, {})
    assert gw.http.call("GET", path, token=token(host)).status == 404


def test_watch_snapshot_then_live_events_then_heartbeats(gw: Stack) -> None:
    host = user("host")
    room = create(gw.http, host)
    query = {"since_revision": 0, "participant_id": host}
    with gw.http.stream("/v1/rooms:watch", token=token(host), query=query) as stream:
        assert stream.status == 200
        # grpc-gateway wraps each message of a server stream as {"result": …}.
        snapshot = stream.next()["result"]
        assert (snapshot["type"], snapshot["room"]["roomId"]) == ("TYPE_SNAPSHOT", room["roomId"])
        synced = stream.next()["result"]
        assert synced["type"] == "TYPE_SYNCED" and "room" not in synced
        later = create(gw.http, host)
        created = stream.until(lambda line: line["result"]["type"] != "TYPE_HEARTBEAT")
        assert created[-1]["result"]["type"] == "TYPE_CREATED"
        assert created[-1]["result"]["room"]["roomId"] == later["roomId"]
        beat = stream.until(lambda line: line["result"]["type"] == "TYPE_HEARTBEAT")[-1]
        assert int(beat["result"]["revision"]) >= int(created[-1]["result"]["revision"])

    # Resuming from the SYNCED revision replays what came after it.
    resume = {"since_revision": synced["revision"], "participant_id": host}
    with gw.http.stream("/v1/rooms:watch", token=token(host), query=resume) as stream:
        replayed = stream.next()["result"]
        assert (replayed["type"], replayed["room"]["roomId"]) == ("TYPE_CREATED", later["roomId"])


def test_watch_open_only_sends_the_booking_that_takes_a_room_out(gw: Stack) -> None:
    host, guest = user("host"), user("guest")
    room = create(gw.http, host)
    query = {"since_revision": room["revision"], "open_only": "true", "participant_id": host}
    with gw.http.stream("/v1/rooms:watch", token=token(host), query=query) as stream:
        ok(gw.http.call("POST", f"/v1/rooms/{room['roomId']}:book", token=token(guest), body={}))
        line = stream.until(lambda line: line["result"]["type"] != "TYPE_HEARTBEAT")[-1]
        assert (line["result"]["type"], line["result"]["room"]["roomId"]) == (
            "TYPE_BOOKED",
            room["roomId"],
        )


def test_timestamps_are_rfc3339_utc(gw: Stack) -> None:
    room = create(gw.http, user())
    for key in ("startTime", "endTime", "createTime", "updateTime"):
        assert RFC3339_UTC.match(room[key]), (key, room[key])
