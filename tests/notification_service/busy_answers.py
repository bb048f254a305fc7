"""CalDAV answers for the busy-read tests, built by hand: calendar-query multistatus
bodies holding VEVENTs with a title, notes and an attendee that must never leave the
service (test_calendar_busy_failures.py, test_calendar_busy_hostile.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from tests.notification_service.delivery.calendar.hostile_server import (
    HostileServer,
    Script,
    Seen,
    respond,
)
from tests.notification_service.scripted_calendar import counted

START = datetime(2026, 3, 2, tzinfo=UTC)
END = datetime(2026, 3, 30, tzinfo=UTC)
TITLE, NOTES, PERSON = "Dentist: root canal", "Bring the divorce papers", "secret-person@x.org"
XML = {"Content-Type": "application/xml; charset=utf-8"}
C = "{urn:ietf:params:xml:ns:caldav}"


def vevent(uid: str, start: str, end: str, *lines: str) -> str:
    extra = "".join(line + "\r\n" for line in lines)
    return (
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\n"
        f"DTEND:{end}\r\nSUMMARY:{TITLE}\r\nDESCRIPTION:{NOTES}\r\n"
        f"ATTENDEE;CN=Someone:mailto:{PERSON}\r\n{extra}END:VEVENT\r\n"
    )


def vcalendar(*events: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
        + "".join(events)
        + ("END:VCALENDAR\r\n")
    )


def multistatus(*objects: str) -> bytes:
    """A calendar-query answer: one response per calendar object."""
    responses = "".join(
        f"<D:response><D:href>/cal/{index}.ics</D:href><D:propstat><D:prop>"
        f"<C:calendar-data>{escape(data)}</C:calendar-data></D:prop>"
        "<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>"
        for index, data in enumerate(objects)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        f"{responses}</D:multistatus>"
    ).encode()


def in_turn(*scripts: Script) -> Script:
    """Each request gets the next script; the last one answers the rest."""
    queue = list(scripts)

    async def script(seen: Seen, writer: asyncio.StreamWriter) -> None:
        await (queue.pop(0) if len(queue) > 1 else queue[0])(seen, writer)

    return script


def busy_server(script: Script) -> HostileServer:
    """A server answering the busy read's REPORTs by `script`, and offering no sync
    token (a PROPFIND of it is 404), as before RFC 6578: every read is a full one."""

    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> None:
        await (respond(404) if seen.method == "PROPFIND" else script)(seen, writer)

    return HostileServer(answer)


def reports(server: HostileServer) -> list[Seen]:
    return [seen for seen in server.requests if seen.method == "REPORT"]


def utc(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def read_count(outcome: str) -> float:
    return counted("notification_calendar_reads_total", outcome=outcome)
