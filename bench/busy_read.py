"""The busy_read scenario: what a busy reader's refresh costs (docs/design.md §17).

A person's calendar on Radicale (a real CalDAV server on loopback): EVENTS one-off
events over the next weeks and WEEKLY weekly ones, each with a title, notes and
attendees as calendar clients write them. Read as the notification service reads it,
in process (its CalDAV client, no gRPC): a full read (the token PROPFIND, then the
expanded calendar-query over the busy readers' range), and a read with the last
read's sync token while nothing changed (one sync-collection REPORT). The answers'
sizes are what the server sent for each. Then the CPU a hostile answer at the parser's
bounds costs (10,000 recurring masters and their edited instances in one object): the
notification tests lift the CPU budget for it and leave the figure here.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from notification_service.delivery.calendar.authorization import BasicAuth
from notification_service.delivery.calendar.busy import MAX_BUSY_BODY
from notification_service.delivery.calendar.busy_events import busy_in
from notification_service.delivery.calendar.caldav_xml import (
    busy_query_body,
    sync_collection_body,
)
from notification_service.delivery.calendar.client import CalDAVClient
from notification_service.delivery.calendar.safe_http import SafeHttpClient
from notification_service.delivery.calendar_gateway import http_limits
from tests.caldav_servers import Radicale
from tests.calendar_reader import make_calendar
from tests.notification_service.delivery.calendar.busy_data import edited_instances

EVENTS, WEEKLY = 400, 20
READS = 15
RANGE = timedelta(days=60, hours=9)  # the busy readers' range at MAX_ADVANCE_DAYS=60


def _stamp(at: datetime) -> str:
    return at.strftime("%Y%m%dT%H%M%SZ")


def _event(uid: str, starts: datetime, *extra: str) -> bytes:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//bench//busy//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20260101T000000Z",
        f"DTSTART:{_stamp(starts)}",
        f"DTEND:{_stamp(starts + timedelta(minutes=45))}",
        "SUMMARY:Design review: storage layer",
        "DESCRIPTION:Agenda: the write path\\, compaction\\, and the on-call handover.",
        "LOCATION:Room 4.12",
        "ORGANIZER;CN=Pat Doe:mailto:pat@example.org",
        "ATTENDEE;CN=Sam Roe;PARTSTAT=ACCEPTED:mailto:sam@example.org",
        "ATTENDEE;CN=Kim Poe;PARTSTAT=TENTATIVE:mailto:kim@example.org",
        *extra,
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def _fill(collection: str, auth: tuple[str, str], now: datetime) -> None:
    with httpx.Client(auth=auth, timeout=30.0) as http:
        for n in range(EVENTS + WEEKLY):
            starts = now + timedelta(days=n % 55, hours=8 + n % 9)
            extra = ("RRULE:FREQ=WEEKLY;COUNT=12",) if n >= EVENTS else ()
            body = _event(f"{uuid.uuid4()}@example.org", starts, *extra)
            reply = http.put(
                f"{collection}e{n}.ics",
                content=body,
                headers={"Content-Type": "text/calendar; charset=utf-8"},
            )
            assert reply.status_code == 201, reply.status_code


def _answer_bytes(collection: str, auth: tuple[str, str], body: bytes, depth: str) -> int:
    headers = {"Depth": depth, "Content-Type": "application/xml; charset=utf-8"}
    with httpx.Client(auth=auth, timeout=60.0) as http:
        reply = http.request("REPORT", collection, content=body, headers=headers)
    assert reply.status_code == 207, reply.status_code
    return len(reply.content)


async def _reads(client: CalDAVClient, collection: str, now: datetime) -> dict[str, Any]:
    end = now + RANGE
    full_ms, unchanged_ms = [], []
    token = ""
    for _ in range(READS):
        started = time.perf_counter()
        full = await client.read_busy(collection, now, end, "rooms.localhost")
        full_ms.append((time.perf_counter() - started) * 1000)
        token = full.sync_token
    assert token, "Radicale offers sync tokens"
    for _ in range(READS):
        started = time.perf_counter()
        again = await client.read_busy(collection, now, end, "rooms.localhost", token)
        unchanged_ms.append((time.perf_counter() - started) * 1000)
        assert again.unchanged
        token = again.sync_token
    return {
        "occurrences": len(full.occurrences),
        "full_p50_ms": round(statistics.median(full_ms), 1),
        "unchanged_p50_ms": round(statistics.median(unchanged_ms), 1),
        "token": token,
    }


def _hostile_cpu_s() -> float:
    data = edited_instances(10_000)
    started = time.thread_time()
    busy_in([data], datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 30, tzinfo=UTC), "x")
    return round(time.thread_time() - started, 2)


def run(log_dir: Path, progress: Callable[[str], None]) -> dict[str, Any]:
    (log_dir / "radicale-busy").mkdir(exist_ok=True)
    radicale = Radicale(log_dir / "radicale-busy")
    radicale.start()
    try:
        auth = ("busy", f"pw-{uuid.uuid4().hex}")
        radicale.add_user(*auth)
        collection = make_calendar(f"{radicale.url}busy/calendar/", auth)
        now = datetime.now(UTC).replace(microsecond=0)
        progress(f"  writing {EVENTS} events and {WEEKLY} weekly ones into Radicale")
        _fill(collection, auth, now)
        http = SafeHttpClient(
            allow_private_networks=True,
            limits=replace(http_limits(60.0), max_body_bytes=MAX_BUSY_BODY),
        )
        client = CalDAVClient(http, BasicAuth(*auth), collection)
        result = asyncio.run(_reads(client, collection, now))
        query = busy_query_body(_stamp(now), _stamp(now + RANGE), expand=True)
        result["full_kib"] = round(_answer_bytes(collection, auth, query, "1") / 1024, 1)
        sync = sync_collection_body(result.pop("token"))
        result["unchanged_kib"] = round(_answer_bytes(collection, auth, sync, "0") / 1024, 2)
    finally:
        radicale.stop()
    result["hostile_cpu_s"] = _hostile_cpu_s()
    result["events"] = EVENTS + WEEKLY
    result["ratio"] = round(result["unchanged_p50_ms"] / result["full_p50_ms"], 3)
    return result
