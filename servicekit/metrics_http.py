"""The Prometheus endpoint: on METRICS_PORT, on the same host as the gRPC listener."""

from __future__ import annotations

from prometheus_client import start_http_server

from servicekit.logs import get_logger

log = get_logger(__name__)


def host_of(listen: str) -> str:
    """`0.0.0.0:50051` → `0.0.0.0`; `[::]:50051` → `::`."""
    host = listen.rsplit(":", 1)[0] if ":" in listen else listen
    return host.strip("[]") or "0.0.0.0"


def serve_metrics(port: int | None, grpc_listen: str) -> None:
    """Start the endpoint in a background thread; no-op when `port` is unset or 0."""
    if not port:
        return
    host = host_of(grpc_listen)
    start_http_server(port, addr=host)
    log.info("metrics endpoint", host=host, port=port)
