"""Busy reads that ask what changed first (RFC 6578 sync-collection), against real
Radicale and Xandikos over a real gRPC port: a full read hands back the collection's
sync token; a read with it answers `unchanged` while nobody but the service touched the
calendar, and reads the calendar whole once a person did; a token the server no longer
knows is a full read, not a failure."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from notification.v1 import notification_pb2 as pb

from tests.notification_service.calendar_helpers import (
    busy_of,
    busy_request,
    calendar_config,
    delete_request,
    put_object,
    write_request,
)
from tests.notification_service.conftest import StartServer
from tests.notification_service.notification_helpers import Running
from tests.notification_service.test_calendar_busy import (
    connect,
    fresh_calendar,
    vcalendar,
    vevent,
)

pytestmark = pytest.mark.slow

START = datetime(2026, 3, 2, tzinfo=UTC)
END = datetime(2026, 3, 30, tzinfo=UTC)
WRITTEN = pb.CALENDAR_WRITE_OUTCOME_WRITTEN
KINDS = ["radicale", "xandikos"]


def utc(day: int, hour: int) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def event(uid: str, day: int, hour: int) -> bytes:
    return vcalendar(
        vevent(
            uid,
            f"DTSTART:202603{day:02d}T{hour:02d}0000Z",
            f"DTEND:202603{day:02d}T{hour + 1:02d}0000Z",
        )
    )


@pytest.fixture
async def running(start_server: StartServer) -> Running:
    return await start_server(calendar_config())


async def read(
    running: Running, verified: pb.VerifyCalendarResponse, sync_token: str = ""
) -> pb.ReadCalendarBusyResponse:
    request = busy_request(verified, START, END)
    request.sync_token = sync_token
    response: pb.ReadCalendarBusyResponse = await running.read_busy(request)
    assert response.outcome == WRITTEN, response.detail
    return response


async def with_an_appointment(
    request: pytest.FixtureRequest, running: Running, kind: str
) -> tuple[str, tuple[str, str], pb.VerifyCalendarResponse]:
    """A new calendar on `kind` holding a person's appointment on the 3rd, 10:00 UTC,
    connected: its URL, the login that writes it, and the connection."""
    url, login = await fresh_calendar(request, kind)
    assert await put_object(f"{url}dentist.ics", event("dentist@x", 3, 10), login) == 201
    return url, login, await connect(running, url, *login)


@pytest.mark.parametrize("kind", KINDS)
async def test_an_untouched_calendar_is_unchanged_and_a_persons_change_is_read_whole(
    request: pytest.FixtureRequest, running: Running, kind: str
) -> None:
    url, login, verified = await with_an_appointment(request, running, kind)

    first = await read(running, verified)
    assert busy_of(first) == [(utc(3, 10), utc(3, 11))]
    assert first.sync_token and not first.unchanged

    again = await read(running, verified, first.sync_token)
    assert again.unchanged and not again.busy and again.sync_token

    # A person adds an event: the next read is whole, and says what is busy now.
    assert await put_object(f"{url}gym.ics", event("gym@x", 5, 18), login) == 201
    changed = await read(running, verified, again.sync_token)
    assert not changed.unchanged
    assert busy_of(changed) == [(utc(3, 10), utc(3, 11)), (utc(5, 18), utc(5, 19))]
    assert changed.sync_token != first.sync_token

    # A person removes one: whole again, and it is gone.
    async with httpx.AsyncClient(auth=login) as http:
        assert (await http.delete(f"{url}dentist.ics")).status_code in (200, 204)
    removed = await read(running, verified, changed.sync_token)
    assert not removed.unchanged and busy_of(removed) == [(utc(5, 18), utc(5, 19))]
    assert (await read(running, verified, removed.sync_token)).unchanged


@pytest.mark.parametrize("kind", KINDS)
async def test_the_services_own_copies_written_and_moved_leave_it_unchanged(
    request: pytest.FixtureRequest, running: Running, kind: str
) -> None:
    *_, verified = await with_an_appointment(request, running, kind)
    token = (await read(running, verified)).sync_token

    uid = f"session-{uuid.uuid4().hex}@rooms.test"
    put = await running.write_calendar(
        write_request(verified, uid=uid, start=utc(4, 9), end=utc(4, 10))
    )
    assert put.outcome == WRITTEN, put.detail
    after_put = await read(running, verified, token)
    assert after_put.unchanged, "a copy of one of our sessions is never busy time"

    moved = write_request(verified, uid=uid, sequence=2, start=utc(6, 9), end=utc(6, 10))
    moved.href, moved.etag = put.href, put.etag
    assert (await running.write_calendar(moved)).outcome == WRITTEN
    after_move = await read(running, verified, after_put.sync_token)
    assert after_move.unchanged

    # A removal is read whole: whose object went can no longer be told.
    gone = await running.write_calendar(delete_request(verified, uid))
    assert gone.outcome == pb.CALENDAR_WRITE_OUTCOME_REMOVED, gone.detail
    after_removal = await read(running, verified, after_move.sync_token)
    assert not after_removal.unchanged
    assert busy_of(after_removal) == [(utc(3, 10), utc(3, 11))]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_token_the_server_does_not_know_is_a_full_read_with_a_new_token(
    request: pytest.FixtureRequest, running: Running, kind: str
) -> None:
    *_, verified = await with_an_appointment(request, running, kind)
    known = (await read(running, verified)).sync_token

    for stale in (f"{known}0", "http://elsewhere.example/ns/sync/1", "urn:x-unknown:7"):
        response = await read(running, verified, stale)
        assert not response.unchanged, stale
        assert busy_of(response) == [(utc(3, 10), utc(3, 11))]
        assert response.sync_token  # a token to go on with


@pytest.mark.parametrize("kind", KINDS)
async def test_a_persons_event_named_like_ours_is_read(
    request: pytest.FixtureRequest, running: Running, kind: str
) -> None:
    """Evolution names an event after the SHA-1 of its UID: 40 hex digits and .ics, the
    shape of our copies' names. Its data, not its name, tells it is not ours."""
    url, login, verified = await with_an_appointment(request, running, kind)
    token = (await read(running, verified)).sync_token
    uid = hashlib.sha1(uuid.uuid4().bytes).hexdigest()
    assert await put_object(f"{url}{uid}.ics", event(uid, 7, 14), login) == 201

    response = await read(running, verified, token)

    assert not response.unchanged
    assert busy_of(response) == [(utc(3, 10), utc(3, 11)), (utc(7, 14), utc(7, 15))]
