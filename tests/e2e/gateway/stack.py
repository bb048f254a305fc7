"""The real gateway (deploy/gateway, built by `make e2e-gateway`) in front of a real
scheduling service on a throwaway database, started and stopped by the tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from scheduling_service.adapters import migrator
from tests import postgres
from tests.e2e.gateway.http import Gateway
from tests.processes import SchedulingProcess
from tests.smtp_sink import free_port

ROOT = Path(__file__).resolve().parents[3]
BINARY = Path(os.environ.get("ROOMS_GATEWAY", ROOT / "build" / "gateway" / "rooms-gateway"))
# The secret docs/http.md mints its tokens with (make run's development secret), so
# the doc's examples run as written.
DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef"


class GatewayProcess:
    def __init__(self, upstream: str, log_dir: Path) -> None:
        assert BINARY.exists(), f"{BINARY} is missing: `make e2e-gateway` builds it"
        self.port = free_port()
        self.upstream = upstream
        self.log_path = log_dir / f"gateway-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10) -> GatewayProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(BINARY), "-listen", f"127.0.0.1:{self.port}", "-upstream", self.upstream],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the gateway exited early:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"the gateway did not listen in {timeout}s:\n{self.log()}")

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def pause(self) -> None:
        """SIGSTOP: the gateway reads nothing more, as a stalled proxy or client would."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def client(self) -> Gateway:
        return Gateway("127.0.0.1", self.port)


@dataclass
class Stack:
    database_url: str
    service: SchedulingProcess
    gateway: GatewayProcess

    @property
    def http(self) -> Gateway:
        return self.gateway.client

    def libpq_url(self) -> str:
        return postgres.libpq_url(self.database_url)


@contextmanager
def stack(postgres_server: str, log_dir: Path, **env: str) -> Iterator[Stack]:
    """A fresh database at head, the service on it (with `env`), the gateway in front;
    all stopped and dropped afterwards, whatever happens in between."""
    with postgres.fresh_database(postgres_server) as url:
        migrator.upgrade_to_head(url)
        settings = {"JWT_SECRET": DEV_SECRET, "WATCH_HEARTBEAT_S": "1", **env}
        service = SchedulingProcess(url, log_dir, **settings)
        service.start()
        try:
            gateway = GatewayProcess(service.address, log_dir).start()
            try:
                yield Stack(url, service, gateway)
            finally:
                gateway.resume()  # in case a test left it paused
                gateway.stop()
        finally:
            if service.process is not None and service.process.poll() is None:
                assert service.stop() == 0, service.log()
