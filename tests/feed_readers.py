"""A calendar feed as three independent parsers read it: icalendar (Python), vobject
(Python, stricter on escapes) and ical.js (Mozilla's, as Thunderbird and most web
calendars use it, run under node). Each gives the same plain values, so a test asserts
once and every reader is held to it."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import icalendar
import vobject

ROOT = Path(__file__).resolve().parent.parent
ICALJS_DIR = ROOT / ".venv" / "icaljs"
ICALJS_VERSION = "2.2.1"  # the Makefile's ICALJS_VERSION

_ICALJS_SCRIPT = """
import ICAL from "ical.js";
let input = "";
for await (const chunk of process.stdin) input += chunk;
const calendar = new ICAL.Component(ICAL.parse(input));
const events = calendar.getAllSubcomponents("vevent").map((v) => {
  const event = new ICAL.Event(v);
  return {
    uid: event.uid,
    sequence: event.sequence,
    status: v.getFirstPropertyValue("status"),
    start: event.startDate.toUnixTime(),
    end: event.endDate.toUnixTime(),
    summary: event.summary,
    description: event.description || "",
    transp: v.getFirstPropertyValue("transp"),
  };
});
const refresh = calendar.getFirstPropertyValue("refresh-interval");
console.log(JSON.stringify({
  events,
  refresh: refresh ? refresh.toString() : null,
  ttl: calendar.getFirstPropertyValue("x-published-ttl"),
}));
"""


@dataclass(frozen=True)
class FeedEvent:
    uid: str
    sequence: int
    status: str
    start: datetime
    end: datetime
    summary: str
    description: str
    transp: str


@dataclass(frozen=True)
class ReadFeed:
    events: tuple[FeedEvent, ...]
    refresh: str  # REFRESH-INTERVAL as written, e.g. PT1H
    ttl: str  # X-PUBLISHED-TTL

    def by_uid(self, uid: str) -> FeedEvent:
        (event,) = [e for e in self.events if e.uid == uid]
        return event

    @property
    def uids(self) -> set[str]:
        return {e.uid for e in self.events}


def ensure_icaljs() -> Path:
    """The directory holding ical.js and the reading script (make test installs it;
    a test run by hand installs it the first time)."""
    if not (ICALJS_DIR / "node_modules" / "ical.js" / "package.json").exists():
        subprocess.run(
            [
                "npm",
                "install",
                "--silent",
                "--prefix",
                str(ICALJS_DIR),
                f"ical.js@{ICALJS_VERSION}",
            ],
            check=True,
            timeout=300,
        )
    script = ICALJS_DIR / "read_feed.mjs"
    if not script.exists() or script.read_text() != _ICALJS_SCRIPT:
        script.write_text(_ICALJS_SCRIPT)
    return ICALJS_DIR


def with_icalendar(body: bytes) -> ReadFeed:
    calendar = icalendar.Calendar.from_ical(body)
    events = tuple(
        FeedEvent(
            uid=str(v["UID"]),
            sequence=int(v["SEQUENCE"]),
            status=str(v["STATUS"]),
            start=v.decoded("DTSTART").astimezone(UTC),
            end=v.decoded("DTEND").astimezone(UTC),
            summary=str(v["SUMMARY"]),
            description=str(v.get("DESCRIPTION", "")),
            transp=str(v["TRANSP"]),
        )
        for v in calendar.walk("VEVENT")
    )
    return ReadFeed(
        events, _duration(calendar["REFRESH-INTERVAL"]), _duration(calendar["X-PUBLISHED-TTL"])
    )


def with_vobject(body: bytes) -> ReadFeed:
    calendar = vobject.readOne(body.decode("utf-8"))
    events = tuple(
        FeedEvent(
            uid=v.uid.value,
            sequence=int(v.sequence.value),
            status=v.status.value,
            start=v.dtstart.value.astimezone(UTC),
            end=v.dtend.value.astimezone(UTC),
            summary=v.summary.value,
            description=v.description.value if hasattr(v, "description") else "",
            transp=v.transp.value,
        )
        for v in getattr(calendar, "vevent_list", [])
    )
    refresh = calendar.contents["refresh-interval"][0].value
    ttl = calendar.contents["x-published-ttl"][0].value
    return ReadFeed(events, str(refresh), str(ttl))


def with_icaljs(body: bytes) -> ReadFeed:
    where = ensure_icaljs()
    done = subprocess.run(
        ["node", str(where / "read_feed.mjs")],
        input=body,
        capture_output=True,
        check=True,
        timeout=60,
        cwd=where,
    )
    read = json.loads(done.stdout)
    events = tuple(
        FeedEvent(
            uid=e["uid"],
            sequence=e["sequence"],
            status=e["status"],
            start=datetime.fromtimestamp(e["start"], UTC),
            end=datetime.fromtimestamp(e["end"], UTC),
            summary=e["summary"],
            description=e["description"],
            transp=e["transp"],
        )
        for e in read["events"]
    )
    return ReadFeed(events, read["refresh"], read["ttl"])


def read_three_ways(body: bytes) -> ReadFeed:
    """The feed as all three read it, after checking they agree."""
    first, *others = (with_icalendar(body), with_vobject(body), with_icaljs(body))
    for other in others:
        assert sorted(other.events, key=_key) == sorted(first.events, key=_key)
        assert (other.refresh, other.ttl) == (first.refresh, first.ttl)
    return first


def _key(event: FeedEvent) -> tuple[str, int]:
    return event.uid, event.sequence


def _duration(value: object) -> str:
    """A DURATION property as written (icalendar hands back a timedelta or its vDDDTypes)."""
    ical = getattr(value, "to_ical", None)
    return ical().decode("ascii") if callable(ical) else str(value)
