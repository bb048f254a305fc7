"""The scheduling process: adapters wired to the service layer, behind a gRPC server.

Readiness (the service's name in the health service) follows the database; liveness
("") the process (servicekit.lifecycle). On SIGTERM: health NOT_SERVING, watch streams
ended with UNAVAILABLE (streams never end by themselves, so this keeps the grace period
for unary calls), the relay drained, then the server's grace for calls in flight.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from scheduling.v1 import scheduling_pb2, scheduling_pb2_grpc

from scheduling_service.adapters import feed_ics
from scheduling_service.adapters.calendar_client import CalendarClient
from scheduling_service.adapters.database import PostgresDatabase
from scheduling_service.adapters.listener import PostgresListener
from scheduling_service.adapters.notification_client import NotificationClient
from scheduling_service.adapters.wire import EventMarkers
from scheduling_service.config import Settings
from scheduling_service.entrypoints.auth import TokenRules, TokenVerifier
from scheduling_service.entrypoints.interceptor import interceptor
from scheduling_service.entrypoints.servicer import SchedulingServicer
from scheduling_service.service_layer.busy_reader import BusyReader
from scheduling_service.service_layer.calendar_feeds import CalendarFeedService
from scheduling_service.service_layer.calendar_relay import CalendarRelay
from scheduling_service.service_layer.calendars import CalendarService
from scheduling_service.service_layer.feed import ChangeFeed
from scheduling_service.service_layer.hub import Hub
from scheduling_service.service_layer.ports import UnitOfWork
from scheduling_service.service_layer.relay import Relay
from scheduling_service.service_layer.rooms import RoomService
from scheduling_service.service_layer.waitlist import HoldKeeper, WaitlistService
from scheduling_service.service_layer.watch import WatchService
from servicekit.lifecycle import GrpcServer, serve_until_signalled
from servicekit.logs import get_logger
from servicekit.metrics_http import serve_metrics

log = get_logger(__name__)

SERVICE_NAME = scheduling_pb2.DESCRIPTOR.services_by_name["SchedulingService"].full_name


class SchedulingServer:
    def __init__(self, settings: Settings, database_url: str) -> None:
        self.settings = settings
        self.database = PostgresDatabase(database_url, settings)
        listener = PostgresListener(self.database.connect_listener)
        self.hub = Hub(settings.watch_queue_size, settings.watch_max_per_user)
        self.feed = ChangeFeed(
            self.database,
            listener,
            self.hub,
            poll_s=settings.watch_poll_s,
            retention=timedelta(hours=settings.watch_retention_h),
            request_retention=timedelta(hours=settings.request_id_retention_h),
            prune_every_s=settings.watch_prune_every_s,
        )
        rooms = RoomService(
            self.database,
            uid_domain=settings.ics_uid_domain,
            reminder_offsets=settings.reminder_offsets,
            waitlist_hold=settings.waitlist_hold,
        )
        waitlist = WaitlistService(
            self.database, hold=settings.waitlist_hold, max_waiting=settings.waitlist_max
        )
        self.hold_keeper = HoldKeeper(waitlist, settings.relay_poll_s)
        watch_service = WatchService(
            self.database,
            self.hub,
            EventMarkers(),
            settings.watch_heartbeat_s,
            settings.watch_snapshot_concurrency,
        )
        verifier = TokenVerifier(
            TokenRules(
                secret=settings.jwt_secret,
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                leeway=settings.jwt_leeway,
                max_ttl=settings.jwt_max_ttl,
                admin_scope=settings.jwt_admin_scope,
            )
        )
        self.grpc = GrpcServer(
            SERVICE_NAME,
            settings.listen,
            interceptors=[
                interceptor(SERVICE_NAME, verifier, settings.connection_limits.request_bodies())
            ],
            options=settings.connection_limits.server_options(),
        )
        self.notifications = NotificationClient(
            settings.notification_target,
            settings.notification_auth_token,
            settings.relay_rpc_timeout_s,
        )
        calendar_client = CalendarClient(
            self.notifications, settings.relay_rpc_timeout_s, settings.ics_uid_domain
        )
        scheduling_pb2_grpc.add_SchedulingServiceServicer_to_server(
            SchedulingServicer(
                rooms,
                watch_service,
                CalendarService(self.database, calendar_client),
                CalendarFeedService(
                    self.database,
                    base_url=settings.feed_base_url,
                    rate_per_min=settings.feed_rate_per_min,
                    refresh=settings.feed_refresh,
                    render=feed_ics.render,
                ),
                waitlist,
                max_advance_days=settings.max_advance_days,
            ),
            self.grpc.server,
        )
        self.relay = Relay(self.database, listener, self.notifications, settings)
        self.calendar_relay = CalendarRelay(self.database, listener, calendar_client, settings)
        self.busy_reader = BusyReader(self.database, listener, calendar_client, settings)
        self.port = self.grpc.port
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.database.open()
        await self.feed.start_position()
        self._tasks += [
            asyncio.create_task(self.feed.run(), name="change-feed"),
            asyncio.create_task(self.feed.prune_forever(), name="change-log-pruner"),
            asyncio.create_task(self.relay.run(), name="outbox-relay"),
            asyncio.create_task(self.calendar_relay.run(), name="calendar-relay"),
            asyncio.create_task(self.busy_reader.run(), name="calendar-busy-reader"),
            asyncio.create_task(self.hold_keeper.run(), name="waitlist-hold-keeper"),
        ]
        await self.grpc.start(ready=False)
        self._tasks.append(asyncio.create_task(self._probe_database(), name="readiness"))
        serve_metrics(self.settings.metrics_port, self.settings.listen)
        log.info("listening", listen=self.settings.listen, port=self.port)

    async def stop(self) -> None:
        grace = self.settings.shutdown_grace_s
        log.info("stopping", grace_s=grace)
        await self.grpc.stop_serving()
        self.hold_keeper.stop()
        # Watch streams end with UNAVAILABLE (and its reason), so that clients resume
        # elsewhere; the server stops only once they said so, or it would cut them first.
        self.hub.close()
        await self.hub.wait_closed(grace)
        # Unary calls and invite deliveries in flight share the grace period.
        await asyncio.gather(
            self.relay.stop(grace),
            self.calendar_relay.stop(grace),
            self.busy_reader.stop(grace),
            self.grpc.stop(grace),
        )
        for task in self._tasks:
            task.cancel()
        outcomes = await asyncio.gather(*self._tasks, return_exceptions=True)
        for task, outcome in zip(self._tasks, outcomes, strict=True):
            if isinstance(outcome, Exception):
                log.error("background task had failed", exc_info=outcome, task=task.get_name())
        await self.notifications.close()
        await self.database.close()
        log.info("stopped")

    async def _probe_database(self) -> None:
        async def ping(uow: UnitOfWork) -> None:
            await uow.ping()

        ready: bool | None = None
        while True:
            try:
                async with asyncio.timeout(self.settings.readiness_probe_s):
                    await self.database.run(ping, time_left_s=self.settings.readiness_probe_s)
                now_ready = True
            except Exception:  # any failure means "not ready"; the next probe retries
                now_ready = False
            if now_ready != ready:
                ready = now_ready
                await self.grpc.set_ready(ready)
                log.info("readiness", ready=ready)
            await asyncio.sleep(self.settings.readiness_probe_s)


async def serve(settings: Settings, database_url: str) -> None:
    await serve_until_signalled(SchedulingServer(settings, database_url))
