"""The busy time in calendar data a server answered (delivery/calendar/busy_events.py):
which events hold time and over what, the line filter that keeps everything else of an
event away from any parser, and hostile data (a VTIMEZONE that would spin, TZIDs that
are paths, broken nesting, random text) read without a crash, a hang or a leak."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notification_service.delivery.calendar.busy_events import (
    MAX_EVENTS,
    busy_in,
    vevents_only,
    zone_key,
)
from notification_service.domain.busy import Interval
from notification_service.domain.errors import CalendarProtocolError
from tests.notification_service.delivery.calendar.busy_data import (
    END,
    HOUR,
    OWN,
    START,
    calendar,
    event,
    read,
    utc,
)

RULES = {
    "timed": ([*HOUR], [(utc(3, 10), utc(3, 11))]),
    "transparent": ([*HOUR, "TRANSP:TRANSPARENT"], []),
    "opaque": ([*HOUR, "TRANSP:OPAQUE"], [(utc(3, 10), utc(3, 11))]),
    "cancelled": ([*HOUR, "STATUS:cancelled"], []),
    "tentative": ([*HOUR, "STATUS:TENTATIVE"], [(utc(3, 10), utc(3, 11))]),
    "paris": (
        ["DTSTART;TZID=Europe/Paris:20260303T100000", "DURATION:PT90M"],
        [(utc(3, 9), utc(3, 10, 30))],
    ),
    "windows-zone": (
        ["DTSTART;TZID=W. Europe Standard Time:20260303T100000", "DURATION:PT1H"],
        [(utc(3, 9), utc(3, 10))],
    ),
    "vendor-zone": (
        ['DTSTART;TZID="/mozilla.org/20050126_1/Europe/Paris":20260303T100000', "DURATION:PT1H"],
        [(utc(3, 9), utc(3, 10))],
    ),
    "unknown-zone-as-utc": (
        ["DTSTART;TZID=Mars/Olympus:20260303T100000", "DURATION:PT1H"],
        [(utc(3, 10), utc(3, 11))],
    ),
    "path-zone-as-utc": (
        ["DTSTART;TZID=../../../etc/passwd:20260303T100000", "DURATION:PT1H"],
        [(utc(3, 10), utc(3, 11))],
    ),
    "floating-as-utc": (
        ["DTSTART:20260303T100000", "DTEND:20260303T110000"],
        [(utc(3, 10), utc(3, 11))],
    ),
    "all-day": (
        ["DTSTART;VALUE=DATE:20260305", "DTEND;VALUE=DATE:20260307"],
        [(utc(5), utc(7))],
    ),
    "all-day-one-day": (["DTSTART;VALUE=DATE:20260305"], [(utc(5), utc(6))]),
    "all-day-transparent": (["DTSTART;VALUE=DATE:20260305", "TRANSP:TRANSPARENT"], []),
    "no-end-holds-nothing": (["DTSTART:20260303T100000Z"], []),
    "negative-duration": (["DTSTART:20260303T100000Z", "DURATION:-PT1H"], []),
    "outside": (["DTSTART:20260410T100000Z", "DTEND:20260410T110000Z"], []),
    "ends-at-the-start": (["DTSTART:20260301T230000Z", "DTEND:20260302T000000Z"], []),
    "straddles": (
        ["DTSTART:20260301T230000Z", "DTEND:20260302T010000Z"],
        [(datetime(2026, 3, 1, 23, tzinfo=UTC), utc(2, 1))],
    ),
}


@pytest.mark.parametrize(("lines", "expected"), RULES.values(), ids=RULES.keys())
def test_which_events_hold_time(
    lines: list[str], expected: list[tuple[datetime, datetime]]
) -> None:
    assert read(calendar(event("a@elsewhere", *lines))) == expected


@pytest.mark.parametrize("uid", ["x@rooms.test", "x@ROOMS.Test"])
def test_our_own_sessions_never_count(uid: str) -> None:
    assert read(calendar(event(uid, *HOUR))) == []
    assert read(calendar(event("x@rooms.test.evil", *HOUR))) == [(utc(3, 10), utc(3, 11))]


def test_a_master_left_unexpanded_counts_at_its_start_and_rdates() -> None:
    master = event(
        "weekly@elsewhere",
        "DTSTART:20260303T100000Z",
        "DTEND:20260303T110000Z",
        "RRULE:FREQ=DAILY",
        "RDATE:20260305T100000Z,20260306T100000Z",
        "RDATE;VALUE=PERIOD:20260307T100000Z/PT2H",
        "EXDATE:20260305T100000Z",
    )
    moved = event(
        "weekly@elsewhere",
        "RECURRENCE-ID:20260306T100000Z",
        "DTSTART:20260306T150000Z",
        "DTEND:20260306T160000Z",
    )
    found = busy_in([calendar(master, moved)], START, END, OWN)
    assert sorted((o.start, o.end) for o in found.occurrences) == [
        (utc(3, 10), utc(3, 11)),
        (utc(6, 15), utc(6, 16)),  # the override, not the RDATE it replaces
        (utc(7, 10), utc(7, 12)),
    ]
    assert found.unexpanded == 1  # the RRULE itself is not expanded here


def test_unreadable_objects_and_events_are_skipped_and_counted() -> None:
    good = calendar(event("a@x", *HOUR))
    found = busy_in(
        [
            None,  # an object the server sent no data for
            "not a calendar",
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VCALENDAR\r\n",  # broken nesting
            calendar(event("b@x", "DTSTART:garbage", "DTEND:20260303T110000Z")),
            calendar(event("c@x", "DTSTART;VALUE=DATE:99991231")),  # past datetime's end
            good,
        ],
        START,
        END,
        OWN,
    )
    assert [(o.start, o.end) for o in found.occurrences] == [(utc(3, 10), utc(3, 11))]
    assert found.unreadable == 4  # "not a calendar" holds no event: nothing to count


def test_the_line_filter_keeps_only_times_and_known_zones() -> None:
    text = calendar(
        event("a@x", 'DTSTART;TZID="Europe/Paris";X-Y="a;b:c":20260303T100000', "DURATION:PT1H")
        + "BEGIN:VALARM\r\nTRIGGER:-PT5M\r\nDESCRIPTION:alarm\r\nEND:VALARM\r\n",
        extra=EVIL_ZONE,
    )
    kept, count = vevents_only(text)
    assert count == 1
    assert kept == (
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a@x\r\n"
        'DTSTART;TZID=Europe/Paris;X-Y="a;b:c":20260303T100000\r\nDURATION:PT1H\r\n'
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def test_folded_and_bare_line_breaks_are_read() -> None:
    text = calendar(event("a@x", "DTST\r\n ART:20260303T1\r\n\t00000Z", "DTEND:20260303T110000Z"))
    assert read(text.replace("\r\n", "\n")) == read(text) == [(utc(3, 10), utc(3, 11))]


@pytest.mark.parametrize(
    ("tzid", "key"),
    [
        ("Europe/Paris", "Europe/Paris"),
        ('"Europe/Paris"', "Europe/Paris"),
        (
            "/freeassociation.sourceforge.net/Tzfile/America/Argentina/Buenos_Aires",
            "America/Argentina/Buenos_Aires",
        ),
        ("Pacific Standard Time", "America/Los_Angeles"),
        ("Custom/Europe/Paris", None),  # not a globally unique (leading /) form
        ("../../etc/passwd", None),
        ("Europe/Paris\x00", None),
        ("x" * 5000, None),
        ("Éurope/Paris", None),
    ],
)
def test_zone_names(tzid: str, key: str | None) -> None:
    assert zone_key(tzid) == key


# Two observances, each recurring every two minutes since 1970: evaluating it makes a
# single UTC conversion walk millions of transitions (dateutil's tzical).
EVIL_ZONE = (
    "BEGIN:VTIMEZONE\r\nTZID:Evil/Zone\r\n"
    "BEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nRRULE:FREQ=MINUTELY;INTERVAL=2\r\n"
    "TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0000\r\nEND:STANDARD\r\n"
    "BEGIN:DAYLIGHT\r\nDTSTART:19700101T000100\r\nRRULE:FREQ=MINUTELY;INTERVAL=2\r\n"
    "TZOFFSETFROM:+0000\r\nTZOFFSETTO:+0100\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
)


def test_a_spinning_vtimezone_is_never_evaluated() -> None:
    text = calendar(
        event(
            "a@x", "DTSTART;TZID=Evil/Zone:20260303T100000", "DTEND;TZID=Evil/Zone:20260303T110000"
        ),
        extra=EVIL_ZONE,
    )
    started = time.monotonic()
    assert read(text) == [(utc(3, 10), utc(3, 11))]  # an unknown zone reads as UTC
    assert time.monotonic() - started < 5  # evaluated, it runs for minutes


def test_more_events_than_the_bound_refuse_the_answer() -> None:
    one = "BEGIN:VEVENT\r\nUID:a@x\r\nDTSTART:20260303T100000Z\r\nEND:VEVENT\r\n"
    text = "BEGIN:VCALENDAR\r\n" + one * (MAX_EVENTS + 1) + "END:VCALENDAR\r\n"
    with pytest.raises(CalendarProtocolError, match="more than"):
        busy_in([text], START, END, OWN)


def test_components_nested_without_end_are_unreadable() -> None:
    deep = "BEGIN:VCALENDAR\r\n" + "BEGIN:X\r\n" * 10_000 + "END:X\r\n" * 10_000
    assert busy_in([deep + "END:VCALENDAR\r\n"], START, END, OWN).unreadable == 1


HOSTILE_VALUES = st.sampled_from(
    [
        "20260303T100000Z",
        "20260303T100000",
        "20260303",
        "99991231T235959Z",
        "00010101T000000Z",
        "garbage",
        "",
        "20260303T100000Z/PT1H",
        "20260303T100000Z,20260304T100000Z",
        "-PT1H",
        "P99999999W",
        "PT1H",
        "FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30",
        "TRANSPARENT",
        "CANCELLED",
    ]
)
HOSTILE_NAMES = st.sampled_from(
    [
        "DTSTART",
        "DTEND",
        "DURATION",
        "RDATE",
        "EXDATE",
        "RRULE",
        "RECURRENCE-ID",
        "STATUS",
        "TRANSP",
        "UID",
        "SUMMARY",
        "BEGIN",
        "END",
        "X-ODD",
    ]
)
HOSTILE_PARAMETERS = st.sampled_from(
    [
        "",
        ";VALUE=DATE",
        ";VALUE=PERIOD",
        ";TZID=Europe/Paris",
        ";TZID=Evil/Zone",
        ';TZID="unterminated',
        ";TZID=",
        ";VALUE=DATE-TIME;TZID=America/New_York",
    ]
)
hostile_lines = st.lists(
    st.one_of(
        st.builds(lambda n, p, v: f"{n}{p}:{v}", HOSTILE_NAMES, HOSTILE_PARAMETERS, HOSTILE_VALUES),
        st.sampled_from(["BEGIN:VEVENT", "END:VEVENT", "BEGIN:VALARM", "END:VALARM", " folded"]),
        st.text(max_size=40),
    ),
    max_size=30,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_lines, st.sampled_from(["\r\n", "\n", "\r"]))
def test_hostile_calendar_data_never_crashes(lines: list[str], newline: str) -> None:
    text = newline.join(["BEGIN:VCALENDAR", "BEGIN:VEVENT", *lines, "END:VEVENT", "END:VCALENDAR"])
    found = busy_in([text, EVIL_ZONE + text], START, END, OWN)
    for occurrence in found.occurrences:
        assert isinstance(occurrence, Interval)
        assert occurrence.start < END and occurrence.end > START
        assert occurrence.start.tzinfo is UTC and occurrence.end.tzinfo is UTC
