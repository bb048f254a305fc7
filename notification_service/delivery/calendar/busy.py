"""Reading busy time: one calendar-query REPORT over the range (RFC 4791 section 7.8),
recurrences expanded by the server; busy_events.py reads what it answers.

What the two servers we test against do with it (tried, and held by
tests/notification_service/test_calendar_busy.py):
- Radicale 3.9 expands, and writes the instances of a recurring event in UTC. It answers
  500 to every expanding query of a collection that holds a recurring event with
  floating times, whatever the range (its expansion compares a naive and an aware
  time). On a 500 the query is asked once more without expand: such a calendar's
  recurring events then count as busy_events.py says for a server that did not expand.
- Xandikos 0.4 expands, keeping each instance's TZID.
- Neither expands an RDATE, nor finds an event by an RDATE alone.

The answer may hold months of a person's events, titles and all (neither server takes
a partial retrieval, caldav_xml.busy_query_body), so its cap is larger than other
answers'; the work of reading it runs in a worker thread, away from the event loop.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Final

from notification_service.delivery.calendar.addresses import shown
from notification_service.delivery.calendar.busy_events import busy_in
from notification_service.delivery.calendar.caldav_xml import (
    busy_query_body,
    caldav_tag,
    element_text,
    parse_multistatus,
)
from notification_service.delivery.calendar.connection import CalDAVConnection
from notification_service.delivery.calendar.failures import failure
from notification_service.delivery.calendar.safe_http import HttpResponse
from notification_service.domain.busy import CalendarBusy
from notification_service.domain.errors import CalendarProtocolError

MAX_BUSY_BODY: Final = 8 * 1024 * 1024
MAX_OBJECTS: Final = 20_000


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


async def _query(
    connection: CalDAVConnection,
    collection_url: str,
    start: datetime,
    end: datetime,
    *,
    expand: bool,
) -> HttpResponse:
    return await connection.send(
        "REPORT",
        collection_url,
        body=busy_query_body(_stamp(start), _stamp(end), expand=expand),
        headers={"Depth": "1", "Content-Type": "application/xml; charset=utf-8"},
    )


async def read_busy(
    connection: CalDAVConnection,
    collection_url: str,
    start: datetime,
    end: datetime,
    own_uid_domain: str,
) -> CalendarBusy:
    """The occurrences holding time in [start, end) (unmerged), and what could not be
    read, as counts. Raises a CalendarError for a failed or unreadable answer."""
    expanded = True
    response = await _query(connection, collection_url, start, end, expand=True)
    if response.status == 500:
        expanded = False
        response = await _query(connection, collection_url, start, end, expand=False)
    if response.status != 207:
        raise failure(response, "REPORT calendar-query")
    resources = parse_multistatus(response.body, response.url)
    if len(resources) > MAX_OBJECTS:
        raise CalendarProtocolError(
            f"more than {MAX_OBJECTS} calendar objects from {shown(response.url)}"
        )
    collection = collection_url.rstrip("/")
    data = [
        element_text(resource.props.get(caldav_tag("calendar-data")))
        for resource in resources
        if resource.url.rstrip("/") != collection
    ]
    busy = await asyncio.to_thread(busy_in, data, start, end, own_uid_domain)
    return replace(busy, expanded=expanded)
