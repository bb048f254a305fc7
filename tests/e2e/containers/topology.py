"""The compose topology on a podman network, from docker-compose.yml's plans.

podman-compose 1.0.3 (Debian's) ignores depends_on conditions and health checks, so
this plays compose's part with plain `podman run`: a network where each container is
reachable by its service name, the named volumes, published ports (on free host
ports, so a developer's own `make run` on 50051 is no obstacle), and the start order
with its conditions (healthy, completed successfully, started). Everything it creates
carries a per-run project name and is removed by `down()`.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from tests.e2e.containers.compose import Service, start_order
from tests.e2e.containers.podman import Done, inspect_state, podman, wait_until
from tests.smtp_sink import free_port


class Topology:
    def __init__(
        self,
        project: str,
        services: dict[str, Service],
        images: dict[str, str],
        log: Path,
        mounts: dict[str, list[tuple[Path, str]]] | None = None,
    ) -> None:
        self.project = f"{project}-e2e-{uuid.uuid4().hex[:6]}"
        self.services = services
        self.images = images  # compose image name -> image to run
        self.log = log
        self.mounts = mounts or {}
        self.network = self.project
        self.started: list[str] = []
        self.volumes: list[str] = []
        self.published: dict[tuple[str, int], int] = {}  # (service, port) -> host port

    def container(self, service: str) -> str:
        return f"{self.project}-{service}"

    def up(self) -> None:
        podman("network", "create", self.network, log=self.log)
        for name in start_order(self.services):
            for other, condition in self.services[name].depends_on.items():
                self.wait_for(other, condition)
            self.start(name)
        # As `docker compose up --wait`: return once every health check passes.
        for name in self.started:
            if self.services[name].healthcheck:
                self.wait_for(name, "service_healthy")

    def start(self, name: str) -> None:
        spec = self.services[name]
        args = [
            "run",
            "--detach",
            f"--name={self.container(name)}",
            f"--network={self.network}",
            f"--network-alias={name}",
            f"--stop-timeout={int(spec.stop_grace_s)}",
        ]
        args += [f"--env={key}={value}" for key, value in spec.environment.items()]
        for port in spec.ports:
            host_port = free_port()
            self.published[(name, port.container_port)] = host_port
            args.append(f"--publish={port.host_ip}:{host_port}:{port.container_port}")
        for volume, path in spec.volumes:
            full = f"{self.project}-{volume}"
            if full not in self.volumes:
                podman("volume", "create", full, log=self.log)
                self.volumes.append(full)
            args.append(f"--volume={full}:{path}")
        args += [f"--volume={host}:{path}" for host, path in self.mounts.get(name, [])]
        args.append(self.images[spec.image])
        args += spec.command or []
        self.started.append(name)
        podman(*args, log=self.log)

    def wait_for(self, name: str, condition: str, timeout: float = 90) -> None:
        if condition == "service_healthy":
            wait_until(lambda: self.health(name).code == 0, timeout, f"{name} healthy")
        elif condition == "service_completed_successfully":
            wait_until(lambda: not self.running(name), timeout, f"{name} completed")
            code = self.exit_code(name)
            assert code == 0, f"{name} exited {code}:\n{self.logs(name)}"
        else:
            assert self.running(name), f"{name} is not running:\n{self.logs(name)}"

    def health(self, name: str) -> Done:
        """The service's compose health check, run inside its container as compose does."""
        argv = self.services[name].healthcheck
        assert argv, f"{name} has no health check"
        return self.exec(name, *argv)

    def exec(self, name: str, *argv: str) -> Done:
        return podman("exec", self.container(name), *argv, check=False, log=self.log)

    def running(self, name: str) -> bool:
        return bool(inspect_state(self.container(name))["Running"])

    def exit_code(self, name: str) -> int:
        return int(inspect_state(self.container(name))["ExitCode"])  # type: ignore[call-overload]

    def logs(self, name: str) -> str:
        done = podman("logs", self.container(name), check=False)
        return done.out + done.err

    def stop(self, name: str) -> tuple[int, float]:
        """`podman stop` (SIGTERM, SIGKILL after the grace period): exit code, seconds."""
        grace = int(self.services[name].stop_grace_s)
        started = time.monotonic()
        podman("stop", f"--time={grace}", self.container(name), timeout=grace + 30)
        return self.exit_code(name), time.monotonic() - started

    def down(self) -> None:
        for name in reversed(self.started):
            podman("rm", "--force", "--time=0", self.container(name), check=False, log=self.log)
        for volume in self.volumes:
            podman("volume", "rm", "--force", volume, check=False, log=self.log)
        podman("network", "rm", "--force", self.network, check=False, log=self.log)
