"""Busy time out of the calendar data a server answered to a calendar-query: hostile
input, read in two steps so that neither sees more than it needs. Pure: text in,
intervals out.

1. A line filter of our own: the text is unfolded into content lines, and of each
   VEVENT directly inside a VCALENDAR only the properties that say when it is and
   whether it holds time are kept (KEPT). Titles, descriptions, attendees, alarms and
   every VTIMEZONE are dropped before any parser sees them, so they reach no object, no
   exception text and no log. A TZID is kept only when it names a zone this machine
   knows (IANA, a Windows zone name, a "globally unique" /vendor/Area/City form),
   rewritten to its IANA name; any other TZID is dropped. The VTIMEZONE a server sends
   is never evaluated: icalendar would build a zone from it with dateutil, cache it for
   the whole process under the name the server chose, and a VTIMEZONE whose rules recur
   every two minutes since 1970 makes one UTC conversion take minutes.
2. icalendar reads the values of what is left (dates, date-times, durations, periods).

What counts (docs/notification_service.md, ReadCalendarBusy):
- An event holds time unless TRANSP:TRANSPARENT (all-day events included), STATUS:
  CANCELLED, or its UID ends with "@" + own_uid_domain (our own sessions' copies;
  compared without case, as domain names are).
- Floating times, and times in a zone not known here, are read as UTC; all-day (DATE)
  events hold their dates from midnight UTC to midnight UTC. The service knows no zone
  of the person's, and the scheduling service compares instants.
- No DTEND: DTSTART + DURATION; neither: one day for a DATE, nothing for a date-time
  (RFC 5545 section 3.6.1).
- Recurrences are expanded by the server (the query asks it to). A master that comes
  back with an RRULE or RDATE anyway (a server that ignored expand; RDATEs, which
  neither Radicale 3.9 nor Xandikos 0.4 expands) counts at its own DTSTART and at each
  RDATE, less its EXDATEs and the instances the same object overrides (RECURRENCE-ID).
  The RRULE is not expanded here: dateutil could (icalendar depends on it), but its
  iterator searches to year 9999 for a rule that never matches (FREQ=SECONDLY;BYMONTH=2;
  BYMONTHDAY=30: seconds of CPU per event), and nothing bounds it from outside.
- An object or an event that cannot be read is skipped and counted, so that one odd
  event does not stop a whole calendar's busy time; only the count is reported.
"""

from __future__ import annotations

import contextlib
import functools
import re
import zoneinfo
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any, Final

from icalendar import Calendar
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from notification_service.domain.busy import CalendarBusy, Interval
from notification_service.domain.errors import CalendarProtocolError

# Bounds on one answer (its body is capped too: busy.py). Beyond them the answer is
# refused rather than read in part: a part in the server's order is no part of the range.
MAX_EVENTS: Final = 20_000
MAX_OCCURRENCES: Final = 100_000
MAX_DEPTH: Final = 8
MAX_TZID: Final = 128

KEPT: Final = frozenset(
    {"UID", "DTSTART", "DTEND", "DURATION", "TRANSP", "STATUS"}
    | {"RECURRENCE-ID", "RRULE", "RDATE", "EXDATE"}
)
_EVENT: Final = ["VCALENDAR", "VEVENT"]

# RFC 5545 section 3.1: a line break followed by one space or tab continues the line.
# Servers write CRLF; a bare LF or CR is taken as a line break too.
_FOLD = re.compile(r"(?:\r\n|\n|\r)[ \t]")
_BREAK = re.compile(r"\r\n|\n|\r")
_NAME = re.compile(r"[A-Za-z0-9-]+")
# One parameter: `;name=value[,value...]`, a value quoted or free of `";:,`. Linear: no
# two quantifiers compete for the same characters.
_PARAMETER = re.compile(r';([A-Za-z0-9-]+)=((?:"[^"]*"|[^";:,]*)(?:,(?:"[^"]*"|[^";:,]*))*)')


def busy_in(
    calendar_data: Iterable[str | None], start: datetime, end: datetime, own_uid_domain: str
) -> CalendarBusy:
    """The occurrences overlapping [start, end) in these calendar objects (None: an
    object the server sent no data for). Raises CalendarProtocolError past the bounds."""
    own = "@" + own_uid_domain.lower()
    occurrences: list[Interval] = []
    unreadable = unexpanded = events = 0
    for text in calendar_data:
        try:
            kept, count = vevents_only(text or "")
        except ValueError:
            unreadable += 1
            continue
        events += count
        if events > MAX_EVENTS:
            raise CalendarProtocolError(f"more than {MAX_EVENTS} events in the answer")
        if not count:
            unreadable += text is None or not text.strip()
            continue
        try:
            parsed = [c for c in Calendar.from_ical(kept).subcomponents if c.name == "VEVENT"]
        except Exception:  # icalendar on hostile values raises ValueError and friends
            unreadable += 1
            continue
        found = _Object(parsed, own)
        for interval in found.occurrences():
            if interval.start < end and interval.end > start:
                occurrences.append(interval)
        if len(occurrences) > MAX_OCCURRENCES:
            raise CalendarProtocolError(f"more than {MAX_OCCURRENCES} busy occurrences")
        unreadable += found.unreadable
        unexpanded += found.unexpanded
    return CalendarBusy(tuple(occurrences), unreadable=unreadable, unexpanded=unexpanded)


def vevents_only(text: str) -> tuple[str, int]:
    """A VCALENDAR holding only the VEVENTs of `text` and only their KEPT properties
    (TZIDs rewritten or dropped), and how many VEVENTs; ValueError for a text whose
    components do not nest."""
    lines = ["BEGIN:VCALENDAR"]
    stack: list[str] = []
    events = 0
    for line in _BREAK.split(_FOLD.sub("", text)):
        name = _NAME.match(line)
        if name is None:
            continue
        key = name.group().upper()
        if key in ("BEGIN", "END"):
            component = line[name.end() :].lstrip(":").strip().upper()
            if key == "BEGIN":
                stack.append(component)
                if len(stack) > MAX_DEPTH:
                    raise ValueError("components nested too deep")
                if stack == _EVENT:
                    events += 1
                    lines.append("BEGIN:VEVENT")
                continue
            if not stack or stack[-1] != component:
                raise ValueError("END without its BEGIN")
            if stack == _EVENT:
                lines.append("END:VEVENT")
            stack.pop()
            continue
        if key in KEPT and stack == _EVENT:
            kept = _property(key, line, name.end())
            if kept is not None:
                lines.append(kept)
    if stack:
        raise ValueError("a component without its END")
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n", events


def _property(key: str, line: str, at: int) -> str | None:
    """The content line rebuilt from its name, parameters and value, with a TZID kept
    only as a known zone's IANA name; None for a line that is not one."""
    parameters: list[str] = []
    while line.startswith(";", at):
        match = _PARAMETER.match(line, at)
        if match is None:
            return None
        at = match.end()
        if match.group(1).upper() != "TZID":
            parameters.append(f"{match.group(1)}={match.group(2)}")
            continue
        zone = zone_key(match.group(2))
        if zone is not None:
            parameters.append(f"TZID={zone}")
    if not line.startswith(":", at):
        return None
    return ";".join([key, *parameters]) + line[at:]


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def zone_key(tzid: str) -> str | None:
    """The IANA name of the zone a TZID names, when this machine knows it."""
    tzid = tzid.strip().strip('"').strip()
    if not tzid or len(tzid) > MAX_TZID or not tzid.isascii():
        return None
    zones = _zones()
    cleaned = tzid.strip("/")
    if cleaned in zones:
        return cleaned
    windows = WINDOWS_TO_OLSON.get(cleaned)
    if windows in zones:
        return str(windows)
    if tzid.startswith("/"):  # RFC 5545 section 3.2.19: /vendor/.../Area/City
        parts = cleaned.split("/")
        for first in range(1, len(parts)):
            candidate = "/".join(parts[first:])
            if candidate in zones:
                return candidate
    return None


class _Object:
    """The VEVENTs of one calendar object (a recurring event's master and its
    overridden instances share one): the time each holds."""

    def __init__(self, events: list[Any], own_suffix: str) -> None:
        self._events = events
        self._own = own_suffix
        self.unreadable = 0
        self.unexpanded = 0

    def occurrences(self) -> Iterator[Interval]:
        overridden = set()
        for event in self._events:
            # An instance that cannot be read is counted below, when it is read itself.
            with contextlib.suppress(Exception):
                if "RECURRENCE-ID" in event:
                    overridden.add((str(event["UID"]), _utc(event.decoded("RECURRENCE-ID"))))
        for event in self._events:
            try:
                found = list(self._held(event, overridden))
            except Exception:  # icalendar on hostile values raises ValueError and friends
                self.unreadable += 1
                continue
            yield from found

    def _held(self, event: Any, overridden: set[tuple[str, datetime]]) -> Iterator[Interval]:
        uid = str(event.get("UID", ""))
        if uid.lower().endswith(self._own) or _holds_no_time(event):
            return
        start, end = _span(event)
        recurring = "RRULE" in event or "RDATE" in event
        if "RECURRENCE-ID" in event or not recurring:
            if end > start:
                yield Interval(start, end)
            return
        # A master the server did not expand: its own occurrence and its RDATEs.
        self.unexpanded += "RRULE" in event
        skipped = {_utc(value) for value in _values(event, "EXDATE")}
        skipped |= {at for holder, at in overridden if holder == uid}
        for at, until in [(start, end), *_rdates(event, end - start)]:
            if at not in skipped and until > at:
                yield Interval(at, until)


def _holds_no_time(event: Any) -> bool:
    transparency = str(event.get("TRANSP", "")).strip().upper()
    status = str(event.get("STATUS", "")).strip().upper()
    return transparency == "TRANSPARENT" or status == "CANCELLED"


def _span(event: Any) -> tuple[datetime, datetime]:
    first = event.decoded("DTSTART")
    start = _utc(first)
    if "DTEND" in event:
        return start, _utc(event.decoded("DTEND"))
    if "DURATION" in event:
        duration = event.decoded("DURATION")
        if not isinstance(duration, timedelta):
            raise ValueError("DURATION is not a duration")
        return start, start + duration
    if isinstance(first, datetime):
        return start, start
    return start, start + timedelta(days=1)


def _rdates(event: Any, length: timedelta) -> Iterator[tuple[datetime, datetime]]:
    for value in _values(event, "RDATE"):
        if isinstance(value, tuple):  # VALUE=PERIOD: a start and an end or a duration
            at, other = _utc(value[0]), value[1]
            yield at, at + other if isinstance(other, timedelta) else _utc(other)
        else:
            at = _utc(value)
            yield at, at + length


def _values(event: Any, name: str) -> list[Any]:
    """Every value of a property that may come as several lines of several values."""
    found = event.get(name)
    if found is None:
        return []
    lists = found if isinstance(found, list) else [found]
    return [item.dt for values in lists for item in getattr(values, "dts", ())]


def _utc(value: object) -> datetime:
    if isinstance(value, datetime):
        # Only the zones zone_key let through (zoneinfo) and UTC are trusted; anything
        # else (a zone some other parse cached in icalendar) is read as floating.
        if isinstance(value.tzinfo, zoneinfo.ZoneInfo | timezone):
            return value.astimezone(UTC)
        return value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    raise ValueError("not a date or a date-time")
