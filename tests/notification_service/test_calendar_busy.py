"""ReadCalendarBusy over a real gRPC port against real CalDAV servers: Radicale and
Xandikos (processes started for the module), and Xandikos behind a bearer-token proxy
for the `google` path. Events are written the way a person's calendar client writes
them (plain HTTP PUT); one more is the service's own copy of a session
(WriteCalendarEvent). Each test reads a calendar of its own.

Both servers expand recurrences (Radicale into UTC instances, Xandikos keeping the
TZID); neither expands an RDATE; Radicale 3.9 answers 500 to any expanding query of a
collection holding a floating recurring event (the read asks again without expand)."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from notification.v1 import notification_pb2 as pb

from tests.caldav_servers import XANDIKOS_CALENDAR, Radicale, Xandikos
from tests.calendar_bearer_proxy import BearerProxy
from tests.notification_service.calendar_helpers import (
    busy_of,
    busy_request,
    calendar_config,
    change_password,
    make_calendar,
    put_object,
    radicale_user,
    verify_request,
    write_request,
)
from tests.notification_service.conftest import StartServer
from tests.notification_service.notification_helpers import Running
from tests.notification_service.test_calendar_oauth import (
    CLIENT_ID,
    CLIENT_SECRET,
    USER,
    collection,
    oauth_config,
)
from tests.oauth_token_server import TokenServer

pytestmark = pytest.mark.slow

START = datetime(2026, 3, 2, tzinfo=UTC)
END = datetime(2026, 3, 30, tzinfo=UTC)
TITLE, NOTES, PERSON = "Dentist: root canal", "Bring the divorce papers", "secret-person@x.org"
PARIS = (
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\n"
    "BEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"
    "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\n"
    "BEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
    "TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
)


def vevent(uid: str, *lines: str) -> str:
    return (
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
        + "".join(line + "\r\n" for line in lines)
        + f"SUMMARY:{TITLE}\r\nDESCRIPTION:{NOTES}\r\nATTENDEE;CN=Someone:mailto:{PERSON}\r\n"
        + "END:VEVENT\r\n"
    )


def vcalendar(*events: str, zone: str = "") -> bytes:
    head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
    return (head + zone + "".join(events) + "END:VCALENDAR\r\n").encode()


def utc(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


# What a person's calendar holds, by object name: what counts and what does not.
OBJECTS = {
    "timed": vcalendar(vevent("timed@x", "DTSTART:20260303T100000Z", "DTEND:20260303T110000Z")),
    "overlapping-paris": vcalendar(
        vevent(
            "paris@x",
            "DTSTART;TZID=Europe/Paris:20260303T113000",
            "DTEND;TZID=Europe/Paris:20260303T130000",
        ),
        zone=PARIS,
    ),
    "touching": vcalendar(vevent("touch@x", "DTSTART:20260303T120000Z", "DURATION:PT30M")),
    "all-day": vcalendar(
        vevent("day@x", "DTSTART;VALUE=DATE:20260305", "DTEND;VALUE=DATE:20260307")
    ),
    "all-day-free": vcalendar(
        vevent("free-day@x", "DTSTART;VALUE=DATE:20260309", "TRANSP:TRANSPARENT")
    ),
    "transparent": vcalendar(
        vevent("free@x", "DTSTART:20260310T090000Z", "DTEND:20260310T100000Z", "TRANSP:TRANSPARENT")
    ),
    "cancelled": vcalendar(
        vevent("off@x", "DTSTART:20260311T090000Z", "DTEND:20260311T100000Z", "STATUS:CANCELLED")
    ),
    "imported-invite": vcalendar(
        vevent("session-9@rooms.test", "DTSTART:20260312T140000Z", "DTEND:20260312T150000Z")
    ),
    # Every Monday 09:00 Paris (08:00 UTC) from 16 February, six times; the 9 March one
    # removed, the 16 March one moved to 15:00 Paris.
    "weekly": vcalendar(
        vevent(
            "weekly@x",
            "DTSTART;TZID=Europe/Paris:20260216T090000",
            "DTEND;TZID=Europe/Paris:20260216T100000",
            "RRULE:FREQ=WEEKLY;COUNT=6",
            "EXDATE;TZID=Europe/Paris:20260309T090000",
        ),
        vevent(
            "weekly@x",
            "RECURRENCE-ID;TZID=Europe/Paris:20260316T090000",
            "DTSTART;TZID=Europe/Paris:20260316T150000",
            "DTEND;TZID=Europe/Paris:20260316T160000",
        ),
        zone=PARIS,
    ),
    "floating": vcalendar(vevent("float@x", "DTSTART:20260318T100000", "DTEND:20260318T110000")),
    "rdate": vcalendar(
        vevent(
            "rdate@x",
            "DTSTART:20260325T100000Z",
            "DTEND:20260325T110000Z",
            "RDATE:20260326T100000Z",
        )
    ),
    "outside": vcalendar(vevent("later@x", "DTSTART:20260410T100000Z", "DTEND:20260410T110000Z")),
    "ends-at-the-start": vcalendar(
        vevent("before@x", "DTSTART:20260301T230000Z", "DTEND:20260302T000000Z")
    ),
    "straddles-the-start": vcalendar(
        vevent("night@x", "DTSTART:20260301T220000Z", "DTEND:20260302T083000Z")
    ),
    "straddles-the-end": vcalendar(
        vevent("late@x", "DTSTART:20260329T230000Z", "DTEND:20260330T010000Z")
    ),
}
EXPECTED = [
    (utc(2), utc(2, 9)),  # the night before, clipped, merged with Monday 08:00-09:00
    (utc(3, 10), utc(3, 12, 30)),  # timed, overlapping, touching
    (utc(5), utc(7)),  # all day, in UTC
    (utc(16, 14), utc(16, 15)),  # the moved Monday
    (utc(18, 10), utc(18, 11)),  # floating, as UTC
    (utc(23, 8), utc(23, 9)),  # the last Monday
    (utc(25, 10), utc(25, 11)),  # an event and its RDATE (the master comes unexpanded)
    (utc(26, 10), utc(26, 11)),
    (utc(29, 23), END),  # clipped at the end
]


@pytest.fixture
async def running(start_server: StartServer) -> Running:
    return await start_server(calendar_config())


async def connect(
    running: Running, url: str, username: str, password: str
) -> pb.VerifyCalendarResponse:
    request = verify_request(url, username=username, password=password)
    verified: pb.VerifyCalendarResponse = await running.verify_calendar(request)
    return verified


async def fresh_calendar(request: pytest.FixtureRequest, kind: str) -> tuple[str, tuple[str, str]]:
    """A new, empty collection on `kind`, and the login that writes it."""
    if kind == "radicale":
        username, password, url = await radicale_user(request.getfixturevalue("radicale"))
        return url, (username, password)
    server: Xandikos = request.getfixturevalue("xandikos")
    login = ("anyone", "ignored")  # Xandikos authenticates no one
    url = await make_calendar(f"{server.url}user/calendars/{uuid.uuid4().hex[:12]}/", login)
    return url, login


@pytest.mark.parametrize("kind", ["radicale", "xandikos"])
async def test_the_busy_time_of_a_calendar(
    request: pytest.FixtureRequest,
    running: Running,
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    url, login = await fresh_calendar(request, kind)
    for name, body in OBJECTS.items():
        assert await put_object(f"{url}{name}.ics", body, login) in (201, 204), name
    verified = await connect(running, url, *login)
    # The service's own copy of a session (UID @rooms.test), written through it.
    ours = write_request(verified, start=utc(12, 9), end=utc(12, 10))
    written = await running.write_calendar(ours)
    assert written.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, written.detail

    response = await running.read_busy(busy_request(verified, START, END))

    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, response.detail
    assert busy_of(response) == EXPECTED
    assert response.detail == ""  # both servers expanded the weekly event
    assert not response.resealed_credentials
    ours_logged = "\n".join(
        f"{record.getMessage()} {record.__dict__}"
        for record in caplog.records
        if record.name.startswith(("notification_service", "servicekit"))
    )
    assert "calendar_busy_read" in ours_logged
    for private in (TITLE, NOTES, PERSON, "weekly@x", "session-9@rooms.test"):
        assert private not in ours_logged
        assert private.encode() not in response.SerializeToString()


async def test_an_empty_range_of_a_calendar_is_no_busy_time(
    request: pytest.FixtureRequest, running: Running
) -> None:
    url, login = await fresh_calendar(request, "xandikos")
    assert await put_object(f"{url}timed.ics", OBJECTS["timed"], login) == 201
    verified = await connect(running, url, *login)
    later = START + timedelta(days=60)
    response = await running.read_busy(busy_request(verified, later, later + timedelta(days=1)))
    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, response.detail
    assert not response.busy


async def test_radicale_refusing_to_expand_floating_recurrences_still_reads(
    running: Running, radicale: Radicale
) -> None:
    """Radicale 3.9: 500 to the expanding query; asked again without expand, a floating
    weekly event counts at its own start only (the RRULE is not expanded here)."""
    username, password, url = await radicale_user(radicale)
    weekly = vevent(
        "float-weekly@x", "DTSTART:20260304T100000", "DTEND:20260304T110000", "RRULE:FREQ=WEEKLY"
    )
    assert await put_object(f"{url}weekly.ics", vcalendar(weekly), (username, password)) == 201
    assert await put_object(f"{url}timed.ics", OBJECTS["timed"], (username, password)) == 201
    verified = await connect(running, url, username, password)

    response = await running.read_busy(busy_request(verified, START, END))

    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, response.detail
    assert busy_of(response) == [(utc(3, 10), utc(3, 11)), (utc(4, 10), utc(4, 11))]
    assert response.detail == (
        "the server failed to expand recurrences (HTTP 500); read unexpanded; "
        "1 recurring events came unexpanded: each counts at its own start and RDATEs only"
    )


async def test_a_password_changed_after_connecting_rejects_the_read(
    running: Running, radicale: Radicale
) -> None:
    username, password, url = await radicale_user(radicale)
    verified = await connect(running, url, username, password)
    change_password(radicale, username, "changed-" + password)

    response = await running.read_busy(busy_request(verified, START, END))

    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_CREDENTIALS_REJECTED
    assert response.detail == "the calendar server refused the credentials (HTTP 401)"
    assert not response.busy


async def test_a_google_calendar_is_read_with_a_bearer_token(
    start_server: StartServer,
    xandikos: Xandikos,
    token_server: TokenServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    token_server.reset()
    token_server.add_client(CLIENT_ID, CLIENT_SECRET, "client_secret_basic")
    running = await start_server(oauth_config(token_server))
    async with BearerProxy(xandikos.url, token_server) as proxy:
        refresh = token_server.grant(CLIENT_ID, USER)
        # By the collection: the home holds the other tests' calendars too.
        request = verify_request(collection(proxy), user_id=USER, refresh_token=refresh)
        verified = await running.verify_calendar(request)
        upstream = xandikos.url.rstrip("/") + XANDIKOS_CALENDAR
        assert await put_object(f"{upstream}google-timed.ics", OBJECTS["timed"]) == 201

        response = await running.read_busy(busy_request(verified, START, END, user_id=USER))

        assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, response.detail
        assert (utc(3, 10), utc(3, 11)) in busy_of(response)
        assert token_server.token_requests == 1  # the access token of the verify, cached
        assert proxy.accepted and proxy.refused == 0
    ours = "\n".join(
        f"{record.getMessage()} {record.__dict__}"
        for record in caplog.records
        if record.name.startswith(("notification_service", "servicekit"))
    )
    for secret in (refresh, token_server.issued[0], CLIENT_SECRET, TITLE):
        assert secret not in ours
