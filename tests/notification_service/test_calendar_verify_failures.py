"""VerifyCalendar over a real gRPC port when things go wrong: answers no real CalDAV
server gives (scripted local servers in the test's own event loop: no process, so not
slow), invalid requests, missing settings. Each failure must end as the status design.md
section 11 gives it, and no secret may reach a status message or a log line."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from notification.v1 import notification_pb2 as pb

from notification_service.credentials.sealing import OAuthCredentials
from tests.notification_service.calendar_helpers import (
    calendar_config,
    error_details,
    verify_request,
    write_request,
)
from tests.notification_service.conftest import StartServer
from tests.notification_service.delivery.calendar.hostile_server import (
    HostileServer,
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
    collection_server,
    counted,
    scripted_config,
    sealed_for,
    url_of,
)

# --- VerifyCalendar -------------------------------------------------------------------


@pytest.fixture
async def running(start_server: StartServer) -> Running:
    """A notification server with a one-second CalDAV deadline (scripted servers)."""
    return await start_server(scripted_config())


async def test_a_calendar_that_works_is_verified(running: Running) -> None:
    async with collection_server() as server:
        verified = await running.verify_calendar(
            verify_request(url_of(server), username=USERNAME, password=PASSWORD)
        )
    assert verified.calendar_url == url_of(server)
    assert verified.provider == "caldav"
    assert server.requests[0].method == "PROPFIND"
    assert server.requests[0].headers["authorization"] == f"Basic {SECRETS[1]}"


VERIFY_FAILURES: dict[str, tuple[Callable[[], HostileServer], str]] = {
    "401": (lambda: HostileServer(respond(401, b"no")), "CALENDAR_AUTH_REJECTED"),
    "403": (lambda: HostileServer(respond(403, b"no")), "CALENDAR_AUTH_REJECTED"),
    "503-retry-after": (
        lambda: HostileServer(respond(503, b"", {"Retry-After": "60"})),
        "CALENDAR_UNREACHABLE",
    ),
    "500": (lambda: HostileServer(respond(500, b"")), "CALENDAR_UNREACHABLE"),
    "400": (lambda: HostileServer(respond(400, b"")), "CALENDAR_UNREACHABLE"),
    "xml-bomb": (
        lambda: HostileServer(respond(207, BILLION_LAUGHS, {"Content-Type": "application/xml"})),
        "CALENDAR_UNREACHABLE",
    ),
    "tasks-only": (lambda: collection_server(component="VTODO"), "CALENDAR_NOT_FOUND"),
    "read-only": (lambda: collection_server(writable=False), "CALENDAR_NOT_WRITABLE"),
    "nothing-there": (lambda: HostileServer(respond(404, b"")), "CALENDAR_NOT_FOUND"),
}


@pytest.mark.parametrize(("make", "reason"), VERIFY_FAILURES.values(), ids=VERIFY_FAILURES.keys())
async def test_verify_failures_are_failed_preconditions(
    running: Running,
    caplog: pytest.LogCaptureFixture,
    make: Callable[[], HostileServer],
    reason: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    before = counted("notification_calendar_verifications_total", result=reason)
    async with make() as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await running.verify_calendar(
                verify_request(url_of(server), username=USERNAME, password=PASSWORD)
            )
    details = error_details(caught.value)
    assert details.code == grpc.StatusCode.FAILED_PRECONDITION
    assert (details.reason, details.domain) == (reason, "notification.v1")
    assert counted("notification_calendar_verifications_total", result=reason) == before + 1
    assert_no_secret(details.message, caplog.text)


async def test_a_silent_server_ends_at_the_operation_deadline(start_server: StartServer) -> None:
    running = await start_server(calendar_config(caldav_timeout_s=0.3))

    async def silent(seen: Seen, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    async with HostileServer(silent) as server:
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await running.verify_calendar(
                verify_request(url_of(server), username=USERNAME, password=PASSWORD)
            )
        elapsed = time.monotonic() - started
        response = await running.write_calendar(write_request(sealed_for(url_of(server))))
    assert error_details(caught.value).reason == "CALENDAR_UNREACHABLE"
    assert elapsed < 3  # CALDAV_TIMEOUT_S is 0.3 s here
    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_TEMPORARY_FAILURE
    assert "0.3s" in response.detail


def _basic(**fields: Any) -> pb.VerifyCalendarRequest:
    values = {"url": URL, "user_id": "user-1", "username": "a", "password": "b", **fields}
    return verify_request(values.pop("url"), **values)


def _oauth(**fields: Any) -> pb.VerifyCalendarRequest:
    return verify_request(URL, **{"refresh_token": "t", **fields})


INVALID_VERIFY = {
    "no-user": (_basic(user_id=""), {"user_id"}),
    "long-user": (_basic(user_id="u" * 256), {"user_id"}),
    "control-user": (_basic(user_id="u\n1"), {"user_id"}),
    "no-url": (_basic(url=""), {"url"}),
    "long-url": (_basic(url=URL + "x" * 2048), {"url"}),
    "no-credentials": (pb.VerifyCalendarRequest(user_id="u", url=URL), {"credentials"}),
    "no-username": (_basic(username=""), {"basic.username"}),
    "long-username": (_basic(username="a" * 257), {"basic.username"}),
    "no-password": (_basic(password=""), {"basic.password"}),
    "long-password": (_basic(password="p" * 1025), {"basic.password"}),
    "control-password": (_basic(password="se\x00cret"), {"basic.password"}),
    "provider": (_oauth(provider="yahoo"), {"oauth.provider"}),
    "no-token": (_oauth(refresh_token=""), {"oauth.refresh_token"}),
    "long-token": (_oauth(refresh_token="t" * 4097), {"oauth.refresh_token"}),
    "control-token": (_oauth(refresh_token="t\u2028"), {"oauth.refresh_token"}),
}


@pytest.mark.parametrize(("request_", "fields"), INVALID_VERIFY.values(), ids=INVALID_VERIFY.keys())
async def test_invalid_verify_requests_name_their_fields(
    running: Running, request_: pb.VerifyCalendarRequest, fields: set[str]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.verify_calendar(request_)
    details = error_details(caught.value)
    assert details.code == grpc.StatusCode.INVALID_ARGUMENT
    assert (details.reason, details.domain) == ("INVALID_ARGUMENT", "notification.v1")
    assert details.fields == fields
    assert "se\x00cret" not in details.message and "\u2028" not in details.message


async def test_without_seal_keys_calendar_sync_is_disabled(
    start_server: StartServer, log_events: Callable[[str], list[dict[str, Any]]]
) -> None:
    running = await start_server(calendar_config(calendar_keys=None))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.verify_calendar(verify_request(URL, username=USERNAME, password=PASSWORD))
    details = error_details(caught.value)
    assert (details.code, details.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "CALENDAR_SYNC_DISABLED",
    )
    assert "CALENDAR_SEAL_KEYS" in details.message

    response = await running.write_calendar(write_request(sealed_for(URL)))
    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_TEMPORARY_FAILURE
    assert "calendar sync is not configured" in response.detail
    errors = log_events("calendar_configuration_error")
    assert len(errors) == 2 and {e["level"] for e in errors} == {"error"}


async def test_google_without_its_oauth_client_is_disabled(running: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.verify_calendar(
            verify_request("https://apidata.example.com/caldav/v2/", refresh_token="1//token")
        )
    details = error_details(caught.value)
    assert (details.code, details.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "CALENDAR_SYNC_DISABLED",
    )
    oauth = sealed_for(
        "https://apidata.example.com/caldav/v2/",
        credentials=OAuthCredentials("google", "1//token"),
    )
    response = await running.write_calendar(write_request(oauth))
    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_TEMPORARY_FAILURE
    assert "not configured" in response.detail


# --- WriteCalendarEvent ---------------------------------------------------------------
