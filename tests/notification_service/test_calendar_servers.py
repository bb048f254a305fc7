"""VerifyCalendar and WriteCalendarEvent over a real gRPC port against real CalDAV
servers: Radicale (htpasswd users) and Xandikos (no authentication), each a process
started for the module and stopped at its end. Each test uses its own Radicale user or
its own UIDs. What the calendar holds is read back with plain HTTP and icalendar's
parser, not with the service's own client."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import grpc
import pytest
from notification.v1 import notification_pb2 as pb

from notification_service.credentials.sealing import BasicCredentials, new_key_entry
from notification_service.delivery.calendar.objects import href_for
from tests.caldav_servers import XANDIKOS_CALENDAR, XANDIKOS_PRINCIPAL, Radicale, Xandikos
from tests.notification_service.calendar_helpers import (
    calendar_config,
    change_password,
    delete_request,
    error_details,
    get_object,
    hrefs_holding,
    keyring,
    new_uid,
    put_object,
    radicale_user,
    the_event,
    unfolded_lines,
    verify_request,
    write_request,
)
from tests.notification_service.conftest import StartServer
from tests.notification_service.notification_helpers import (
    GUEST,
    HOST,
    START,
    Running,
    make_message,
)

pytestmark = pytest.mark.slow


@dataclass
class Account:
    """A calendar to connect: the URL given, the collection it leads to, credentials."""

    given_url: str
    collection: str
    username: str
    password: str

    @property
    def auth(self) -> tuple[str, str] | None:
        return (self.username, self.password)


async def radicale_account(server: Radicale, *, discover: bool) -> Account:
    username, password, collection = await radicale_user(server)
    return Account(server.url if discover else collection, collection, username, password)


def xandikos_account(server: Xandikos, *, discover: bool) -> Account:
    collection = server.url.rstrip("/") + XANDIKOS_CALENDAR
    return Account(server.url if discover else collection, collection, "anyone", "ignored")


@pytest.fixture(params=["radicale", "xandikos"])
async def account(request: pytest.FixtureRequest) -> Account:
    """A calendar on each server, connected by its collection URL."""
    if request.param == "radicale":
        return await radicale_account(request.getfixturevalue("radicale"), discover=False)
    return xandikos_account(request.getfixturevalue("xandikos"), discover=False)


@pytest.fixture
async def running(start_server: StartServer) -> Running:
    return await start_server(calendar_config())


async def connect(
    running: Running, account: Account, user_id: str = "user-1"
) -> pb.VerifyCalendarResponse:
    request = verify_request(
        account.given_url, user_id=user_id, username=account.username, password=account.password
    )
    response: pb.VerifyCalendarResponse = await running.verify_calendar(request)
    return response


@pytest.mark.parametrize("discover", [False, True], ids=["collection", "discovery"])
@pytest.mark.parametrize("kind", ["radicale", "xandikos"])
async def test_verify_finds_the_collection_and_seals_for_it(
    request: pytest.FixtureRequest, running: Running, kind: str, discover: bool
) -> None:
    if kind == "radicale":
        account = await radicale_account(request.getfixturevalue("radicale"), discover=discover)
    else:
        account = xandikos_account(request.getfixturevalue("xandikos"), discover=discover)

    verified = await connect(running, account, user_id="user-42")

    assert verified.calendar_url == account.collection
    assert verified.provider == "caldav"
    assert account.password.encode() not in verified.sealed_credentials
    opened = keyring().open(
        verified.sealed_credentials, user_id="user-42", calendar_url=verified.calendar_url
    )
    assert opened == BasicCredentials(account.username, account.password)


async def test_verify_from_xandikos_principal(running: Running, xandikos: Xandikos) -> None:
    account = xandikos_account(xandikos, discover=False)
    account.given_url = xandikos.url.rstrip("/") + XANDIKOS_PRINCIPAL
    assert (await connect(running, account)).calendar_url == account.collection


async def test_put_update_delete(running: Running, account: Account) -> None:
    verified = await connect(running, account)
    uid = new_uid()

    created = await running.write_calendar(write_request(verified, uid=uid, sequence=1))

    assert created.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, created.detail
    assert created.href == href_for(account.collection, uid)
    assert created.etag and not created.detail and not created.resealed_credentials
    status, body, etag = await get_object(created.href, account.auth)
    assert status == 200 and etag == created.etag
    lines = unfolded_lines(body)
    assert not [line for line in lines if line.startswith("METHOD")]
    organizer = [line for line in lines if line.startswith("ORGANIZER")]
    attendees = [line for line in lines if line.startswith("ATTENDEE")]
    assert len(organizer) == 1 and len(attendees) == 2
    assert all(";SCHEDULE-AGENT=CLIENT" in line for line in organizer + attendees)
    event = the_event(body)
    assert str(event["UID"]) == uid
    assert int(event["SEQUENCE"]) == 1
    assert event.decoded("DTSTART") == START
    assert event.decoded("DTEND") == START + timedelta(hours=1)
    assert event.decoded("DTSTAMP") == START - timedelta(days=3)
    assert str(event["SUMMARY"]) == "Mock interview: system design"
    assert str(event["DESCRIPTION"]) == "Round 1: a URL shortener.\nBring a pen."
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["ORGANIZER"]).lower() == "mailto:rooms@localhost"
    assert [str(a).lower() for a in event["ATTENDEE"]] == [
        f"mailto:{HOST.email}",
        f"mailto:{GUEST.email}",
    ]

    moved = START + timedelta(days=1)
    updated = await running.write_calendar(
        write_request(
            verified,
            uid=uid,
            sequence=2,
            start=moved,
            title="Moved",
            href=created.href,
            etag=created.etag,
        )
    )
    assert updated.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, updated.detail
    assert updated.href == created.href and updated.etag not in ("", created.etag)
    status, body, _ = await get_object(created.href, account.auth)
    assert status == 200
    event = the_event(body)
    assert (int(event["SEQUENCE"]), str(event["SUMMARY"])) == (2, "Moved")
    assert event.decoded("DTSTART") == moved

    removed = await running.write_calendar(
        delete_request(verified, uid, href=updated.href, etag=updated.etag)
    )
    assert removed.outcome == pb.CALENDAR_WRITE_OUTCOME_REMOVED, removed.detail
    assert (await get_object(created.href, account.auth))[0] == 404

    again = await running.write_calendar(delete_request(verified, uid, href=updated.href))
    assert again.outcome == pb.CALENDAR_WRITE_OUTCOME_REMOVED, again.detail
    without_href = await running.write_calendar(delete_request(verified, uid))
    assert without_href.outcome == pb.CALENDAR_WRITE_OUTCOME_REMOVED, without_href.detail


async def test_a_copy_edited_in_the_calendar_is_put_right(
    running: Running, account: Account
) -> None:
    """Our ETag is stale (the person edited the copy): re-read, and the room wins."""
    verified = await connect(running, account)
    uid = new_uid()
    first = await running.write_calendar(write_request(verified, uid=uid))
    status, body, _ = await get_object(first.href, account.auth)
    assert status == 200
    edited = body.replace(b"SUMMARY:Mock interview", b"SUMMARY:Edited by hand")
    assert edited != body
    assert await put_object(first.href, edited, account.auth, etag=first.etag) in (201, 204)

    second = await running.write_calendar(
        write_request(verified, uid=uid, sequence=2, href=first.href, etag=first.etag)
    )

    assert second.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, second.detail
    assert second.href == first.href
    status, body, etag = await get_object(first.href, account.auth)
    assert status == 200
    assert str(the_event(body)["SUMMARY"]) == "Mock interview: system design"
    assert etag == second.etag


async def test_a_copy_already_imported_is_updated_in_place(
    running: Running, account: Account
) -> None:
    """The person's client imported the invite under its own href: the PUT meets
    no-uid-conflict (Radicale 409, Xandikos 412) and writes there instead."""
    verified = await connect(running, account)
    uid = new_uid()
    invite = await running.render(_invite(uid))
    imported = account.collection + "imported-from-mail.ics"
    assert await put_object(imported, _without_method(invite.ics), account.auth) == 201

    written = await running.write_calendar(write_request(verified, uid=uid, sequence=2))

    assert written.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, written.detail
    assert written.href == imported
    assert await hrefs_holding(account.collection, uid, account.auth) == [imported]
    status, body, _ = await get_object(imported, account.auth)
    assert status == 200
    assert int(the_event(body)["SEQUENCE"]) == 2
    assert b"SCHEDULE-AGENT=CLIENT" in body

    # A removal whose href was never learnt finds the copy by its UID.
    removed = await running.write_calendar(delete_request(verified, uid))
    assert removed.outcome == pb.CALENDAR_WRITE_OUTCOME_REMOVED, removed.detail
    assert await hrefs_holding(account.collection, uid, account.auth) == []


def _invite(uid: str) -> pb.CalendarMessage:
    return make_message(uid=uid, sequence=1)


def _without_method(ics: bytes) -> bytes:
    """The invitation as a mail client stores it (RFC 4791 section 4.1: no METHOD)."""
    return b"".join(
        line for line in ics.splitlines(keepends=True) if not line.startswith(b"METHOD:")
    )


async def test_wrong_password_is_auth_rejected(running: Running, radicale: Radicale) -> None:
    account = await radicale_account(radicale, discover=True)
    wrong = "wrong-" + account.password
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.verify_calendar(
            verify_request(account.given_url, username=account.username, password=wrong)
        )
    details = error_details(caught.value)
    assert details.code == grpc.StatusCode.FAILED_PRECONDITION
    assert (details.reason, details.domain) == ("CALENDAR_AUTH_REJECTED", "notification.v1")
    assert "401" in details.message and wrong not in details.message


async def test_a_password_changed_after_verify_rejects_the_write(
    running: Running, radicale: Radicale
) -> None:
    account = await radicale_account(radicale, discover=False)
    verified = await connect(running, account)
    change_password(radicale, account.username, "changed-" + account.password)

    response = await running.write_calendar(write_request(verified))

    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_CREDENTIALS_REJECTED
    assert response.detail == "the calendar server refused the credentials (HTTP 401)"
    assert not response.href and not response.etag


async def test_a_user_without_a_calendar_is_not_found(running: Running, radicale: Radicale) -> None:
    radicale.add_user("nocalendar", "pw")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.verify_calendar(
            verify_request(radicale.url, username="nocalendar", password="pw")
        )
    details = error_details(caught.value)
    assert (details.code, details.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "CALENDAR_NOT_FOUND",
    )


async def test_another_users_calendar_is_refused(running: Running, radicale: Radicale) -> None:
    alice = await radicale_account(radicale, discover=False)
    bob = await radicale_account(radicale, discover=False)
    bob.given_url = alice.collection
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await connect(running, bob)
    assert error_details(caught.value).reason == "CALENDAR_AUTH_REJECTED"  # 403


async def test_credentials_sealed_under_an_older_key_are_sealed_anew(
    start_server: StartServer, xandikos: Xandikos
) -> None:
    """Rotation: the new key seals, the old one still opens; a write returns the
    credentials sealed under the new key, whatever its outcome."""
    old_entry, new_entry = new_key_entry("old"), new_key_entry("new")
    before = await start_server(calendar_config(calendar_keys=keyring(old_entry)))
    account = xandikos_account(xandikos, discover=False)
    verified = await connect(before, account)
    after = await start_server(calendar_config(calendar_keys=keyring(f"{new_entry},{old_entry}")))

    response = await after.write_calendar(write_request(verified))

    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, response.detail
    rotated = keyring(f"{new_entry},{old_entry}")
    assert response.resealed_credentials
    assert not rotated.needs_reseal(response.resealed_credentials)
    assert rotated.open(
        response.resealed_credentials, user_id="user-1", calendar_url=verified.calendar_url
    ) == BasicCredentials("anyone", "ignored")
    again = await after.write_calendar(
        write_request(replace_sealed(verified, response.resealed_credentials))
    )
    assert again.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN
    assert not again.resealed_credentials


def replace_sealed(verified: pb.VerifyCalendarResponse, sealed: bytes) -> pb.VerifyCalendarResponse:
    return pb.VerifyCalendarResponse(
        calendar_url=verified.calendar_url, provider=verified.provider, sealed_credentials=sealed
    )


async def test_writes_with_private_networks_turned_off_are_permanent_failures(
    start_server: StartServer, xandikos: Xandikos
) -> None:
    """A connection made while loopback was allowed, written after it no longer is."""
    allowed = await start_server(calendar_config())
    verified = await connect(allowed, xandikos_account(xandikos, discover=False))
    strict = await start_server(calendar_config(caldav_allow_private_networks=False))

    response = await strict.write_calendar(write_request(verified))

    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_PERMANENT_FAILURE
    assert "not allowed" in response.detail
