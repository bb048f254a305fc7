"""A read with a sync token against answers no sound server gives, or gives rarely
(scripted, tests/notification_service/delivery/calendar/hostile_server.py): whatever
the sync-collection REPORT answers, the read ends as a full read, as `unchanged`, or as
the failure the full read would have met, never as a failure of its own."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from xml.sax.saxutils import escape

import pytest
from notification.v1 import notification_pb2 as pb

from notification_service.delivery.calendar.objects import href_for
from notification_service.delivery.calendar.sync import MAX_TO_CONFIRM, TOKEN_TIMEOUT_S
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


def _sync_answer(*members: tuple[str, str], token: str = NEW) -> bytes:
    """A sync-collection answer: each member an (href, UID of its event)."""
    found = "".join(
        f'<D:response><D:href>{href}</D:href><D:propstat><D:prop><D:getetag>"e"</D:getetag>'
        f"<C:calendar-data>{escape(_event(uid))}</C:calendar-data></D:prop>"
        "<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>"
        for href, uid in members
    )
    return (
        '<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        f"{found}<D:sync-token>{token}</D:sync-token></D:multistatus>"
    ).encode()


def _event(uid: str) -> str:
    return vcalendar(vevent(uid, "20260303T100000Z", "20260303T110000Z"))


TOKEN_PROPFIND = (
    '<D:multistatus xmlns:D="DAV:"><D:response><D:href>/cal/</D:href><D:propstat><D:prop>'
    f"<D:sync-token>{FROM_PROPFIND}</D:sync-token></D:prop>"
    "<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>"
).encode()


class Calendar:
    """Answers the sync REPORT by `sync`, the token PROPFIND and the calendar-query as a
    sound server would; counts what it was asked."""

    def __init__(
        self, sync: Script, token: Script | None = None, multiget: Script | None = None
    ) -> None:
        self.sync = sync
        self.token = token or respond(207, TOKEN_PROPFIND, XML)
        self.multiget = multiget or respond(404)
        self.asked: list[str] = []

    async def __call__(self, seen: Seen, writer: asyncio.StreamWriter) -> None:
        if seen.method == "PROPFIND":
            self.asked.append("token")
            await self.token(seen, writer)
        elif b"sync-collection" in seen.body:
            self.asked.append("changes")
            await self.sync(seen, writer)
        elif b"calendar-multiget" in seen.body:
            self.asked.append("data")
            await self.multiget(seen, writer)
        else:
            self.asked.append("events")
            await respond(207, EVENTS, XML)(seen, writer)


@pytest.fixture
async def running(start_server: StartServer) -> Running:
    return await start_server(calendar_config())


async def _read(
    running: Running, calendar: Calendar, sync_token: str = OLD
) -> pb.ReadCalendarBusyResponse:
    async with HostileServer(calendar) as server:
        request = busy_request(sealed_for(url_of(server)), START, END)
        request.sync_token = sync_token
        response: pb.ReadCalendarBusyResponse = await running.read_busy(request)
    return response


OUR_UID = "session-1@rooms.test"
OURS = (href_for("http://h/cal/", OUR_UID).removeprefix("http://h"), OUR_UID)
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
    "a-persons-event": (
        respond(207, _sync_answer(OURS, ("/cal/dentist.ics", "dentist@x")), XML),
        NEW,
    ),
    "bad-gateway": (respond(502), FROM_PROPFIND),
    "internal-error": (respond(500), FROM_PROPFIND),
    "unavailable-without-retry-after": (respond(503), FROM_PROPFIND),
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
    "too-many-requests": (
        respond(429, b"", {"Retry-After": "120"}),
        pb.CALENDAR_WRITE_OUTCOME_TEMPORARY_FAILURE,
        True,
    ),
}


@pytest.mark.parametrize(("sync", "outcome", "retry"), FAILURES.values(), ids=FAILURES.keys())
async def test_a_refusal_or_a_come_back_later_is_the_failure_without_a_full_read(
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


async def _slowly(seen: Seen, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(TOKEN_TIMEOUT_S + 1)
    await respond(207, TOKEN_PROPFIND, XML)(seen, writer)


LARGE = b"<D:multistatus xmlns:D='DAV:'>" + b"<!-- x -->" * 7000 + b"</D:multistatus>"
TOKEN_FAILURES = {
    "internal-error": respond(500),
    "unauthorized": respond(401),
    "not-found": respond(404),
    "malformed": respond(207, b"<D:multistatus xmlns:D='DAV:'><D:response>", XML),
    "xml-bomb": respond(207, BILLION_LAUGHS, XML),
    "over-64-kib": respond(207, LARGE, XML),
    "slower-than-its-own-deadline": _slowly,
}


@pytest.mark.parametrize("token", TOKEN_FAILURES.values(), ids=TOKEN_FAILURES.keys())
async def test_no_failure_of_the_token_fails_or_holds_up_the_full_read(
    running: Running, token: Script
) -> None:
    """The token only spares later reads: whatever its PROPFIND meets, the read goes on
    (within its own deadline, CALDAV_TIMEOUT_S) and hands back no token."""
    calendar = Calendar(respond(501), token)
    response = await _read(running, calendar, sync_token="")
    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, response.detail
    assert busy_of(response) == [(utc(3, 10), utc(3, 11))]
    assert (response.sync_token, response.unchanged) == ("", False)
    assert calendar.asked == ["token", "events"]


def _without_data(*paths: str) -> bytes:
    """A sync answer as Xandikos 0.4 gives it: ETags, and calendar-data not found."""
    members = "".join(
        f"<D:response><D:href>{path}</D:href>"
        '<D:propstat><D:prop><D:getetag>"e"</D:getetag></D:prop>'
        "<D:status>HTTP/1.1 200 OK</D:status></D:propstat>"
        "<D:propstat><D:prop><C:calendar-data/></D:prop>"
        "<D:status>HTTP/1.1 404 Not Found</D:status></D:propstat></D:response>"
        for path in paths
    )
    return (
        '<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        f"{members}<D:sync-token>{NEW}</D:sync-token></D:multistatus>"
    ).encode()


CONFIRMATIONS = {
    "ours": (respond(207, _sync_answer(OURS), XML), True),
    "a-persons-event-under-such-a-name": (
        respond(207, _sync_answer((OURS[0], "evolution-made@x")), XML),
        False,
    ),
    "not-sent": (respond(207, _sync_answer(), XML), False),
    "refused": (respond(500), False),
    "unreadable": (respond(207, BILLION_LAUGHS, XML), False),
}


@pytest.mark.parametrize(("multiget", "ours"), CONFIRMATIONS.values(), ids=CONFIRMATIONS.keys())
async def test_members_sent_without_their_data_are_fetched_before_unchanged(
    running: Running, multiget: Script, ours: bool
) -> None:
    calendar = Calendar(respond(207, _without_data(OURS[0]), XML), multiget=multiget)
    response = await _read(running, calendar)
    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, response.detail
    assert response.unchanged == ours
    assert response.sync_token == NEW
    if ours:
        assert calendar.asked == ["changes", "data"] and not response.busy
    else:
        assert calendar.asked == ["changes", "data", "events"]
        assert busy_of(response) == [(utc(3, 10), utc(3, 11))]


async def test_too_many_to_fetch_is_a_full_read_without_fetching(running: Running) -> None:
    paths = [
        href_for("http://h/cal/", f"s{n}@rooms.test").removeprefix("http://h")
        for n in range(MAX_TO_CONFIRM + 1)
    ]
    calendar = Calendar(respond(207, _without_data(*paths), XML))
    response = await _read(running, calendar)
    assert not response.unchanged and response.sync_token == NEW
    assert calendar.asked == ["changes", "events"]


SECOND_UID = "session-2@rooms.test"
SECOND = (href_for("http://h/cal/", SECOND_UID).removeprefix("http://h"), SECOND_UID)
BOTH = {
    "both-ours": (_sync_answer(OURS, SECOND), True),
    "one-left-out": (_sync_answer(OURS), False),
    "the-data-swapped": (_sync_answer((OURS[0], SECOND_UID), (SECOND[0], OUR_UID)), False),
    "one-twice-the-other-not": (_sync_answer(OURS, OURS), False),
}


@pytest.mark.parametrize(("answer", "ours"), BOTH.values(), ids=BOTH.keys())
async def test_every_member_fetched_must_be_ours_at_its_own_href(
    running: Running, answer: bytes, ours: bool
) -> None:
    calendar = Calendar(
        respond(207, _without_data(OURS[0], SECOND[0]), XML),
        multiget=respond(207, answer, XML),
    )
    response = await _read(running, calendar)
    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, response.detail
    assert response.unchanged == ours
    assert calendar.asked == (["changes", "data"] if ours else ["changes", "data", "events"])
