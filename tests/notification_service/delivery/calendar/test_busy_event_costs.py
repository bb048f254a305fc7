"""What hostile calendar data may cost the busy-time reader (delivery/calendar/
busy_events.py): edited instances by the ten thousand, RDATE bombs, events of too many
lines or parameters, rules, and the checkpoint that stops a read."""

from __future__ import annotations

from datetime import datetime

import pytest

from notification_service.delivery.calendar.busy_events import (
    MAX_DATES,
    MAX_PARAMETERS,
    MAX_PROPERTIES,
    busy_in,
    vevents_only,
)
from notification_service.domain.errors import CalendarProtocolError
from tests.notification_service.delivery.calendar.busy_data import (
    END,
    HOUR,
    OWN,
    START,
    calendar,
    edited_instances,
    event,
    rdates,
    read,
    utc,
)


@pytest.mark.slow  # seconds of CPU
def test_10k_masters_and_their_edited_instances_in_one_object_are_read() -> None:
    """Each master's overridden instances are found by its UID: looked for by going
    through every instance for every master, this object took 6 to 15 s of CPU."""
    found = busy_in([edited_instances(10_000)], START, END, OWN)
    counts: dict[tuple[datetime, datetime], int] = {}
    for o in found.occurrences:
        counts[(o.start, o.end)] = counts.get((o.start, o.end), 0) + 1
    assert counts == {
        (utc(3, 10), utc(3, 11)): 10_000,  # each master's own occurrence
        (utc(4, 12), utc(4, 13)): 9_999,  # the edited instances
        (utc(4, 10), utc(4, 11)): 1,  # the RDATE no instance replaces
    }
    assert (found.unreadable, found.unexpanded) == (0, 10_000)


def test_an_rdate_bomb_is_refused_by_the_line_filter() -> None:
    """460,000 RDATE values (7.8 MB) took 5 s of CPU and 300 MB before the occurrence
    bound refused them; the line filter counts them and stops before icalendar."""
    bomb = calendar(
        event(
            "bomb@elsewhere",
            "DTSTART:20260303T100000Z",
            "DURATION:PT1M",
            "RDATE:" + ",".join(["20260303T100000Z"] * 460_000),
        )
    )
    with pytest.raises(CalendarProtocolError, match=f"more than {MAX_DATES} RDATE and EXDATE"):
        vevents_only(bomb)
    with pytest.raises(CalendarProtocolError, match=f"more than {MAX_DATES} RDATE and EXDATE"):
        busy_in([bomb], START, END, OWN)


def test_rdate_and_exdate_values_are_bounded_over_the_whole_answer() -> None:
    half = MAX_DATES // 2
    assert len(read(rdates(half, "a@x"), rdates(half, "b@x"))) == 2 * half + 2
    with pytest.raises(CalendarProtocolError, match="RDATE and EXDATE values"):
        busy_in([rdates(half, "a@x"), rdates(half + 1, "b@x")], START, END, OWN)
    # An EXDATE counts as much as an RDATE: icalendar reads each alike.
    exdates = "EXDATE:" + ",".join(["20260303T100000Z"] * (MAX_DATES + 1))
    with pytest.raises(CalendarProtocolError, match="RDATE and EXDATE values"):
        busy_in([calendar(event("x@x", *HOUR, exdates))], START, END, OWN)


def test_events_of_too_many_lines_or_parameters_are_unreadable() -> None:
    """400,000 STATUS lines in one event took 6 s of CPU in icalendar; the object is
    unreadable at the first line past the bound, the rest of the answer is read."""
    lines = calendar(event("a@x", *HOUR, *["STATUS:CONFIRMED"] * 400_000))
    parameter = "X-A=" + ",".join(["v"] * 1_000_000)
    values = calendar(event("b@x", f"DTSTART;{parameter}:20260303T100000Z", HOUR[1]))
    found = busy_in([lines, values, calendar(event("c@x", *HOUR))], START, END, OWN)
    assert [(o.start, o.end) for o in found.occurrences] == [(utc(3, 10), utc(3, 11))]
    assert found.unreadable == 2

    # At both bounds an event is read; one line or one parameter value more, it is not.
    def at_the_bounds(line: str = "", value: str = "") -> str:
        parameters = ";".join(["X-A=v"] * (MAX_PARAMETERS - 2)) + value
        return calendar(
            event(
                "d@x",  # UID, DTSTART, DTEND and five TRANSP lines
                f"DTSTART;TZID=Europe/Paris;VALUE=DATE-TIME;{parameters}:20260303T110000",
                *["TRANSP:OPAQUE"] * (MAX_PROPERTIES - 3),
                "DTEND:20260303T110000Z",
                *[line] * bool(line),
            )
        )

    assert read(at_the_bounds()) == [(utc(3, 10), utc(3, 11))]
    assert busy_in([at_the_bounds(line="STATUS:CONFIRMED")], START, END, OWN).unreadable == 1
    assert busy_in([at_the_bounds(value=",w")], START, END, OWN).unreadable == 1
    # RDATE and EXDATE lines are not among those: they count as dates.
    assert len(read(at_the_bounds(line="RDATE:20260305T100000Z"))) == 2


def test_a_rule_counts_for_its_presence_only() -> None:
    """A rule of a million BYMONTHDAY values took icalendar seconds to read; only
    whether there is one is used (it is never expanded here)."""
    rule = "RRULE:FREQ=DAILY;BYMONTHDAY=" + ",".join(["1"] * 1_000_000)
    found = busy_in([calendar(event("a@x", *HOUR, rule))], START, END, OWN)
    assert [(o.start, o.end) for o in found.occurrences] == [(utc(3, 10), utc(3, 11))]
    assert (found.unexpanded, found.unreadable) == (1, 0)


def test_the_checkpoint_comes_before_each_object_and_each_event_and_stops_the_read() -> None:
    calls = []
    texts = [calendar(event("a@x", *HOUR), event("b@x", *HOUR)), calendar(event("c@x", *HOUR))]
    busy_in(texts, START, END, OWN, lambda: calls.append(1))
    # Each object once, and each of its events twice: before icalendar reads it, and
    # before its occurrences are worked out.
    assert len(calls) == 2 + 2 * 3

    class Stop(Exception):
        pass

    def stop_at_the_fourth() -> None:
        calls.append(1)
        if len(calls) == 4:
            raise Stop

    calls.clear()
    with pytest.raises(Stop):  # neither swallowed as "unreadable" nor read on
        busy_in(texts, START, END, OWN, stop_at_the_fourth)
    assert len(calls) == 4
