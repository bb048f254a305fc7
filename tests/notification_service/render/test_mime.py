"""The e-mail around the invitation (RFC 6047), read back with the email package (pure).

Rendering goes through `render_and_verify_invite`, the structural check included."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from email.utils import parseaddr, parsedate_to_datetime
from zoneinfo import ZoneInfo

import icalendar
import pytest

from notification_service.domain.model import Mailbox, Method, ValidInvite
from notification_service.render.mime import invite_message_id
from notification_service.service_layer.notifier import render_and_verify_invite
from tests.notification_service.notification_helpers import valid_message

SENDER = Mailbox("rooms@mail.example.net", "Practice Rooms")


def _render(message: ValidInvite) -> bytes:
    return render_and_verify_invite(message, SENDER).mime


def _parse(data: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _parts(mail: EmailMessage) -> dict[str, EmailMessage]:
    return {part.get_content_type(): part for part in mail.walk()}  # type: ignore[misc]


def _text(mail: EmailMessage, subtype: str) -> str:
    return str(_parts(mail)[f"text/{subtype}"].get_content())


@pytest.mark.parametrize("method", [Method.REQUEST, Method.CANCEL])
def test_layout_follows_rfc_6047(method):
    message = valid_message(method=method)
    mail = _parse(_render(message))
    assert mail.get_content_type() == "multipart/mixed"
    alternative, attachment = mail.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == [
        "text/plain",
        "text/html",
        "text/calendar",
    ]
    calendar = list(alternative.iter_parts())[2]
    ics = calendar.get_payload(decode=True)
    assert calendar.get_param("method") == method.value
    assert str(icalendar.Calendar.from_ical(ics)["METHOD"]) == method.value
    assert str(calendar.get_param("charset")).upper() == "UTF-8"
    assert attachment.get_content_type() == "application/ics"
    assert attachment.get_param("name") == "invite.ics"
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_param("method") is None
    assert attachment.get_payload(decode=True) == ics


def test_headers_show_sender_recipient_and_dtstamp_as_date():
    message = valid_message(title="面试练习", recipient=Mailbox("zoe@example.com", "Zoë Ångström"))
    mail = _parse(_render(message))
    assert parseaddr(str(mail["From"])) == (SENDER.name, SENDER.address)
    assert parseaddr(str(mail["To"])) == ("Zoë Ångström", "zoe@example.com")
    assert "面试练习" in str(mail["Subject"])
    assert parsedate_to_datetime(str(mail["Date"])) == message.dtstamp
    assert str(mail["Message-ID"]).endswith(f"@{SENDER.domain}>")


def test_message_id_is_stable_per_uid_sequence_method_recipient():
    base = valid_message()
    same = {invite_message_id(valid_message(), SENDER.domain) for _ in range(3)}
    assert same == {invite_message_id(base, SENDER.domain)}
    others = {
        invite_message_id(valid_message(sequence=base.sequence + 1), SENDER.domain),
        invite_message_id(valid_message(method=Method.CANCEL), SENDER.domain),
        invite_message_id(valid_message(uid="other@rooms.localhost"), SENDER.domain),
        invite_message_id(valid_message(recipient=Mailbox("host@example.com", "H")), SENDER.domain),
    }
    assert len(others) == 4
    assert invite_message_id(base, SENDER.domain) not in others


def test_a_retry_renders_identical_bytes():
    assert _render(valid_message()) == _render(valid_message())


def test_message_is_7bit_with_crlf_and_short_lines():
    data = _render(valid_message(title="面试练习 " * 30, description="Zoë " * 900))
    assert data.isascii()
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998


@pytest.mark.parametrize("zone", ["Europe/Paris", "Asia/Kolkata", "America/St_Johns", ""])
def test_bodies_show_the_time_in_the_recipients_zone(zone):
    message = valid_message(time_zone=zone)
    mail = _parse(_render(message))
    tz = ZoneInfo(zone or "UTC")
    local_start = message.start.astimezone(tz)
    local_end = message.end.astimezone(tz)
    expected = f"{local_start:%H:%M}-{local_end:%H:%M}"
    for subtype in ("plain", "html"):
        body = _text(mail, subtype)
        assert expected in body
        assert (zone or "UTC") in body
        assert str(local_start.day) in body


def test_html_body_escapes_user_text():
    title = '<script>alert("x")</script> & <a href="https://evil.example">win</a>'
    message = valid_message(title=title, description="<b>bold?</b>\nline 2")
    mail = _parse(_render(message))
    html = _text(mail, "html")
    assert "<script>" not in html
    assert "<a " not in html
    assert "&lt;script&gt;" in html
    assert "&lt;b&gt;bold?&lt;/b&gt;<br>" in html
    assert title in _text(mail, "plain")


def test_no_add_to_calendar_links():
    mail = _parse(_render(valid_message()))
    for subtype in ("plain", "html"):
        body = _text(mail, subtype).lower()
        assert "http://" not in body
        assert "https://" not in body
        assert "<a " not in body


def test_cancel_shows_the_reason():
    message = valid_message(method=Method.CANCEL, cancel_reason="Host is ill & sorry <3")
    mail = _parse(_render(message))
    assert "Host is ill & sorry <3" in _text(mail, "plain")
    assert "Host is ill &amp; sorry &lt;3" in _text(mail, "html")
    assert "Cancelled" in str(mail["Subject"])


def test_uninvite_says_the_recipient_no_longer_attends():
    message = valid_message(method=Method.CANCEL, uninvite=True)
    mail = _parse(_render(message))
    assert "no longer attending" in _text(mail, "plain").lower()
