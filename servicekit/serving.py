"""gRPC server defaults both services use: keepalive, connection age, signals."""

from __future__ import annotations

import asyncio
import signal

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
]


def stop_event_on_signals(
    signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT),
) -> asyncio.Event:
    """An event set on SIGTERM or SIGINT, for a graceful stop of the running loop."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    return stop


def ignore_further_signals(
    signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT),
) -> None:
    """Once stopping: a second signal must not kill the process in the middle of its
    clean-up (asyncio would otherwise restore the default action when the loop closes,
    and a late SIGTERM would end the process with -15 instead of 0)."""
    loop = asyncio.get_running_loop()
    for sig in signals:
        loop.remove_signal_handler(sig)
        signal.signal(sig, signal.SIG_IGN)
