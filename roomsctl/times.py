"""Times and durations as people type and read them, in their own time zone."""

from __future__ import annotations

import os
import re
import zoneinfo
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from roomsctl.errors import CliError

_DURATION = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m(?:in)?)?(?:(?P<s>\d+)s)?$")


def zone(name: str | None) -> tzinfo:
    """The zone named (IANA, e.g. Europe/Berlin, or UTC); the local zone when None."""
    if name is None:
        return local_zone()
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise CliError(f"--tz {name!r} is not a time zone name like Europe/Berlin") from None


def local_zone() -> tzinfo:
    """The machine's zone: TZ, else /etc/localtime, else the current UTC offset."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    try:
        target = str(Path("/etc/localtime").resolve())
    except OSError:
        target = ""
    _, marker, key = target.partition("/zoneinfo/")
    if marker and key:
        try:
            return zoneinfo.ZoneInfo(key)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    return datetime.now().astimezone().tzinfo or UTC


def example_day() -> str:
    """Tomorrow's date, for examples a person may copy: a fixed date goes stale, and
    the service refuses a start in the past or beyond MAX_ADVANCE_DAYS."""
    return (datetime.now(UTC) + timedelta(days=1)).date().isoformat()


def parse_time(text: str, tz: tzinfo, option: str) -> datetime:
    """ISO 8601; with an offset (or Z) as given, without one in `tz`."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        day = example_day()
        raise CliError(
            f"{option} {text!r} is not an ISO 8601 time like {day}T18:00 or {day}T17:00:00Z"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value


def timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value.astimezone(UTC))
    return stamp


def parse_duration(text: str, option: str) -> Duration:
    """`90` (minutes), `90m`, `1h30m`, `1h`, `3600s`."""
    raw = text.strip().lower()
    if raw.isdigit():
        return Duration(seconds=int(raw) * 60)
    match = _DURATION.match(raw)
    if not raw or match is None:
        raise CliError(f"{option} {text!r} is not a duration like 90m, 1h30m or 45 (minutes)")
    hours, mins, secs = (int(match.group(g) or 0) for g in ("h", "m", "s"))
    return Duration(seconds=hours * 3600 + mins * 60 + secs)


def local(stamp: Timestamp, tz: tzinfo) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC).astimezone(tz)


def show(stamp: Timestamp, tz: tzinfo) -> str:
    """`2030-01-31 18:00 CET`; seconds only when there are some."""
    value = local(stamp, tz)
    pattern = "%Y-%m-%d %H:%M:%S %Z" if value.second else "%Y-%m-%d %H:%M %Z"
    return value.strftime(pattern)


def show_span(start: Timestamp, end: Timestamp, tz: tzinfo) -> str:
    """`2030-01-31 18:00-19:30 CET (90 min)`; the end's date when it differs."""
    first, last = local(start, tz), local(end, tz)
    minutes = round((last - first) / timedelta(minutes=1))
    if first.date() == last.date() and first.tzname() == last.tzname():
        tail = last.strftime("%H:%M:%S" if last.second else "%H:%M")
        return f"{show(start, tz).rsplit(' ', 1)[0]}-{tail} {first.tzname()} ({minutes} min)"
    return f"{show(start, tz)} - {show(end, tz)} ({minutes} min)"
