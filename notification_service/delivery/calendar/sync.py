"""What changed in a calendar since its last busy read (RFC 6578 sync-collection), so
that a calendar nobody touched costs one small REPORT instead of months of events.

- `current_token`: the collection's DAV:sync-token (PROPFIND, depth 0), asked before a
  full read, so that a change made during that read shows at the next one. The token
  only spares later reads, so it never fails or slows the read it comes with: "" when
  the server offers none, fails in any way, answers more than MAX_TOKEN_ANSWER bytes
  (parsed on the event loop, so kept small) or takes longer than TOKEN_TIMEOUT_S.
- `changes_since`: the sync-collection REPORT since a token: the new token, and whether
  the calendar changed other than by the copies this service writes (objects.py
  is_our_copy: by UID and href, from the data sent back with the answer, or fetched
  with one calendar-multiget for at most MAX_TO_CONFIRM members named like ours when
  the server leaves the data out, as Xandikos 0.4 does; our sessions never count as
  busy, so their writes need no read). A removal is a change: whose object it was can
  no longer be told. None when the server will not say (an expired token is a 403 or
  409 with DAV:valid-sync-token; an older server answers 400, 405 or 501; some answer
  500 to a report they lack; an answer we cannot read): the caller reads everything.
  Only a refusal of the credentials (401) and an explicit "come back later" (429 or 503
  with Retry-After) are raised, as the full read would meet them too.

A token is the server's text, sent back to it in XML: kept only when usable
(domain/busy.py's usable_sync_token). The REPORT's answer is parsed on a busy worker's
thread, like a full read's (busy.py); any failure of the multiget is a change (but a
pool of busy workers all at work is the temporary failure it is for a full read).
"""

from __future__ import annotations

import asyncio
import functools
import re
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Protocol, TypeVar
from urllib.parse import unquote, urljoin, urlsplit

from notification_service.delivery.calendar.busy_events import Checkpoint
from notification_service.delivery.calendar.caldav_xml import (
    caldav_tag,
    dav_tag,
    element_text,
    multiget_body,
    parse_multistatus,
    parse_xml,
    propfind_body,
    sync_collection_body,
)
from notification_service.delivery.calendar.connection import CalDAVConnection
from notification_service.delivery.calendar.failures import failure
from notification_service.delivery.calendar.objects import is_our_copy, resource_key
from notification_service.delivery.calendar.safe_http import HttpResponse
from notification_service.domain.busy import usable_sync_token
from notification_service.domain.errors import (
    CalendarError,
    CalendarProtocolError,
    CalendarRetryLater,
)

MAX_TOKEN_ANSWER: Final = 64 * 1024
TOKEN_TIMEOUT_S: Final = 3.0
# Members named as ours to fetch (one calendar-multiget) when the sync answer left out
# their data; more than this is read as a change (a full read).
MAX_TO_CONFIRM: Final = 50
_OUR_NAME = re.compile(r"[0-9a-f]{40}\.ics")


T = TypeVar("T")


class RunOnWorker(Protocol):
    """busy.WORKERS.run: `work` on a busy worker's thread, under its CPU budget."""

    def __call__(self, work: Callable[[Checkpoint], T], /) -> Awaitable[T]: ...


@dataclass(frozen=True)
class Changes:
    """A sync-collection's answer: the collection's token now, whether anything but
    our own copies was added, changed or removed since the token asked with, and the
    members named as ours whose data the answer left out (Xandikos 0.4 sends no
    calendar-data in a sync report): ours only once their data says so."""

    token: str
    others_changed: bool
    to_confirm: tuple[str, ...] = ()


async def current_token(connection: CalDAVConnection, collection_url: str) -> str:
    """The collection's sync token now, or "" (see the module's docstring)."""
    try:
        async with asyncio.timeout(TOKEN_TIMEOUT_S):
            response = await connection.send_xml(
                "PROPFIND", collection_url, propfind_body(dav_tag("sync-token")), "0"
            )
        if response.status != 207 or len(response.body) > MAX_TOKEN_ANSWER:
            return ""
        found = parse_multistatus(response.body, response.url)
    except (CalendarError, TimeoutError):
        return ""
    for resource in found:
        prop = resource.props.get(dav_tag("sync-token"))
        if prop is not None:
            return usable_sync_token(prop.text)
    return ""


async def changes_since(
    connection: CalDAVConnection,
    collection_url: str,
    sync_token: str,
    own_uid_domain: str,
    run: RunOnWorker,
) -> Changes | None:
    """What changed since `sync_token`, read by `run` (a busy worker), or None when the
    server will not say; raises as the module's docstring says."""
    try:
        response = await connection.send_xml(
            "REPORT", collection_url, sync_collection_body(sync_token), "0"
        )
        if response.status != 207:
            refused = failure(response, "REPORT sync-collection")
            if response.status == 401 or isinstance(refused, CalendarRetryLater):
                raise refused
            return None
        read = functools.partial(read_changes, response, collection_url, own_uid_domain)
        changes = await run(read)
        if changes is None or changes.others_changed or not changes.to_confirm:
            return changes
        confirmed = await _confirm_ours(
            connection, collection_url, changes.to_confirm, own_uid_domain, run
        )
        return Changes(changes.token, others_changed=not confirmed)
    except CalendarProtocolError:  # too large, unreadable or too costly to read: read all
        return None


async def _confirm_ours(
    connection: CalDAVConnection,
    collection_url: str,
    urls: tuple[str, ...],
    own_uid_domain: str,
    run: RunOnWorker,
) -> bool:
    """Whether every one of `urls` holds a copy of ours, by their data (one
    calendar-multiget, RFC 4791 section 7.9); False for any failure."""
    if len(urls) > MAX_TO_CONFIRM:
        return False
    try:
        paths = [urlsplit(url).path for url in urls]
        response = await connection.send_xml("REPORT", collection_url, multiget_body(paths))
    except CalendarError:
        return False
    if response.status != 207:
        return False

    def all_ours(checkpoint: Checkpoint) -> bool:
        checkpoint()
        data = {
            resource_key(resource.url): element_text(
                resource.props.get(caldav_tag("calendar-data"))
            )
            for resource in parse_multistatus(response.body, response.url)
        }
        for url in urls:
            checkpoint()
            text = data.get(resource_key(url))
            if text is None or not is_our_copy(collection_url, url, text, own_uid_domain):
                return False
        return True

    try:
        return await run(all_ours)
    except CalendarProtocolError:  # unreadable, or too costly to read
        return False


def read_changes(
    response: HttpResponse, collection_url: str, own_uid_domain: str, checkpoint: Checkpoint
) -> Changes | None:
    """The 207 answer read (on a busy worker's thread); None when it holds no usable
    token or is not a multistatus. Stops at the first change not ours."""
    checkpoint()
    root = parse_xml(response.body, response.url)
    if root.tag != dav_tag("multistatus"):
        return None
    token = usable_sync_token(root.findtext(dav_tag("sync-token")))
    if not token:
        return None
    collection = collection_url.rstrip("/")
    to_confirm: list[str] = []
    for member in root.iterfind(dav_tag("response")):
        checkpoint()
        hrefs = member.findall(dav_tag("href"))
        if len(hrefs) != 1:  # several members under one status: whose, unknown
            return Changes(token, others_changed=True)
        url = urljoin(response.url, (hrefs[0].text or "").strip())
        status = member.findtext(dav_tag("status")) or ""
        if url.rstrip("/") == collection:
            # The collection itself: a server that truncated the answer says so here
            # (507, RFC 6578 section 3.6), and the rest is unknown.
            if " 507" in status:
                return Changes(token, others_changed=True)
            continue
        if status:  # a member's own status: removed (404), or worse
            return Changes(token, others_changed=True)
        if not _named_like_ours(collection_url, url):
            return Changes(token, others_changed=True)
        data = element_text(_found_prop(member, caldav_tag("calendar-data")))
        if data is None:
            to_confirm.append(url)
        elif not is_our_copy(collection_url, url, data, own_uid_domain):
            return Changes(token, others_changed=True)
    return Changes(token, others_changed=False, to_confirm=tuple(to_confirm))


def _named_like_ours(collection_url: str, url: str) -> bool:
    """A member of the collection named as href_for names our copies: the only ones
    worth a closer look (anything else is a change at once)."""
    member, collection = urlsplit(url), urlsplit(collection_url)
    parent, _, name = unquote(member.path).rpartition("/")
    return (
        member.netloc.lower() == collection.netloc.lower()
        and parent == unquote(collection.path).rstrip("/")
        and _OUR_NAME.fullmatch(name) is not None
    )


def _found_prop(member: ET.Element, tag: str) -> ET.Element | None:
    """`tag` among the member's properties found (a 2xx propstat), or None."""
    for propstat in member.iterfind(dav_tag("propstat")):
        if " 2" not in (propstat.findtext(dav_tag("status")) or ""):
            continue
        found = propstat.find(f"{dav_tag('prop')}/{tag}")
        if found is not None:
            return found
    return None
