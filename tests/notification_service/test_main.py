"""`python -m notification_service serve` as a real process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from notification_service.entrypoints.server import SERVICE_NAME

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _env(**variables: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NOTIFICATION", "SMTP_", "MAIL_FROM", "METRICS_PORT", "LOG_LEVEL"))
    }
    env.update(variables)
    return env


async def _spawn(**variables: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "notification_service",
        "serve",
        cwd=ROOT,
        env=_env(**variables),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _json_lines_until(process: asyncio.subprocess.Process, event: str) -> list[dict]:
    assert process.stderr is not None
    lines: list[dict] = []
    async with asyncio.timeout(20):
        while True:
            raw = await process.stderr.readline()
            if not raw:
                raise AssertionError(f"process ended before {event!r}: {lines}")
            line = json.loads(raw)
            lines.append(line)
            if line["event"] == event:
                return lines


async def test_serve_answers_health_and_exits_0_on_sigterm():
    process = await _spawn(NOTIFICATION_LISTEN="127.0.0.1:0", SHUTDOWN_GRACE_S="2")
    try:
        serving = (await _json_lines_until(process, "serving"))[-1]
        assert serving["service"] == "notification_service"
        assert serving["provider"] == "dry-run"
        async with grpc.aio.insecure_channel(f"127.0.0.1:{serving['port']}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for name in ("", SERVICE_NAME):
                reply = await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
        process.send_signal(signal.SIGTERM)
        rest = await _json_lines_until(process, "stopped")
        assert "stopping" in [line["event"] for line in rest]
        async with asyncio.timeout(20):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "[::]:0", "10.1.2.3:50052"])
async def test_serve_refuses_to_listen_beyond_loopback_without_a_token(listen):
    process = await _spawn(NOTIFICATION_LISTEN=listen)
    try:
        async with asyncio.timeout(20):
            _, stderr = await process.communicate()
        assert process.returncode != 0
        assert b"NOTIFICATION_AUTH_TOKEN" in stderr
        assert b"refusing to listen" in stderr
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_serve_stops_on_a_bad_setting_with_a_clear_message():
    process = await _spawn(SMTP_PORT="twenty-five")
    try:
        async with asyncio.timeout(20):
            _, stderr = await process.communicate()
        assert process.returncode == 2
        assert b"SMTP_PORT" in stderr
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
