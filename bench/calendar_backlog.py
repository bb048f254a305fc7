"""The calendar_backlog scenario: a booking burst with every participant's calendar
connected (Radicale, a real CalDAV server on loopback), invitations still e-mailed
(`email_invites` on), then how long the calendar copies and the invites take to drain,
and the calendar writes per second beside the invites per second.

The connections are seeded straight into the database, their credentials sealed with
the notification service's own key (the same sealing code), so the burst measures the
writes, not a thousand discoveries. Hosts share one Radicale calendar and guests
another: every copy is a distinct (UID, collection) pair, as with one calendar each.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.seed import seed_rooms, seed_users
from bench.services import Services
from notification_service.credentials.sealing import (
    BasicCredentials,
    new_key_entry,
    parse_seal_keys,
)
from tests.caldav_servers import Radicale
from tests.calendar_reader import make_calendar
from tests.postgres import libpq_url

DRAIN_LIMIT_S = 300.0
# The relay's calls in flight (RELAY_CONCURRENCY's default): the server's own ceiling is
# measured at the same concurrency.
CEILING_IN_FLIGHT = 8


def run(
    database_url: str,
    log_dir: Path,
    *,
    rooms: int,
    guests: list[str],
    load: Callable[[str, dict[str, Any]], dict[str, Any]],
    smtp_port: int,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """`load(target, params)` runs the booking load (BookRooms) and returns its summary."""
    dsn = libpq_url(database_url)
    seeded = seed_rooms(dsn, rooms, prefix="cal")
    key_entry = new_key_entry("bench")
    (log_dir / "radicale").mkdir(exist_ok=True)
    radicale = Radicale(log_dir / "radicale")
    radicale.start()
    try:
        collections = {
            role: make_calendar(f"{radicale.url}{role}/calendar/", _add(radicale, role))
            for role in ("hosts", "guests")
        }
        ceiling = _radicale_ceiling(radicale, seconds=2.0 if rooms < 300 else 6.0)
        progress(f"  radicale alone: {ceiling} PUT/s with {CEILING_IN_FLIGHT} in flight")
        with psycopg.connect(dsn) as conn:
            seed_users(conn, guests)
            _connect(conn, seeded.host_ids, collections["hosts"], "hosts", key_entry)
            _connect(conn, guests, collections["guests"], "guests", key_entry)
        with Services(log_dir) as services:
            notifier = services.notification(
                smtp_port,
                NOTIFICATIONS_ENABLED="true",
                CALENDAR_SEAL_KEYS=key_entry,
                CALDAV_ALLOW_PRIVATE_NETWORKS="true",
                SMTP_POOL_SIZE="8",
            )
            target = services.scheduling(
                database_url,
                NOTIFICATION_TARGET=notifier.address,
                RELAY_BACKOFF_MIN_S="0.5",
                RELAY_BACKOFF_MAX_S="5",
            ).address
            started = time.monotonic()
            summary = load(target, {"room_ids": seeded.room_ids})
            ended = time.monotonic()
            copies, invites = _pending(dsn)
            copies_done_s = invites_done_s = None
            while time.monotonic() - ended < DRAIN_LIMIT_S:
                copies, invites = _pending(dsn)
                now = time.monotonic() - ended
                if not copies and copies_done_s is None:
                    copies_done_s = now
                if not invites and invites_done_s is None:
                    invites_done_s = now
                if copies_done_s is not None and invites_done_s is not None:
                    break
                time.sleep(0.2)
            written, sent = _done(dsn)
    finally:
        radicale.stop()
    total_s = time.monotonic() - started
    result = {
        **summary,
        "bookings": written // 2,
        "calendar_writes": written,
        "invites_sent": sent,
        "calendar_drain_s": round(copies_done_s, 2) if copies_done_s is not None else None,
        "invite_drain_s": round(invites_done_s, 2) if invites_done_s is not None else None,
        "calendar_writes_per_s": round(written / ((copies_done_s or 0) + ended - started), 1),
        "invites_per_s": round(sent / ((invites_done_s or 0) + ended - started), 1),
        "left_pending": {"copies": copies, "invites": invites},
        "radicale_put_per_s": ceiling,
        "total_s": round(total_s, 1),
    }
    progress(
        f"  calendar_backlog: {result['bookings']} bookings; {result['calendar_writes_per_s']}"
        f" calendar writes/s, {result['invites_per_s']} invites/s; calendars drained"
        f" {result['calendar_drain_s']} s, invites {result['invite_drain_s']} s after the load"
    )
    return result


def _radicale_ceiling(radicale: Radicale, *, seconds: float) -> float:
    """PUTs per second Radicale takes from plain HTTP clients (a fresh connection each,
    as the notification service makes), into a scratch calendar."""
    auth = _add(radicale, "ceiling")
    collection = make_calendar(f"{radicale.url}ceiling/calendar/", auth)
    deadline = time.monotonic() + seconds

    def client() -> int:
        done = 0
        while time.monotonic() < deadline:
            uid = uuid.uuid4().hex
            with httpx.Client(auth=auth, timeout=30.0) as http:
                reply = http.put(
                    f"{collection}{uid}.ics",
                    content=_EVENT.format(uid=uid).encode(),
                    headers={"Content-Type": "text/calendar"},
                )
            done += reply.status_code in (201, 204)
        return done

    started = time.monotonic()
    with ThreadPoolExecutor(CEILING_IN_FLIGHT) as pool:
        total = sum(pool.map(lambda _: client(), range(CEILING_IN_FLIGHT)))
    return round(total / (time.monotonic() - started), 1)


_EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
    "UID:{uid}\r\nDTSTAMP:20261201T090000Z\r\nDTSTART:20261210T090000Z\r\n"
    "DTEND:20261210T100000Z\r\nSUMMARY:ceiling\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def _add(radicale: Radicale, role: str) -> tuple[str, str]:
    radicale.add_user(role, f"{role}-password")
    return (role, f"{role}-password")


def _connect(
    conn: psycopg.Connection[Any], users: list[str], collection: str, role: str, key_entry: str
) -> None:
    keyring = parse_seal_keys(key_entry)
    credentials = BasicCredentials(role, f"{role}-password")
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY calendar_connections (user_id, calendar_url, provider, sealed_credentials,"
            " email_invites) FROM STDIN"
        ) as copy,
    ):
        for user in users:
            sealed = keyring.seal(credentials, user_id=user, calendar_url=collection)
            copy.write_row((user, collection, "caldav", sealed, True))


def _pending(dsn: str) -> tuple[int, int]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM calendar_copies WHERE state = 'pending'),"
            " (SELECT count(*) FROM notification_outbox"
            "   WHERE kind = 'invite' AND state = 'pending')"
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])


def _done(dsn: str) -> tuple[int, int]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM calendar_copies WHERE state = 'written'),"
            " (SELECT count(*) FROM notification_outbox"
            "   WHERE kind = 'invite' AND state = 'delivered')"
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])
