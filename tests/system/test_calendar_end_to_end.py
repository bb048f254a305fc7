"""Sessions written into people's own calendars, end to end: scheduling replicas,
PostgreSQL, the notification service and real CalDAV servers (Radicale and Xandikos),
each started and stopped by the test. What is checked is what each calendar holds, read
back as a calendar client reads it (tests/calendar_reader.py)."""

from __future__ import annotations

import asyncio
import json
import random
import re
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import grpc
import pytest
from grpc import aio
from scheduling.v1 import scheduling_pb2 as pb
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc

from tests import calendar_reader, oauth_token_server
from tests.caldav_servers import XANDIKOS_CALENDAR, Radicale, Xandikos
from tests.calendar_bearer_proxy import BearerProxy
from tests.calendar_fault_proxy import FaultProxy
from tests.oauth_token_server import TokenServer
from tests.scheduling_service.client import create_request, failure, future, ts
from tests.system.calendar_system import (
    Calendar,
    calendar_settings,
    holds,
    radicale_calendar,
    secrets_found,
    service_logs,
    xandikos_calendar,
)
from tests.system.mail_system import System, client, person, until

pytestmark = pytest.mark.slow  # starts PostgreSQL, CalDAV servers and service processes

# How long a calendar may take to show a change: generous, for a busy machine (the relay
# writes one copy per user at a time, each a few CalDAV requests).
CALENDAR_S = 120.0
ACTIVE = pb.CalendarConnection.STATE_ACTIVE
BROKEN = pb.CalendarConnection.STATE_BROKEN


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[Radicale]:
    (tmp_path / "radicale").mkdir()
    server = Radicale(tmp_path / "radicale")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def xandikos(tmp_path: Path) -> Iterator[Xandikos]:
    (tmp_path / "xandikos").mkdir()
    server = Xandikos(tmp_path / "xandikos")
    server.start()
    try:
        yield server
    finally:
        server.stop()


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
        ics = _calendar_part(invitation.parsed())
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


async def test_a_changed_password_breaks_the_connection_once_and_loses_nothing(
    system: System, radicale: Radicale
) -> None:
    system.notification(**calendar_settings())
    replica = system.scheduling()
    (host, as_host), (_, as_guest) = person("host"), person("guest")
    calendar = radicale_calendar(radicale, discover=False)
    old_password = calendar.password
    async with client(replica) as stub:
        await stub.ConnectCalendar(calendar.request(), metadata=as_host)
        room = await stub.CreateRoom(create_request(), metadata=as_host)
        await until(lambda: holds(calendar, [room]), within_s=CALENDAR_S)

        # The person changes their app password on the server; we still hold the old one.
        calendar.password = f"pw-{uuid.uuid4().hex}"
        radicale.users.write_text(
            radicale.users.read_text().replace(old_password, calendar.password)
        )
        room = await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=as_guest)

        await until_async(lambda: _is_broken(stub, as_host))
        connection = await stub.GetCalendarConnection(
            pb.GetCalendarConnectionRequest(), metadata=as_host
        )
        assert "401" in connection.broken_reason or "refused" in connection.broken_reason
        await until(lambda: len(_notices(system, host)) == 1, within_s=CALENDAR_S)
        [notice] = _notices(system, host)
        told = notice.parsed()  # type: ignore[attr-defined]
        plain = next(p for p in told.walk() if p.get_content_type() == "text/plain")
        assert "calendar" in str(told["Subject"]).lower()
        assert calendar.collection in plain.get_content()
        assert connection.broken_reason in plain.get_content()
        seen = await stub.GetRoom(pb.GetRoomRequest(room_id=room.room_id), metadata=as_host)
        mine = next(m for m in seen.mail if m.user_id == host)
        assert mine.calendar.state == pb.CalendarWrite.STATE_WAITING

        # More changes while broken: kept, and no second e-mail.
        room = await stub.RescheduleRoom(
            pb.RescheduleRoomRequest(room_id=room.room_id, start_time=ts(future())),
            metadata=as_host,
        )
        await system.settled()
        assert len(_notices(system, host)) == 1

        resumed = await stub.ConnectCalendar(calendar.request(), metadata=as_host)
        assert resumed.state == ACTIVE and resumed.broken_reason == ""
        await until(lambda: holds(calendar, [room]), within_s=CALENDAR_S)
        await until(lambda: len(_notices(system, host)) == 1, within_s=CALENDAR_S)

    assert (
        secrets_found(
            system.database_url,
            service_logs(system),
            [old_password, calendar.password, f"{calendar.username}:{old_password}"],
        )
        == []
    )


async def test_a_url_that_points_inward_is_refused_before_any_connection(
    system: System,
) -> None:
    system.notification(CALENDAR_SEAL_KEYS=calendar_settings()["CALENDAR_SEAL_KEYS"])
    replica = system.scheduling()
    _, as_user = person("user")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        inward = [
            f"https://127.1:{port}/",
            f"https://2130706433:{port}/",
            f"https://0x7f000001:{port}/",
            f"https://[::1]:{port}/",
            f"https://[::ffff:127.0.0.1]:{port}/",
            f"https://localhost:{port}/",
            f"https://127.0.0.1:{port}/",
            f"http://127.0.0.1:{port}/",
            "file:///etc/passwd",
            f"https://user:secret@127.0.0.1:{port}/",
        ]
        async with client(replica) as stub:
            for url in inward:
                request = pb.ConnectCalendarRequest(
                    url=url, basic=pb.BasicCredentials(username="me", password="pw")
                )
                with pytest.raises(grpc.RpcError) as refused:
                    await stub.ConnectCalendar(request, metadata=as_user)
                seen = failure(refused.value)
                assert (seen.code, seen.reason) == (
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "CALENDAR_URL_NOT_ALLOWED",
                ), url
                assert "secret" not in seen.message
            with pytest.raises(grpc.RpcError) as none:
                await stub.GetCalendarConnection(
                    pb.GetCalendarConnectionRequest(), metadata=as_user
                )
            assert failure(none.value).reason == "CALENDAR_NOT_CONNECTED"
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected


async def until_async(check: Callable[[], Awaitable[bool]], within_s: float = CALENDAR_S) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


async def _is_broken(stub: object, metadata: tuple[tuple[str, str], ...]) -> bool:
    connection = await stub.GetCalendarConnection(  # type: ignore[attr-defined]
        pb.GetCalendarConnectionRequest(), metadata=metadata
    )
    return bool(connection.state == BROKEN)


def _notices(system: System, user: str) -> list[object]:
    """The mails to `user` without a calendar part: the broken-connection notice."""
    return [
        r
        for r in system.sink.received
        if r.rcpt_tos[0].startswith(user)
        and not any(p.get_content_type() == "text/calendar" for p in r.parsed().walk())
    ]


def _calendar_part(message: object) -> bytes:
    for part in message.walk():  # type: ignore[attr-defined]
        if part.get_content_type() == "text/calendar":
            return bytes(part.get_payload(decode=True))
    raise AssertionError("no calendar part")


async def test_operators_list_and_retry_a_copy_given_up_on(
    system: System, radicale: Radicale
) -> None:
    system.notification(**calendar_settings())
    replica = system.scheduling()
    host, as_host = person("host")
    calendar = radicale_calendar(radicale, discover=False)
    async with client(replica) as stub:
        await stub.ConnectCalendar(calendar.request(), metadata=as_host)
        # The person deletes the calendar: a PUT into it is refused for good (a 4xx).
        calendar_reader.delete(calendar.collection, calendar.auth)
        room = await stub.CreateRoom(create_request(), metadata=as_host)

        def failed() -> list[dict[str, object]]:
            listed = system.outbox_command("failed")
            assert listed.returncode == 0, listed.stderr
            lines = [json.loads(line) for line in listed.stdout.splitlines()]
            return [line for line in lines if line["kind"] == "calendar"]

        await until(lambda: len(failed()) == 1, within_s=CALENDAR_S)
        [copy] = failed()
        assert (copy["room_id"], copy["user_id"]) == (room.room_id, host)
        assert copy["last_error"]
        seen = await stub.GetRoom(pb.GetRoomRequest(room_id=room.room_id), metadata=as_host)
        assert seen.mail[0].calendar.state == pb.CalendarWrite.STATE_FAILED

        calendar_reader.make_calendar(calendar.collection, calendar.auth)
        retried = system.outbox_command("retry", f"--calendar={room.room_id}:{host}")
        assert retried.returncode == 0 and "calendar copies queued again: 1" in retried.stdout
        await until(lambda: holds(calendar, [room]), within_s=CALENDAR_S)
        assert failed() == []


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


async def test_calendars_converge_through_outages_503s_and_a_killed_replica(
    system: System, radicale: Radicale
) -> None:
    proxy = FaultProxy(radicale.url, seed=7).start()
    try:
        await _random_changes_with_faults(system, radicale, proxy)
    finally:
        proxy.stop()


async def _random_changes_with_faults(
    system: System, radicale: Radicale, proxy: FaultProxy
) -> None:
    system.notification(**calendar_settings())
    # A replica killed mid-write leaves its claims leased: short leases bring them back soon.
    fast_leases = {"RELAY_RPC_TIMEOUT_S": "10", "RELAY_LEASE_S": "15"}
    replicas = [system.scheduling(**fast_leases), system.scheduling(**fast_leases)]
    channels = [aio.insecure_channel(replica.address) for replica in replicas]
    try:
        stubs = [pb_grpc.SchedulingServiceStub(channel) for channel in channels]
        people = [person(f"p{i}") for i in range(4)]
        calendars: dict[str, Calendar] = {}
        for user, metadata in people:
            calendar = radicale_calendar(radicale, discover=False)
            calendar.connect_url = proxy.url + calendar.collection.removeprefix(radicale.url)
            calendars[user] = calendar
            await stubs[0].ConnectCalendar(calendar.request(), metadata=metadata)
        rng = random.Random(11)
        rooms: dict[str, pb.Room] = {}
        for step in range(48):
            if step == 12:
                proxy.down = True  # the calendar server is away for a while
            elif step == 22:
                proxy.down, proxy.unavailable_share = False, 0.3  # back, and overloaded
            elif step == 30:
                # Killed: whatever it had claimed comes back when its lease ends.
                replicas[1].kill()
                await channels[1].close()
                replicas[1] = system.scheduling(**fast_leases)
                channels[1] = aio.insecure_channel(replicas[1].address)
                stubs[1] = pb_grpc.SchedulingServiceStub(channels[1])
            await _one_change(rng.choice(stubs), rng, people, rooms)
        proxy.unavailable_share = 0.0
        assert proxy.answered_503 > 0

        async def converged() -> bool:
            for user, metadata in people:
                mine = await stubs[0].ListRooms(
                    pb.ListRoomsRequest(participant_id=user, page_size=1000), metadata=metadata
                )
                if not holds(calendars[user], list(mine.rooms)):
                    return False
            return True

        await until_async(converged, within_s=3 * CALENDAR_S)
    finally:
        for channel in channels:
            await channel.close()


async def _one_change(
    stub: pb_grpc.SchedulingServiceStub,
    rng: random.Random,
    people: list[tuple[str, tuple[tuple[str, str], ...]]],
    rooms: dict[str, pb.Room],
) -> None:
    """One random change, as a random person; refusals (a clash, a taken room) are part
    of the game."""
    metadata_of = dict(people)
    action = rng.choice(["create", "create", "book", "book", "leave", "reschedule", "cancel"])
    room = rooms[rng.choice(sorted(rooms))] if rooms else None
    try:
        if action == "create" or room is None:
            _, metadata = rng.choice(people)
            made = await stub.CreateRoom(create_request(), metadata=metadata)
            rooms[made.room_id] = made
        elif action == "book" and not room.booked:
            guest = rng.choice([p for p, _ in people if p != room.host_id])
            rooms[room.room_id] = await stub.BookRoom(
                pb.BookRoomRequest(room_id=room.room_id), metadata=metadata_of[guest]
            )
        elif action == "leave" and room.guest_id:
            rooms[room.room_id] = await stub.LeaveRoom(
                pb.LeaveRoomRequest(room_id=room.room_id), metadata=metadata_of[room.guest_id]
            )
        elif action == "reschedule":
            rooms[room.room_id] = await stub.RescheduleRoom(
                pb.RescheduleRoomRequest(room_id=room.room_id, start_time=ts(future())),
                metadata=metadata_of[room.host_id],
            )
        elif action == "cancel":
            await stub.CancelRoom(
                pb.CancelRoomRequest(room_id=room.room_id), metadata=metadata_of[room.host_id]
            )
            del rooms[room.room_id]
    except grpc.RpcError as refused:
        assert refused.code() in (  # type: ignore[attr-defined]
            grpc.StatusCode.ALREADY_EXISTS,
            grpc.StatusCode.FAILED_PRECONDITION,
        ), refused


async def test_a_google_connection_refreshes_its_tokens_and_breaks_when_revoked(
    system: System, xandikos: Xandikos
) -> None:
    state, httpd, thread = oauth_token_server.start()
    try:
        state.add_client("rooms.apps.example.com", "client-s3cret", "client_secret_basic")
        state.expires_in = 2  # every few writes need a fresh access token
        async with BearerProxy(xandikos.url, state) as proxy:
            await _google_connection(system, state, proxy)
    finally:
        oauth_token_server.stop(httpd, thread)


async def _google_connection(system: System, state: TokenServer, proxy: BearerProxy) -> None:
    system.notification(
        **calendar_settings(
            GOOGLE_OAUTH_TOKEN_URL=state.url,
            GOOGLE_OAUTH_CLIENT_ID="rooms.apps.example.com",
            GOOGLE_OAUTH_CLIENT_SECRET="client-s3cret",
        )
    )
    replica = system.scheduling()
    (host, as_host), (_, as_guest) = person("host"), person("guest")
    refresh = state.grant("rooms.apps.example.com", host)
    calendar = Calendar(proxy.url.rstrip("/") + XANDIKOS_CALENDAR, proxy.url, "", "")
    # Read as the person's own client would, behind the bearer check.
    plain = Calendar(proxy.upstream.rstrip("/") + XANDIKOS_CALENDAR, "", "anyone", "ignored")
    async with client(replica) as stub:
        connected = await stub.ConnectCalendar(
            pb.ConnectCalendarRequest(
                url=calendar.connect_url,
                oauth=pb.OAuthCredentials(provider="google", refresh_token=refresh),
            ),
            metadata=as_host,
        )
        assert (connected.provider, connected.state) == ("google", ACTIVE)
        assert connected.calendar_url == calendar.collection
        room = await stub.CreateRoom(create_request(), metadata=as_host)
        await until(lambda: holds(plain, [room]), within_s=CALENDAR_S)
        before = state.token_requests
        await until(lambda: all(proxy.expired(t) for t in proxy.accepted[-1:]), within_s=CALENDAR_S)
        room = await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=as_guest)
        await until(lambda: holds(plain, [room]), within_s=CALENDAR_S)
        assert state.token_requests > before  # refreshed, not refused

        state.revoke(refresh)  # the person removed our access in their Google account
        await until(lambda: all(proxy.expired(t) for t in proxy.accepted[-1:]), within_s=CALENDAR_S)
        await stub.RescheduleRoom(
            pb.RescheduleRoomRequest(room_id=room.room_id, start_time=ts(future())),
            metadata=as_host,
        )
        await until_async(lambda: _is_broken(stub, as_host))
        broken = await stub.GetCalendarConnection(
            pb.GetCalendarConnectionRequest(), metadata=as_host
        )
        assert "invalid_grant" in broken.broken_reason
        await until(lambda: len(_notices(system, host)) == 1, within_s=CALENDAR_S)
    assert secrets_found(system.database_url, service_logs(system), [refresh]) == []


async def test_removing_copies_with_refused_credentials_ends_instead_of_retrying(
    system: System, radicale: Radicale
) -> None:
    system.notification(**calendar_settings())
    replica = system.scheduling()
    _, as_host = person("host")
    calendar = radicale_calendar(radicale, discover=False)
    async with client(replica) as stub:
        await stub.ConnectCalendar(calendar.request(), metadata=as_host)
        room = await stub.CreateRoom(create_request(), metadata=as_host)
        await until(lambda: holds(calendar, [room]), within_s=CALENDAR_S)
        new_password = f"pw-{uuid.uuid4().hex}"
        radicale.users.write_text(
            radicale.users.read_text().replace(calendar.password, new_password)
        )
        await stub.DisconnectCalendar(
            pb.DisconnectCalendarRequest(remove_events=True), metadata=as_host
        )
        # No reconnect will come for a disconnected calendar: its copies give up, and
        # the connection goes with them (the copy stays in the calendar, unreachable).
        await until(
            lambda: system.query("SELECT count(*) FROM calendar_connections") == 0,
            within_s=CALENDAR_S,
        )
        assert system.query("SELECT count(*) FROM calendar_copies") == 0
