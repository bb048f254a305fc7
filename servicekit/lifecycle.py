"""A service's gRPC server from start to stop, the same way in both services.

- `GrpcServer`: grpc.aio with the standard health and reflection services and our
  server options; liveness ("" in the health service) reports the process, readiness
  (the service's own name) what the service says about itself, so a database blip does
  not make an orchestrator restart every replica.
- `serve_until_signalled`: start, wait for SIGTERM or SIGINT, then stop in a `finally`:
  health NOT_SERVING first so balancers stop sending, the service's own drain (end
  streams, stop background work), then `server.stop(grace)` for the calls in flight.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from servicekit.config import ConfigError, Env
from servicekit.request_body import RequestBodies

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

# Accept clients' keepalive pings (also on idle connections) instead of answering
# them with GOAWAY "too_many_pings", and age connections out so that long-lived
# streams rebalance across replicas behind a load balancer.
SERVER_OPTIONS: list[tuple[str, int]] = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_connection_age_ms", 30 * 60_000),
    ("grpc.max_connection_age_grace_ms", 60_000),
    ("grpc.max_connection_idle_ms", 10 * 60_000),
    # grpc.aio takes new calls from gRPC core one at a time; a burst waits in core's
    # queue meanwhile, and past 1,000 (the default) core cancels calls before the
    # service ever sees them: the client gets a bare CANCELLED, nothing is logged. The
    # bounds on what callers may open are the service's own (streams per connection,
    # watches per user), which answer with a status and a log line.
    ("grpc.server.max_pending_requests", 20_000),
    ("grpc.server.max_pending_requests_hard_limit", 40_000),
]


@dataclass(frozen=True)
class ConnectionLimits:
    """What one client connection may hold, the same settings in both services."""

    # HTTP/2 streams open at once (a gRPC client queues the rest).
    max_streams: int = 1000
    # How long a connection may take to complete its handshake (gRPC's own default
    # keeps a silent one two minutes).
    handshake_timeout_s: float = 10.0
    # How long a call may take to send its request message, and how many calls of one
    # connection may wait for theirs at once (servicekit/request_body.py).
    request_message_timeout_s: float = 10.0
    max_pending_requests: int = 100

    @classmethod
    def from_env(cls, env: Env) -> ConnectionLimits:
        d = cls()
        return cls(
            max_streams=env.integer("GRPC_MAX_STREAMS_PER_CONNECTION", d.max_streams, low=1),
            handshake_timeout_s=env.number(
                "GRPC_HANDSHAKE_TIMEOUT_S", d.handshake_timeout_s, low=0.1, high=3600
            ),
            request_message_timeout_s=env.number(
                "GRPC_REQUEST_MESSAGE_TIMEOUT_S", d.request_message_timeout_s, low=0.1, high=3600
            ),
            max_pending_requests=env.integer(
                "GRPC_MAX_PENDING_REQUESTS_PER_CONNECTION", d.max_pending_requests, low=1
            ),
        )

    def server_options(self) -> list[tuple[str, int]]:
        return [
            ("grpc.max_concurrent_streams", self.max_streams),
            ("grpc.server_handshake_timeout_ms", int(self.handshake_timeout_s * 1000)),
        ]

    def request_bodies(self) -> RequestBodies:
        return RequestBodies(
            timeout_s=self.request_message_timeout_s,
            max_per_connection=self.max_pending_requests,
        )


class GrpcServer:
    def __init__(
        self,
        service_name: str,
        listen: str,
        *,
        interceptors: Sequence[aio.ServerInterceptor] = (),
        options: Sequence[tuple[str, int]] = (),
    ) -> None:
        self.service_name = service_name
        self.server = aio.server(
            options=[*SERVER_OPTIONS, *options], interceptors=list(interceptors)
        )
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (service_name, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server
        )
        try:
            self.port = self.server.add_insecure_port(listen)
        except RuntimeError as error:
            raise ConfigError(f"cannot listen on {listen!r}: {error}") from None

    async def start(self, *, ready: bool) -> None:
        """Serve; alive at once, ready when `ready` (see `set_ready`)."""
        await self.server.start()
        await self.health.set("", SERVING)
        await self.set_ready(ready)

    async def set_ready(self, ready: bool) -> None:
        await self.health.set(self.service_name, SERVING if ready else NOT_SERVING)

    async def stop_serving(self) -> None:
        """Every health answer NOT_SERVING, now and from here on."""
        await self.health.enter_graceful_shutdown()

    async def stop(self, grace_s: float) -> None:
        """Refuse new calls; give the ones in flight `grace_s`, then cancel them."""
        await self.server.stop(grace_s)


class Service(Protocol):
    async def start(self) -> object: ...

    async def stop(self) -> None: ...


async def serve_until_signalled(service: Service) -> None:
    """Start `service`, run until SIGTERM or SIGINT, and stop it, whatever happens."""
    stop = _stop_event_on_signals()
    await service.start()
    try:
        await stop.wait()
        _ignore_further_signals()
    finally:
        await service.stop()


_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _stop_event_on_signals() -> asyncio.Event:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in _SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    return stop


def _ignore_further_signals() -> None:
    """Once stopping: a second signal must not kill the process in the middle of its
    clean-up (asyncio would otherwise restore the default action when the loop closes,
    and a late SIGTERM would end the process with -15 instead of 0)."""
    loop = asyncio.get_running_loop()
    for sig in _SIGNALS:
        loop.remove_signal_handler(sig)
        signal.signal(sig, signal.SIG_IGN)
