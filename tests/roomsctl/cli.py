"""Running `python -m roomsctl` as a user would, against the test server."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass

from tests.processes import JWT_SECRET

ZONE = "Europe/Berlin"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"ROOMS_TOKEN", "SCHEDULING_TARGET"}}
    env["JWT_SECRET"] = JWT_SECRET
    env.update(extra)
    return env


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


def command(target: str, *args: str, tz: str = ZONE) -> list[str]:
    return [sys.executable, "-m", "roomsctl", "--target", target, "--tz", tz, *args]


def run(target: str, *args: str, env: dict[str, str] | None = None, tz: str = ZONE) -> Result:
    done = subprocess.run(
        command(target, *args, tz=tz),
        # Never the developer's terminal: a command that would prompt fails instead.
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=cli_env() if env is None else env,
        timeout=60,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def field(result: Result, label: str) -> str:
    """The value on the `  label       value` line of what a command printed."""
    for line in result.lines:
        if line.startswith("  ") and line[2:13].rstrip() == label:
            return line[14:]
    raise AssertionError(f"no {label!r} in:\n{result.out}")
