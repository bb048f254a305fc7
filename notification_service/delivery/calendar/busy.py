"""Reading busy time: one calendar-query REPORT over the range (RFC 4791 section 7.8),
recurrences expanded by the server; busy_events.py reads what it answers. With the sync
token of the last read, a sync-collection REPORT first (sync.py): when nothing but our
own objects changed, that is the whole read.

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
answers'. Reading it, the multistatus XML included, is CPU work on a hostile body, done
away from the event loop on BusyWorkers' few threads of its own (not the loop's default
executor, which getaddrinfo needs for every request):

- never queued onto: when every thread is at work a read is a temporary failure at once,
  with a retry time a little later (checked before the REPORT is sent too, so that no
  body is fetched to be dropped). A queue would only grow while hostile answers hold
  the threads, and every read behind them would time out anyway;
- bounded: a read that has spent MAX_READ_CPU_S of its thread's CPU is given up with a
  PERMANENT_FAILURE ("calendar too expensive to read"; counted in CPU, not wall time,
  so that a loaded machine does not make a sound calendar fail), and a read whose caller
  stopped waiting (CALDAV_TIMEOUT_S) stops too, where the busy_events checkpoint comes
  next (before each object and each event), freeing its thread.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Final, TypeVar

from notification_service.delivery.calendar import sync
from notification_service.delivery.calendar.addresses import shown
from notification_service.delivery.calendar.busy_events import Checkpoint, busy_in
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
from notification_service.domain.errors import (
    CalendarProtocolError,
    CalendarRetryLater,
    CalendarTimeout,
)

T = TypeVar("T")

# Not lowered with the parse moved off the loop: an 8 MiB multistatus costs about 0.6 s
# of a worker's CPU to parse (measured), well inside MAX_READ_CPU_S, while a year of a
# busy person's expanded instances, each with its description and attendee list, comes
# to megabytes; a lower cap would refuse sound calendars for good. The work the body's
# contents can cause is bounded by busy_events' caps and MAX_READ_CPU_S, not its size.
MAX_BUSY_BODY: Final = 8 * 1024 * 1024
MAX_OBJECTS: Final = 20_000
# Two threads: this service has few cores to share, and each read gets one whole.
BUSY_WORKERS: Final = 2
# Measured here: a sound answer at the bounds (20,000 events) takes about 2.5 s of CPU,
# the costliest hostile one within busy_events' caps about 5 s.
MAX_READ_CPU_S: Final = 5.0
RETRY_WHEN_ALL_AT_WORK: Final = timedelta(seconds=15)
TOO_EXPENSIVE: Final = "calendar too expensive to read"


class BusyWorkers:
    """`count` threads that read busy answers, each under a CPU budget of `cpu_s`."""

    def __init__(self, count: int, cpu_s: float) -> None:
        self._count = count
        self._cpu_s = cpu_s
        self._pool = ThreadPoolExecutor(max_workers=count, thread_name_prefix="caldav-busy")
        self._lock = threading.Lock()
        self._at_work = 0

    @property
    def at_work(self) -> int:
        """How many threads are reading (or have a read handed to them)."""
        return self._at_work

    def refuse_when_all_at_work(self) -> None:
        """Raises CalendarRetryLater when every thread is at work."""
        if self._at_work >= self._count:
            raise self._all_at_work()

    async def run(self, work: Callable[[Checkpoint], T]) -> T:
        """`work` on one of the threads, with the checkpoint busy_events calls; raises
        CalendarRetryLater at once when every thread is at work. A thread counts as at
        work until `work` returns, whether or not the caller still waits for it."""
        with self._lock:
            if self._at_work >= self._count:
                raise self._all_at_work()
            self._at_work += 1
        given_up = threading.Event()
        try:
            future = self._pool.submit(self._bounded, work, given_up)
        except BaseException:
            self._done()
            raise
        # Called once the work ends, or once it is cancelled before it began.
        future.add_done_callback(self._done)
        try:
            return await asyncio.wrap_future(future)
        finally:
            given_up.set()  # a read cancelled (its deadline passed) stops at a checkpoint

    def _done(self, _: object = None) -> None:
        with self._lock:
            self._at_work -= 1

    def _bounded(self, work: Callable[[Checkpoint], T], given_up: threading.Event) -> T:
        until = time.thread_time() + self._cpu_s

        def checkpoint() -> None:
            if given_up.is_set():
                raise CalendarTimeout("the busy read was given up by its caller")
            if time.thread_time() >= until:
                raise CalendarProtocolError(f"{TOO_EXPENSIVE}: more than {self._cpu_s:g}s of CPU")

        return work(checkpoint)

    def _all_at_work(self) -> CalendarRetryLater:
        at = datetime.now(UTC) + RETRY_WHEN_ALL_AT_WORK
        return CalendarRetryLater(
            f"all {self._count} busy-time readers are at work; retry at {at.isoformat()}",
            retry_at=at,
        )


WORKERS = BusyWorkers(BUSY_WORKERS, MAX_READ_CPU_S)


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
    body = busy_query_body(_stamp(start), _stamp(end), expand=expand)
    return await connection.send_xml("REPORT", collection_url, body, "1")


async def read_busy(
    connection: CalDAVConnection,
    collection_url: str,
    start: datetime,
    end: datetime,
    own_uid_domain: str,
    sync_token: str = "",
) -> CalendarBusy:
    """The occurrences holding time in [start, end) (unmerged), and what could not be
    read, as counts; with a `sync_token`, first what changed since (sync.py), and when
    nothing but our own objects did, `unchanged` and no occurrences. Raises a
    CalendarError for a failed or unreadable answer, and CalendarRetryLater when every
    busy worker is at work."""
    WORKERS.refuse_when_all_at_work()
    changes = None
    if sync_token:
        changes = await sync.changes_since(
            connection, collection_url, sync_token, own_uid_domain, WORKERS.run
        )
        if changes is not None and not changes.others_changed:
            return CalendarBusy((), sync_token=changes.token, unchanged=True)
    if changes is not None:
        token = changes.token
    else:
        token = await sync.current_token(connection, collection_url)
    expanded = True
    response = await _query(connection, collection_url, start, end, expand=True)
    if response.status == 500:
        expanded = False
        response = await _query(connection, collection_url, start, end, expand=False)
    if response.status != 207:
        raise failure(response, "REPORT calendar-query")
    read = functools.partial(_read_answer, response, collection_url, start, end, own_uid_domain)
    busy = await WORKERS.run(read)
    return replace(busy, expanded=expanded, sync_token=token)


def _read_answer(
    response: HttpResponse,
    collection_url: str,
    start: datetime,
    end: datetime,
    own_uid_domain: str,
    checkpoint: Checkpoint,
) -> CalendarBusy:
    """The multistatus read into busy time (on a BusyWorkers thread)."""
    checkpoint()
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
    return busy_in(data, start, end, own_uid_domain, checkpoint)
