"""Sessions written into people's own calendars, end to end: scheduling replicas,
PostgreSQL, the notification service and real CalDAV servers (Radicale and Xandikos),
each started and stopped by the test. What is checked is what each calendar holds, read
back as a calendar client reads it (tests/calendar_reader.py)."""

from __future__ import annotations

import re
import uuid

import grpc
import pytest
from scheduling.v1 import scheduling_pb2 as pb

from tests import calendar_reader
from tests.caldav_servers import Radicale, Xandikos
from tests.scheduling_service.client import create_request, failure, future, ts
from tests.system.calendar_system import (
    ACTIVE,
    CALENDAR_S,
    Calendar,
    calendar_part,
    calendar_settings,
    holds,
    radicale_calendar,
    xandikos_calendar,
)
from tests.system.mail_system import System, client, person, until

pytestmark = pytest.mark.slow  # starts PostgreSQL, CalDAV servers and service processes


def _calendars(
    layout: str, radicale: Radicale, xandikos: Xandikos
) -> tuple[Calendar, Calendar, Calendar]:
    """Host, guest and a second guest: on both servers, by discovery and by collection."""
    if layout == "host-on-radicale":
        return (
            radicale_calendar(radicale, discover=True),
            xandikos_calendar(xandikos, discover=False),
            radicale_calendar(radicale, discover=False),
        )
    return (
        xandikos_calendar(xandikos, discover=True),
        radicale_calendar(radicale, discover=False),
        radicale_calendar(radicale, discover=True),
    )


@pytest.mark.parametrize("layout", ["host-on-radicale", "host-on-xandikos"])
async def test_every_change_lands_in_every_participants_calendar(
    system: System, radicale: Radicale, xandikos: Xandikos, layout: str
) -> None:
    system.notification(**calendar_settings())
    replica = system.scheduling()
    (host, as_host), (guest, as_guest), (_, as_second) = (
        person("host"),
        person("guest"),
        person("second"),
    )
    host_calendar, guest_calendar, second_calendar = _calendars(layout, radicale, xandikos)
    async with client(replica) as stub:
        connected = await stub.ConnectCalendar(host_calendar.request(), metadata=as_host)
        assert connected.calendar_url == host_calendar.collection
        assert connected.state == ACTIVE and connected.provider == "caldav"
        assert not connected.email_invites
        await stub.ConnectCalendar(guest_calendar.request(), metadata=as_guest)
        await stub.ConnectCalendar(second_calendar.request(), metadata=as_second)

        room = await stub.CreateRoom(create_request(), metadata=as_host)
        await until(
            lambda: holds(host_calendar, [room]), within_s=CALENDAR_S
        )  # the host's time, held from now
        assert holds(guest_calendar, [])

        room = await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=as_guest)
        await until(
            lambda: holds(host_calendar, [room]) and holds(guest_calendar, [room]),
            within_s=CALENDAR_S,
        )

        room = await stub.RescheduleRoom(
            pb.RescheduleRoomRequest(room_id=room.room_id, start_time=ts(future())),
            metadata=as_host,
        )
        await until(
            lambda: holds(host_calendar, [room]) and holds(guest_calendar, [room]),
            within_s=CALENDAR_S,
        )

        room = await stub.LeaveRoom(pb.LeaveRoomRequest(room_id=room.room_id), metadata=as_guest)
        await until(
            lambda: holds(host_calendar, [room]) and holds(guest_calendar, []), within_s=CALENDAR_S
        )

        room = await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=as_second)
        await until(
            lambda: holds(host_calendar, [room]) and holds(second_calendar, [room]),
            within_s=CALENDAR_S,
        )
        seen = await stub.GetRoom(pb.GetRoomRequest(room_id=room.room_id), metadata=as_host)
        states = {m.user_id: (m.calendar.state, m.not_sent_reason) for m in seen.mail}
        # Both connected with email_invites off: the calendars got it, no invitation went.
        assert states[host] == (pb.CalendarWrite.STATE_WRITTEN, "CALENDAR_CONNECTED")

        await stub.CancelRoom(pb.CancelRoomRequest(room_id=room.room_id), metadata=as_host)
        await until(
            lambda: (
                holds(host_calendar, [])
                and holds(guest_calendar, [])
                and holds(second_calendar, [])
            ),
            within_s=CALENDAR_S,
        )
        last = await stub.GetCalendarConnection(pb.GetCalendarConnectionRequest(), metadata=as_host)
        assert last.HasField("last_write_time")
    assert guest not in {m.to.split("@")[0] for m in system.mails()}
    assert system.mails() == []  # every invitation went to a calendar instead


async def test_a_copy_the_client_imported_is_updated_in_place(
    system: System, radicale: Radicale
) -> None:
    system.notification(**calendar_settings())
    replica = system.scheduling()
    (_, as_host), (guest, as_guest) = person("host"), person("guest")
    calendar = radicale_calendar(radicale, discover=False)
    async with client(replica) as stub:
        room = await stub.CreateRoom(create_request(), metadata=as_host)
        room = await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=as_guest)
        await until(
            lambda: any(m.to.startswith(guest) for m in system.mails()), within_s=CALENDAR_S
        )
        # The person's mail client imports the invitation (as clients do: without METHOD).
        invitation = next(r for r in system.sink.received if r.rcpt_tos[0].startswith(guest))
        ics = calendar_part(invitation.parsed())
        imported = f"imported-{uuid.uuid4().hex}.ics"
        calendar_reader.put(
            calendar.collection, imported, re.sub(rb"METHOD:[A-Z]+\r\n", b"", ics), calendar.auth
        )

        await stub.ConnectCalendar(calendar.request(), metadata=as_guest)
        await until(lambda: holds(calendar, [room]), within_s=CALENDAR_S)
        assert calendar.events()[room.ics_uid].href.endswith(imported)

        room = await stub.RescheduleRoom(
            pb.RescheduleRoomRequest(room_id=room.room_id, start_time=ts(future())),
            metadata=as_host,
        )
        await until(lambda: holds(calendar, [room]), within_s=CALENDAR_S)
        assert calendar.events()[room.ics_uid].href.endswith(imported)


async def test_disconnecting_removes_the_copies_only_when_asked(
    system: System, radicale: Radicale
) -> None:
    system.notification(**calendar_settings())
    replica = system.scheduling()
    (_, as_host), (_, as_guest) = person("host"), person("guest")
    host_calendar = radicale_calendar(radicale, discover=False)
    guest_calendar = radicale_calendar(radicale, discover=True)
    async with client(replica) as stub:
        await stub.ConnectCalendar(host_calendar.request(), metadata=as_host)
        await stub.ConnectCalendar(guest_calendar.request(), metadata=as_guest)
        room = await stub.CreateRoom(create_request(), metadata=as_host)
        room = await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=as_guest)
        await until(
            lambda: holds(host_calendar, [room]) and holds(guest_calendar, [room]),
            within_s=CALENDAR_S,
        )

        await stub.DisconnectCalendar(
            pb.DisconnectCalendarRequest(remove_events=True), metadata=as_host
        )
        await stub.DisconnectCalendar(pb.DisconnectCalendarRequest(), metadata=as_guest)
        for metadata in (as_host, as_guest):
            with pytest.raises(grpc.RpcError) as gone:
                await stub.GetCalendarConnection(
                    pb.GetCalendarConnectionRequest(), metadata=metadata
                )
            assert failure(gone.value).reason == "CALENDAR_NOT_CONNECTED"
        await until(lambda: holds(host_calendar, []), within_s=CALENDAR_S)
        await until(
            lambda: system.query("SELECT count(*) FROM calendar_connections") == 0,
            within_s=CALENDAR_S,
        )

        # The guest's copy stays as it was: no longer ours to change.
        await stub.RescheduleRoom(
            pb.RescheduleRoomRequest(room_id=room.room_id, start_time=ts(future())),
            metadata=as_host,
        )
        await system.settled()
        assert holds(guest_calendar, [room])
        assert system.query("SELECT count(*) FROM calendar_copies") == 0
