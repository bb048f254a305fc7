"""Test helpers for the calendar RPCs (VerifyCalendar, WriteCalendarEvent,
ReadCalendarBusy): a server configuration with calendar sync on, requests, and a
calendar read the way a client reads it (plain HTTP and icalendar's parser, not the
service's own CalDAV client).

Everything here is async: the notification server (and, in the OAuth tests, the bearer
proxy) run in the test's own event loop, which a blocking HTTP call would stall."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import grpc
import httpx
import icalendar
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from notification.v1 import notification_pb2 as pb

from notification_service.credentials.sealing import Keyring, new_key_entry, parse_seal_keys
from notification_service.entrypoints.config import Config
from tests.caldav_servers import Radicale
from tests.notification_service.notification_helpers import GUEST, HOST, START, server_config

SEAL_KEYS = new_key_entry("k1")
MKCALENDAR = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
    b"<D:set><D:prop><C:supported-calendar-component-set>"
    b'<C:comp name="VEVENT"/></C:supported-calendar-component-set></D:prop></D:set>'
    b"</C:mkcalendar>"
)
_PROPFIND = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>'
)


def keyring(entries: str = SEAL_KEYS) -> Keyring:
    return parse_seal_keys(entries)


def calendar_config(**overrides: Any) -> Config:
    """Dry-run mail, calendar sync on, loopback calendars allowed (the test servers)."""
    base = replace(
        server_config(),
        calendar_keys=keyring(),
        caldav_allow_private_networks=True,
        caldav_timeout_s=10.0,
    )
    return replace(base, **overrides)


def new_uid() -> str:
    return f"{uuid.uuid4()}@rooms.test"


def verify_request(url: str, *, user_id: str = "user-1", **credentials: Any) -> Any:
    """`username`/`password` for basic, `refresh_token` (and `provider`) for oauth."""
    if "refresh_token" in credentials:
        oauth = pb.OAuthCredentials(
            provider=credentials.pop("provider", "google"),
            refresh_token=credentials.pop("refresh_token"),
        )
        assert not credentials
        return pb.VerifyCalendarRequest(user_id=user_id, url=url, oauth=oauth)
    basic = pb.BasicCredentials(
        username=credentials.pop("username", ""), password=credentials.pop("password", "")
    )
    assert not credentials
    return pb.VerifyCalendarRequest(user_id=user_id, url=url, basic=basic)


def write_request(
    verified: Any | None = None,
    *,
    user_id: str = "user-1",
    action: int = pb.CALENDAR_WRITE_ACTION_PUT,
    **overrides: Any,
) -> pb.WriteCalendarEventRequest:
    """A PUT of a booked session into the calendar `verified` names (a
    VerifyCalendarResponse); keywords replace fields. `uid`, `sequence`, `title`,
    `description`, `rounds`, `start`, `end` go to the event."""
    event = pb.CalendarEvent(
        uid=overrides.pop("uid", new_uid()),
        sequence=overrides.pop("sequence", 1),
        title=overrides.pop("title", "Mock interview: system design"),
        description=overrides.pop("description", "Round 1: a URL shortener.\nBring a pen."),
    )
    event.rounds.extend(overrides.pop("rounds", []))
    start = overrides.pop("start", START)
    event.start_time.FromDatetime(start)
    event.end_time.FromDatetime(overrides.pop("end", start + timedelta(hours=1)))
    request = pb.WriteCalendarEventRequest(
        user_id=user_id,
        calendar_url=overrides.pop("calendar_url", verified.calendar_url if verified else ""),
        sealed_credentials=overrides.pop(
            "sealed_credentials", verified.sealed_credentials if verified else b""
        ),
        action=action,
        event=event,
        attendees=overrides.pop("attendees", [HOST, GUEST]),
        href=overrides.pop("href", ""),
        etag=overrides.pop("etag", ""),
        idempotency_key=overrides.pop("idempotency_key", "calendar-job-1"),
    )
    request.dtstamp.FromDatetime(overrides.pop("dtstamp", START - timedelta(days=3)))
    assert not overrides, f"unknown fields {overrides}"
    return request


def delete_request(verified: Any, uid: str, **overrides: Any) -> pb.WriteCalendarEventRequest:
    request = pb.WriteCalendarEventRequest(
        user_id=overrides.pop("user_id", "user-1"),
        calendar_url=verified.calendar_url,
        sealed_credentials=verified.sealed_credentials,
        action=pb.CALENDAR_WRITE_ACTION_DELETE,
        event=pb.CalendarEvent(uid=uid),
        href=overrides.pop("href", ""),
        etag=overrides.pop("etag", ""),
    )
    assert not overrides, f"unknown fields {overrides}"
    return request


def busy_request(
    verified: Any,
    start: datetime,
    end: datetime,
    *,
    user_id: str = "user-1",
    own_uid_domain: str = "rooms.test",
) -> pb.ReadCalendarBusyRequest:
    """ReadCalendarBusy over [start, end) of the calendar `verified` names (a
    VerifyCalendarResponse); new_uid() makes UIDs of `rooms.test`, our own."""
    request = pb.ReadCalendarBusyRequest(
        user_id=user_id,
        calendar_url=verified.calendar_url,
        sealed_credentials=verified.sealed_credentials,
        own_uid_domain=own_uid_domain,
    )
    request.start_time.FromDatetime(start)
    request.end_time.FromDatetime(end)
    return request


def busy_of(response: Any) -> list[tuple[datetime, datetime]]:
    """A ReadCalendarBusyResponse's intervals as aware UTC datetimes."""
    return [
        (b.start_time.ToDatetime(tzinfo=UTC), b.end_time.ToDatetime(tzinfo=UTC))
        for b in response.busy
    ]


@dataclass(frozen=True)
class ErrorDetails:
    code: grpc.StatusCode
    message: str
    reason: str
    domain: str
    fields: frozenset[str]


def error_details(error: grpc.aio.AioRpcError) -> ErrorDetails:
    """The status code, message, ErrorInfo reason and domain, BadRequest fields."""
    status = rpc_status.from_call(error)
    assert status is not None
    reason = domain = ""
    fields: set[str] = set()
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, domain = info.reason, info.domain
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields |= {v.field for v in bad.field_violations}
    return ErrorDetails(error.code(), error.details() or "", reason, domain, frozenset(fields))


def retry_near(response: Any, seconds: float) -> bool:
    """Whether `retry_time` is about `seconds` from now."""
    at = response.retry_time.ToDatetime(tzinfo=UTC)
    expected = datetime.now(UTC) + timedelta(seconds=seconds)
    return expected - timedelta(seconds=10) <= at <= expected + timedelta(seconds=2)


# --- a calendar, read as a client reads it ---------------------------------------------


def _client(auth: tuple[str, str] | None) -> httpx.AsyncClient:
    return httpx.AsyncClient(auth=auth, timeout=10.0, trust_env=False)


async def make_calendar(collection_url: str, auth: tuple[str, str]) -> str:
    """A new collection taking events (MKCALENDAR); its URL."""
    async with _client(auth) as http:
        reply = await http.request("MKCALENDAR", collection_url, content=MKCALENDAR)
    assert reply.status_code == 201, reply.status_code
    return collection_url


async def radicale_user(server: Radicale) -> tuple[str, str, str]:
    """A new Radicale user with one calendar: (username, password, collection URL)."""
    username = f"u{uuid.uuid4().hex[:10]}"
    password = f"pw-{uuid.uuid4().hex}"
    server.add_user(username, password)
    collection = await make_calendar(f"{server.url}{username}/calendar/", (username, password))
    return username, password, collection


def change_password(server: Radicale, username: str, password: str) -> None:
    """Radicale reads its htpasswd file on every request: the next one sees this."""
    lines = server.users.read_text().splitlines()
    kept = [line for line in lines if not line.startswith(f"{username}:")]
    server.users.write_text("\n".join([*kept, f"{username}:{password}"]) + "\n")


async def get_object(
    href: str, auth: tuple[str, str] | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes, str | None]:
    """(status, body, ETag) of a GET."""
    async with _client(auth) as http:
        reply = await http.get(href, headers=headers)
    return reply.status_code, reply.content, reply.headers.get("etag")


async def put_object(
    href: str, body: bytes, auth: tuple[str, str] | None = None, *, etag: str | None = None
) -> int:
    """A PUT as a person's calendar client would make it; the status."""
    headers = {"Content-Type": "text/calendar; charset=utf-8"}
    if etag:
        headers["If-Match"] = etag
    async with _client(auth) as http:
        reply = await http.put(href, content=body, headers=headers)
    return reply.status_code


async def hrefs_holding(
    collection_url: str, uid: str, auth: tuple[str, str] | None = None
) -> list[str]:
    """Every object of the collection whose VEVENT has `uid` (PROPFIND, then GET each)."""
    found = []
    async with _client(auth) as http:
        listing = await http.request(
            "PROPFIND",
            collection_url,
            content=_PROPFIND,
            headers={"Depth": "1", "Content-Type": "application/xml"},
        )
        assert listing.status_code == 207, listing.status_code
        for response in ET.fromstring(listing.content).iter("{DAV:}response"):
            href = urljoin(collection_url, response.findtext("{DAV:}href") or "")
            if href.rstrip("/") == collection_url.rstrip("/"):
                continue
            body = await http.get(href)
            if body.status_code != 200:
                continue
            calendar = icalendar.Calendar.from_ical(body.content)
            if any(str(e.get("UID")) == uid for e in calendar.walk("VEVENT")):
                found.append(href)
    return found


def unfolded_lines(ics: bytes) -> list[str]:
    """The content lines of an iCalendar object, unfolded (RFC 5545 section 3.1)."""
    text = ics.decode("utf-8").replace("\r\n ", "").replace("\r\n\t", "")
    return [line for line in text.split("\r\n") if line]


def the_event(ics: bytes) -> icalendar.Event:
    """The object's one VEVENT (asserts there is exactly one)."""
    events = icalendar.Calendar.from_ical(ics).walk("VEVENT")
    assert len(events) == 1, f"{len(events)} VEVENTs"
    return events[0]
