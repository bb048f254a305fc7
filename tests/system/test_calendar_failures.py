"""Calendars that refuse us, end to end: a changed password, a revoked Google grant, a
copy refused for good, a disconnected calendar that refuses its removals. Nothing is
lost, the owner is told once, and no credential reaches the database or a log."""

from __future__ import annotations

import json
import uuid

import pytest
from scheduling.v1 import scheduling_pb2 as pb

from tests import calendar_reader, oauth_token_server
from tests.caldav_servers import XANDIKOS_CALENDAR, Radicale, Xandikos
from tests.calendar_bearer_proxy import BearerProxy
from tests.oauth_token_server import TokenServer
from tests.scheduling_service.client import create_request, future, ts
from tests.system.calendar_system import (
    ACTIVE,
    CALENDAR_S,
    Calendar,
    calendar_settings,
    holds,
    is_broken,
    notices,
    radicale_calendar,
    secrets_found,
    service_logs,
    until_async,
)
from tests.system.mail_system import System, client, person, until

pytestmark = pytest.mark.slow  # starts PostgreSQL, CalDAV servers and service processes


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

        await until_async(lambda: is_broken(stub, as_host))
        connection = await stub.GetCalendarConnection(
            pb.GetCalendarConnectionRequest(), metadata=as_host
        )
        assert "401" in connection.broken_reason or "refused" in connection.broken_reason
        await until(lambda: len(notices(system, host)) == 1, within_s=CALENDAR_S)
        [notice] = notices(system, host)
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
        assert len(notices(system, host)) == 1

        resumed = await stub.ConnectCalendar(calendar.request(), metadata=as_host)
        assert resumed.state == ACTIVE and resumed.broken_reason == ""
        await until(lambda: holds(calendar, [room]), within_s=CALENDAR_S)
        await until(lambda: len(notices(system, host)) == 1, within_s=CALENDAR_S)

    assert (
        secrets_found(
            system.database_url,
            service_logs(system),
            [old_password, calendar.password, f"{calendar.username}:{old_password}"],
        )
        == []
    )


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
        await until_async(lambda: is_broken(stub, as_host))
        broken = await stub.GetCalendarConnection(
            pb.GetCalendarConnectionRequest(), metadata=as_host
        )
        assert "invalid_grant" in broken.broken_reason
        await until(lambda: len(notices(system, host)) == 1, within_s=CALENDAR_S)
    assert secrets_found(system.database_url, service_logs(system), [refresh]) == []


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
