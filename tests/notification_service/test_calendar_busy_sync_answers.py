"""A read with a sync token against answers no sound server gives, or gives rarely
(scripted, tests/notification_service/delivery/calendar/hostile_server.py): whatever
the sync-collection REPORT answers, the read ends as a full read, as `unchanged`, or as
the failure the full read would have met, never as a failure of its own."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from notification.v1 import notification_pb2 as pb

from notification_service.delivery.calendar.objects import href_for
from tests.notification_service.busy_answers import (
    END,
    START,
    XML,
    multistatus,
    utc,
    vcalendar,
    vevent,
)
from tests.notification_service.calendar_helpers import busy_of, busy_request, calendar_config
from tests.notification_service.conftest import StartServer
from tests.notification_service.delivery.calendar.hostile_server import (
    HostileServer,
    Script,
    Seen,
    respond,
)
from tests.notification_service.delivery.calendar.test_hostile_servers import BILLION_LAUGHS
from tests.notification_service.notification_helpers import Running
from tests.notification_service.scripted_calendar import sealed_for, url_of

OLD, NEW, FROM_PROPFIND = "http://s/sync/1", "http://s/sync/2", "http://s/sync/p"
EVENTS = multistatus(vcalendar(vevent("a@elsewhere", "20260303T100000Z", "20260303T110000Z")))
VALID_SYNC_TOKEN = b'<D:error xmlns:D="DAV:"><D:valid-sync-token/></D:error>'


def _sync_answer(*hrefs: str, token: str = NEW) -> bytes:
    members = "".join(
        f'<D:response><D:href>{href}</D:href><D:propstat><D:prop><D:getetag>"e"</D:getetag>'
        "</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>"
        for href in hrefs
    )
    return (
        f'<D:multistatus xmlns:D="DAV:">{members}<D:sync-token>{token}</D:sync-token>'
        "</D:multistatus>"
    ).encode()


TOKEN_PROPFIND = (
    '<D:multistatus xmlns:D="DAV:"><D:response><D:href>/cal/</D:href><D:propstat><D:prop>'
    f"<D:sync-token>{FROM_PROPFIND}</D:sync-token></D:prop>"
    "<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>"
).encode()


class Calendar:
    """Answers the sync REPORT by `sync`, the token PROPFIND and the calendar-query as a
    sound server would; counts what it was asked."""

    def __init__(self, sync: Script) -> None:
        self.sync = sync
        self.asked: list[str] = []

    async def __call__(self, seen: Seen, writer: asyncio.StreamWriter) -> None:
        if seen.method == "PROPFIND":
            self.asked.append("token")
            await respond(207, TOKEN_PROPFIND, XML)(seen, writer)
        elif b"sync-collection" in seen.body:
            self.asked.append("changes")
            await self.sync(seen, writer)
        else:
            self.asked.append("events")
            await respond(207, EVENTS, XML)(seen, writer)


@pytest.fixture
async def running(start_server: StartServer) -> Running:
    return await start_server(calendar_config())


async def _read(running: Running, calendar: Calendar) -> pb.ReadCalendarBusyResponse:
    async with HostileServer(calendar) as server:
        request = busy_request(sealed_for(url_of(server)), START, END)
        request.sync_token = OLD
        response: pb.ReadCalendarBusyResponse = await running.read_busy(request)
    return response


OURS = href_for("http://h/cal/", "session-1@rooms.test").removeprefix("http://h")
FULL_READS = {
    "expired-403": (respond(403, VALID_SYNC_TOKEN, XML), FROM_PROPFIND),
    "expired-409": (respond(409, VALID_SYNC_TOKEN, XML), FROM_PROPFIND),
    "unsupported-400": (respond(400), FROM_PROPFIND),
    "unsupported-405": (respond(405), FROM_PROPFIND),
    "unsupported-501": (respond(501), FROM_PROPFIND),
    "no-token-in-answer": (respond(207, b'<D:multistatus xmlns:D="DAV:"/>', XML), FROM_PROPFIND),
    "overlong-token": (respond(207, _sync_answer(token="t" * 1025), XML), FROM_PROPFIND),
    "xml-bomb": (respond(207, BILLION_LAUGHS, XML), FROM_PROPFIND),
    "oversized": (respond(207, b"<a/>", {"Content-Length": str(9 << 20)}), FROM_PROPFIND),
    "a-persons-event": (respond(207, _sync_answer(OURS, "/cal/dentist.ics"), XML), NEW),
}


@pytest.mark.parametrize(("sync", "token"), FULL_READS.values(), ids=FULL_READS.keys())
async def test_an_answer_that_does_not_say_unchanged_is_a_full_read(
    running: Running, sync: Script, token: str
) -> None:
    calendar = Calendar(sync)
    response = await _read(running, calendar)
    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, response.detail
    assert not response.unchanged
    assert busy_of(response) == [(utc(3, 10), utc(3, 11))]
    # The token of the newest answer that preceded the events' read.
    assert response.sync_token == token
    assert calendar.asked[-1] == "events" and calendar.asked[0] == "changes"


async def test_only_our_own_objects_changed_is_unchanged_with_nothing_else_asked(
    running: Running,
) -> None:
    calendar = Calendar(respond(207, _sync_answer(OURS, OURS), XML))
    response = await _read(running, calendar)
    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, response.detail
    assert (response.unchanged, response.sync_token, list(response.busy)) == (True, NEW, [])
    assert calendar.asked == ["changes"]


FAILURES = {
    "unauthorized": (respond(401), pb.CALENDAR_WRITE_OUTCOME_CREDENTIALS_REJECTED, False),
    "unavailable": (
        respond(503, b"", {"Retry-After": "120"}),
        pb.CALENDAR_WRITE_OUTCOME_TEMPORARY_FAILURE,
        True,
    ),
    "bad-gateway": (respond(502), pb.CALENDAR_WRITE_OUTCOME_TEMPORARY_FAILURE, False),
}


@pytest.mark.parametrize(("sync", "outcome", "retry"), FAILURES.values(), ids=FAILURES.keys())
async def test_a_failing_server_is_the_failure_without_a_full_read_after_it(
    running: Running, sync: Script, outcome: int, retry: bool
) -> None:
    calendar = Calendar(sync)
    response = await _read(running, calendar)
    assert response.outcome == outcome, response.detail
    assert not response.unchanged and not response.sync_token and not response.busy
    assert response.HasField("retry_time") == retry
    if retry:
        waited = response.retry_time.ToDatetime() - START.replace(tzinfo=None)
        assert waited > timedelta(0)
    assert calendar.asked == ["changes"]
