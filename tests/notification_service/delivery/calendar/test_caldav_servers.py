"""The CalDAV client against real Radicale and Xandikos processes (started per module by
tests/notification_service/conftest.py, stopped at its end; each test uses its own user
or its own UIDs)."""

from __future__ import annotations

import uuid

import pytest

from notification_service.delivery.calendar.authorization import BasicAuth
from notification_service.delivery.calendar.client import CalDAVClient
from notification_service.delivery.calendar.safe_http import SafeHttpClient
from notification_service.domain.errors import (
    CalendarAuthRejected,
    CalendarNotFound,
    CalendarPermanentFailure,
)
from tests.caldav_servers import (
    XANDIKOS_CALENDAR,
    XANDIKOS_PRINCIPAL,
    CalDAVServer,
    Radicale,
    Xandikos,
)

pytestmark = pytest.mark.slow

MKCALENDAR = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
    b"<D:set><D:prop><C:supported-calendar-component-set>"
    b'<C:comp name="VEVENT"/></C:supported-calendar-component-set></D:prop></D:set>'
    b"</C:mkcalendar>"
)


def event(uid: str, summary: str, sequence: int = 0) -> bytes:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//practice-rooms//test//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20261201T090000Z",
        "DTSTART:20261210T090000Z",
        "DTEND:20261210T100000Z",
        f"SEQUENCE:{sequence}",
        f"SUMMARY:{summary}",
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
    return "\r\n".join(lines).encode()


# `radicale` and `xandikos`: tests/notification_service/conftest.py (one per module).


HTTP = SafeHttpClient(allow_private_networks=True)


async def radicale_user(server: Radicale) -> tuple[CalDAVClient, str, BasicAuth]:
    """A new user with one calendar; the client and the collection URL."""
    credentials = BasicAuth(f"u{uuid.uuid4().hex[:8]}", "right")
    server.add_user(credentials.username, credentials.password)
    collection = f"{server.url}{credentials.username}/calendar/"
    response = await HTTP.request(
        "MKCALENDAR", collection, body=MKCALENDAR, authorization=credentials.header()
    )
    assert response.status == 201, response
    return CalDAVClient(HTTP, credentials, server.url), collection, credentials


def xandikos_user(server: Xandikos) -> tuple[CalDAVClient, str]:
    client = CalDAVClient(HTTP, BasicAuth("anyone", "ignored"), server.url)
    return client, server.url.rstrip("/") + XANDIKOS_CALENDAR


@pytest.fixture(params=["radicale", "xandikos"])
async def calendar(
    request: pytest.FixtureRequest,
) -> tuple[CalDAVClient, str, CalDAVServer]:
    """(client, collection URL, server) on each server."""
    if request.param == "radicale":
        server: CalDAVServer = request.getfixturevalue("radicale")
        client, collection, _ = await radicale_user(request.getfixturevalue("radicale"))
        return client, collection, server
    server = request.getfixturevalue("xandikos")
    client, collection = xandikos_user(request.getfixturevalue("xandikos"))
    return client, collection, server


async def test_discovery_on_radicale_from_root_principal_and_collection(radicale: Radicale) -> None:
    client, collection, credentials = await radicale_user(radicale)
    for url in (radicale.url, f"{radicale.url}{credentials.username}/", collection):
        found = await client.discover(url)
        assert found.url == collection, url


async def test_discovery_on_xandikos_from_root_principal_and_collection(xandikos: Xandikos) -> None:
    client, collection = xandikos_user(xandikos)
    root = xandikos.url.rstrip("/")
    for url in (xandikos.url, root + XANDIKOS_PRINCIPAL, collection):
        found = await client.discover(url)
        assert found.url == collection, url


async def test_discovery_without_a_calendar_is_not_found(radicale: Radicale) -> None:
    credentials = BasicAuth(f"u{uuid.uuid4().hex[:8]}", "right")
    radicale.add_user(credentials.username, credentials.password)
    client = CalDAVClient(HTTP, credentials, radicale.url)
    with pytest.raises(CalendarNotFound):
        await client.discover(radicale.url)


async def test_create_update_delete_with_etags(
    calendar: tuple[CalDAVClient, str, CalDAVServer],
) -> None:
    client, collection, _ = calendar
    uid = f"{uuid.uuid4()}@rooms.test"
    created = await client.put_event(collection, uid, event(uid, "Mock interview"))
    assert created.href == client.href_for(collection, uid)
    assert created.etag
    stored = await client.get_event(created.href)
    assert stored is not None and b"SUMMARY:Mock interview" in stored[0]

    updated = await client.put_event(
        collection, uid, event(uid, "Rescheduled", 1), href=created.href, etag=created.etag
    )
    assert updated.href == created.href
    assert updated.etag and updated.etag != created.etag

    # Edited in the calendar meanwhile: our ETag is stale, 412, re-read, the room wins.
    theirs = await HTTP.request(
        "PUT",
        created.href,
        body=event(uid, "Edited by hand", 1),
        headers={"Content-Type": "text/calendar", "If-Match": updated.etag},
        authorization=client._authorization,
    )
    assert theirs.status in (201, 204)
    again = await client.put_event(
        collection, uid, event(uid, "Room wins", 2), href=updated.href, etag=updated.etag
    )
    assert again.href == created.href and again.etag not in (None, updated.etag)
    stored = await client.get_event(created.href)
    assert stored is not None and b"SUMMARY:Room wins" in stored[0]
    assert stored[1] == again.etag

    await client.delete_event(again.href, etag=again.etag)
    assert await client.get_event(again.href) is None
    await client.delete_event(again.href)  # 404: already done
    assert await client.find_by_uid(collection, uid) is None


async def test_a_create_over_an_existing_copy_of_ours_overwrites_it(
    calendar: tuple[CalDAVClient, str, CalDAVServer],
) -> None:
    """A create re-sent (the job ran twice) lands on the same href: no duplicate."""
    client, collection, _ = calendar
    uid = f"{uuid.uuid4()}@rooms.test"
    first = await client.put_event(collection, uid, event(uid, "One"))
    second = await client.put_event(collection, uid, event(uid, "Two"))
    assert first.href == second.href
    found = await client.find_by_uid(collection, uid)
    assert found == second


async def test_no_uid_conflict_writes_to_the_href_that_holds_the_uid(
    calendar: tuple[CalDAVClient, str, CalDAVServer],
) -> None:
    client, collection, _ = calendar
    uid = f"{uuid.uuid4()}@rooms.test"
    imported = collection + "imported-by-their-mail-client.ics"
    response = await HTTP.request(
        "PUT",
        imported,
        body=event(uid, "From the invite"),
        headers={"Content-Type": "text/calendar"},
        authorization=client._authorization,
    )
    assert response.status == 201

    written = await client.put_event(collection, uid, event(uid, "From the room", 1))

    assert written.href == imported
    assert await client.get_event(client.href_for(collection, uid)) is None
    stored = await client.get_event(imported)
    assert stored is not None and b"SUMMARY:From the room" in stored[0]
    assert await client.find_by_uid(collection, uid) == written


async def test_a_uid_that_is_a_substring_of_another_is_not_confused(
    calendar: tuple[CalDAVClient, str, CalDAVServer],
) -> None:
    client, collection, _ = calendar
    uid = f"{uuid.uuid4()}@rooms.test"
    await client.put_event(collection, "x" + uid, event("x" + uid, "Other"))
    assert await client.find_by_uid(collection, uid) is None


async def test_wrong_password_on_radicale_is_an_auth_failure(radicale: Radicale) -> None:
    _, collection, credentials = await radicale_user(radicale)
    wrong = CalDAVClient(HTTP, BasicAuth(credentials.username, "wrong"), radicale.url)
    with pytest.raises(CalendarAuthRejected) as caught:
        await wrong.discover(radicale.url)
    assert caught.value.status == 401
    uid = f"{uuid.uuid4()}@rooms.test"
    with pytest.raises(CalendarAuthRejected):
        await wrong.put_event(collection, uid, event(uid, "x"))
    with pytest.raises(CalendarAuthRejected):
        await wrong.delete_event(collection + "x.ics")


async def test_another_users_calendar_is_refused_on_radicale(radicale: Radicale) -> None:
    _, alice_collection, _ = await radicale_user(radicale)
    bob, _, _ = await radicale_user(radicale)
    uid = f"{uuid.uuid4()}@rooms.test"
    with pytest.raises(CalendarAuthRejected) as caught:
        await bob.put_event(alice_collection, uid, event(uid, "x"))
    assert caught.value.status == 403


async def test_a_malformed_event_is_a_permanent_failure(
    calendar: tuple[CalDAVClient, str, CalDAVServer],
) -> None:
    client, collection, _ = calendar
    with pytest.raises(CalendarPermanentFailure) as caught:
        await client.put_event(collection, "bad", b"not a calendar")
    assert caught.value.status is not None and 400 <= caught.value.status < 500
