"""Fixtures for the notification service: a real SMTP sink, a real gRPC server.

Every server a fixture starts, the fixture stops. The folders below mirror
notification_service/; they share these fixtures, and the helpers in
`notification_helpers` and `mail_strategies` next to this file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import grpc
import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from grpc_health.v1 import health_pb2_grpc
from notification.v1 import notification_pb2_grpc as pb_grpc

from notification_service.entrypoints.config import Config
from notification_service.entrypoints.server import NotificationServer
from notification_service.service_layer.ports import Provider
from servicekit.logs import JsonFormatter
from tests.notification_service.notification_helpers import Running, Sink, start_sink


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

    async def start(config: Config, provider: Provider | None = None) -> Running:
        server = NotificationServer(config, provider)
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
