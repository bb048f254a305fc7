"""Build, start and stop the grpc.aio server: the service, health, reflection."""

from __future__ import annotations

import logging

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from notification.v1 import notification_pb2 as pb
from notification.v1 import notification_pb2_grpc as pb_grpc

from notification_service.auth import TokenAuthInterceptor
from notification_service.config import Config, ConfigError
from notification_service.delivery import Provider
from notification_service.delivery.dry_run import DryRunProvider
from notification_service.delivery.smtp import SmtpProvider
from notification_service.notifier import Notifier
from notification_service.servicer import NotificationServicer
from servicekit.logs import log_event
from servicekit.metrics_http import serve_metrics
from servicekit.serving import SERVER_OPTIONS, ignore_further_signals, stop_event_on_signals

logger = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["NotificationService"].full_name


def make_provider(config: Config) -> Provider:
    if config.notifications_enabled:
        return SmtpProvider(config.smtp)
    return DryRunProvider()


class NotificationServer:
    """One server instance; `start` binds and serves, `stop` drains and closes."""

    def __init__(self, config: Config, provider: Provider | None = None) -> None:
        self.config = config
        self.provider = provider if provider is not None else make_provider(config)
        self.health = health.aio.HealthServicer()
        interceptors = [TokenAuthInterceptor(config.auth_token)] if config.auth_token else []
        self._server = grpc.aio.server(options=SERVER_OPTIONS, interceptors=interceptors)
        notifier = Notifier(self.provider, config.mail_from)
        pb_grpc.add_NotificationServiceServicer_to_server(
            NotificationServicer(notifier), self._server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        reflection.enable_server_reflection(
            (
                SERVICE_NAME,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            self._server,
        )
        self.port = 0
        self._stopped = False

    async def start(self) -> int:
        """Bind NOTIFICATION_LISTEN (port 0 picks a free one) and serve; the port."""
        try:
            self.port = self._server.add_insecure_port(self.config.listen)
        except RuntimeError as exc:
            raise ConfigError(f"cannot listen on {self.config.listen!r}: {exc}") from None
        await self._server.start()
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log_event(
            logger,
            logging.INFO,
            "serving",
            listen=self.config.listen,
            port=self.port,
            provider=self.provider.name,
            auth=bool(self.config.auth_token),
        )
        return self.port

    async def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING first, so balancers stop sending; then drain and close."""
        if self._stopped:
            return
        self._stopped = True
        grace = self.config.shutdown_grace_s if grace is None else grace
        await self.health.enter_graceful_shutdown()
        log_event(logger, logging.INFO, "stopping", grace_s=grace)
        await self._server.stop(grace)
        await self.provider.close()
        log_event(logger, logging.INFO, "stopped")


async def serve(config: Config) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully."""
    stop = stop_event_on_signals()
    server = NotificationServer(config)
    await server.start()
    serve_metrics(config.metrics_port, config.listen)
    try:
        await stop.wait()
        ignore_further_signals()
    finally:
        await server.stop()
