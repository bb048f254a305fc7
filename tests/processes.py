"""The services as real processes (`python -m … serve`), started and stopped by tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.smtp_sink import free_port

JWT_SECRET = "test-secret-of-at-least-32-bytes-length"


class ServiceProcess:
    module = ""
    listen_variable = ""
    health_service = ""

    def __init__(self, log_dir: Path, env: dict[str, str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{self.module}-{self.port}.log"
        self._env = {**os.environ, self.listen_variable: self.address, **env}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, wait: bool = True) -> ServiceProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module, "serve"],
            env=self._env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.module} exited early:\n{self.log()}")
                try:
                    request = health_pb2.HealthCheckRequest(service=self.health_service)
                    if (
                        stub.Check(request, timeout=1).status
                        == health_pb2.HealthCheckResponse.SERVING
                    ):
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.1)
        raise TimeoutError(f"{self.module} not ready in {timeout}s:\n{self.log()}")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, as in a crash."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class SchedulingProcess(ServiceProcess):
    module = "scheduling_service"
    listen_variable = "SCHEDULING_LISTEN"
    health_service = "scheduling.v1.SchedulingService"

    def __init__(self, database_url: str, log_dir: Path, **env: str) -> None:
        defaults = {
            "DATABASE_URL": database_url,
            "JWT_SECRET": JWT_SECRET,
            "READINESS_PROBE_S": "0.2",
            # Nothing listens there unless a test starts a notification service on it.
            "NOTIFICATION_TARGET": f"127.0.0.1:{free_port()}",
        }
        super().__init__(log_dir, {**defaults, **env})


class NotificationProcess(ServiceProcess):
    module = "notification_service"
    listen_variable = "NOTIFICATION_LISTEN"
    health_service = "notification.v1.NotificationService"

    def __init__(self, log_dir: Path, smtp_port: int, port: int | None = None, **env: str) -> None:
        defaults = {
            "NOTIFICATIONS_ENABLED": "true",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "SMTP_TIMEOUT_S": "5",
            "MAIL_FROM": "Practice Rooms <rooms@example.test>",
        }
        super().__init__(log_dir, {**defaults, **env}, port)
