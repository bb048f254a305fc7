"""Finding the collection to write to (RFC 4791, discovery RFC 6764): from the URL a
user gave (a collection, a principal or a server), through /.well-known/caldav, the
current-user-principal and the calendar-home-set, to the first calendar collection that
takes events (VEVENT) and that the user may write."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import urljoin

from notification_service.delivery.calendar.addresses import shown
from notification_service.delivery.calendar.caldav_xml import (
    DAV,
    Resource,
    caldav_tag,
    dav_tag,
    href_in,
)
from notification_service.delivery.calendar.connection import CalDAVConnection
from notification_service.domain.errors import CalendarNotFound, CalendarNotWritable

WRITE_PRIVILEGES: Final = frozenset({f"{{{DAV}}}write", f"{{{DAV}}}write-content", f"{{{DAV}}}all"})


@dataclass(frozen=True)
class CalendarCollection:
    url: str
    display_name: str


async def discover(connection: CalDAVConnection, url: str) -> CalendarCollection:
    """The collection to write to, from a collection, principal or server URL."""
    start = connection.target(url)
    candidates = [start.url]
    if start.target in ("/", ""):
        well_known = urljoin(start.url, "/.well-known/caldav")
        candidates = [well_known, start.url]
    home: str | None = None
    for candidate in candidates:
        found = await _home_from(connection, candidate)
        if isinstance(found, CalendarCollection):
            return found
        if found is not None:
            home = found
            break
    if home is None:
        raise CalendarNotFound(f"no CalDAV principal or calendar at {shown(url)}")
    return await _pick_collection(connection, home)


async def _home_from(connection: CalDAVConnection, url: str) -> CalendarCollection | str | None:
    """A collection if `url` is one, else the calendar home it leads to, or None."""
    found = await connection.propfind(
        url,
        "0",
        dav_tag("resourcetype"),
        dav_tag("displayname"),
        dav_tag("current-user-principal"),
        dav_tag("current-user-privilege-set"),
        caldav_tag("calendar-home-set"),
        caldav_tag("supported-calendar-component-set"),
    )
    if not found:
        return None
    resource = found[0]
    if _is_calendar(resource):
        return _collection_or_raise(connection, [resource])
    home = href_in(resource.props.get(caldav_tag("calendar-home-set")), resource.url)
    if home:
        return home
    principal = href_in(resource.props.get(dav_tag("current-user-principal")), resource.url)
    if not principal:
        return None
    found = await connection.propfind(principal, "0", caldav_tag("calendar-home-set"))
    if not found:
        return None
    return href_in(found[0].props.get(caldav_tag("calendar-home-set")), found[0].url)


async def _pick_collection(connection: CalDAVConnection, home: str) -> CalendarCollection:
    found = await connection.propfind(
        home,
        "1",
        dav_tag("resourcetype"),
        dav_tag("displayname"),
        dav_tag("current-user-privilege-set"),
        caldav_tag("supported-calendar-component-set"),
    )
    calendars = [r for r in found or [] if _is_calendar(r)]
    return _collection_or_raise(connection, calendars)


def _collection_or_raise(
    connection: CalDAVConnection, calendars: list[Resource]
) -> CalendarCollection:
    events = [r for r in calendars if _takes_events(r)]
    if not events:
        raise CalendarNotFound("no calendar collection that takes events (VEVENT)")
    writable = [r for r in events if _writable(r)]
    if not writable:
        raise CalendarNotWritable("no calendar collection this user may write")
    chosen = writable[0]
    connection.require_origin(chosen.url)
    url = chosen.url if chosen.url.endswith("/") else chosen.url + "/"
    name = chosen.props.get(dav_tag("displayname"))
    return CalendarCollection(url, (name.text or "").strip() if name is not None else "")


def _is_calendar(resource: Resource) -> bool:
    kind = resource.props.get(dav_tag("resourcetype"))
    return kind is not None and kind.find(caldav_tag("calendar")) is not None


def _takes_events(resource: Resource) -> bool:
    components = resource.props.get(caldav_tag("supported-calendar-component-set"))
    if components is None:  # RFC 4791 5.2.3: absent means any component
        return True
    return any(
        comp.get("name", "").upper() == "VEVENT" for comp in components.iter(caldav_tag("comp"))
    )


def _writable(resource: Resource) -> bool:
    privileges = resource.props.get(dav_tag("current-user-privilege-set"))
    if privileges is None:  # the server does not say (RFC 3744 is optional): try it
        return True
    granted = {
        child.tag for privilege in privileges.iter(dav_tag("privilege")) for child in privilege
    }
    return bool(granted & WRITE_PRIVILEGES)
