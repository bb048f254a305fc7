"""What the calendar end-to-end tests share: the notification service's calendar
settings, people with a calendar on a real CalDAV server, and what their calendars hold
compared with the rooms they are in."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from scheduling.v1 import scheduling_pb2 as pb

from notification_service.credentials.sealing import new_key_entry
from tests import calendar_reader, postgres
from tests.caldav_servers import XANDIKOS_CALENDAR, Radicale, Xandikos
from tests.system.mail_system import System

# How long a calendar may take to show a change: generous, for a busy machine (the relay
# writes one copy per user at a time, each a few CalDAV requests).
CALENDAR_S = 120.0
ACTIVE = pb.CalendarConnection.STATE_ACTIVE
BROKEN = pb.CalendarConnection.STATE_BROKEN


def calendar_settings(**more: str) -> dict[str, str]:
    """A notification service that writes calendars on loopback (the test servers)."""
    return {
        "CALENDAR_SEAL_KEYS": new_key_entry("k1"),
        "CALDAV_ALLOW_PRIVATE_NETWORKS": "true",
        **more,
    }


@dataclass
class Calendar:
    """One person's calendar: where it is, how to connect it, how to read it."""

    collection: str
    connect_url: str  # what the person gives ConnectCalendar
    username: str
    password: str

    @property
    def auth(self) -> tuple[str, str]:
        return (self.username, self.password)

    def request(self, *, email_invites: bool = False) -> pb.ConnectCalendarRequest:
        return pb.ConnectCalendarRequest(
            url=self.connect_url,
            basic=pb.BasicCredentials(username=self.username, password=self.password),
            email_invites=email_invites,
        )

    def events(self) -> dict[str, calendar_reader.Event]:
        return calendar_reader.by_uid(self.collection, self.auth)


def radicale_calendar(server: Radicale, *, discover: bool) -> Calendar:
    """A new Radicale user with one calendar; connected by discovery from the server's
    root, or by the collection's URL."""
    username = f"u{uuid.uuid4().hex[:10]}"
    password = f"pw-{uuid.uuid4().hex}"
    server.add_user(username, password)
    collection = calendar_reader.make_calendar(
        f"{server.url}{username}/calendar/", (username, password)
    )
    return Calendar(collection, server.url if discover else collection, username, password)


def xandikos_calendar(server: Xandikos, *, discover: bool) -> Calendar:
    """Xandikos's one calendar (it checks no credentials)."""
    collection = server.url.rstrip("/") + XANDIKOS_CALENDAR
    return Calendar(collection, server.url if discover else collection, "anyone", "ignored")


def holds(calendar: Calendar, rooms: list[pb.Room]) -> bool:
    """Whether the calendar holds exactly these rooms, each equal to the room (UID,
    start, end, title, SEQUENCE), and no METHOD in any stored object."""
    found = calendar.events()
    if set(found) != {room.ics_uid for room in rooms}:
        return False
    return all(_same(found[room.ics_uid], room) for room in rooms)


def _same(event: calendar_reader.Event, room: pb.Room) -> bool:
    return (
        event.sequence == room.sequence
        and event.start == room.start_time.ToDatetime().replace(tzinfo=event.start.tzinfo)
        and event.end == room.end_time.ToDatetime().replace(tzinfo=event.end.tzinfo)
        and event.summary == room.title
        and not event.has_method
    )


def secrets_found(database_url: str, logs: list[Path], secrets: list[str]) -> list[str]:
    """Where any of `secrets` (or its base64, as in an HTTP Basic header when a secret is
    `user:password`) shows in clear: every table of the database, every log given (our
    services' logs: the calendar server's own files hold the password, of course)."""
    needles = {s.encode() for s in secrets}
    needles |= {base64.b64encode(s.encode()) for s in secrets}
    found = []
    with psycopg.connect(postgres.libpq_url(database_url)) as conn:
        tables = [
            row[0]
            for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        for table in tables:
            with conn.cursor() as cursor, cursor.copy(f'COPY "{table}" TO STDOUT') as copy:
                dump = b"".join(bytes(block) for block in copy)
            found += [f"table {table}" for needle in needles if needle in dump]
    for path in logs:
        content = path.read_bytes()
        found += [f"log {path.name}" for needle in needles if needle in content]
    return found


def service_logs(system: System) -> list[Path]:
    """The logs of the service processes a test started."""
    return [process.log_path for process in system.processes]


async def until_async(check: Callable[[], Awaitable[bool]], within_s: float = CALENDAR_S) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


async def is_broken(stub: object, metadata: tuple[tuple[str, str], ...]) -> bool:
    connection = await stub.GetCalendarConnection(  # type: ignore[attr-defined]
        pb.GetCalendarConnectionRequest(), metadata=metadata
    )
    return bool(connection.state == BROKEN)


def notices(system: System, user: str) -> list[object]:
    """The mails to `user` without a calendar part: the broken-connection notice."""
    return [
        r
        for r in system.sink.received
        if r.rcpt_tos[0].startswith(user)
        and not any(p.get_content_type() == "text/calendar" for p in r.parsed().walk())
    ]


def calendar_part(message: object) -> bytes:
    for part in message.walk():  # type: ignore[attr-defined]
        if part.get_content_type() == "text/calendar":
            return bytes(part.get_payload(decode=True))
    raise AssertionError("no calendar part")
