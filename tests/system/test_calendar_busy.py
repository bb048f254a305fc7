"""Busy time from a connected calendar, end to end: a scheduling replica, PostgreSQL,
the notification service and a real Radicale. An event the user has elsewhere in their
calendar hides and refuses the sessions it overlaps once read; the copy of one of our own
sessions never counts; the refusal names nothing of the other event; a disconnect
forgets it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from scheduling.v1 import scheduling_pb2 as pb

from tests import calendar_reader
from tests.caldav_servers import Radicale
from tests.scheduling_service.client import create_request, failure, future, minutes, ts
from tests.system.calendar_system import (
    CALENDAR_S,
    calendar_settings,
    holds,
    radicale_calendar,
    until_async,
)
from tests.system.mail_system import System, client, person

pytestmark = pytest.mark.slow  # starts PostgreSQL, Radicale and service processes

SECRET_TITLE = "Dentist: root canal (private)"


def _event(uid: str, starts: datetime, ends: datetime, *extra: str) -> bytes:
    stamp = "20300101T000000Z"
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//test//busy//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{stamp}",
        f"DTSTART:{starts.strftime('%Y%m%dT%H%M%SZ')}",
        f"DTEND:{ends.strftime('%Y%m%dT%H%M%SZ')}",
        f"SUMMARY:{SECRET_TITLE}",
        *extra,
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


async def _listed(stub: object, metadata: object, base: datetime, **filters: object) -> set[str]:
    request = pb.ListRoomsRequest(
        start_after=ts(base), start_before=ts(base + timedelta(hours=9)), **filters
    )  # type: ignore[arg-type]
    page = await stub.ListRooms(request, metadata=metadata)  # type: ignore[attr-defined]
    return {r.room_id for r in page.rooms}


async def test_busy_time_hides_and_refuses_what_it_overlaps(
    system: System, radicale: Radicale
) -> None:
    system.notification(**calendar_settings())
    replica = system.scheduling(CALENDAR_BUSY_REFRESH="1s")
    (_, as_seeker), (_, as_host), (_, as_other) = person("seeker"), person("host"), person("o")
    calendar = radicale_calendar(radicale, discover=False)
    base = future().replace(minute=0, second=0)
    async with client(replica) as stub:
        # The seeker hosts a session of ours: its copy lands in their calendar, and it
        # must never count as busy time.
        own = await stub.CreateRoom(create_request(base + timedelta(hours=6)), metadata=as_seeker)
        await stub.ConnectCalendar(calendar.request(), metadata=as_seeker)
        await until_async(lambda: _async(holds(calendar, [own])), within_s=CALENDAR_S)

        clash = await stub.CreateRoom(create_request(base), metadata=as_host)
        clear_at = base + timedelta(hours=3)
        clear = await stub.CreateRoom(
            create_request(clear_at, duration=minutes(60)), metadata=as_host
        )
        # Overlaps the seeker's own session (and its copy) but no other busy time.
        near_own = await stub.CreateRoom(
            create_request(base + timedelta(hours=6, minutes=30)), metadata=as_other
        )
        assert {clash.room_id, clear.room_id} <= await _listed(
            stub, as_seeker, base, respect_calendar=True
        )

        # Elsewhere in their calendar: a private appointment over `clash`, a transparent
        # one and a cancelled one over `clear` (neither holds time).
        elsewhere = [
            ("dentist.ics", base - timedelta(minutes=30), base + timedelta(minutes=30), ()),
            ("free.ics", clear_at, clear_at + timedelta(hours=1), ("TRANSP:TRANSPARENT",)),
            ("off.ics", clear_at, clear_at + timedelta(hours=1), ("STATUS:CANCELLED",)),
        ]
        for name, starts, ends, extra in elsewhere:
            uid = f"{uuid.uuid4()}@elsewhere"
            calendar_reader.put(
                calendar.collection, name, _event(uid, starts, ends, *extra), calendar.auth
            )

        async def hidden() -> bool:
            listed = await _listed(stub, as_seeker, base, respect_calendar=True)
            return clash.room_id not in listed

        await until_async(hidden, within_s=CALENDAR_S)  # after the next read
        listed = await _listed(stub, as_seeker, base, respect_calendar=True)
        assert clear.room_id in listed and near_own.room_id in listed
        # Without asking, nothing is hidden.
        assert clash.room_id in await _listed(stub, as_seeker, base)

        with pytest.raises(grpc.RpcError) as refused:
            await stub.BookRoom(
                pb.BookRoomRequest(room_id=clash.room_id, respect_calendar=True),
                metadata=as_seeker,
            )
        seen = failure(refused.value)
        assert (seen.code, seen.reason) == (grpc.StatusCode.ALREADY_EXISTS, "CALENDAR_BUSY")
        assert "Dentist" not in seen.message and "canal" not in seen.message
        booked = await stub.BookRoom(
            pb.BookRoomRequest(room_id=clear.room_id, respect_calendar=True), metadata=as_seeker
        )
        assert booked.guest_id

        # Between a person's changes the reads only ask what changed (RFC 6578): the
        # copies of our sessions written meanwhile leave the calendar "unchanged".
        def reads() -> list[dict[str, object]]:
            lines = replica.log_path.read_text().splitlines()
            events = [json.loads(line) for line in lines if line.startswith("{")]
            return [e for e in events if e.get("event") == "calendar busy read"]

        def unchanged_since_booking() -> bool:
            return any(e.get("unchanged") for e in reads()[seen_reads:])

        seen_reads = len(reads())
        await until_async(lambda: _async(unchanged_since_booking()), within_s=CALENDAR_S)
        assert all(e["outcome"] == "WRITTEN" for e in reads())

        # The person cancels the appointment: the next read sees it go.
        calendar_reader.delete(calendar.collection + "dentist.ics", calendar.auth)

        async def shown_again() -> bool:
            listed = await _listed(stub, as_seeker, base, respect_calendar=True)
            return clash.room_id in listed

        await until_async(shown_again, within_s=CALENDAR_S)

        # Disconnected: the calendar's busy time no longer counts.
        await stub.DisconnectCalendar(pb.DisconnectCalendarRequest(), metadata=as_seeker)
        assert clash.room_id in await _listed(stub, as_seeker, base, respect_calendar=True)
    for process in system.processes:
        assert "Dentist" not in process.log_path.read_text()
    assert datetime.now(UTC) < base  # the sessions are still ahead


async def _async(value: bool) -> bool:
    return value
