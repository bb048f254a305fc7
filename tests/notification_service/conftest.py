"""Fixtures for the notification service: a real SMTP sink, a real gRPC server, and for
the calendar RPCs real CalDAV servers (Radicale, Xandikos) and a real OAuth token
endpoint.

Every server a fixture starts, the fixture stops. The folders below mirror
notification_service/; they share these fixtures, and the helpers in
`notification_helpers`, `calendar_helpers` and `mail_strategies` next to this file. A
test that starts a process (a CalDAV server) or the token server must be marked slow, as
tests/conftest.py demands of PostgreSQL: `pytest -m "not slow"` never starts one.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import grpc
import pytest
import trustme
from aiosmtpd.smtp import AuthResult, LoginPassword
from grpc_health.v1 import health_pb2_grpc
from notification.v1 import notification_pb2_grpc as pb_grpc

from notification_service.entrypoints.config import Config
from notification_service.entrypoints.server import NotificationServer
from notification_service.service_layer.ports import CalendarGateway, Provider
from servicekit.logs import JsonFormatter
from tests import oauth_token_server
from tests.caldav_servers import Radicale, Xandikos
from tests.notification_service.notification_helpers import Running, Sink, start_sink
from tests.oauth_token_server import TokenServer

# Fixtures that start a process or a server thread: their tests must be marked slow.
SLOW_FIXTURES = frozenset({"radicale", "xandikos", "token_server"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    unmarked = [
        item.nodeid
        for item in items
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("slow") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "tests that start a CalDAV server or the token server must be marked slow:\n  "
            + "\n  ".join(unmarked)
        )


@pytest.fixture
def smtp_sink() -> Iterator[Sink]:
    controller, sink = start_sink()
    try:
        yield sink
    finally:
        controller.stop()


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and data.password == b"right"
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def auth_smtp_sink() -> Iterator[Sink]:
    """A sink that requires AUTH (over plain text, for the test); password "right"."""
    controller, sink = start_sink(
        authenticator=_authenticator, auth_required=True, auth_require_tls=False
    )
    try:
        yield sink
    finally:
        controller.stop()


StartServer = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start_server() -> AsyncIterator[StartServer]:
    """Starts in-process servers on free ports; stops each at the end of the test."""
    running: list[Running] = []

    async def start(
        config: Config,
        provider: Provider | None = None,
        calendar_gateway: CalendarGateway | None = None,
    ) -> Running:
        server = NotificationServer(config, provider, calendar_gateway)
        port = await server.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        item = Running(
            server,
            channel,
            pb_grpc.NotificationServiceStub(channel),
            health_pb2_grpc.HealthStub(channel),
        )
        running.append(item)
        return item

    try:
        yield start
    finally:
        for item in running:
            await item.channel.close()
            await item.server.stop(grace=0.5)


@pytest.fixture
def log_events(caplog: pytest.LogCaptureFixture) -> Callable[[str], list[dict[str, Any]]]:
    """Log lines with a given event name, as the JSON formatter writes them."""
    caplog.set_level(logging.INFO)
    formatter = JsonFormatter("notification_service")

    def events(name: str) -> list[dict[str, Any]]:
        lines = [json.loads(formatter.format(r)) for r in caplog.records]
        return [line for line in lines if line["event"] == name]

    return events


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    """A Radicale process with htpasswd users (calendar_helpers.radicale_user)."""
    server = Radicale(tmp_path_factory.mktemp("radicale"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def xandikos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Xandikos]:
    """A Xandikos process (no authentication; one calendar: use fresh UIDs)."""
    server = Xandikos(tmp_path_factory.mktemp("xandikos"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def token_server() -> Iterator[TokenServer]:
    """authlib's RFC 6749 token endpoint in a thread (tests/oauth_token_server.py)."""
    state, httpd, thread = oauth_token_server.start()
    try:
        yield state
    finally:
        oauth_token_server.stop(httpd, thread)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A test certificate authority (trustme), for servers that speak TLS."""
    return trustme.CA()


@pytest.fixture
def tls(ca: trustme.CA) -> Iterator[tuple[ssl.SSLContext, ssl.SSLContext]]:
    """(server, client) contexts: the server's certificate names calendar.test."""
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("calendar.test").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    yield server, client
