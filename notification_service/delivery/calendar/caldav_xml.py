"""The WebDAV/CalDAV XML the client sends and reads (RFC 4918, RFC 4791): PROPFIND and
calendar-query bodies built with xml.etree; multistatus answers and error bodies parsed
with defusedxml (a DTD, an entity or an external reference is a CalendarProtocolError).
Pure: bytes in, elements out.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Final
from urllib.parse import urljoin

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from notification_service.delivery.calendar.addresses import shown
from notification_service.domain.errors import CalendarProtocolError

DAV: Final = "DAV:"
CALDAV: Final = "urn:ietf:params:xml:ns:caldav"
ET.register_namespace("D", DAV)
ET.register_namespace("C", CALDAV)

NO_UID_CONFLICT: Final = f"{{{CALDAV}}}no-uid-conflict"


def dav_tag(name: str) -> str:
    """`name` in the DAV: namespace, as ElementTree spells it."""
    return f"{{{DAV}}}{name}"


def caldav_tag(name: str) -> str:
    """`name` in the CalDAV namespace, as ElementTree spells it."""
    return f"{{{CALDAV}}}{name}"


def parse_xml(body: bytes, url: str) -> ET.Element:
    """defusedxml: a DTD, an entity or an external reference is a protocol error."""
    try:
        root: ET.Element = SafeET.fromstring(
            body, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as error:
        raise CalendarProtocolError(f"unsafe XML from {shown(url)}: {error!r}") from None
    except ET.ParseError as error:
        raise CalendarProtocolError(f"malformed XML from {shown(url)}: {error}") from None
    return root


def _xml(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def propfind_body(*props: str) -> bytes:
    root = ET.Element(dav_tag("propfind"))
    prop = ET.SubElement(root, dav_tag("prop"))
    for name in props:
        ET.SubElement(prop, name)
    return _xml(root)


def uid_query_body(uid: str) -> bytes:
    root = ET.Element(caldav_tag("calendar-query"))
    prop = ET.SubElement(root, dav_tag("prop"))
    ET.SubElement(prop, dav_tag("getetag"))
    ET.SubElement(prop, caldav_tag("calendar-data"))
    calendar = ET.SubElement(ET.SubElement(root, caldav_tag("filter")), caldav_tag("comp-filter"))
    calendar.set("name", "VCALENDAR")
    event = ET.SubElement(calendar, caldav_tag("comp-filter"))
    event.set("name", "VEVENT")
    uid_filter = ET.SubElement(event, caldav_tag("prop-filter"))
    uid_filter.set("name", "UID")
    match = ET.SubElement(uid_filter, caldav_tag("text-match"))
    match.set("collation", "i;octet")
    match.text = uid
    return _xml(root)


def busy_query_body(start: str, end: str, *, expand: bool) -> bytes:
    """A calendar-query for the VEVENTs overlapping [start, end) (RFC 4791 section 7.8;
    times as iCalendar UTC, 20260105T100000Z), with their whole calendar data, and
    recurrences expanded into instances within the range when `expand`. Not a partial
    retrieval (comp/prop inside calendar-data): Xandikos 0.4 answers it with 404 for
    every object, and Radicale 3.9 ignores it."""
    root = ET.Element(caldav_tag("calendar-query"))
    data = ET.SubElement(ET.SubElement(root, dav_tag("prop")), caldav_tag("calendar-data"))
    if expand:
        ET.SubElement(data, caldav_tag("expand"), {"start": start, "end": end})
    calendar = ET.SubElement(ET.SubElement(root, caldav_tag("filter")), caldav_tag("comp-filter"))
    calendar.set("name", "VCALENDAR")
    event = ET.SubElement(calendar, caldav_tag("comp-filter"))
    event.set("name", "VEVENT")
    ET.SubElement(event, caldav_tag("time-range"), {"start": start, "end": end})
    return _xml(root)


def sync_collection_body(sync_token: str) -> bytes:
    """A sync-collection REPORT (RFC 6578 section 3.2): what changed in the collection
    since `sync_token`, its members only (level 1), each with its ETag and data (whose
    UID says whether it is a copy of ours)."""
    root = ET.Element(dav_tag("sync-collection"))
    ET.SubElement(root, dav_tag("sync-token")).text = sync_token
    ET.SubElement(root, dav_tag("sync-level")).text = "1"
    prop = ET.SubElement(root, dav_tag("prop"))
    ET.SubElement(prop, dav_tag("getetag"))
    ET.SubElement(prop, caldav_tag("calendar-data"))
    return _xml(root)


def multiget_body(paths: list[str]) -> bytes:
    """A calendar-multiget (RFC 4791 section 7.9): these members' ETags and data."""
    root = ET.Element(caldav_tag("calendar-multiget"))
    prop = ET.SubElement(root, dav_tag("prop"))
    ET.SubElement(prop, dav_tag("getetag"))
    ET.SubElement(prop, caldav_tag("calendar-data"))
    for path in paths:
        ET.SubElement(root, dav_tag("href")).text = path
    return _xml(root)


@dataclass(frozen=True)
class Resource:
    """One response of a multistatus: its absolute URL and its found (2xx) properties."""

    url: str
    props: dict[str, ET.Element]


def parse_multistatus(body: bytes, base_url: str) -> list[Resource]:
    root = parse_xml(body, base_url)
    if root.tag != dav_tag("multistatus"):
        raise CalendarProtocolError(f"expected a multistatus from {shown(base_url)}")
    resources = []
    for response in root.findall(dav_tag("response")):
        href = (response.findtext(dav_tag("href")) or "").strip()
        if not href:
            continue
        props: dict[str, ET.Element] = {}
        for propstat in response.findall(dav_tag("propstat")):
            status = propstat.findtext(dav_tag("status")) or ""
            if " 2" not in status:
                continue
            for prop in propstat.findall(dav_tag("prop")):
                for child in prop:
                    props[child.tag] = child
        resources.append(Resource(urljoin(base_url, href), props))
    return resources


def href_in(prop: ET.Element | None, base_url: str) -> str | None:
    if prop is None:
        return None
    href = (prop.findtext(dav_tag("href")) or "").strip()
    return urljoin(base_url, href) if href else None


def element_text(element: ET.Element | None) -> str | None:
    """An element's stripped text, or None (an Element with no children is falsy: never
    test one with `if element`)."""
    if element is None:
        return None
    return (element.text or "").strip() or None


def names_no_uid_conflict(body: bytes, url: str) -> bool:
    """Whether an error body (RFC 4918 DAV:error) names the CalDAV `no-uid-conflict`
    precondition; a body that is not XML does not (any body may come with a 412)."""
    if not body.strip():
        return False
    try:
        root: ET.Element = SafeET.fromstring(body, forbid_dtd=True)
    except DefusedXmlException as error:
        raise CalendarProtocolError(f"unsafe XML from {shown(url)}: {error!r}") from None
    except ET.ParseError:
        return False  # a 412 for a stale ETag may come with any body
    return root.tag == dav_tag("error") and root.find(NO_UID_CONFLICT) is not None
