"""The structural check refuses every mail that is not exactly what was meant (pure).

Each test renders a real invite, tampers with the bytes the way an injection or a
renderer regression would, and expects UnrenderableMessage. The calendar's own check
is in test_ics.py."""

from __future__ import annotations

import base64

import pytest

from notification_service.domain.errors import UnrenderableMessage
from notification_service.domain.model import Mailbox, Method, Round
from notification_service.render import mime
from notification_service.render.ics import render_ics
from notification_service.render.invite_bodies import render_invite_bodies
from notification_service.verify.mime import verify_mail
from tests.notification_service.notification_helpers import valid_message

SENDER = Mailbox("rooms@mail.example.net", "Practice Rooms")


def _mail(**overrides):
    message = valid_message(**overrides)
    ics = render_ics(message, SENDER)
    bodies = render_invite_bodies(message)
    mid = mime.invite_message_id(message, SENDER.domain)
    mail = mime.invite_mail(message, bodies.subject, bodies.plain, bodies.html, ics, SENDER, mid)
    return message, ics, mail, mime.write(mail)


def test_the_untouched_mail_passes():
    for method in (Method.REQUEST, Method.CANCEL):
        _, _, mail, data = _mail(method=method, rounds=(Round(1, "Arrays"),))
        verify_mail(data, mail)


def _tampered(replace: tuple[bytes, bytes], count: int = 1) -> str:
    _, _, mail, data = _mail()
    old, new = replace
    assert old in data
    with pytest.raises(UnrenderableMessage) as exc:
        verify_mail(data.replace(old, new, count), mail)
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
        verify_mail(replaced, mail)


def test_a_missing_part_is_refused():
    _, _, mail, data = _mail()
    start = data.index(b"Content-Type: application/ics")
    end = data.index(b"--=_mixed_", start)
    with pytest.raises(UnrenderableMessage) as exc:
        verify_mail(data[:start] + data[end:], mail)
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
        verify_mail(mutate(data), mail)
    assert why in exc.value.detail


def test_the_calendar_parts_must_carry_the_same_calendar():
    _, ics, mail, data = _mail()
    encoded = base64.encodebytes(ics).replace(b"\n", b"\r\n")
    other = base64.encodebytes(ics.replace(b"SEQUENCE:1", b"SEQUENCE:2")).replace(b"\n", b"\r\n")
    assert data.count(encoded) == 2
    with pytest.raises(UnrenderableMessage):
        verify_mail(data.replace(encoded, other, 1), mail)
