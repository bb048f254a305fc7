"""The shared iCalendar writer (pure): a feed of several events read back with two
independent parsers, and a property test that no text, however hostile, shapes the
object: every line folded, nothing but escaped text where text goes, the same events
and properties read back."""

from __future__ import annotations

import os
import re
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

import icalendar
import pytest
import vobject
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar.parser import unescape_backslash

from servicekit.ical import Address, Event, calendar, cn, event_description, text_value

# Bounded, so that the suite stays fast; no example database in the tree.
PROPERTY = settings(
    max_examples=int(os.environ.get("ICAL_PROPERTY_EXAMPLES", "100")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

PRODID = "-//Practice Rooms//Test//EN"
START = datetime(2031, 3, 4, 14, 0, tzinfo=UTC)
FEED_PROPERTIES = (
    ("X-WR-CALNAME", text_value("Rooms; Zoë's, \\ all")),
    ("REFRESH-INTERVAL;VALUE=DURATION", "PT1H"),
    ("X-PUBLISHED-TTL", "PT1H"),
)
FEED_NAMES = {"X-WR-CALNAME", "REFRESH-INTERVAL", "X-PUBLISHED-TTL"}


def _feed() -> list[Event]:
    host = Address("host@example.com", "Hannah Host", (("ROLE", "CHAIR"),))
    return [
        Event(
            uid="a@rooms.example",
            sequence=0,
            dtstamp=START - timedelta(days=1),
            start=START,
            end=START + timedelta(hours=1),
            title="Mock interview: system design",
            description="Bring a pen.\nRound 1: arrays, two pointers; hashing",
            status="CONFIRMED",
            organizer=host,
            attendees=(host, Address("guest@example.org", "Gus Guest")),
            transparency="OPAQUE",
            alarm_before=timedelta(minutes=15),
        ),
        Event(
            uid="b@rooms.example",
            sequence=3,
            dtstamp=START,
            start=START + timedelta(days=1),
            end=START + timedelta(days=1, minutes=45),
            title="Cancelled session",
            description="Was: graphs",
            status="CANCELLED",
            comment="Host is ill",
            organizer=host,
            transparency="TRANSPARENT",
        ),
        Event(
            uid="c@rooms.example",
            sequence=1,
            dtstamp=START,
            # Aware but not UTC: written in UTC.
            start=datetime(2031, 3, 6, 9, 30, tzinfo=timezone(timedelta(hours=2))),
            end=datetime(2031, 3, 6, 10, 30, tzinfo=timezone(timedelta(hours=2))),
            title="Open room",
        ),
    ]


def _x_text(value: object) -> str:
    """An X- property's value as TEXT: icalendar keeps unknown properties escaped."""
    return unescape_backslash(str(value))


def _names(component: icalendar.cal.Component) -> Counter[str]:
    return Counter(name for name, _ in component.property_items(recursive=False)) - Counter(
        {"BEGIN": 1, "END": 1}
    )


def test_a_feed_reads_back_with_icalendar() -> None:
    events = _feed()
    ics = calendar(events, properties=FEED_PROPERTIES, prodid=PRODID)
    parsed = icalendar.Calendar.from_ical(ics)
    assert [c.name for c in parsed.subcomponents] == ["VEVENT"] * 3
    assert "METHOD" not in parsed
    assert str(parsed["PRODID"]) == PRODID
    assert _x_text(parsed["X-WR-CALNAME"]) == "Rooms; Zoë's, \\ all"
    assert parsed.decoded("REFRESH-INTERVAL") == timedelta(hours=1)
    assert str(parsed["X-PUBLISHED-TTL"]) == "PT1H"
    assert _names(parsed) == Counter({"PRODID", "VERSION", "CALSCALE", *FEED_NAMES})
    for meant, event in zip(events, parsed.walk("VEVENT"), strict=True):
        assert not FEED_NAMES & set(_names(event))
        assert str(event["UID"]) == meant.uid
        assert int(event["SEQUENCE"]) == meant.sequence
        for name, value in (("DTSTAMP", meant.dtstamp), ("DTSTART", meant.start)):
            assert event.decoded(name) == value
            assert event[name].to_ical().endswith(b"Z")
        assert event.decoded("DTEND") == meant.end
        assert str(event["SUMMARY"]) == meant.title
        assert str(event.get("DESCRIPTION", "")) == meant.description
        assert str(event.get("COMMENT", "")) == meant.comment
        assert event.get("STATUS") == meant.status
        assert event.get("TRANSP") == meant.transparency
        assert ("ORGANIZER" in event) == (meant.organizer is not None)
    first, cancelled, bare = parsed.walk("VEVENT")
    attendees = first["ATTENDEE"]
    assert [str(a) for a in attendees] == ["mailto:host@example.com", "mailto:guest@example.org"]
    assert dict(attendees[0].params) == {"CN": "Hannah Host", "ROLE": "CHAIR"}
    assert dict(attendees[1].params) == {"CN": "Gus Guest"}
    [alarm] = first.walk("VALARM")
    assert alarm.decoded("TRIGGER") == -timedelta(minutes=15)
    assert str(alarm["DESCRIPTION"]) == "Reminder: Mock interview: system design"
    assert not cancelled.walk("VALARM")
    assert _names(bare) == Counter({"UID", "SEQUENCE", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY"})
    assert bare.decoded("DTSTART") == datetime(2031, 3, 6, 7, 30, tzinfo=UTC)


def test_a_feed_reads_back_with_vobject() -> None:
    events = _feed()
    parsed = vobject.readOne(calendar(events, properties=FEED_PROPERTIES, prodid=PRODID).decode())
    assert parsed.x_wr_calname.value == "Rooms; Zoë's, \\ all"
    assert parsed.contents["refresh-interval"][0].value == "PT1H"
    assert parsed.x_published_ttl.value == "PT1H"
    for name in ("x-wr-calname", "refresh-interval", "x-published-ttl"):
        assert len(parsed.contents[name]) == 1
    assert len(parsed.vevent_list) == 3
    for meant, event in zip(events, parsed.vevent_list, strict=True):
        assert not {"x-wr-calname", "refresh-interval", "x-published-ttl"} & set(event.contents)
        assert event.uid.value == meant.uid
        assert int(event.sequence.value) == meant.sequence
        assert event.dtstamp.value == meant.dtstamp
        assert event.dtstart.value == meant.start
        assert event.dtend.value == meant.end
        assert event.summary.value == meant.title
        assert getattr(event, "description", None) is None or meant.description
        if meant.description:
            assert event.description.value == meant.description
        assert (event.status.value if "status" in event.contents else None) == meant.status
        assert (event.transp.value if "transp" in event.contents else None) == meant.transparency
        assert ("organizer" in event.contents) == (meant.organizer is not None)
        assert len(event.contents.get("attendee", [])) == len(meant.attendees)


def test_method_and_the_order_of_a_vevents_lines() -> None:
    ics = calendar(_feed()[:1], method="REQUEST", prodid=PRODID).decode()
    starts = [line.split(":")[0].split(";")[0] for line in ics.replace("\r\n ", "").split("\r\n")]
    assert starts == [
        *("BEGIN", "PRODID", "VERSION", "CALSCALE", "METHOD", "BEGIN", "UID", "SEQUENCE"),
        *("DTSTAMP", "DTSTART", "DTEND", "SUMMARY", "DESCRIPTION", "ORGANIZER", "ATTENDEE"),
        *("ATTENDEE", "STATUS", "TRANSP", "BEGIN", "ACTION", "DESCRIPTION", "TRIGGER", "END"),
        *("END", "END", ""),
    ]
    assert str(icalendar.Calendar.from_ical(ics)["METHOD"]) == "REQUEST"


def test_text_and_names_are_cleaned_of_control_characters() -> None:
    assert text_value("a\r\nb\rc\nd") == "a\\nb\\nc\\nd"
    assert text_value("a\x00b\x1bc\x7fd\x85e\u2028f\u2029g\th") == (
        "a\ufffdb\ufffdc\ufffdd\ufffde\ufffdf\ufffdg\th"
    )
    assert cn('Zoë\r\n"Z"\t\\o/\x00\u2028') == "Zoë  'Z' /o/  "


def test_a_description_lists_the_rounds_after_the_text() -> None:
    rounds = ((1, "Arrays; two pointers"), (2, "Graphs, BFS"))
    assert event_description("Bring a pen.", rounds) == (
        "Bring a pen.\n\nRound 1: Arrays; two pointers\nRound 2: Graphs, BFS"
    )
    assert event_description("", rounds[:1]) == "Round 1: Arrays; two pointers"
    assert event_description("Bring a pen.") == "Bring a pen."
    assert event_description("", ()) == ""


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ({"status": "CONFIRMED\r\nX:Y"}, "STATUS"),
        ({"transparency": "OPAQUE;X=1"}, "TRANSP"),
        ({"start": datetime(2031, 3, 4, 14, 0)}, "aware"),
        ({"attendees": (Address("a@b\r\nX:Y"),)}, "address"),
        ({"attendees": (Address("a@b", params=(("ROLE", "A;B=C"),)),)}, "parameter"),
    ],
)
def test_what_is_ours_is_checked_not_escaped(change: dict[str, object], what: str) -> None:
    event = Event(**{**_feed()[2].__dict__, **change})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=what):
        calendar([event], prodid=PRODID)


@pytest.mark.parametrize(
    "extra",
    [("X-WR-CALNAME", "a\r\nBEGIN:VEVENT"), ("X-A:B", "c"), ("X-A;P=a:b", "c"), ("X-A\n", "c")],
)
def test_calendar_properties_must_be_single_lines(extra: tuple[str, str]) -> None:
    with pytest.raises(ValueError):
        calendar([], properties=[extra], prodid=PRODID)


# --- any text ---------------------------------------------------------------------

PIECES = st.sampled_from(
    [
        "\r\n",
        "\r",
        "\n",
        "\t",
        "\x00",
        "\x0b",
        "\x7f",
        "\x85",
        "\u2028",
        "\u2029",
        "\\",
        "\\n",
        "\\N",
        ";",
        ",",
        ":",
        '"',
        "^",
        "^'",
        "😀",
        "e\u0301",
        "面试练习" * 20,
        "é" * 40,
        "\r\nBEGIN:VEVENT\r\nUID:x\r\n",
        "\nEND:VEVENT\nSTATUS:CANCELLED\n",
        'x";ROLE=CHAIR;X="',
    ]
)
TEXT = st.one_of(
    st.text(),
    st.lists(st.one_of(PIECES, st.text(max_size=10)), max_size=12).map("".join),
)


def _cleaned(text: str) -> str:
    """The text as a reader must see it: CR LF and CR as LF, other controls as U+FFFD."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join("\ufffd" if _control(char) and char not in "\t\n" else char for char in text)


def _control(char: str) -> bool:
    return ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F or char in "\u2028\u2029"


@st.composite
def events(draw: st.DrawFn) -> Event:
    organizer = Address("host@example.com", draw(TEXT), (("SCHEDULE-AGENT", "CLIENT"),))
    return Event(
        uid=draw(st.uuids()).hex + "@rooms.example",
        sequence=draw(st.integers(0, 2**31 - 1)),
        dtstamp=START,
        start=START,
        end=START + timedelta(hours=1),
        title=draw(TEXT),
        description=draw(TEXT),
        status=draw(st.sampled_from([None, "CONFIRMED", "CANCELLED"])),
        comment=draw(TEXT),
        organizer=draw(st.sampled_from([None, organizer])),
        attendees=(Address("guest@example.org", draw(TEXT), (("PARTSTAT", "ACCEPTED"),)),),
        transparency=draw(st.sampled_from([None, "OPAQUE", "TRANSPARENT"])),
        alarm_before=draw(st.sampled_from([None, timedelta(minutes=15)])),
    )


def _expected_names(event: Event) -> Counter[str]:
    names = Counter(["UID", "SEQUENCE", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY", "ATTENDEE"])
    for name, present in (
        ("DESCRIPTION", event.description),
        ("COMMENT", event.comment),
        ("ORGANIZER", event.organizer),
        ("STATUS", event.status),
        ("TRANSP", event.transparency),
    ):
        if present:
            names[name] = 1
    return names


def _expected_params(address: Address) -> dict[str, str]:
    params = dict(address.params)
    if address.name:
        # Controls as spaces, then the two substitutions a parameter needs.
        spaced = "".join(" " if _control(char) else char for char in address.name)
        params["CN"] = spaced.replace('"', "'").replace("\\", "/")
    return params


# Every control character but TAB (TEXT may hold it, RFC 5545 3.3.11) and the CR LF
# that end lines; nor may a Unicode line or paragraph separator survive.
_FORBIDDEN = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


@PROPERTY
@given(feed=st.lists(events(), min_size=1, max_size=3), name=TEXT)
def test_no_text_shapes_the_calendar(feed: list[Event], name: str) -> None:
    ics = calendar(feed, properties=[("X-WR-CALNAME", text_value(name))], prodid=PRODID)
    assert ics.endswith(b"\r\n")
    lines = ics.split(b"\r\n")
    assert lines[-1] == b""
    for line in lines:
        assert len(line) <= 75
        line.decode("utf-8")  # never folded inside a character
    text = ics.decode("utf-8")
    assert _FORBIDDEN.search(text.replace("\r\n", "")) is None

    parsed = icalendar.Calendar.from_ical(ics)
    assert [c.name for c in parsed.subcomponents] == ["VEVENT"] * len(feed)
    assert _names(parsed) == Counter({"PRODID", "VERSION", "CALSCALE", "X-WR-CALNAME"})
    assert _x_text(parsed["X-WR-CALNAME"]) == _cleaned(name)
    for meant, event in zip(feed, parsed.subcomponents, strict=True):
        assert _names(event) == _expected_names(meant)
        assert str(event["UID"]) == meant.uid
        assert int(event["SEQUENCE"]) == meant.sequence
        assert str(event["SUMMARY"]) == _cleaned(meant.title)
        assert str(event.get("DESCRIPTION", "")) == _cleaned(meant.description)
        assert str(event.get("COMMENT", "")) == _cleaned(meant.comment)
        assert event.get("STATUS") == meant.status
        assert event.get("TRANSP") == meant.transparency
        assert [str(a) for a in _as_list(event["ATTENDEE"])] == ["mailto:guest@example.org"]
        assert dict(event["ATTENDEE"].params) == _expected_params(meant.attendees[0])
        if meant.organizer is not None:
            assert str(event["ORGANIZER"]) == "mailto:host@example.com"
            assert dict(event["ORGANIZER"].params) == _expected_params(meant.organizer)
        alarms = event.subcomponents
        assert [c.name for c in alarms] == (["VALARM"] if meant.alarm_before else [])
        for alarm in alarms:
            assert _names(alarm) == Counter({"ACTION", "DESCRIPTION", "TRIGGER"})
            assert str(alarm["DESCRIPTION"]) == f"Reminder: {_cleaned(meant.title)}"


def _as_list(value: object) -> list[object]:
    return value if isinstance(value, list) else [value]
