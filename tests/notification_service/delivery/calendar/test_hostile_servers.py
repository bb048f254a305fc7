"""A hostile server's answers end as one clear, classified failure.

The server runs in the test's own event loop on loopback (no process, so not `slow`).
Most tests allow private networks (the server is on loopback); the redirect tests do NOT:
they serve TLS for the name `calendar.test` (a test CA), resolved by a test resolver to
127.0.0.1, which alone is exempt from the address rules.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import ssl
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from notification_service.delivery.calendar.authorization import BasicAuth
from notification_service.delivery.calendar.client import CalDAVClient
from notification_service.delivery.calendar.safe_http import Limits, SafeHttpClient
from notification_service.domain.errors import (
    CalendarAuthRejected,
    CalendarPermanentFailure,
    CalendarProtocolError,
    CalendarRetryLater,
    CalendarTemporaryFailure,
    CalendarTimeout,
    CalendarUrlNotAllowed,
)
from tests.notification_service.delivery.calendar.hostile_server import HostileServer, Seen, respond

CREDENTIALS = BasicAuth("alice", "s3cret")
EVENT = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<D:multistatus xmlns:D="DAV:"><D:response><D:href>&lol9;</D:href></D:response></D:multistatus>
"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<D:multistatus xmlns:D="DAV:"><D:response><D:href>&x;</D:href></D:response></D:multistatus>
"""


def _client(**limits: float) -> SafeHttpClient:
    return SafeHttpClient(allow_private_networks=True, limits=Limits(**limits))  # type: ignore[arg-type]


def _caldav(server: HostileServer, http: SafeHttpClient | None = None) -> CalDAVClient:
    return CalDAVClient(http or _client(), CREDENTIALS, _url(server))


def _url(server: HostileServer) -> str:
    return f"http://127.0.0.1:{server.port}/"


@pytest.mark.parametrize("bomb", [BILLION_LAUGHS, XXE], ids=["billion-laughs", "xxe"])
async def test_an_xml_bomb_is_a_protocol_error(bomb: bytes) -> None:
    script = respond(207, bomb, {"Content-Type": "application/xml"})
    async with HostileServer(script) as server:
        started = time.monotonic()
        with pytest.raises(CalendarProtocolError, match="unsafe XML"):
            await _caldav(server).discover(_url(server) + "cal/")
    assert time.monotonic() - started < 5


async def test_an_xml_bomb_in_a_put_refusal_is_a_protocol_error() -> None:
    script = respond(409, BILLION_LAUGHS, {"Content-Type": "application/xml"})
    async with HostileServer(script) as server:
        with pytest.raises(CalendarProtocolError, match="unsafe XML"):
            await _caldav(server).put_event(_url(server) + "cal/", "uid-1", EVENT)


async def _endless(seen: Seen, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 207 Multi-Status\r\nContent-Type: application/xml\r\n\r\n<a>")
    for _ in range(100_000):  # bounded all the same: 6.5 GB
        writer.write(b"<b/>" * 16384)
        await writer.drain()


async def _endless_chunked(seen: Seen, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(100_000):
        writer.write(b"10000\r\n" + b"x" * 65536 + b"\r\n")
        await writer.drain()


@pytest.mark.parametrize(
    "script",
    [
        _endless,
        _endless_chunked,
        respond(200, b"x" * 10, {"Content-Length": str(10**12)}),
    ],
    ids=["until-close", "chunked", "announced"],
)
async def test_an_endless_body_stops_at_the_cap(script: object) -> None:
    async with HostileServer(script) as server:  # type: ignore[arg-type]
        http = _client(max_body_bytes=256 * 1024, total_timeout_s=10)
        started = time.monotonic()
        with pytest.raises(CalendarProtocolError, match="cap"):
            await http.request("GET", _url(server))
    assert time.monotonic() - started < 5


async def test_a_gzip_body_is_refused_unread() -> None:
    script = respond(200, b"\x1f\x8b" + b"\0" * 100, {"Content-Encoding": "gzip"})
    async with HostileServer(script) as server:
        with pytest.raises(CalendarProtocolError, match="content-encoding"):
            await _client().request("GET", _url(server))


async def _drip(seen: Seen, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 207 Multi-Status\r\nContent-Length: 100000\r\n\r\n")
    for _ in range(1000):
        writer.write(b" ")
        await writer.drain()
        await asyncio.sleep(0.05)


async def test_a_slow_drip_hits_the_total_time_cap() -> None:
    async with HostileServer(_drip) as server:
        http = _client(total_timeout_s=1.0, read_timeout_s=5.0)
        started = time.monotonic()
        with pytest.raises(CalendarTimeout):
            await _caldav(server, http).discover(_url(server) + "cal/")
    assert time.monotonic() - started < 4


async def test_a_silent_server_hits_the_read_timeout() -> None:
    async def silent(seen: Seen, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    async with HostileServer(silent) as server:
        with pytest.raises(CalendarTimeout):
            await _client(read_timeout_s=0.5, total_timeout_s=10).request("GET", _url(server))


@pytest.mark.parametrize("status", [503, 429])
async def test_retry_after_in_seconds(status: int) -> None:
    async with HostileServer(respond(status, b"busy", {"Retry-After": "120"})) as server:
        before = datetime.now(UTC)
        with pytest.raises(CalendarRetryLater) as caught:
            await _caldav(server).put_event(_url(server) + "cal/", "uid-1", EVENT)
    expected = before + timedelta(seconds=120)
    assert expected <= caught.value.retry_at <= expected + timedelta(seconds=5)
    assert caught.value.status == status
    assert isinstance(caught.value, CalendarTemporaryFailure)


async def test_retry_after_as_an_http_date() -> None:
    at = (datetime.now(UTC) + timedelta(minutes=7)).replace(microsecond=0)
    headers = {"Retry-After": format_datetime(at, usegmt=True)}
    async with HostileServer(respond(503, b"", headers)) as server:
        with pytest.raises(CalendarRetryLater) as caught:
            await _caldav(server).delete_event(_url(server) + "cal/x.ics")
    assert caught.value.retry_at == at


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, CalendarAuthRejected),
        (403, CalendarAuthRejected),
        (500, CalendarTemporaryFailure),
        (502, CalendarTemporaryFailure),
        (503, CalendarTemporaryFailure),  # no Retry-After
        (400, CalendarPermanentFailure),
        (415, CalendarPermanentFailure),
        (418, CalendarPermanentFailure),
    ],
)
async def test_odd_statuses_are_classified(status: int, error: type[Exception]) -> None:
    async with HostileServer(respond(status, b"<html>no</html>")) as server:
        with pytest.raises(error) as caught:
            await _caldav(server).put_event(_url(server) + "cal/", "uid-1", EVENT)
    assert type(caught.value) is error


async def test_a_redirect_loop_stops_after_three() -> None:
    async def loop(seen: Seen, writer: asyncio.StreamWriter) -> None:
        await respond(302, b"", {"Location": seen.target + "x"})(seen, writer)

    async with HostileServer(loop) as server:
        with pytest.raises(CalendarProtocolError, match="redirects"):
            await _client().request("GET", _url(server))
    assert len(server.requests) == 4


async def test_credentials_are_not_sent_to_another_origin() -> None:
    async with HostileServer(respond(200, b"ok")) as other:
        location = {"Location": f"http://127.0.0.1:{other.port}/elsewhere"}
        async with HostileServer(respond(307, b"", location)) as first:
            response = await _client().request(
                "GET", _url(first), authorization=CREDENTIALS.header()
            )
    assert response.status == 200
    assert first.requests[0].headers["authorization"].startswith("Basic ")
    assert "authorization" not in other.requests[0].headers


async def test_a_write_is_not_redirected_to_another_origin() -> None:
    async with HostileServer(respond(201, b"")) as other:
        location = {"Location": f"http://127.0.0.1:{other.port}/stolen.ics"}
        async with HostileServer(respond(307, b"", location)) as first:
            with pytest.raises(CalendarProtocolError, match="another origin"):
                await _client().request("PUT", _url(first) + "event.ics", body=EVENT)
    assert other.requests == []  # the event never left for the other origin


async def test_a_header_http_cannot_carry_is_a_protocol_error() -> None:
    # An ETag a server handed back, sent in If-Match: refused before any connection.
    with pytest.raises(CalendarProtocolError, match="cannot send"):
        await _client().request(
            "GET", "http://127.0.0.1:9/", headers={"If-Match": '"\u00e9t\u00e9"'}
        )


# --- TLS, private networks NOT allowed -------------------------------------------------


# `ca` and `tls` (a server and a client context for calendar.test): conftest.py.


def _strict_client(client_context: ssl.SSLContext) -> tuple[SafeHttpClient, list[str]]:
    lookups: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return {"calendar.test": ["127.0.0.1"]}.get(host, ["127.0.0.1"])

    http = SafeHttpClient(
        allow_private_networks=False,
        ssl_context=client_context,
        resolver=resolver,
        extra_allowed_addresses=[ipaddress.IPv4Address("127.0.0.1")],
    )
    return http, lookups


async def test_the_pinned_connection_sends_the_name_as_host_and_sni(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_context, client_context = tls
    async with HostileServer(respond(200, b"ok"), ssl_context=server_context) as server:
        http, lookups = _strict_client(client_context)
        response = await http.request("GET", f"https://calendar.test:{server.port}/dav/")
    assert response.status == 200
    assert response.url == f"https://calendar.test:{server.port}/dav/"
    assert lookups == ["calendar.test"]
    assert server.server_names == ["calendar.test"]  # SNI, and the certificate checked for it
    assert server.requests[0].headers["host"] == f"calendar.test:{server.port}"


async def test_a_certificate_for_another_name_is_refused(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_context, client_context = tls
    async with HostileServer(respond(200, b"ok"), ssl_context=server_context) as server:
        http, _ = _strict_client(client_context)
        with pytest.raises(CalendarTemporaryFailure):
            await http.request("GET", f"https://other.test:{server.port}/")
    assert server.requests == []


@pytest.mark.parametrize(
    "location",
    [
        "https://127.0.0.2:{port}/",
        "https://127.1:{port}/",
        "https://2130706433:{port}/",
        "https://localhost:{port}/",
        "https://[::1]:{port}/",
        "https://[::ffff:127.0.0.1]:{port}/",
        "https://169.254.169.254/latest/meta-data/",
        "http://calendar.test:{port}/",
        "file:///etc/passwd",
        "https://user:pw@calendar.test:{port}/",
    ],
)
async def test_a_redirect_to_loopback_is_refused_without_private_networks(
    tls: tuple[ssl.SSLContext, ssl.SSLContext], location: str
) -> None:
    server_context, client_context = tls
    port_box: list[int] = []

    async def redirect(seen: Seen, writer: asyncio.StreamWriter) -> None:
        await respond(302, b"", {"Location": location.format(port=port_box[0])})(seen, writer)

    async with HostileServer(redirect, ssl_context=server_context) as server:
        port_box.append(server.port)
        http, lookups = _strict_client(client_context)
        with pytest.raises(CalendarUrlNotAllowed):
            await http.request("PROPFIND", f"https://calendar.test:{server.port}/")
    assert len(server.requests) == 1
    assert lookups == ["calendar.test"]  # the target was refused before any lookup


async def test_without_the_test_exemption_the_server_is_never_reached(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_context, client_context = tls

    async def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    async with HostileServer(respond(200, b"ok"), ssl_context=server_context) as server:
        http = SafeHttpClient(ssl_context=client_context, resolver=resolver)
        with pytest.raises(CalendarUrlNotAllowed, match="resolves to"):
            await http.request("GET", f"https://calendar.test:{server.port}/")
    assert server.requests == []


def test_basic_credentials_are_not_in_the_repr() -> None:
    assert "s3cret" not in repr(CREDENTIALS)
    assert base64.b64decode(CREDENTIALS.header().split()[1]) == b"alice:s3cret"
