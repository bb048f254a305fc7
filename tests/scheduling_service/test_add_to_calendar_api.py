"""Room.add_to_calendar through a real server: the links carry what their viewer may
see (docs/design.md §8), so a booked room's description reaches its participants only."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from scheduling.v1 import scheduling_pb2 as pb

from tests.scheduling_service.client import auth, create_request, future, new_user, ts

pytestmark = pytest.mark.slow  # starts PostgreSQL and a server process


def _params(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


async def test_a_booked_rooms_links_keep_its_description_from_everyone_else(stub) -> None:
    host, guest, stranger = new_user("host"), new_user("guest"), new_user("stranger")
    description = f"Private notes {new_user('secret')}"
    starts = future(days=300)
    room = await stub.CreateRoom(
        create_request(starts, title="Mock interview", description=description),
        metadata=auth(host),
    )
    await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=auth(guest))
    get = pb.GetRoomRequest(room_id=room.room_id)

    seen = await stub.GetRoom(get, metadata=auth(stranger))
    links = seen.add_to_calendar
    assert description not in links.google_url and quote(description, safe="") not in (
        links.google_url
    )
    assert "details" not in _params(links.google_url)
    assert "body" not in _params(links.outlook_url)
    assert _params(links.google_url)["text"] == ["Mock interview"]
    listed = await stub.ListRooms(
        pb.ListRoomsRequest(start_after=ts(starts), start_before=ts(starts + timedelta(minutes=1))),
        metadata=auth(stranger),
    )
    # Pages leave the links out (they would cost a fifth of a page's throughput).
    assert [r.room_id for r in listed.rooms] == [room.room_id]
    assert not listed.rooms[0].HasField("add_to_calendar")

    # Its participants get it: the links above left it out for the stranger alone.
    for participant in (host, guest):
        own = await stub.GetRoom(get, metadata=auth(participant))
        assert _params(own.add_to_calendar.google_url)["details"] == [description]
        assert _params(own.add_to_calendar.outlook_url)["body"] == [description]
