"""The scheduling process: database, gRPC server, health, and a graceful stop.

Liveness ("" in the health service) reports the process; readiness (the service's
own name) follows the database, so a database blip does not restart every replica.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta

from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from scheduling.v1 import scheduling_pb2, scheduling_pb2_grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from scheduling_service.adapters.change_feed import ChangeFeed
from scheduling_service.adapters.database import async_engine
from scheduling_service.adapters.directory import Directory
from scheduling_service.adapters.notification_client import NotificationClient
from scheduling_service.config import Settings
from scheduling_service.entrypoints.auth import TokenVerifier
from scheduling_service.entrypoints.interceptor import RpcInterceptor
from scheduling_service.entrypoints.servicer import SchedulingServicer
from scheduling_service.service_layer.relay import Relay
from scheduling_service.service_layer.rooms import RoomService
from scheduling_service.service_layer.unit_of_work import Transactions
from scheduling_service.service_layer.watch_hub import Hub
from servicekit.metrics_http import serve_metrics
from servicekit.serving import SERVER_OPTIONS, ignore_further_signals, stop_event_on_signals

log = logging.getLogger(__name__)

SERVICE_NAME = scheduling_pb2.DESCRIPTOR.services_by_name["SchedulingService"].full_name
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class SchedulingServer:
    def __init__(self, settings: Settings, database_url: str) -> None:
        self.settings = settings
        self.engine: AsyncEngine = async_engine(database_url, settings)
        self.health = health.aio.HealthServicer()
        self.hub = Hub(settings.watch_queue_size)
        self.feed = ChangeFeed(
            database_url,
            self.engine,
            self.hub,
            poll_s=settings.watch_poll_s,
            retention=timedelta(hours=settings.watch_retention_h),
            request_retention=timedelta(hours=settings.request_id_retention_h),
            prune_every_s=settings.watch_prune_every_s,
        )
        rooms = RoomService(
            Transactions(self.engine, settings.db_retry_attempts, settings.db_statement_timeout_ms),
            Directory(self.engine),
            uid_domain=settings.ics_uid_domain,
        )
        verifier = TokenVerifier(settings.jwt_secret, settings.jwt_issuer, settings.jwt_audience)
        self.server = aio.server(options=SERVER_OPTIONS, interceptors=[RpcInterceptor(verifier)])
        scheduling_pb2_grpc.add_SchedulingServiceServicer_to_server(
            SchedulingServicer(
                rooms,
                max_advance_days=settings.max_advance_days,
                engine=self.engine,
                hub=self.hub,
                heartbeat_s=settings.watch_heartbeat_s,
            ),
            self.server,
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server
        )
        self.notifications = NotificationClient(
            settings.notification_target,
            settings.notification_auth_token,
            settings.relay_rpc_timeout_s,
        )
        self.relay = Relay(self.engine, database_url, self.notifications, settings)
        self.port = self.server.add_insecure_port(settings.listen)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.feed.start_position()
        self._tasks += [
            asyncio.create_task(self.feed.run(), name="change-feed"),
            asyncio.create_task(self.feed.prune_forever(), name="change-log-pruner"),
            asyncio.create_task(self.relay.run(), name="outbox-relay"),
        ]
        await self.server.start()
        await self.health.set("", SERVING)
        await self.health.set(SERVICE_NAME, NOT_SERVING)
        self._tasks.append(asyncio.create_task(self._probe_database(), name="readiness"))
        log.info(
            "listening",
            extra={"fields": {"listen": self.settings.listen, "port": self.port}},
        )

    async def stop(self) -> None:
        log.info("stopping", extra={"fields": {"grace_s": self.settings.shutdown_grace_s}})
        await self.health.enter_graceful_shutdown()
        # Streams never end by themselves: end them first (UNAVAILABLE, so clients
        # resume elsewhere) and keep the grace period for unary calls.
        self.hub.close()
        # Unary calls and invite deliveries in flight share the grace period.
        grace = self.settings.shutdown_grace_s
        await asyncio.gather(self.relay.stop(grace), self.server.stop(grace))
        for task in self._tasks:
            task.cancel()
        for task, outcome in zip(
            self._tasks, await asyncio.gather(*self._tasks, return_exceptions=True), strict=True
        ):
            if isinstance(outcome, Exception):
                log.error(
                    "background task had failed",
                    exc_info=outcome,
                    extra={"fields": {"task": task.get_name()}},
                )
        await self.notifications.close()
        await self.engine.dispose()
        log.info("stopped")

    async def _probe_database(self) -> None:
        ready: bool | None = None
        while True:
            try:
                async with asyncio.timeout(self.settings.readiness_probe_s):
                    async with self.engine.connect() as conn:
                        await conn.execute(text("SELECT 1"))
                now_ready = True
            except Exception:  # any failure means "not ready"; the next probe retries
                now_ready = False
            if now_ready != ready:
                ready = now_ready
                await self.health.set(SERVICE_NAME, SERVING if ready else NOT_SERVING)
                log.info("readiness", extra={"fields": {"ready": ready}})
            await asyncio.sleep(self.settings.readiness_probe_s)


async def serve(settings: Settings, database_url: str) -> None:
    stop = stop_event_on_signals((signal.SIGTERM, signal.SIGINT))
    server = SchedulingServer(settings, database_url)
    await server.start()
    serve_metrics(settings.metrics_port, settings.listen)
    await stop.wait()
    ignore_further_signals()
    await server.stop()
