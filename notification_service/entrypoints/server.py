"""Build, start and stop the grpc.aio server: the service, health, reflection.

The calendar side (design.md section 11) is one CalDAVGateway per server: one
SafeHttpClient and one TokenRefresher (Google, when its client is configured), closed
when the server stops."""

from __future__ import annotations

from notification.v1 import notification_pb2 as pb
from notification.v1 import notification_pb2_grpc as pb_grpc

from notification_service import metrics
from notification_service.credentials.oauth import TokenRefresher
from notification_service.delivery.calendar.addresses import shown
from notification_service.delivery.calendar.safe_http import SafeHttpClient
from notification_service.delivery.calendar_gateway import CalDAVGateway, http_limits
from notification_service.delivery.dry_run import DryRunProvider
from notification_service.delivery.smtp import SmtpProvider
from notification_service.entrypoints import status
from notification_service.entrypoints.auth import ServiceToken
from notification_service.entrypoints.config import Config
from notification_service.entrypoints.servicer import NotificationServicer
from notification_service.service_layer.calendar_busy import CalendarBusyReader
from notification_service.service_layer.calendars import Calendars
from notification_service.service_layer.notifier import Notifier
from notification_service.service_layer.ports import CalendarGateway, Provider
from servicekit.interceptor import RpcInterceptor
from servicekit.lifecycle import GrpcServer, serve_until_signalled
from servicekit.logs import get_logger
from servicekit.metrics_http import serve_metrics

# The logger names the log lines have always carried (from before entrypoints/ existed),
# here and for the rpc lines below: log queries select on them.
log = get_logger("notification_service.server")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["NotificationService"].full_name


def make_provider(config: Config) -> Provider:
    if config.notifications_enabled:
        return SmtpProvider(config.smtp)
    return DryRunProvider()


def make_calendar_gateway(config: Config) -> CalDAVGateway:
    http = SafeHttpClient(
        allow_private_networks=config.caldav_allow_private_networks,
        limits=http_limits(config.caldav_timeout_s),
    )
    tokens = TokenRefresher(config.google_oauth) if config.google_oauth else None
    return CalDAVGateway(http, tokens=tokens, timeout_s=config.caldav_timeout_s)


class NotificationServer:
    """One server instance; `start` serves, `stop` drains and closes. `provider` and
    `calendar_gateway` replace what the configuration would build (tests)."""

    def __init__(
        self,
        config: Config,
        provider: Provider | None = None,
        calendar_gateway: CalendarGateway | None = None,
    ) -> None:
        self.config = config
        self.provider = provider if provider is not None else make_provider(config)
        self.calendar_gateway = (
            calendar_gateway if calendar_gateway is not None else make_calendar_gateway(config)
        )
        token = ServiceToken(config.auth_token) if config.auth_token else None
        self.grpc = GrpcServer(
            SERVICE_NAME,
            config.listen,
            interceptors=[
                RpcInterceptor(
                    service=SERVICE_NAME,
                    domain=status.DOMAIN,
                    to_status=status.to_status,
                    rpcs=metrics.RPCS,
                    latency=metrics.RPC_LATENCY,
                    log=get_logger("notification_service.servicer"),
                    request_bodies=config.connection_limits.request_bodies(),
                    authenticate=token.check if token else None,
                )
            ],
            options=config.connection_limits.server_options(),
        )
        notifier = Notifier(self.provider, config.mail_from, show_url=shown)
        calendars = Calendars(self.calendar_gateway, config.calendar_keys, config.mail_from)
        busy = CalendarBusyReader(calendars, self.calendar_gateway)
        pb_grpc.add_NotificationServiceServicer_to_server(
            NotificationServicer(notifier, calendars, busy), self.grpc.server
        )
        self.port = self.grpc.port
        self.health = self.grpc.health
        self._stopped = False

    async def start(self) -> int:
        """Serve on NOTIFICATION_LISTEN (port 0 picks a free one); the port. Stateless,
        so ready at once."""
        await self.grpc.start(ready=True)
        serve_metrics(self.config.metrics_port, self.config.listen)
        log.info(
            "serving",
            listen=self.config.listen,
            port=self.port,
            provider=self.provider.name,
            auth=bool(self.config.auth_token),
            calendar_sync=self.config.calendar_keys is not None,
            google_calendars=self.config.google_oauth is not None,
            caldav_private_networks=self.config.caldav_allow_private_networks,
        )
        if self.config.calendar_keys is None:
            log.info("calendar_sync_disabled", detail="CALENDAR_SEAL_KEYS is unset")
        return self.port

    async def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING first, so balancers stop sending; then drain and close."""
        if self._stopped:
            return
        self._stopped = True
        grace = self.config.shutdown_grace_s if grace is None else grace
        await self.grpc.stop_serving()
        log.info("stopping", grace_s=grace)
        await self.grpc.stop(grace)
        await self.provider.close()
        await self.calendar_gateway.close()
        log.info("stopped")


async def serve(config: Config) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully."""
    await serve_until_signalled(NotificationServer(config))
