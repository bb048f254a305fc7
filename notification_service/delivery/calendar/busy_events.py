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
2. icalendar reads the values of what is left (dates, date-times, durations, periods),
   one VEVENT at a time.

What reading may cost is bounded before icalendar sees anything: icalendar spends about
10 microseconds of CPU on every value, parameter and content line, and nothing stops it
once called. So the filter counts as it goes and stops there:
- past MAX_DATES RDATE and EXDATE values the answer is refused (one RDATE line of
  460,000 values took 5 s of CPU and 300 MB to read);
- an object with a VEVENT of more than MAX_PROPERTIES other kept lines, or of more than
  MAX_PARAMETERS parameter values on them, is unreadable (400,000 STATUS lines in one
  event took 6 s, as did 20,000 events of 190 values in one parameter each);
- an RRULE is kept as a fixed one (only its presence is read; a rule of a million
  BYMONTHDAY values took icalendar 4 s per 2 MB).
Each event is then handed to icalendar alone, and a caller's `checkpoint` runs before
each object and each event: it raises to stop the work (busy.py: a CPU budget, and a
read whose caller gave up). The instances an object overrides are gathered once, by UID
(10,000 masters and 10,000 overridden instances in one object took 6 to 15 s when each
master looked through every instance).

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
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any, Final

from icalendar import Event
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from notification_service.domain.busy import CalendarBusy, Interval
from notification_service.domain.errors import CalendarProtocolError

# Bounds on one answer (its body is capped too: busy.py). Beyond them the answer is
# refused rather than read in part: a part in the server's order is no part of the range.
# RDATE and EXDATE values come a few to an event where they come at all. Within the
# other two bounds MAX_OCCURRENCES cannot be passed (an event counts once, and once more
# for each RDATE); it stays as the last guard.
MAX_EVENTS: Final = 20_000
MAX_DATES: Final = 20_000
MAX_OCCURRENCES: Final = 100_000
# Bounds on one object: past them it is unreadable (skipped and counted). A sound VEVENT
# has each KEPT property but RDATE and EXDATE at most once (seven of them, DTEND and
# DURATION being exclusive), and TZID and VALUE, one value each, are the only parameters
# read. MAX_PARAMETERS counts parameter values over those lines of a VEVENT, and on one
# RDATE or EXDATE line (whose parameter values count as dates too).
MAX_DEPTH: Final = 8
MAX_TZID: Final = 128
MAX_PROPERTIES: Final = 8
MAX_PARAMETERS: Final = 8

KEPT: Final = frozenset(
    {"UID", "DTSTART", "DTEND", "DURATION", "TRANSP", "STATUS"}
    | {"RECURRENCE-ID", "RRULE", "RDATE", "EXDATE"}
)
_DATES: Final = frozenset({"RDATE", "EXDATE"})
# Only whether an event has an RRULE is read (it is not expanded here): any is kept as
# this one.
_ANY_RULE: Final = "RRULE:FREQ=YEARLY"
_EVENT: Final = ["VCALENDAR", "VEVENT"]

# RFC 5545 section 3.1: a line break followed by one space or tab continues the line.
# Servers write CRLF; a bare LF or CR is taken as a line break too.
_FOLD = re.compile(r"(?:\r\n|\n|\r)[ \t]")
_BREAK = re.compile(r"\r\n|\n|\r")
_NAME = re.compile(r"[A-Za-z0-9-]+")
# One parameter: `;name=value[,value...]`, a value quoted or free of `";:,`. Linear: no
# two quantifiers compete for the same characters.
_PARAMETER = re.compile(r';([A-Za-z0-9-]+)=((?:"[^"]*"|[^";:,]*)(?:,(?:"[^"]*"|[^";:,]*))*)')

# Called before each object and each event is read; raises to stop the reading.
Checkpoint = Callable[[], None]


def _unbounded() -> None:
    """The checkpoint of a caller that bounds nothing."""


def busy_in(
    calendar_data: Iterable[str | None],
    start: datetime,
    end: datetime,
    own_uid_domain: str,
    checkpoint: Checkpoint = _unbounded,
) -> CalendarBusy:
    """The occurrences overlapping [start, end) in these calendar objects (None: an
    object the server sent no data for). Raises CalendarProtocolError past the bounds,
    and whatever `checkpoint` raises (it is called before each object and each event)."""
    own = "@" + own_uid_domain.lower()
    occurrences: list[Interval] = []
    unreadable = unexpanded = events = dates = 0
    for text in calendar_data:
        checkpoint()
        try:
            kept, used = _filtered(text or "", MAX_DATES - dates)
        except ValueError:
            unreadable += 1
            continue
        dates += used
        events += len(kept)
        if events > MAX_EVENTS:
            raise CalendarProtocolError(f"more than {MAX_EVENTS} events in the answer")
        if not kept:
            unreadable += text is None or not text.strip()
            continue
        parsed = _parsed(kept, checkpoint)
        if parsed is None:
            unreadable += 1
            continue
        found = _Object(parsed, own, checkpoint)
        for interval in found.occurrences():
            if interval.start < end and interval.end > start:
                occurrences.append(interval)
                if len(occurrences) > MAX_OCCURRENCES:
                    raise CalendarProtocolError(f"more than {MAX_OCCURRENCES} busy occurrences")
        unreadable += found.unreadable
        unexpanded += found.unexpanded
    return CalendarBusy(tuple(occurrences), unreadable=unreadable, unexpanded=unexpanded)


def _parsed(events: list[str], checkpoint: Checkpoint) -> list[Any] | None:
    """The VEVENTs of one object read by icalendar, one at a time; None when one fails
    (the object is then unreadable, as a whole)."""
    parsed = []
    for text in events:
        checkpoint()
        try:
            parsed.append(Event.from_ical(text))
        except Exception:  # icalendar on hostile values raises ValueError and friends
            return None
    return parsed


def vevents_only(text: str) -> tuple[str, int]:
    """A VCALENDAR holding only the VEVENTs of `text` and only their KEPT properties
    (TZIDs rewritten or dropped), and how many VEVENTs; ValueError for a text whose
    components do not nest or that passes an object's bounds, CalendarProtocolError for
    one of more than MAX_DATES RDATE and EXDATE values."""
    events, _ = _filtered(text, MAX_DATES)
    return "BEGIN:VCALENDAR\r\n" + "".join(events) + "END:VCALENDAR\r\n", len(events)


def _filtered(text: str, dates_left: int) -> tuple[list[str], int]:
    """The VEVENTs of `text`, each as the text of its KEPT lines, and how many RDATE and
    EXDATE values they hold: vevents_only, refused as soon as the values pass
    `dates_left` (the answer's MAX_DATES less what its other objects held)."""
    events: list[str] = []
    lines: list[str] = []
    stack: list[str] = []
    dates = properties = parameters = 0
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
                    lines = ["BEGIN:VEVENT"]
                    properties = parameters = 0
                continue
            if not stack or stack[-1] != component:
                raise ValueError("END without its BEGIN")
            if stack == _EVENT:
                lines.append("END:VEVENT\r\n")
                events.append("\r\n".join(lines))
            stack.pop()
            continue
        if key not in KEPT or stack != _EVENT:
            continue
        if key in _DATES:
            kept = _property(key, line, name.end(), MAX_PARAMETERS)
            if kept is None:
                continue
            rebuilt, parameter_values, values = kept
            dates += parameter_values + values
            if dates > dates_left:
                raise CalendarProtocolError(
                    f"more than {MAX_DATES} RDATE and EXDATE values in the answer"
                )
        else:
            properties += 1
            if properties > MAX_PROPERTIES:
                raise ValueError("an event with too many properties")
            kept = _property(key, line, name.end(), MAX_PARAMETERS - parameters)
            if kept is None:
                continue
            rebuilt, parameter_values, _ = kept
            parameters += parameter_values
            if key == "RRULE":
                rebuilt = _ANY_RULE
        lines.append(rebuilt)
    if stack:
        raise ValueError("a component without its END")
    return events, dates


def _property(key: str, line: str, at: int, most: int) -> tuple[str, int, int] | None:
    """The content line rebuilt from its name, parameters and value, with a TZID kept
    only as a known zone's IANA name, and how many values its parameters and its value
    hold (comma-separated); None for a line that is not one, ValueError for one of more
    than `most` parameter values."""
    parameters: list[str] = []
    count = 0
    while line.startswith(";", at):
        match = _PARAMETER.match(line, at)
        if match is None:
            return None
        count += match.group(2).count(",") + 1  # a quoted comma too: refused sooner
        if count > most:
            raise ValueError("a line with too many parameter values")
        at = match.end()
        if match.group(1).upper() != "TZID":
            parameters.append(f"{match.group(1)}={match.group(2)}")
            continue
        zone = zone_key(match.group(2))
        if zone is not None:
            parameters.append(f"TZID={zone}")
    if not line.startswith(":", at):
        return None
    return ";".join([key, *parameters]) + line[at:], count, line.count(",", at) + 1


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

    def __init__(self, events: list[Any], own_suffix: str, checkpoint: Checkpoint) -> None:
        self._events = events
        self._own = own_suffix
        self._checkpoint = checkpoint
        self.unreadable = 0
        self.unexpanded = 0

    def occurrences(self) -> Iterator[Interval]:
        """Lazily, one event's occurrences at a time (an event that fails yields none)."""
        overridden: dict[str, set[datetime]] = {}
        for event in self._events:
            # An instance that cannot be read is counted below, when it is read itself.
            with contextlib.suppress(Exception):
                if "RECURRENCE-ID" in event:
                    at = _utc(event.decoded("RECURRENCE-ID"))
                    overridden.setdefault(str(event["UID"]), set()).add(at)
        for event in self._events:
            self._checkpoint()
            try:
                found = list(self._held(event, overridden))
            except Exception:  # icalendar on hostile values raises ValueError and friends
                self.unreadable += 1
                continue
            yield from found

    def _held(self, event: Any, overridden: dict[str, set[datetime]]) -> Iterator[Interval]:
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
        skipped |= overridden.get(uid, set())
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
