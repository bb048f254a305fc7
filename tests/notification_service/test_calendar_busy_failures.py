"""ReadCalendarBusy over a real gRPC port against scripted servers (no process): what
the query asks, answers no real CalDAV server gives (statuses, bombs, oversized or
broken bodies, too many intervals), invalid requests, credentials that no longer open.
Each failure must end as the outcome a write would get for it, and nothing of the
events read (a title, a description, an attendee) nor any secret may reach the
response or a log line."""

from __future__ import annotations

import asyncio
import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import grpc
import pytest
from notification.v1 import notification_pb2 as pb

from notification_service.credentials.sealing import BasicCredentials, new_key_entry
from notification_service.domain.busy import MAX_INTERVALS
from tests.notification_service.busy_answers import (
    END,
    NOTES,
    PERSON,
    START,
    TITLE,
    XML,
    C,
    busy_server,
    in_turn,
    multistatus,
    read_count,
    reports,
    utc,
    vcalendar,
    vevent,
)
from tests.notification_service.calendar_helpers import (
    busy_of,
    busy_request,
    calendar_config,
    error_details,
    keyring,
    retry_near,
)
from tests.notification_service.conftest import StartServer
from tests.notification_service.delivery.calendar.hostile_server import (
    Script,
    Seen,
    respond,
)
from tests.notification_service.delivery.calendar.test_hostile_servers import BILLION_LAUGHS
from tests.notification_service.notification_helpers import Running
from tests.notification_service.scripted_calendar import (
    PASSWORD,
    SECRETS,
    URL,
    USERNAME,
    assert_no_secret,
    sealed_for,
    url_of,
)


@pytest.fixture
async def running(start_server: StartServer) -> Running:
    """CalDAV deadline of 5 s: scripted servers answer at once, reading takes a moment."""
    return await start_server(calendar_config(caldav_timeout_s=5.0))


async def test_a_read_asks_for_expanded_events_and_answers_only_intervals(
    running: Running,
    caplog: pytest.LogCaptureFixture,
    log_events: Callable[[str], list[dict[str, Any]]],
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = multistatus(
        vcalendar(
            vevent("a@elsewhere", "20260303T100000Z", "20260303T110000Z"),
            vevent("b@elsewhere", "20260303T103000Z", "20260303T120000Z"),  # overlaps
            vevent("c@elsewhere", "20260303T120000Z", "20260303T123000Z"),  # touches
        ),
        vcalendar(vevent("ours@rooms.test", "20260304T100000Z", "20260304T110000Z")),
        vcalendar(vevent("f@x", "20260305T100000Z", "20260305T110000Z", "TRANSP:TRANSPARENT")),
        vcalendar(vevent("g@x", "20260306T100000Z", "20260306T110000Z", "STATUS:CANCELLED")),
        vcalendar(vevent("h@x", "20260329T230000Z", "20260330T010000Z")),  # clipped
    )
    before = read_count("READ")
    async with busy_server(respond(207, answer, XML)) as server:
        response = await running.read_busy(busy_request(sealed_for(url_of(server)), START, END))

    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, response.detail
    assert busy_of(response) == [
        (utc(3, 10), utc(3, 12) + timedelta(minutes=30)),
        (utc(29, 23), END),
    ]
    assert not response.detail and not response.HasField("retry_time")
    assert not response.resealed_credentials
    assert read_count("READ") == before + 1
    [seen] = reports(server)
    assert (seen.method, seen.target, seen.headers["depth"]) == ("REPORT", "/cal/", "1")
    query = ET.fromstring(seen.body)
    expand = query.find(f".//{C}calendar-data/{C}expand")
    window = query.find(f".//{C}comp-filter[@name='VEVENT']/{C}time-range")
    assert expand is not None and window is not None
    assert (
        expand.attrib == window.attrib == {"start": "20260302T000000Z", "end": "20260330T000000Z"}
    )
    [line] = [e for e in log_events("rpc") if e["method"] == "ReadCalendarBusy"]
    assert (line["outcome"], line["intervals"]) == ("READ", 2)
    assert [e["intervals"] for e in log_events("calendar_busy_read")] == [2]
    shown = caplog.text + str(response) + repr(response.SerializeToString())
    for private in (TITLE, NOTES, PERSON, "a@elsewhere", "ours@rooms.test"):
        assert private not in shown
    assert_no_secret(caplog.text)


def _unannounced(size: int) -> Script:
    """A 207 whose body has no length: it ends when the connection closes."""

    async def script(seen: Seen, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 207 Multi-Status\r\nConnection: close\r\n\r\n<a>")
        for _ in range(size // 65536 + 1):
            writer.write(b"<b/>" * 16384)
            await writer.drain()

    return script


TEMPORARY = pb.CALENDAR_WRITE_OUTCOME_TEMPORARY_FAILURE
PERMANENT = pb.CALENDAR_WRITE_OUTCOME_PERMANENT_FAILURE
REJECTED = pb.CALENDAR_WRITE_OUTCOME_CREDENTIALS_REJECTED
LATER = {"Retry-After": "120"}
# (the script, the outcome, whether a retry time comes back, how many queries are sent)
FAILURES = {
    "503-retry-after": (respond(503, b"", LATER), TEMPORARY, True, 1),
    "429-retry-after": (respond(429, b"", LATER), TEMPORARY, True, 1),
    "503": (respond(503), TEMPORARY, False, 1),
    "502": (respond(502), TEMPORARY, False, 1),
    "500-twice": (respond(500), TEMPORARY, False, 2),
    "401": (respond(401), REJECTED, False, 1),
    "403": (respond(403), REJECTED, False, 1),
    "400": (respond(400), PERMANENT, False, 1),
    "404": (respond(404), PERMANENT, False, 1),
    "xml-bomb": (respond(207, BILLION_LAUGHS, XML), PERMANENT, False, 1),
    "malformed-xml": (
        respond(207, b"<D:multistatus xmlns:D='DAV:'><D:response>", XML),
        PERMANENT,
        False,
        1,
    ),
    "not-a-multistatus": (respond(207, b"<error xmlns='DAV:'/>", XML), PERMANENT, False, 1),
    "announced-oversized": (
        respond(207, b"<a/>", {"Content-Length": str(9 << 20)}),
        PERMANENT,
        False,
        1,
    ),
    "oversized-unannounced": (_unannounced(9 << 20), PERMANENT, False, 1),
}


@pytest.mark.parametrize(
    ("script", "outcome", "retry", "queries"), FAILURES.values(), ids=FAILURES.keys()
)
async def test_read_failures_are_outcomes(
    running: Running,
    caplog: pytest.LogCaptureFixture,
    script: Script,
    outcome: int,
    retry: bool,
    queries: int,
) -> None:
    caplog.set_level(logging.DEBUG)
    label = pb.CalendarWriteOutcome.Name(outcome).removeprefix("CALENDAR_WRITE_OUTCOME_")
    before = read_count(label)
    async with busy_server(script) as server:
        response = await running.read_busy(busy_request(sealed_for(url_of(server)), START, END))
    assert response.outcome == outcome, response.detail
    assert read_count(label) == before + 1
    assert not response.busy and response.detail
    assert response.HasField("retry_time") == retry
    if retry:
        assert retry_near(response, 120)
    if outcome == REJECTED:
        assert response.detail.startswith("the calendar server refused the credentials (HTTP 40")
    # A 500 is asked once more without expand (Radicale's floating recurrences), no more.
    assert [b"expand" in seen.body for seen in reports(server)] == [True, False][:queries]
    assert_no_secret(response.detail, caplog.text)


async def test_an_answer_larger_than_other_answers_is_read(running: Running) -> None:
    """Months of events come whole, descriptions and all: the busy cap is 8 MiB where
    other answers stop at 2 MiB."""
    long = vevent("a@x", "20260303T100000Z", "20260303T110000Z", "X-NOTES:" + "n" * (3 << 20))
    async with busy_server(respond(207, multistatus(vcalendar(long)), XML)) as server:
        response = await running.read_busy(busy_request(sealed_for(url_of(server)), START, END))
    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, response.detail
    assert busy_of(response) == [(utc(3, 10), utc(3, 11))]


async def test_a_500_to_an_expanding_query_is_asked_again_without(running: Running) -> None:
    """Radicale 3.9's answer whenever the collection holds a floating recurring event."""
    weekly = vevent("w@x", "20260303T100000", "20260303T110000", "RRULE:FREQ=WEEKLY")
    answer = multistatus(vcalendar(weekly))
    async with busy_server(in_turn(respond(500), respond(207, answer, XML))) as server:
        response = await running.read_busy(busy_request(sealed_for(url_of(server)), START, END))

    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, response.detail
    assert busy_of(response) == [(utc(3, 10), utc(3, 11))]  # the master's own time only
    assert "HTTP 500" in response.detail and "1 recurring events came unexpanded" in response.detail
    assert [b"expand" in seen.body for seen in reports(server)] == [True, False]


async def test_at_most_5000_intervals_the_earliest(running: Running) -> None:
    hours = [START + timedelta(hours=n) for n in range(MAX_INTERVALS + 1)]
    half = timedelta(minutes=30)
    stamp = "%Y%m%dT%H%M%SZ"
    events = [
        vevent(f"e{n}@x", at.strftime(stamp), (at + half).strftime(stamp))
        for n, at in enumerate(hours)
    ]
    end = hours[-1] + timedelta(days=1)
    async with busy_server(respond(207, multistatus(vcalendar(*events)), XML)) as server:
        response = await running.read_busy(busy_request(sealed_for(url_of(server)), START, end))

    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, response.detail
    assert busy_of(response) == [(at, at + half) for at in hours[:MAX_INTERVALS]]
    assert response.detail == (
        f"more than {MAX_INTERVALS} busy intervals: none after "
        f"{(hours[MAX_INTERVALS - 1] + half).isoformat()}"
    )


async def test_unreadable_objects_are_counted_not_fatal(running: Running) -> None:
    answer = multistatus(
        "garbage", vcalendar(vevent("a@x", "20260303T100000Z", "20260303T110000Z"))
    )
    async with busy_server(respond(207, answer, XML)) as server:
        response = await running.read_busy(busy_request(sealed_for(url_of(server)), START, END))
    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, response.detail
    assert busy_of(response) == [(utc(3, 10), utc(3, 11))]
    assert response.detail == ""  # text without events is no event: nothing lost

    missing = answer.replace(b"<C:calendar-data>garbage</C:calendar-data>", b"")
    async with busy_server(respond(207, missing, XML)) as server:
        response = await running.read_busy(busy_request(sealed_for(url_of(server)), START, END))
    assert response.detail == "1 calendar objects or events could not be read"


def _read(**overrides: Any) -> pb.ReadCalendarBusyRequest:
    start = overrides.pop("start", START)
    end = overrides.pop("end", END)
    request = busy_request(sealed_for(URL), start, end)
    for name, value in overrides.items():
        setattr(request, name, value)
    return request


def _unset(field: str) -> pb.ReadCalendarBusyRequest:
    request = _read()
    request.ClearField(field)
    return request


INVALID_READS = {
    "no-user": (_read(user_id=""), {"user_id"}),
    "no-url": (_read(calendar_url=""), {"calendar_url"}),
    "no-sealed": (_read(sealed_credentials=b""), {"sealed_credentials"}),
    "no-start": (_unset("start_time"), {"start_time"}),
    "no-end": (_unset("end_time"), {"end_time"}),
    "empty-range": (_read(end=START), {"end_time"}),
    "reversed-range": (_read(end=START - timedelta(days=1)), {"end_time"}),
    "over-400-days": (_read(end=START + timedelta(days=400, seconds=1)), {"end_time"}),
    "no-domain": (_read(own_uid_domain=""), {"own_uid_domain"}),
    "bad-domain": (_read(own_uid_domain="rooms test"), {"own_uid_domain"}),
    "at-domain": (_read(own_uid_domain="@rooms.test"), {"own_uid_domain"}),
    "control-user": (_read(user_id="a\nb"), {"user_id"}),
    "token-with-a-line-break": (_read(sync_token="http://x/sync/1\r\nX: y"), {"sync_token"}),
    "token-with-a-space": (_read(sync_token="http://x/sync 1"), {"sync_token"}),
    "padded-token": (_read(sync_token=" http://x/sync/1"), {"sync_token"}),
    "non-ascii-token": (_read(sync_token="http://x/sync/\u00e9"), {"sync_token"}),
    "overlong-token": (_read(sync_token="t" * 1025), {"sync_token"}),
}


@pytest.mark.parametrize(("request_", "fields"), INVALID_READS.values(), ids=INVALID_READS.keys())
async def test_invalid_read_requests_name_their_fields(
    running: Running, request_: pb.ReadCalendarBusyRequest, fields: set[str]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.read_busy(request_)
    details = error_details(caught.value)
    assert details.code == grpc.StatusCode.INVALID_ARGUMENT
    assert (details.reason, details.domain) == ("INVALID_ARGUMENT", "notification.v1")
    assert details.fields == fields


async def test_a_range_of_exactly_400_days_is_read(running: Running) -> None:
    async with busy_server(respond(207, multistatus(), XML)) as server:
        request = busy_request(sealed_for(url_of(server)), START, START + timedelta(days=400))
        response = await running.read_busy(request)
    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, response.detail
    assert not response.busy


async def test_credentials_that_do_not_open_are_rejected(running: Running) -> None:
    stranger = sealed_for("http://127.0.0.1:9/cal/", user_id="someone-else")
    request = busy_request(
        pb.VerifyCalendarResponse(
            calendar_url="http://127.0.0.1:9/cal/",
            sealed_credentials=stranger.sealed_credentials,
        ),
        START,
        END,
    )
    response = await running.read_busy(request)
    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_CREDENTIALS_REJECTED
    assert response.detail == "the stored credentials no longer open; connect the calendar again"


async def test_credentials_under_an_older_key_are_sealed_anew_whatever_the_outcome(
    start_server: StartServer,
) -> None:
    old, new = new_key_entry("old"), new_key_entry("new")
    rotated = keyring(f"{new},{old}")
    after = await start_server(calendar_config(calendar_keys=rotated, caldav_timeout_s=5.0))
    async with busy_server(respond(503, b"", LATER)) as server:
        url = url_of(server)
        login = BasicCredentials(USERNAME, PASSWORD)
        sealed = keyring(old).seal(login, user_id="user-1", calendar_url=url)
        verified = pb.VerifyCalendarResponse(calendar_url=url, sealed_credentials=sealed)
        response = await after.read_busy(busy_request(verified, START, END))

    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_TEMPORARY_FAILURE
    assert response.resealed_credentials
    assert not rotated.needs_reseal(response.resealed_credentials)
    assert rotated.open(response.resealed_credentials, user_id="user-1", calendar_url=url)


async def test_without_seal_keys_a_read_is_a_temporary_configuration_error(
    start_server: StartServer, log_events: Callable[[str], list[dict[str, Any]]]
) -> None:
    running = await start_server(calendar_config(calendar_keys=None))
    response = await running.read_busy(busy_request(sealed_for(URL), START, END))
    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_TEMPORARY_FAILURE
    assert "CALENDAR_SEAL_KEYS" in response.detail
    assert log_events("calendar_configuration_error")
    assert SECRETS[0] not in response.detail
