"""docker-compose.yml read the way compose reads it, as plans for `podman run`.

Only what the project's compose file uses: images and builds, commands, environment
with `${VAR:-default}` / `${VAR:?message}` interpolation, published and exposed ports,
named volumes, health checks, stop grace periods and depends_on conditions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILE = ROOT / "docker-compose.yml"

_VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}|\$(\w+)|\$\$")


class MissingVariable(Exception):
    pass


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's variable substitution."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        op, rest = match.group(2), match.group(3) or ""
        given = env.get(name)
        unset_or_empty = not given if op and op.startswith(":") else given is None
        if op in (":-", "-"):
            return rest if unset_or_empty else str(given)
        if op in (":?", "?"):
            if unset_or_empty:
                raise MissingVariable(f"{name}: {rest}")
            return str(given)
        return given or ""

    return _VARIABLE.sub(one, value)


def _seconds(text: str | None, default: float) -> float:
    if text is None:
        return default
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"([\d.]+)(ms|s|m|h)", str(text)):
        total += float(number) * units[unit]
    return total


@dataclass(frozen=True)
class Port:
    host_ip: str
    host_port: int
    container_port: int


@dataclass
class Service:
    name: str
    image: str
    build: str | None
    command: list[str] | None
    environment: dict[str, str]
    ports: list[Port]
    volumes: list[tuple[str, str]]  # (named volume, path in the container)
    healthcheck: list[str] | None  # the argv a health check runs in the container
    start_period_s: float
    stop_grace_s: float
    depends_on: dict[str, str] = field(default_factory=dict)  # service -> condition


def _port(entry: Any) -> Port:
    parts = str(entry).split("/")[0].split(":")
    if len(parts) == 3:
        return Port(parts[0], int(parts[1]), int(parts[2]))
    if len(parts) == 2:
        return Port("0.0.0.0", int(parts[0]), int(parts[1]))
    raise ValueError(f"unsupported port entry {entry!r}")


def _healthcheck(spec: dict[str, Any] | None) -> list[str] | None:
    if not spec:
        return None
    test = spec["test"]
    if isinstance(test, str):
        return ["/bin/sh", "-c", test]
    kind, *argv = (str(word) for word in test)
    if kind == "CMD":
        return argv
    if kind == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(argv)]
    raise ValueError(f"unsupported health check {test!r}")


def load(env: dict[str, str], path: Path = COMPOSE_FILE) -> tuple[str, dict[str, Service]]:
    """The project name and every service, interpolated with `env` (a .env file)."""
    raw = yaml.safe_load(path.read_text())
    services = {}
    for name, spec in raw["services"].items():
        environment = spec.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        depends = spec.get("depends_on") or {}
        if isinstance(depends, list):
            depends = {other: {"condition": "service_started"} for other in depends}
        command = spec.get("command")
        health = spec.get("healthcheck") or {}
        services[name] = Service(
            name=name,
            image=str(spec.get("image", "")),
            build=spec.get("build") if isinstance(spec.get("build"), str) else None,
            command=[str(word) for word in command] if command is not None else None,
            environment={
                str(key): interpolate("" if value is None else str(value), env)
                for key, value in environment.items()
            },
            ports=[_port(entry) for entry in spec.get("ports", [])],
            volumes=[
                tuple(str(entry).split(":", 1))  # type: ignore[misc]
                for entry in spec.get("volumes", [])
                if not str(entry).startswith((".", "/"))
            ],
            healthcheck=_healthcheck(health),
            start_period_s=_seconds(health.get("start_period"), 0),
            stop_grace_s=_seconds(spec.get("stop_grace_period"), 10),
            depends_on={other: cond["condition"] for other, cond in depends.items()},
        )
    return str(raw.get("name", ROOT.name)), services


def start_order(services: dict[str, Service]) -> list[str]:
    """Every service after the services it depends on."""
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...] = ()) -> None:
        assert name not in path, f"depends_on cycle: {(*path, name)}"
        if name in order:
            return
        for other in services[name].depends_on:
            visit(other, (*path, name))
        order.append(name)

    for name in services:
        visit(name)
    return order
