"""What the bench starts and stops: PostgreSQL, databases, service and helper processes.

One PostgreSQL for the whole run: pgserver in a temporary directory, or the server
BENCH_DATABASE_URL names (the bench then creates and drops databases of its own on it).
The services are the real `python -m … serve` processes (tests/processes.py).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import uuid
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from scheduling_service.adapters import migrator
from tests.postgres import server_url
from tests.processes import NotificationProcess, SchedulingProcess
from tests.smtp_sink import free_port


class Postgres:
    """The run's PostgreSQL server, and the databases created on it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._databases: list[str] = []

    def version(self) -> str:
        with psycopg.connect(self.url) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"

    def database(self, label: str, *, migrate: bool = True) -> str:
        """A new empty database (at the latest schema unless `migrate` is False)."""
        name = f"bench_{label}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self._databases.append(name)
        url = make_url(self.url).set(database=name).render_as_string(hide_password=False)
        if migrate:
            migrator.upgrade_to_head(url)
        return url

    def drop_all(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            for name in self._databases:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._databases.clear()


@contextlib.contextmanager
def postgres() -> Iterator[Postgres]:
    """The server named by BENCH_DATABASE_URL, or a throwaway pgserver."""
    with server_url("BENCH_DATABASE_URL") as url:
        server = Postgres(url)
        try:
            yield server
        finally:
            server.drop_all()


class ChildServer:
    """A helper server in a process of its own: `main(port, ready_pipe)` sends "ready"."""

    def __init__(self, name: str, main: Callable[[int, Connection], None]) -> None:
        self.name = name
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self._ready = parent
        self.process = ctx.Process(target=main, args=(self.port, child), daemon=True)

    def __enter__(self) -> ChildServer:
        self.process.start()
        if not self._ready.poll(30) or self._ready.recv() != "ready":
            self.process.kill()
            raise RuntimeError(f"{self.name} did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


class Services:
    """Service processes of one scenario group; stops all of them on exit."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._started: list[Any] = []

    def scheduling(self, database_url: str, **env: str) -> SchedulingProcess:
        defaults = {
            "LOG_LEVEL": "INFO",
            "DB_POOL_SIZE": "32",
            "DB_POOL_OVERFLOW": "10",
            # Invites are recorded and relayed as in production, to a port where
            # nothing listens: each costs a claim, a refused call and a record, and
            # the long backoff keeps the retries out of the run.
            "RELAY_BACKOFF_MIN_S": "600",
            "RELAY_BACKOFF_MAX_S": "600",
            "WATCH_HEARTBEAT_S": "15",
        }
        process = SchedulingProcess(database_url, self.log_dir, **{**defaults, **env})
        self._started.append(process)
        process.start()
        return process

    def notification(self, smtp_port: int, **env: str) -> NotificationProcess:
        process = NotificationProcess(self.log_dir, smtp_port, None, **env)
        self._started.append(process)
        process.start()
        return process

    def stop_all(self) -> None:
        for process in reversed(self._started):
            with contextlib.suppress(Exception):
                process.stop(15)
        self._started.clear()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


def rss_kib(pid: int) -> int:
    """VmRSS of a process, in KiB (from /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")
