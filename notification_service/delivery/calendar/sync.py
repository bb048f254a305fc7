"""What changed in a calendar since its last busy read (RFC 6578 sync-collection), so
that a calendar nobody touched costs one small REPORT instead of months of events.

- `current_token`: the collection's DAV:sync-token (PROPFIND, depth 0), asked before a
  full read, so that a change made during that read shows at the next one; "" when the
  server offers none, or fails in any way (the full read then meets the failure).
- `changes_since`: the sync-collection REPORT since a token: the new token, and whether
  any member changed other than the objects this service writes (named as
  objects.href_for names them: our sessions never count as busy, so their writes need
  no read). None when the server will not say (an expired token is a 403 or 409 with
  DAV:valid-sync-token, an older server answers 400, 405 or 501 Not Implemented; an
  answer we cannot read): the caller reads everything. A refusal of the credentials
  (401) or a temporary failure (408, 429, other 5xx) is raised, as the full read would
  meet it too.

A token is the server's text, sent back to it in XML: kept only when usable
(domain/busy.py's usable_sync_token). The answer is parsed on a busy worker's thread,
like a full read's (busy.py).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urljoin

from notification_service.delivery.calendar.busy_events import Checkpoint
from notification_service.delivery.calendar.caldav_xml import (
    dav_tag,
    parse_xml,
    sync_collection_body,
)
from notification_service.delivery.calendar.connection import CalDAVConnection
from notification_service.delivery.calendar.failures import failure
from notification_service.delivery.calendar.objects import named_as_ours
from notification_service.delivery.calendar.safe_http import HttpResponse
from notification_service.domain.busy import usable_sync_token
from notification_service.domain.errors import CalendarError, CalendarProtocolError


@dataclass(frozen=True)
class Changes:
    """A sync-collection's answer: the collection's token now, and whether a member other
    than ours was added, changed or removed since the token asked with."""

    token: str
    others_changed: bool


async def current_token(connection: CalDAVConnection, collection_url: str) -> str:
    """The collection's sync token now, or "": the token only spares later reads, so no
    failure here fails a read (the full read that follows meets it, if it lasts)."""
    try:
        found = await connection.propfind(collection_url, "0", dav_tag("sync-token"))
    except CalendarError:
        return ""
    for resource in found or ():
        prop = resource.props.get(dav_tag("sync-token"))
        if prop is not None:
            return usable_sync_token(prop.text)
    return ""


async def changes_since(
    connection: CalDAVConnection,
    collection_url: str,
    sync_token: str,
    run: Callable[[Callable[[Checkpoint], Changes | None]], Awaitable[Changes | None]],
) -> Changes | None:
    """What changed since `sync_token`, read by `run` (a busy worker), or None when the
    server will not say. A server that answered the token before and now fails
    (401, 408, 429, 5xx) is raised: the full read would only meet it again."""
    try:
        response = await connection.send(
            "REPORT",
            collection_url,
            body=sync_collection_body(sync_token),
            headers={"Depth": "0", "Content-Type": "application/xml; charset=utf-8"},
        )
        status = response.status
        if status == 401 or status in (408, 429) or (status >= 500 and status != 501):
            raise failure(response, "REPORT sync-collection")
        if response.status != 207:
            return None
        return await run(functools.partial(read_changes, response, collection_url))
    except CalendarProtocolError:  # too large, unreadable or too costly to read: read all
        return None


def read_changes(
    response: HttpResponse, collection_url: str, checkpoint: Checkpoint
) -> Changes | None:
    """The 207 answer read (on a busy worker's thread); None when it holds no usable
    token or is not a multistatus. Stops at the first member not ours."""
    checkpoint()
    root = parse_xml(response.body, response.url)
    if root.tag != dav_tag("multistatus"):
        return None
    token = usable_sync_token(root.findtext(dav_tag("sync-token")))
    if not token:
        return None
    collection = collection_url.rstrip("/")
    for index, member in enumerate(root.iterfind(dav_tag("response"))):
        if index % 1000 == 0:
            checkpoint()
        href = (member.findtext(dav_tag("href")) or "").strip()
        url = urljoin(response.url, href)
        if not href or url.rstrip("/") == collection:
            # The collection itself: a server that truncated the answer says so here
            # (507, RFC 6578 section 3.6), and the rest is unknown.
            status = member.findtext(dav_tag("status")) or ""
            if " 507" in status:
                return Changes(token, others_changed=True)
            continue
        if not named_as_ours(collection_url, url):
            return Changes(token, others_changed=True)
    return Changes(token, others_changed=False)
