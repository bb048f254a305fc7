"""WriteCalendarEvent over a real gRPC port when things go wrong: answers no real CalDAV
server gives (scripted local servers, no process), invalid requests, credentials that
no longer open. Each failure must end as the outcome design.md section 11 gives it, and
no secret may reach a response or a log line."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from notification.v1 import notification_pb2 as pb

from notification_service.delivery.calendar.objects import href_for
from tests.notification_service.calendar_helpers import (
    delete_request,
    error_details,
    new_uid,
    retry_near,
    unfolded_lines,
    write_request,
)
from tests.notification_service.conftest import StartServer
from tests.notification_service.delivery.calendar.hostile_server import (
    HostileServer,
    respond,
)
from tests.notification_service.delivery.calendar.test_hostile_servers import BILLION_LAUGHS
from tests.notification_service.notification_helpers import START, Running
from tests.notification_service.scripted_calendar import (
    URL,
    assert_no_secret,
    counted,
    scripted_config,
    sealed_for,
    url_of,
)


@pytest.fixture
async def running(start_server: StartServer) -> Running:
    """A notification server with a one-second CalDAV deadline (scripted servers)."""
    return await start_server(scripted_config())


async def test_a_put_sends_the_stored_copy_with_the_credentials(running: Running) -> None:
    async with HostileServer(respond(201, b"", {"ETag": '"e1"'})) as server:
        uid = new_uid()
        before = counted("notification_calendar_writes_total", action="PUT", outcome="WRITTEN")
        response = await running.write_calendar(write_request(sealed_for(url_of(server)), uid=uid))
    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, response.detail
    assert (response.href, response.etag) == (href_for(url_of(server), uid), '"e1"')
    assert not response.HasField("retry_time")
    assert counted("notification_calendar_writes_total", action="PUT", outcome="WRITTEN") == (
        before + 1
    )
    [seen] = server.requests
    assert seen.method == "PUT"
    assert seen.headers["content-type"] == "text/calendar; charset=utf-8"
    assert "if-match" not in seen.headers and "if-none-match" not in seen.headers
    lines = unfolded_lines(seen.body)
    assert "STATUS:CONFIRMED" in lines
    assert not [line for line in lines if line.startswith("METHOD")]


TEMPORARY = pb.CALENDAR_WRITE_OUTCOME_TEMPORARY_FAILURE
PERMANENT = pb.CALENDAR_WRITE_OUTCOME_PERMANENT_FAILURE
REJECTED = pb.CALENDAR_WRITE_OUTCOME_CREDENTIALS_REJECTED
LATER = {"Retry-After": "120"}
XML = {"Content-Type": "application/xml"}
WRITE_FAILURES = {
    "503-retry-after": (503, LATER, b"", TEMPORARY),
    "429-retry-after": (429, LATER, b"", TEMPORARY),
    "503": (503, {}, b"", TEMPORARY),
    "500": (500, {}, b"", TEMPORARY),
    "400": (400, {}, b"", PERMANENT),
    "415": (415, {}, b"", PERMANENT),
    "401": (401, {}, b"", REJECTED),
    "403": (403, {}, b"", REJECTED),
    "xml-bomb": (409, XML, BILLION_LAUGHS, PERMANENT),
}


@pytest.mark.parametrize(
    ("status", "headers", "body", "outcome"), WRITE_FAILURES.values(), ids=WRITE_FAILURES.keys()
)
@pytest.mark.parametrize("action", ["PUT", "DELETE"])
async def test_write_failures_are_outcomes(
    running: Running,
    caplog: pytest.LogCaptureFixture,
    status: int,
    headers: dict[str, str],
    body: bytes,
    outcome: int,
    action: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with HostileServer(respond(status, body, headers)) as server:
        verified = sealed_for(url_of(server))
        uid = new_uid()
        request = (
            write_request(verified, uid=uid)
            if action == "PUT"
            else delete_request(verified, uid, href=url_of(server) + "x.ics")
        )
        label = pb.CalendarWriteOutcome.Name(outcome).removeprefix("CALENDAR_WRITE_OUTCOME_")
        before = counted("notification_calendar_writes_total", action=action, outcome=label)
        response = await running.write_calendar(request)
    assert response.outcome == outcome, response.detail
    assert counted("notification_calendar_writes_total", action=action, outcome=label) == (
        before + 1
    )
    assert [seen.method for seen in server.requests] == [action]
    assert not response.href and not response.etag and response.detail
    if "Retry-After" in headers:
        assert retry_near(response, 120)
    else:
        assert not response.HasField("retry_time")
    if outcome == pb.CALENDAR_WRITE_OUTCOME_CREDENTIALS_REJECTED:
        assert response.detail == f"the calendar server refused the credentials (HTTP {status})"
    assert_no_secret(response.detail, caplog.text)


async def test_a_delete_of_what_is_gone_is_removed(running: Running) -> None:
    for status in (404, 410):
        async with HostileServer(respond(status, b"")) as server:
            verified = sealed_for(url_of(server))
            response = await running.write_calendar(
                delete_request(verified, new_uid(), href=url_of(server) + "x.ics", etag='"e"')
            )
        assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_REMOVED, response.detail
        assert server.requests[0].headers["if-match"] == '"e"'


@pytest.mark.parametrize(
    "sealed",
    [
        sealed_for("http://127.0.0.1:9/cal/", user_id="someone-else").sealed_credentials,
        sealed_for("http://127.0.0.1:9/other/").sealed_credentials,
        b"v1.k1.not-a-sealed-blob-at-all-but-long-enough",
        b"v1.unknown." + b"x" * 40,
    ],
    ids=["other-user", "other-url", "garbage", "unknown-key"],
)
async def test_credentials_that_do_not_open_are_rejected(running: Running, sealed: bytes) -> None:
    request = write_request(
        pb.VerifyCalendarResponse(calendar_url="http://127.0.0.1:9/cal/", sealed_credentials=sealed)
    )
    response = await running.write_calendar(request)
    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_CREDENTIALS_REJECTED
    assert response.detail == "the stored credentials no longer open; connect the calendar again"


async def test_an_href_on_another_origin_is_never_written(running: Running) -> None:
    async with HostileServer(respond(201, b"")) as server:
        request = write_request(
            sealed_for(url_of(server)), href="http://127.0.0.2:9/stolen.ics", etag='"e"'
        )
        response = await running.write_calendar(request)
    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_PERMANENT_FAILURE
    assert server.requests == []


def _write(**overrides: Any) -> pb.WriteCalendarEventRequest:
    return write_request(sealed_for(URL), **overrides)


def _unset(field: str, **overrides: Any) -> pb.WriteCalendarEventRequest:
    request = _write(**overrides)
    request.ClearField(field)
    return request


def _event_unset(field: str) -> pb.WriteCalendarEventRequest:
    request = _write()
    request.event.ClearField(field)
    return request


def _status(status: int) -> pb.WriteCalendarEventRequest:
    request = _write()
    request.event.status = status  # type: ignore[assignment]
    return request


INVALID_WRITES = {
    "no-user": (_write(user_id=""), {"user_id"}),
    "no-url": (_write(calendar_url=""), {"calendar_url"}),
    "no-sealed": (_write(sealed_credentials=b""), {"sealed_credentials"}),
    "no-action": (_write(action=pb.CALENDAR_WRITE_ACTION_UNSPECIFIED), {"action"}),
    "unknown-action": (_write(action=7), {"action"}),
    "bad-uid": (_write(uid="has space"), {"event.uid"}),
    "no-uid": (_write(uid=""), {"event.uid"}),
    "end-before-start": (_write(end=START), {"event.end_time"}),
    "no-start": (_event_unset("start_time"), {"event.start_time"}),
    "no-title": (_write(title=""), {"event.title"}),
    "control-title": (_write(title="a\r\nMETHOD:CANCEL"), {"event.title"}),
    "no-dtstamp": (_unset("dtstamp"), {"dtstamp"}),
    "no-attendees": (_write(attendees=[]), {"attendees"}),
    "bad-attendee": (_write(attendees=[pb.Participant(email="a b")]), {"attendees[0].email"}),
    "cancelled": (_status(pb.EVENT_STATUS_CANCELLED), {"event.status"}),
    "etag-without-href": (_write(etag='"e"'), {"etag"}),
    "bad-etag": (_write(href=URL + "x.ics", etag="e\u00e9"), {"etag"}),
    "control-href": (_write(href=URL + "\nx.ics"), {"href"}),
    "bad-delete-uid": (delete_request(sealed_for(URL), "a b"), {"event.uid"}),
}


@pytest.mark.parametrize(("request_", "fields"), INVALID_WRITES.values(), ids=INVALID_WRITES.keys())
async def test_invalid_write_requests_name_their_fields(
    running: Running, request_: pb.WriteCalendarEventRequest, fields: set[str]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.write_calendar(request_)
    details = error_details(caught.value)
    assert details.code == grpc.StatusCode.INVALID_ARGUMENT
    assert (details.reason, details.domain) == ("INVALID_ARGUMENT", "notification.v1")
    assert details.fields == fields


async def test_a_delete_needs_only_the_uid(running: Running) -> None:
    async with HostileServer(respond(204, b"")) as server:
        verified = sealed_for(url_of(server))
        response = await running.write_calendar(
            delete_request(verified, new_uid(), href=url_of(server) + "x.ics")
        )
    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_REMOVED, response.detail


async def test_the_rpc_line_names_the_write_and_no_secret(
    running: Running,
    caplog: pytest.LogCaptureFixture,
    log_events: Callable[[str], list[dict[str, Any]]],
) -> None:
    caplog.set_level(logging.DEBUG)
    async with HostileServer(respond(201, b"", {"ETag": '"e1"'})) as server:
        url = url_of(server, "/cal/?access_token=QUERYSECRET")
        uid = new_uid()
        request = write_request(sealed_for(url), uid=uid)
        response = await running.write_calendar(request)
    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, response.detail
    [line] = [e for e in log_events("rpc") if e["method"] == "WriteCalendarEvent"]
    assert (line["uid"], line["action"], line["outcome"]) == (uid, "PUT", "WRITTEN")
    assert line["calendar"] == url_of(server)
    assert_no_secret(caplog.text)
    assert "QUERYSECRET" not in caplog.text
    assert repr(request.sealed_credentials)[12:40] not in caplog.text
