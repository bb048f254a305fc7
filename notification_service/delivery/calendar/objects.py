"""Writing and removing one calendar object (an event) in a collection.

A create sends no If-None-Match (Google's CalDAV rejects it); an update sends If-Match
with the remembered ETag, and a 412 means the copy was edited in the calendar: re-read
its ETag and write again (the room wins). A PUT refused with the `no-uid-conflict`
precondition (Radicale answers 409, Xandikos 412: the element decides, not the status)
means the UID already lives at another href (the person's client imported the invite):
a calendar-query REPORT on the UID finds it, and the event is written there.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit

from icalendar import Calendar

from notification_service.delivery.calendar.busy_events import vevents_only
from notification_service.delivery.calendar.caldav_xml import (
    caldav_tag,
    dav_tag,
    element_text,
    names_no_uid_conflict,
    parse_multistatus,
    uid_query_body,
)
from notification_service.delivery.calendar.connection import CalDAVConnection
from notification_service.delivery.calendar.failures import failure
from notification_service.delivery.calendar.safe_http import HttpResponse
from notification_service.domain.errors import (
    CalendarPermanentFailure,
    CalendarTemporaryFailure,
)


@dataclass(frozen=True)
class StoredEvent:
    href: str  # absolute URL of the calendar object
    etag: str | None


def href_for(collection_url: str, uid: str) -> str:
    """The href a new event is written to: the same for the same UID, any UID."""
    digest = hashlib.sha256(uid.encode()).hexdigest()[:40]
    return urljoin(collection_url, f"{digest}.ics")


def is_our_copy(collection_url: str, url: str, calendar_data: str, own_uid_domain: str) -> bool:
    """Whether the object at `url` is a copy this service wrote: every VEVENT of it has
    the one UID, in its own domain, that href_for names `url` after (a VEVENT without a
    readable UID would count as busy in a full read). By content, not by name: other
    clients name objects by a hash of their UID too (Evolution's are 40 hex digits)."""
    uids = _event_uids(calendar_data)
    if not uids or None in uids or len(set(uids)) != 1:
        return False
    uid = uids[0] or ""
    return uid.lower().endswith("@" + own_uid_domain.lower()) and same_resource(
        href_for(collection_url, uid), url
    )


async def put_event(
    connection: CalDAVConnection,
    collection_url: str,
    uid: str,
    ics: bytes,
    *,
    href: str | None = None,
    etag: str | None = None,
) -> StoredEvent:
    """Create (no href/etag known) or update the event; returns where it now lives."""
    href = href or href_for(collection_url, uid)
    for _attempt in range(3):
        response = await _put(connection, href, ics, etag)
        if response.status in (200, 201, 204):
            return StoredEvent(href, await _etag_after_put(connection, href, response))
        if _is_uid_conflict(response):
            holder = await find_by_uid(connection, collection_url, uid)
            if holder is None or same_resource(holder.href, href):
                raise CalendarPermanentFailure(
                    f"no-uid-conflict for {uid!r}, but no other object holds it",
                    status=response.status,
                )
            href, etag = holder.href, holder.etag
            continue
        if response.status == 412 and etag is not None:
            # Edited in the calendar since we wrote it: re-read, and the room wins.
            etag = await current_etag(connection, href)
            continue
        raise failure(response, "PUT")
    raise CalendarTemporaryFailure(f"PUT {href[:200]}: still conflicting after 3 attempts")


async def _put(
    connection: CalDAVConnection, href: str, ics: bytes, etag: str | None
) -> HttpResponse:
    headers = {"Content-Type": "text/calendar; charset=utf-8"}
    if etag is not None:
        headers["If-Match"] = etag
    return await connection.send("PUT", href, body=ics, headers=headers)


async def _etag_after_put(
    connection: CalDAVConnection, href: str, response: HttpResponse
) -> str | None:
    etag = entity_tag(response.headers.get("etag"))
    if etag and not etag.startswith("W/"):
        return etag
    return await current_etag(connection, href)


async def current_etag(connection: CalDAVConnection, href: str) -> str | None:
    """The object's ETag now, or None when it is gone."""
    found = await connection.propfind(href, "0", dav_tag("getetag"))
    if not found:
        return None
    return entity_tag(element_text(found[0].props.get(dav_tag("getetag"))))


async def get_event(connection: CalDAVConnection, href: str) -> tuple[bytes, str | None] | None:
    """The object's body and ETag, or None when it is gone."""
    response = await connection.send("GET", href)
    if response.status in (404, 410):
        return None
    if response.status != 200:
        raise failure(response, "GET")
    return response.body, entity_tag(response.headers.get("etag"))


async def find_by_uid(
    connection: CalDAVConnection, collection_url: str, uid: str
) -> StoredEvent | None:
    """The object holding `uid` (a calendar-query REPORT; text-match is a substring
    match, so the UID of each answer is compared exactly)."""
    response = await connection.send_xml("REPORT", collection_url, uid_query_body(uid), "1")
    if response.status != 207:
        raise failure(response, "REPORT calendar-query")
    for resource in parse_multistatus(response.body, response.url):
        data = resource.props.get(caldav_tag("calendar-data"))
        if data is None or not data.text or uid not in _uids(data.text):
            continue
        return StoredEvent(
            resource.url, entity_tag(element_text(resource.props.get(dav_tag("getetag"))))
        )
    return None


async def delete_event(connection: CalDAVConnection, href: str, *, etag: str | None = None) -> None:
    """Delete the object; 404 and 410 mean it is already gone (done)."""
    headers = {"If-Match": etag} if etag else None
    response = await connection.send("DELETE", href, headers=headers)
    if response.status == 412 and etag:
        response = await connection.send("DELETE", href)  # edited there: the room wins
    if response.status in (200, 202, 204, 404, 410):
        return
    raise failure(response, "DELETE")


def _is_uid_conflict(response: HttpResponse) -> bool:
    return response.status in (403, 409, 412) and names_no_uid_conflict(response.body, response.url)


def resource_key(url: str) -> tuple[str, str]:
    """What names a resource: host in any case, path percent-decoded, a trailing slash
    aside."""
    parts = urlsplit(url)
    return parts.netloc.lower(), unquote(parts.path).rstrip("/")


def same_resource(a: str, b: str) -> bool:
    return resource_key(a) == resource_key(b)


def _uids(calendar_data: str) -> set[str]:
    return {uid for uid in _event_uids(calendar_data) if uid is not None}


def _event_uids(calendar_data: str) -> list[str | None]:
    """Each VEVENT's UID (None where it has none the line filter kept); [] when the
    text cannot be read."""
    try:
        # Through the busy reader's line filter: no VTIMEZONE of the server's reaches
        # icalendar, which would cache a zone built from it for the whole process.
        calendar = Calendar.from_ical(vevents_only(calendar_data)[0])
    except ValueError:
        return []
    return [str(event["UID"]) if "UID" in event else None for event in calendar.walk("VEVENT")]


# RFC 9110 §8.8.3: an entity-tag is an optional W/ and a quoted string of visible ASCII
# other than the quote. Anything else from a server is no ETag (and could not be sent
# back in If-Match).
_ENTITY_TAG = re.compile(r'(W/)?"[\x21\x23-\x7e]*"')


def entity_tag(value: str | None) -> str | None:
    """`value` when it is an entity-tag, else None."""
    if value is None or len(value) > 256:
        return None
    value = value.strip()
    return value if _ENTITY_TAG.fullmatch(value) else None
