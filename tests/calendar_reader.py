"""What a person's CalDAV collection holds, read the way a calendar client would (PROPFIND
the collection, GET each object, parse it with icalendar): independent of the service's
own CalDAV client, so the tests check the calendar, not our reading of it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin

import httpx
import icalendar

_PROPFIND = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>'
)


@dataclass(frozen=True)
class Event:
    href: str
    uid: str
    sequence: int
    start: datetime
    end: datetime
    summary: str
    has_method: bool
    raw: str


def events(collection_url: str, auth: tuple[str, str] | None = None) -> list[Event]:
    """Every VEVENT object in the collection."""
    with httpx.Client(auth=auth, timeout=10.0) as http:
        listing = http.request(
            "PROPFIND",
            collection_url,
            content=_PROPFIND,
            headers={"Depth": "1", "Content-Type": "application/xml"},
        )
        assert listing.status_code == 207, listing.status_code
        found = []
        for response in ET.fromstring(listing.content).iter("{DAV:}response"):
            href = response.findtext("{DAV:}href") or ""
            if not href.endswith(".ics"):
                continue
            body = http.get(urljoin(collection_url, href))
            if body.status_code == 404:
                continue  # deleted between the listing and this read: gone
            assert body.status_code == 200, (href, body.status_code)
            calendar = icalendar.Calendar.from_ical(body.text)
            for event in calendar.walk("VEVENT"):
                found.append(
                    Event(
                        href=href,
                        uid=str(event["UID"]),
                        sequence=int(event.get("SEQUENCE", 0)),
                        start=event.decoded("DTSTART"),
                        end=event.decoded("DTEND"),
                        summary=str(event.get("SUMMARY", "")),
                        has_method="METHOD" in calendar,
                        raw=body.text,
                    )
                )
        return found


def by_uid(collection_url: str, auth: tuple[str, str] | None = None) -> dict[str, Event]:
    """The events by UID; a UID held twice (a duplicate) fails."""
    found = events(collection_url, auth)
    twice = [uid for uid, n in Counter(e.uid for e in found).items() if n > 1]
    assert not twice, f"duplicate events for {twice}"
    return {e.uid: e for e in found}


def put(collection_url: str, name: str, ics: bytes, auth: tuple[str, str] | None = None) -> None:
    """Store an object as a client would (an invitation it imported, say)."""
    with httpx.Client(auth=auth, timeout=10.0) as http:
        reply = http.put(
            urljoin(collection_url, name),
            content=ics,
            headers={"Content-Type": "text/calendar; charset=utf-8"},
        )
        assert reply.status_code in (201, 204), reply.status_code


_MKCALENDAR = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
    b"<D:set><D:prop><C:supported-calendar-component-set>"
    b'<C:comp name="VEVENT"/></C:supported-calendar-component-set></D:prop></D:set>'
    b"</C:mkcalendar>"
)


def make_calendar(collection_url: str, auth: tuple[str, str] | None = None) -> str:
    """A new calendar collection taking events (MKCALENDAR); its URL."""
    with httpx.Client(auth=auth, timeout=10.0) as http:
        reply = http.request("MKCALENDAR", collection_url, content=_MKCALENDAR)
        assert reply.status_code == 201, reply.status_code
    return collection_url


def delete(url: str, auth: tuple[str, str] | None = None) -> None:
    with httpx.Client(auth=auth, timeout=10.0) as http:
        reply = http.delete(url)
        assert reply.status_code in (200, 204), reply.status_code
