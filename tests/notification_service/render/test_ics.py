"""The iCalendar object, read back with two independent parsers (pure)."""

from __future__ import annotations

from datetime import timedelta

import icalendar
import pytest
import vobject

from notification_service.domain.model import Mailbox, Method, Round, ValidInvite
from notification_service.render.ics import render_ics
from tests.notification_service.notification_helpers import valid_message

ORGANIZER = Mailbox("rooms@example.net", "Practice Rooms")


def _event(ics: bytes) -> tuple[icalendar.Calendar, icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(ics)
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return calendar, events[0]


def _mailto(value: object) -> str:
    text = str(value)
    assert text.lower().startswith("mailto:")
    return text[len("mailto:") :]


def _check_common(ics: bytes, message: ValidInvite) -> icalendar.Event:
    calendar, event = _event(ics)
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["PRODID"])
    assert str(calendar["METHOD"]) == message.method.value
    assert str(event["UID"]) == message.uid
    assert int(event["SEQUENCE"]) == message.sequence
    assert event.decoded("DTSTAMP") == message.dtstamp
    assert event.decoded("DTSTART") == message.start
    assert event.decoded("DTEND") == message.end
    for name in ("DTSTAMP", "DTSTART", "DTEND"):
        assert event[name].to_ical().endswith(b"Z"), f"{name} is not UTC"
    assert str(event["SUMMARY"]) == message.title
    assert _mailto(event["ORGANIZER"]) == ORGANIZER.address
    assert event["ORGANIZER"].params["CN"] == ORGANIZER.name
    return event


def _attendees(event: icalendar.Event) -> list[icalendar.vCalAddress]:
    value = event.get("ATTENDEE", [])
    return value if isinstance(value, list) else [value]


def test_request_carries_every_property():
    message = valid_message()
    ics = render_ics(message, ORGANIZER)
    event = _check_common(ics, message)
    assert str(event["DESCRIPTION"]) == message.description
    assert str(event["STATUS"]) == "CONFIRMED"
    attendees = _attendees(event)
    assert [_mailto(a) for a in attendees] == [a.address for a in message.attendees]
    for attendee, expected in zip(attendees, message.attendees, strict=True):
        assert attendee.params["CN"] == expected.name
        assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
        assert attendee.params["PARTSTAT"] == "ACCEPTED"
        assert attendee.params["RSVP"] == "FALSE"
    alarms = event.walk("VALARM")
    assert len(alarms) == 1
    assert str(alarms[0]["ACTION"]) == "DISPLAY"
    assert alarms[0].decoded("TRIGGER") == -timedelta(minutes=15)
    assert str(alarms[0]["DESCRIPTION"])


def test_full_cancel_has_status_cancelled_the_reason_and_no_alarm():
    message = valid_message(method=Method.CANCEL, sequence=2, cancel_reason="Host is ill")
    event = _check_common(render_ics(message, ORGANIZER), message)
    assert str(event["STATUS"]) == "CANCELLED"
    assert str(event["COMMENT"]) == "Host is ill"
    assert len(_attendees(event)) == 2
    assert not event.walk("VALARM")


def test_uninvite_names_only_the_leaving_attendee_without_status():
    message = valid_message(method=Method.CANCEL, sequence=3, uninvite=True)
    event = _check_common(render_ics(message, ORGANIZER), message)
    assert "STATUS" not in event
    assert [_mailto(a) for a in _attendees(event)] == [message.recipient.address]


@pytest.mark.parametrize("method", [Method.REQUEST, Method.CANCEL])
def test_vobject_reads_the_same_event(method):
    message = valid_message(method=method, cancel_reason="Room flooded; sorry, all")
    parsed = vobject.readOne(render_ics(message, ORGANIZER).decode("utf-8"))
    assert parsed.method.value == method.value
    event = parsed.vevent
    assert event.uid.value == message.uid
    assert int(event.sequence.value) == message.sequence
    assert event.dtstart.value == message.start
    assert event.dtend.value == message.end
    assert event.dtstamp.value == message.dtstamp
    assert event.summary.value == message.title
    assert event.description.value == message.description
    assert event.organizer.value.lower() == f"mailto:{ORGANIZER.address}"
    assert event.organizer.params["CN"] == [ORGANIZER.name]
    assert sorted(a.value.lower() for a in event.attendee_list) == sorted(
        f"mailto:{a.address}" for a in message.attendees
    )
    assert event.status.value == ("CONFIRMED" if method is Method.REQUEST else "CANCELLED")


def test_lines_are_folded_at_75_octets_and_unfold_to_the_original():
    title = "面试练习 Zoë Ångström " * 9  # 180 characters, ~350 octets
    message = valid_message(title=title.strip(), description="é" * 3000)
    ics = render_ics(message, ORGANIZER)
    lines = ics.split(b"\r\n")
    assert lines[-1] == b""  # ends with CRLF
    assert all(len(line) <= 75 for line in lines)
    assert b"\n" not in ics.replace(b"\r\n", b"")
    for line in lines:
        line.decode("utf-8")  # never folded inside a character
    _, event = _event(ics)
    assert str(event["SUMMARY"]) == message.title
    assert vobject.readOne(ics.decode()).vevent.summary.value == message.title


def test_text_that_looks_like_ical_syntax_stays_text():
    title = "Q&A: BEGIN:VALARM; END:VEVENT, x\\ny"
    description = "Line one\nSTATUS:CANCELLED\n\tindented; with, commas \\ and backslash"
    message = valid_message(title=title, description=description)
    ics = render_ics(message, ORGANIZER)
    _, event = _event(ics)
    assert str(event["SUMMARY"]) == title
    assert str(event["DESCRIPTION"]) == description
    assert str(event["STATUS"]) == "CONFIRMED"
    assert len(event.walk("VALARM")) == 1
    parsed = vobject.readOne(ics.decode())
    assert parsed.vevent.summary.value == title
    assert parsed.vevent.description.value == description
    # Exactly one line starts each property: nothing was split into a new one.
    starts = [line.split(b":")[0].split(b";")[0] for line in ics.split(b"\r\n") if line]
    assert starts.count(b"STATUS") == 1
    assert starts.count(b"END") == 3


def test_names_with_quotes_and_non_ascii_survive_in_cn():
    guest = Mailbox("zoe@example.com", 'Zoë "Zed" Ångström, PhD; 面试')
    message = valid_message(recipient=guest, attendees=(Mailbox("h@example.com", "H"), guest))
    ics = render_ics(message, ORGANIZER)
    _, event = _event(ics)
    expected = "Zoë 'Zed' Ångström, PhD; 面试"  # a DQUOTE cannot appear in a parameter
    assert _attendees(event)[1].params["CN"] == expected
    parsed = vobject.readOne(ics.decode())
    assert parsed.vevent.attendee_list[1].params["CN"] == [expected]


def test_rendering_is_deterministic():
    assert render_ics(valid_message(), ORGANIZER) == render_ics(valid_message(), ORGANIZER)


def test_text_is_escaped_per_rfc_5545_even_a_literal_backslash_n():
    title = "C:\\New\\N, a;b \\n"
    description = "line\\N one\nline two"
    message = valid_message(title=title, description=description)
    _, event = _event(render_ics(message, ORGANIZER))
    assert str(event["SUMMARY"]) == title
    assert str(event["DESCRIPTION"]) == description
    parsed = vobject.readOne(render_ics(message, ORGANIZER).decode())
    assert parsed.vevent.summary.value == title


def test_description_carries_the_rounds_after_the_description():
    rounds = (Round(1, "Arrays; two pointers"), Round(2, "Graphs, BFS"))
    message = valid_message(description="Bring a pen.", rounds=rounds)
    _, event = _event(render_ics(message, ORGANIZER))
    assert str(event["DESCRIPTION"]) == (
        "Bring a pen.\n\nRound 1: Arrays; two pointers\nRound 2: Graphs, BFS"
    )
    only_rounds = valid_message(description="", rounds=rounds[:1])
    _, event = _event(render_ics(only_rounds, ORGANIZER))
    assert str(event["DESCRIPTION"]) == "Round 1: Arrays; two pointers"
    _, event = _event(render_ics(valid_message(description="", rounds=()), ORGANIZER))
    assert "DESCRIPTION" not in event


def test_folding_never_splits_an_escape():
    for title in ("\\" * 150, ";" * 150, "a" + "," * 120, "é\\" * 60):
        ics = render_ics(valid_message(title=title[:200]), ORGANIZER)
        for line in ics.split(b"\r\n"):
            assert len(line) <= 75
            body = line[1:] if line.startswith(b" ") else line
            trailing = len(body) - len(body.rstrip(b"\\"))
            assert trailing % 2 == 0, line
        _, event = _event(ics)
        assert str(event["SUMMARY"]) == title[:200]


def test_names_with_backslashes_read_back_with_a_slash():
    guest = Mailbox("zoe@example.com", "Zoë \\o/ Ångström")
    message = valid_message(recipient=guest, attendees=(Mailbox("h@example.com", "H"), guest))
    _, event = _event(render_ics(message, ORGANIZER))
    assert _attendees(event)[1].params["CN"] == "Zoë /o/ Ångström"


@pytest.mark.parametrize(
    "name",
    [
        'x";ROLE=CHAIR;X="',
        "Eve;ROLE=CHAIR",
        "a:mailto:evil@example.com",
        "a,b,c",
        "^^n^'",
        'Zoë "Z" Ångström; PhD, MD: 面试',
    ],
)
def test_a_name_never_adds_a_parameter_or_a_property(name):
    guest = Mailbox("zoe@example.com", name)
    message = valid_message(recipient=guest, attendees=(Mailbox("h@example.com", "H"), guest))
    ics = render_ics(message, ORGANIZER)
    _, event = _event(ics)
    attendee = _attendees(event)[1]
    assert set(attendee.params) == {"CN", "CUTYPE", "ROLE", "PARTSTAT", "RSVP"}
    assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
    assert attendee.params["CN"] == name.replace('"', "'")
    assert str(attendee).lower() == "mailto:zoe@example.com"
    assert len(_attendees(event)) == 2
    parsed = vobject.readOne(ics.decode())
    if "^" not in name:  # vobject does not undo RFC 6868's `^^`; icalendar (above) does
        assert parsed.vevent.attendee_list[1].params["CN"] == [name.replace('"', "'")]
    assert len(parsed.vevent.attendee_list) == 2
