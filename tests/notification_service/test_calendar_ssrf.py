"""The URL a user gives VerifyCalendar is hostile input (SSRF): with private networks
NOT allowed (the default), every spelling of loopback, a non-https scheme and a URL
with credentials are INVALID_ARGUMENT `CALENDAR_URL_NOT_ALLOWED` before any connection,
and so is a redirect to loopback from a server that is allowed.

The server is the real one on a real port. For the proof that nothing was connected,
its calendar gateway is built here with a SafeHttpClient that records every address it
is asked to resolve (`resolve` comes before every connection). The redirect test serves
TLS for `calendar.test` (a test CA) on loopback, as the groundwork's tests do: a test
resolver maps the name to 127.0.0.1, and that one address alone is exempt from the rules
(`extra_allowed_addresses`, never filled from configuration).
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl

import grpc
import pytest

from notification_service.delivery.calendar.addresses import Target
from notification_service.delivery.calendar.safe_http import SafeHttpClient
from notification_service.delivery.calendar_gateway import CalDAVGateway, http_limits
from tests.notification_service.calendar_helpers import (
    calendar_config,
    error_details,
    verify_request,
)
from tests.notification_service.conftest import StartServer
from tests.notification_service.delivery.calendar.hostile_server import (
    HostileServer,
    Seen,
    respond,
)
from tests.notification_service.notification_helpers import Running

PASSWORD = "s3cret-pw"
REFUSED = [
    "https://127.1/",
    "https://2130706433/",
    "https://0x7f000001/",
    "https://017700000001/",
    "https://127.0.0.1/",
    "https://[::1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:7f00:1]/",
    "https://[64:ff9b::7f00:1]/",
    "https://localhost/",
    "https://calendar.localhost/",
    "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.1/",
    "https://0.0.0.0/",
    "file:///etc/passwd",
    "https://user:pw@example.com/",
    "https://user@example.com/",
    "http://example.com/",
    "ftp://example.com/",
    "gopher://127.0.0.1:70/",
    "https://exa mple.com/",
]


class RecordingHttp(SafeHttpClient):
    """Records every target it is about to resolve and connect to."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.resolved: list[str] = []

    async def resolve(self, target: Target) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        self.resolved.append(target.url)
        return await super().resolve(target)


async def strict_server(
    start_server: StartServer, http: SafeHttpClient | None = None
) -> tuple[Running, RecordingHttp]:
    recording = http if isinstance(http, RecordingHttp) else RecordingHttp(limits=http_limits(5))
    gateway = CalDAVGateway(recording, tokens=None, timeout_s=5)
    config = calendar_config(caldav_allow_private_networks=False)
    return await start_server(config, calendar_gateway=gateway), recording


@pytest.mark.parametrize("url", REFUSED)
async def test_a_refused_url_is_never_connected(start_server: StartServer, url: str) -> None:
    running, http = await strict_server(start_server)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.verify_calendar(verify_request(url, username="alice", password=PASSWORD))
    details = error_details(caught.value)
    assert details.code == grpc.StatusCode.INVALID_ARGUMENT
    assert (details.reason, details.domain) == ("CALENDAR_URL_NOT_ALLOWED", "notification.v1")
    assert http.resolved == []
    assert PASSWORD not in details.message
    assert "user:pw" not in details.message


@pytest.mark.parametrize("url", ["https://127.1/", "https://[::1]/", "http://example.com/"])
async def test_the_default_configuration_refuses_them_too(
    start_server: StartServer, url: str
) -> None:
    """No injected gateway: what `serve` builds from CALDAV_ALLOW_PRIVATE_NETWORKS unset."""
    running = await start_server(calendar_config(caldav_allow_private_networks=False))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.verify_calendar(verify_request(url, username="alice", password=PASSWORD))
    assert error_details(caught.value).reason == "CALENDAR_URL_NOT_ALLOWED"


# --- a redirect to loopback, from a server that is allowed ----------------------------


# `ca` and `tls` (a server and a client context for calendar.test): conftest.py.


def exempt_loopback(client_context: ssl.SSLContext) -> tuple[RecordingHttp, list[str]]:
    lookups: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    http = RecordingHttp(
        allow_private_networks=False,
        ssl_context=client_context,
        resolver=resolver,
        extra_allowed_addresses=[ipaddress.IPv4Address("127.0.0.1")],
        limits=http_limits(5),
    )
    return http, lookups


@pytest.mark.parametrize(
    "location",
    [
        "https://127.0.0.2:{port}/",
        "https://127.1:{port}/",
        "https://localhost:{port}/",
        "https://[::1]:{port}/",
        "https://[::ffff:127.0.0.1]:{port}/",
        "https://169.254.169.254/latest/meta-data/",
        "http://calendar.test:{port}/",
        "https://user:pw@calendar.test:{port}/",
        "file:///etc/passwd",
    ],
)
async def test_a_redirect_to_loopback_is_refused(
    start_server: StartServer, tls: tuple[ssl.SSLContext, ssl.SSLContext], location: str
) -> None:
    server_context, client_context = tls
    port: list[int] = []

    async def redirect(seen: Seen, writer: asyncio.StreamWriter) -> None:
        await respond(302, b"", {"Location": location.format(port=port[0])})(seen, writer)

    http, lookups = exempt_loopback(client_context)
    running, _ = await strict_server(start_server, http)
    async with HostileServer(redirect, ssl_context=server_context) as server:
        port.append(server.port)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await running.verify_calendar(
                verify_request(
                    f"https://calendar.test:{server.port}/", username="alice", password=PASSWORD
                )
            )
    details = error_details(caught.value)
    assert details.code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.reason == "CALENDAR_URL_NOT_ALLOWED"
    assert len(server.requests) == 1  # the first hop; the redirect was never followed
    assert lookups == ["calendar.test"]
    assert http.resolved == [f"https://calendar.test:{server.port}/.well-known/caldav"]
    assert PASSWORD not in details.message and "user:pw" not in details.message


async def test_the_exempt_server_itself_is_reached(
    start_server: StartServer, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    """The control: without a redirect, the same set-up reaches the test server (so the
    refusals above are the redirect's, not the set-up's)."""
    server_context, client_context = tls
    http, _ = exempt_loopback(client_context)
    running, _ = await strict_server(start_server, http)
    async with HostileServer(respond(401, b""), ssl_context=server_context) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await running.verify_calendar(
                verify_request(
                    f"https://calendar.test:{server.port}/", username="alice", password=PASSWORD
                )
            )
    assert error_details(caught.value).reason == "CALENDAR_AUTH_REJECTED"
    assert server.server_names == ["calendar.test"]
