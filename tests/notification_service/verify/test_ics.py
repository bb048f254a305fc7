"""The calendar's structural check refuses every calendar that is not exactly the one
meant (pure): a real invite's calendar, tampered with, must raise UnrenderableMessage."""

from __future__ import annotations

import pytest

from notification_service.domain.errors import UnrenderableMessage
from notification_service.domain.model import Mailbox, Method, Round
from notification_service.render.ics import render_ics
from notification_service.verify.ics import verify_calendar
from tests.notification_service.notification_helpers import valid_message

SENDER = Mailbox("rooms@mail.example.net", "Practice Rooms")


def test_the_untouched_calendar_passes():
    for method in (Method.REQUEST, Method.CANCEL):
        message = valid_message(method=method, rounds=(Round(1, "Arrays"),))
        verify_calendar(render_ics(message, SENDER), message, SENDER)


def _ics_refused(ics: bytes, **overrides) -> str:
    message = valid_message(**overrides)
    with pytest.raises(UnrenderableMessage) as exc:
        verify_calendar(ics, message, SENDER)
    return exc.value.detail


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"STATUS:CONFIRMED", b"STATUS:CANCELLED"),
        (b"\r\nSTATUS:", b"\r\nATTENDEE:mailto:victim@example.com\r\nSTATUS:"),
        (b"\r\nSTATUS:", b"\r\nURL:https://evil.example\r\nSTATUS:"),
        (b"ROLE=REQ-PARTICIPANT", b"ROLE=CHAIR"),
        (b";RSVP=FALSE", b";RSVP=FALSE;X-EVIL=1"),
        (b'CN="Gus Guest"', b'CN="Gus Guest";SENT-BY="mailto:e@x.example"'),
        (b"END:VEVENT\r\n", b"END:VEVENT\r\nBEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\n"),
        (b"END:VALARM\r\n", b""),
        (b"SUMMARY:Mock interview", b"SUMMARY:Mock interviews"),
        (b"SEQUENCE:1", b"SEQUENCE:9"),
        (b"METHOD:REQUEST", b"METHOD:PUBLISH"),
        (b"mailto:guest@example.org", b"mailto:victim@example.com"),
    ],
)
def test_a_changed_calendar_is_refused(old, new):
    ics = render_ics(valid_message(), SENDER)
    assert old in ics
    assert _ics_refused(ics.replace(old, new, 1))


def test_a_calendar_that_does_not_parse_is_refused():
    for ics in (b"\xff\xfe", b"BEGIN:VCALENDAR\r\n", b"not a calendar\r\n"):
        assert _ics_refused(ics)
