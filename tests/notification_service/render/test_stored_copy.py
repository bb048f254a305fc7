"""The copy written into a person's calendar (pure): the invitation's event from the same
writer, without METHOD, CONFIRMED, SCHEDULE-AGENT=CLIENT on every address; and the
structural check that refuses any other object."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import icalendar
import pytest
import vobject

from notification_service.domain.calendar import EventCopy
from notification_service.domain.errors import UnrenderableMessage
from notification_service.domain.model import Mailbox, Round
from notification_service.render.ics import render_ics, render_stored_ics
from notification_service.verify.ics import verify_calendar, verify_stored_calendar
from tests.notification_service.notification_helpers import GUEST, HOST, START, valid_message

SENDER = Mailbox("rooms@mail.example.net", "Practice Rooms")


def copy_of(**overrides: object) -> EventCopy:
    """The stored copy of `valid_message()`'s event."""
    invite = valid_message()
    base = EventCopy(
        uid=invite.uid,
        sequence=invite.sequence,
        start=invite.start,
        end=invite.end,
        title=invite.title,
        description=invite.description,
        rounds=(Round(1, "Arrays"),),
        attendees=invite.attendees,
        dtstamp=invite.dtstamp,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def lines(ics: bytes) -> list[str]:
    return ics.decode().replace("\r\n ", "").split("\r\n")


def test_the_copy_is_the_invitations_event_without_method_and_with_client_scheduling() -> None:
    copy = copy_of()
    invite = valid_message(rounds=copy.rounds)
    stored = render_stored_ics(copy, SENDER)
    sent = render_ics(invite, SENDER)

    assert "METHOD:REQUEST" in lines(sent)
    assert not [line for line in lines(stored) if line.startswith("METHOD")]
    # Line for line the same, but METHOD and the SCHEDULE-AGENT parameters.
    expected = [
        line.replace(":mailto:", ";SCHEDULE-AGENT=CLIENT:mailto:")
        if line.startswith(("ORGANIZER", "ATTENDEE"))
        else line
        for line in lines(sent)
        if not line.startswith("METHOD")
    ]
    assert lines(stored) == expected

    event = icalendar.Calendar.from_ical(stored).walk("VEVENT")[0]
    assert str(event["STATUS"]) == "CONFIRMED"
    assert event.decoded("DTSTART") == START and event.decoded("DTEND") == START + timedelta(
        hours=1
    )
    assert event["ORGANIZER"].params["SCHEDULE-AGENT"] == "CLIENT"
    for attendee in event["ATTENDEE"]:
        assert attendee.params["SCHEDULE-AGENT"] == "CLIENT"
        assert attendee.params["PARTSTAT"] == "ACCEPTED"
    assert [a.params["CN"] for a in event["ATTENDEE"]] == [HOST.display_name, GUEST.display_name]
    parsed = vobject.readOne(stored.decode())
    assert "method" not in parsed.contents
    assert parsed.vevent.summary.value == copy.title


def test_the_copy_is_deterministic_and_passes_its_check() -> None:
    copy = copy_of()
    assert render_stored_ics(copy, SENDER) == render_stored_ics(copy, SENDER)
    verify_stored_calendar(render_stored_ics(copy, SENDER), copy, SENDER)
    verify_stored_calendar(render_stored_ics(copy, Mailbox("a@b")), copy, Mailbox("a@b"))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"VERSION:2.0\r\n", b"VERSION:2.0\r\nMETHOD:REQUEST\r\n"),
        (b"STATUS:CONFIRMED", b"STATUS:CANCELLED"),
        (b";SCHEDULE-AGENT=CLIENT:mailto:guest", b":mailto:guest"),
        (b"SCHEDULE-AGENT=CLIENT:mailto:rooms", b"SCHEDULE-AGENT=SERVER:mailto:rooms"),
        (b"DTSTART:20310304T140000Z", b"DTSTART:20310304T150000Z"),
        (b"DTEND:20310304T150000Z", b"DTEND:20310304T160000Z"),
        (b"DTSTAMP:20310301T140000Z", b"DTSTAMP:20310302T140000Z"),
        (b"SEQUENCE:1", b"SEQUENCE:0"),
        (b"END:VEVENT\r\n", b"END:VEVENT\r\nBEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\n"),
        (b"END:VALARM\r\n", b"END:VALARM\r\nURL:https://evil.example\r\n"),
    ],
)
def test_any_other_object_is_refused(old: bytes, new: bytes) -> None:
    copy = copy_of()
    stored = render_stored_ics(copy, SENDER)
    assert old in stored
    with pytest.raises(UnrenderableMessage):
        verify_stored_calendar(stored.replace(old, new, 1), copy, SENDER)


def test_an_invitation_is_not_a_copy_and_a_copy_is_not_an_invitation() -> None:
    copy = copy_of()
    invite = valid_message(rounds=copy.rounds)
    with pytest.raises(UnrenderableMessage):
        verify_stored_calendar(render_ics(invite, SENDER), copy, SENDER)
    with pytest.raises(UnrenderableMessage):
        verify_calendar(render_stored_ics(copy, SENDER), invite, SENDER)
