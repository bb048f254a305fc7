"""`python -m servicekit.probe`, as a container health check runs it."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.processes import SchedulingProcess

pytestmark = pytest.mark.slow  # starts processes


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "servicekit.probe", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_serving_server_exits_0(server: SchedulingProcess) -> None:
    liveness = probe(server.address)
    assert liveness.returncode == 0, liveness
    assert liveness.stdout.strip() == f'{server.address} "": SERVING'

    readiness = probe("--service", "scheduling.v1.SchedulingService", server.address)
    assert readiness.returncode == 0, readiness
    assert readiness.stdout.strip().endswith("scheduling.v1.SchedulingService: SERVING")


def test_unknown_service_exits_1(server: SchedulingProcess) -> None:
    result = probe("--service", "no.such.Service", server.address)
    assert result.returncode == 1
    assert "NOT_FOUND" in result.stdout


def test_closed_port_exits_1_within_the_timeout() -> None:
    address = f"127.0.0.1:{closed_port()}"
    result = probe("--timeout", "2", address)
    assert result.returncode == 1
    assert result.stdout.startswith(f'{address} "": UNAVAILABLE')


def test_bad_arguments_exit_1_not_dockers_reserved_2() -> None:
    result = probe()
    assert result.returncode == 1
    assert "host:port" in result.stderr


def test_not_serving_exits_1() -> None:
    from concurrent import futures

    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    health_pb2_grpc.add_HealthServicer_to_server(servicer, grpc_server)
    port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    try:
        result = probe(f"127.0.0.1:{port}")
    finally:
        grpc_server.stop(None)
    assert result.returncode == 1
    assert result.stdout.strip() == f'127.0.0.1:{port} "": NOT_SERVING'
