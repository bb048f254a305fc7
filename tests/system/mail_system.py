"""The whole mail path as tests run it: a database of its own, an SMTP sink, a
notification service and scheduling replicas, each started and stopped by the test
(the `system` fixture in tests/conftest.py), and the mail as people read it. Shared
by the invite and the reminder end-to-end tests.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import icalendar
import psycopg
from grpc import aio
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc

from tests import postgres
from tests.processes import NotificationProcess, SchedulingProcess
from tests.scheduling_service.client import auth, new_user
from tests.smtp_sink import Received, Sink, free_port

FAST_RELAY = {
    "RELAY_POLL_S": "0.2",
    "RELAY_BACKOFF_MIN_S": "0.1",
    "RELAY_BACKOFF_MAX_S": "0.5",
    # With retries this fast, the default 20 attempts last only a few seconds: on a busy
    # machine a message would be given up on before a test's notification service is up.
    "RELAY_MAX_ATTEMPTS": "1000",
}


@dataclass(frozen=True)
class Mail:
    to: str
    method: str
    uid: str
    sequence: int
    status: str
    message_id: str

    @classmethod
    def of(cls, received: Received) -> Mail:
        message = received.parsed()
        part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
        calendar = icalendar.Calendar.from_ical(part.get_content())
        event = calendar.walk("VEVENT")[0]
        assert part.get_param("method") == str(calendar["METHOD"])
        return cls(
            to=received.rcpt_tos[0],
            method=str(calendar["METHOD"]),
            uid=str(event["UID"]),
            sequence=int(event["SEQUENCE"]),
            status=str(event.get("STATUS", "")),
            message_id=str(message["Message-ID"]).strip("<>"),
        )


def person(prefix: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    user = new_user(prefix)
    return user, auth(
        user, email=f"{user}@example.test", name=prefix.title(), zoneinfo="Europe/Paris"
    )


class System:
    def __init__(self, database_url: str, sink: Sink, log_dir: Path) -> None:
        self.database_url = database_url
        self.sink = sink
        self.log_dir = log_dir
        self.notification_port = free_port()
        self.processes: list[SchedulingProcess | NotificationProcess] = []

    def notification(self, **env: str) -> NotificationProcess:
        process = NotificationProcess(
            self.log_dir, self.sink.port, port=self.notification_port, **env
        )
        self.processes.append(process.start())
        return process

    def scheduling(self, **env: str) -> SchedulingProcess:
        process = SchedulingProcess(
            self.database_url,
            self.log_dir,
            NOTIFICATION_TARGET=f"127.0.0.1:{self.notification_port}",
            **{**FAST_RELAY, **env},
        )
        self.processes.append(process.start())
        return process

    def mails(self, uid: str | None = None) -> list[Mail]:
        mails = [Mail.of(r) for r in self.sink.received]
        return [m for m in mails if uid is None or m.uid == uid]

    def outbox(self) -> Counter[str]:
        with psycopg.connect(postgres.libpq_url(self.database_url)) as conn:
            # Invites only: the reminders the bookings also wrote are due days later.
            rows = conn.execute(
                "SELECT state, count(*) FROM notification_outbox WHERE kind = 'invite'"
                " GROUP BY state"
            )
            return Counter({state: count for state, count in rows})

    async def settled(self, within_s: float = 30.0) -> None:
        """Until every message is in a final state. A mail comes only from an outbox row,
        and a row is final only once its mail was accepted (or given up on): after this,
        nothing more arrives."""
        await until(lambda: self.outbox()["pending"] == 0, within_s)

    def outbox_command(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`python -m scheduling_service outbox ARGS` on this system's database."""
        return subprocess.run(
            [sys.executable, "-m", "scheduling_service", "outbox", *args],
            env={**os.environ, "DATABASE_URL": self.database_url},
            capture_output=True,
            text=True,
            timeout=60,
        )

    def query(self, sql: str) -> object:
        """The first column of the first row of `sql` on this system's database."""
        with psycopg.connect(postgres.libpq_url(self.database_url)) as conn:
            row = conn.execute(sql).fetchone()  # type: ignore[arg-type]
            return row[0] if row else None

    def least_attempts(self) -> int:
        with psycopg.connect(postgres.libpq_url(self.database_url)) as conn:
            row = conn.execute(
                "SELECT min(attempts) FROM notification_outbox WHERE kind = 'invite'"
            ).fetchone()
            return int(row[0]) if row and row[0] is not None else 0


async def until(predicate: Callable[[], bool], within_s: float = 30.0) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


@asynccontextmanager
async def client(process: SchedulingProcess) -> AsyncIterator[pb_grpc.SchedulingServiceStub]:
    async with aio.insecure_channel(process.address) as channel:
        yield pb_grpc.SchedulingServiceStub(channel)
