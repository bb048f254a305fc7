"""The structural guard refuses every mail that is not exactly what was meant (pure).

Each test renders a real invite, tampers with the bytes the way an injection or a
renderer regression would, and expects UnrenderableMessage."""

from __future__ import annotations

import base64

import pytest
from notification_helpers import valid_message

from notification_service import guard, mime
from notification_service.bodies import render_bodies
from notification_service.guard import UnrenderableMessage
from notification_service.ics import render_ics
from notification_service.ics_guard import check_calendar
from notification_service.model import Mailbox, Method, Round

SENDER = Mailbox("rooms@mail.example.net", "Practice Rooms")


def _mail(**overrides):
    message = valid_message(**overrides)
    ics = render_ics(message, SENDER)
    bodies = render_bodies(message)
    mid = mime.message_id(message, SENDER.domain)
    mail = mime.invite_mail(message, bodies.subject, bodies.plain, bodies.html, ics, SENDER, mid)
    return message, ics, mail, mime.write(mail)


def test_the_untouched_mail_passes():
    for method in (Method.REQUEST, Method.CANCEL):
        message, ics, mail, data = _mail(method=method, rounds=(Round(1, "Arrays"),))
        guard.check(data, mail)
        check_calendar(ics, message, SENDER)


def _tampered(replace: tuple[bytes, bytes], count: int = 1) -> str:
    _, _, mail, data = _mail()
    old, new = replace
    assert old in data
    with pytest.raises(UnrenderableMessage) as exc:
        guard.check(data.replace(old, new, count), mail)
    return exc.value.detail


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        (b"\r\nDate:", b"\r\nReply-To: phish@evil.example\r\nDate:", "header names"),
        (b"\r\nDate:", b"\r\nBcc: victim@example.com\r\nDate:", "header names"),
        (b"<guest@example.org>", b"<guest@example.org>, victim@example.com", "To"),
        (b"<guest@example.org>", b"<victim@example.com>", "To address"),
        (b"Gus Guest <", b"Gus Guesst <", "To display name"),
        (b"From: Practice Rooms", b"From: Practice Roomz", "From display name"),
        (b"Subject: Invitation:", b"Subject: Invitation!", "Subject"),
        (b"Auto-Submitted: auto-generated", b"Auto-Submitted: no", "Auto-Submitted"),
        (b'charset="UTF-8"', b"charset=\"UTF-8\"; name*=utf-8''evil.exe", "parameters"),
        (b'method="REQUEST"', b'method="CANCEL"', "parameters"),
        (b'filename="invite.ics"', b'filename="invite.exe"', "disposition"),
        (b"Content-Type: text/html", b"Content-Type: text/x-html", "text/x-html"),
        (b"base64\r\n\r\n", b"quoted-printable\r\n\r\n", "transfer encoding"),
        (b"You have a practice session", b"You have won a prize!!!!!!!!", "content"),
        (b"\r\n\r\n--=_alt", b"\r\n\r\nPreamble\r\n--=_alt", "preamble"),
    ],
)
def test_a_changed_header_parameter_or_part_is_refused(old, new, why):
    assert _tampered((old, new))


def test_a_replaced_body_is_refused():
    _, _, mail, data = _mail()
    head, _, _ = data.partition(b"\r\n\r\n")
    replaced = head + b"\r\n\r\n<h1>Replaced</h1>\r\n"
    with pytest.raises(UnrenderableMessage):
        guard.check(replaced, mail)


def test_a_missing_part_is_refused():
    _, _, mail, data = _mail()
    start = data.index(b"Content-Type: application/ics")
    end = data.index(b"--=_mixed_", start)
    with pytest.raises(UnrenderableMessage) as exc:
        guard.check(data[:start] + data[end:], mail)
    assert "parts" in exc.value.detail or "parse" in exc.value.detail


@pytest.mark.parametrize(
    ("mutate", "why"),
    [
        (lambda d: d.replace(b"\r\nTo:", b"\nTo:"), "bare"),
        (lambda d: d.replace(b"\r\nTo:", b"\rTo:"), "bare"),
        (lambda d: d.replace(b"Gus Guest", b"Gus G\xc3\xbcest"), "7-bit"),
        (lambda d: d.replace(b"Gus Guest", b"Gus\x00Guest"), "NUL"),
        (lambda d: d.replace(b"MIME-Version: 1.0", b"MIME-Version: 1.0" + b" " * 1000), "998"),
    ],
)
def test_octets_must_be_7bit_crlf_and_short(mutate, why):
    _, _, mail, data = _mail()
    with pytest.raises(UnrenderableMessage) as exc:
        guard.check(mutate(data), mail)
    assert why in exc.value.detail


def _ics_refused(ics: bytes, **overrides) -> str:
    message = valid_message(**overrides)
    with pytest.raises(UnrenderableMessage) as exc:
        check_calendar(ics, message, SENDER)
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


def test_the_calendar_parts_must_carry_the_same_calendar():
    _, ics, mail, data = _mail()
    encoded = base64.encodebytes(ics).replace(b"\n", b"\r\n")
    other = base64.encodebytes(ics.replace(b"SEQUENCE:1", b"SEQUENCE:2")).replace(b"\n", b"\r\n")
    assert data.count(encoded) == 2
    with pytest.raises(UnrenderableMessage):
        guard.check(data.replace(encoded, other, 1), mail)
