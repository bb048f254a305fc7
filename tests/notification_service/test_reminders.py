"""Reminder mails (issue 12, docs/design.md §9): rendered without any calendar part, in the
recipient's zone, saying how soon; delivered through a real SMTP server."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from email.utils import parsedate_to_datetime

import grpc
import pytest
from notification.v1 import notification_pb2 as pb

from notification_service.domain.errors import InvalidMessage
from notification_service.domain.model import Mailbox
from notification_service.domain.reminder_validation import validate_reminder
from notification_service.render import mime
from notification_service.render.reminder_bodies import how_soon
from notification_service.service_layer.notifier import render_and_verify_reminder
from tests.notification_service.mail_strategies import INVITE_HEADERS, REMINDER_TREE, read_mail
from tests.notification_service.notification_helpers import (
    GUEST,
    HOST,
    START,
    make_reminder,
    reminder_message,
    server_config,
)

SENDER = Mailbox("rooms@mail.example.net", "Practice Rooms")


def _read(**overrides):
    valid = validate_reminder(reminder_message(**overrides))
    return valid, read_mail(render_and_verify_reminder(valid, SENDER).mime)


def test_a_reminder_is_plain_and_html_only_with_no_calendar():
    valid, read = _read()
    assert read.header_names == INVITE_HEADERS
    assert read.tree == REMINDER_TREE
    assert read.calendar is None
    raw = render_and_verify_reminder(valid, SENDER).mime
    assert b"text/calendar" not in raw and b"METHOD" not in raw and b".ics" not in raw
    assert read.to == [(GUEST.display_name, GUEST.email)]
    assert read.subject == "Reminder: Mock interview: system design starts in 1 hour"
    assert parsedate_to_datetime(str(read.mail["Date"])) == valid.due_time


def test_the_body_has_the_title_time_rounds_description_and_the_other_person():
    _, read = _read(time_zone="Europe/Paris")
    for body in (read.plain, read.html):
        assert "Your practice session starts in 1 hour." in body
        assert "Mock interview: system design" in body
        assert "Tuesday 4 March 2031, 15:00-16:00 (Europe/Paris, UTC+01:00)" in body
        assert "Round 1: Arrays" in body and "Round 2: Graphs" in body
        assert "Bring a pen." in body
    assert "With: Hannah Host <host@example.com>" in read.plain
    assert "Hannah Host &lt;host@example.com&gt;" in read.html


def test_the_host_is_told_who_the_guest_is():
    _, read = _read(recipient=Mailbox(HOST.email.upper(), HOST.display_name))
    assert "With: Gus Guest <guest@example.org>" in read.plain


def test_no_other_participant_means_no_with_line():
    _, read = _read(participants=(Mailbox(GUEST.email, GUEST.display_name),))
    assert "With:" not in read.plain


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(days=7), "7 days"),
        (timedelta(days=2, hours=12), "2 days 12 hours"),
        (timedelta(hours=24), "24 hours"),
        (timedelta(hours=5, minutes=20), "5 hours"),
        (timedelta(hours=1, minutes=30), "1 hour 30 minutes"),
        (timedelta(hours=1), "1 hour"),
        (timedelta(minutes=59, seconds=40), "1 hour"),
        (timedelta(minutes=12), "12 minutes"),
        (timedelta(minutes=1), "1 minute"),
        (timedelta(seconds=20), "1 minute"),
        (timedelta(seconds=1), "1 minute"),
    ],
)
def test_how_soon_is_rounded_sensibly_and_never_zero(delta, text):
    assert how_soon(delta) == text


def test_a_late_reminder_says_how_soon_from_the_attempt():
    _, read = _read(send_time=START - timedelta(minutes=12))
    assert read.subject.endswith("starts in 12 minutes")
    assert "starts in 12 minutes." in read.plain


def test_the_message_id_is_stable_per_uid_start_offset_and_recipient():
    base = validate_reminder(reminder_message())
    mid = mime.reminder_message_id(base, SENDER.domain)
    retry = validate_reminder(reminder_message(send_time=START - timedelta(minutes=50)))
    assert mime.reminder_message_id(retry, SENDER.domain) == mid
    others = [
        reminder_message(uid="other@rooms.localhost"),
        reminder_message(start=START + timedelta(hours=1), end=START + timedelta(hours=2)),
        reminder_message(offset=timedelta(hours=24)),
        reminder_message(recipient=Mailbox(HOST.email, HOST.display_name)),
    ]
    ids = {mime.reminder_message_id(validate_reminder(m), SENDER.domain) for m in others}
    assert len(ids) == 4 and mid not in ids


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"send_time": START}, "message.send_time"),
        ({"send_time": START + timedelta(minutes=1)}, "message.send_time"),
        ({"send_time": None}, "message.send_time"),
        ({"due_time": None}, "message.due_time"),
        ({"offset": None}, "message.offset"),
        ({"offset": timedelta(0)}, "message.offset"),
        ({"offset": timedelta(seconds=-60)}, "message.offset"),
        ({"offset": timedelta(seconds=1.5)}, "message.offset"),
        ({"end": START}, "message.end_time"),
        ({"start": None}, "message.start_time"),
        ({"uid": ""}, "message.uid"),
        ({"uid": "has space"}, "message.uid"),
        ({"title": ""}, "message.title"),
        ({"title": "a\r\nBcc: x@y.z"}, "message.title"),
        ({"description": "a\rb"}, "message.description"),
        (
            {"rounds": (replace(reminder_message().rounds[0], topic="a\u2029b"),)},
            "message.rounds[0].topic",
        ),
        ({"recipient": Mailbox("not an address", "x")}, "message.recipient.email"),
        ({"time_zone": "Europe"}, "message.recipient.time_zone"),
        ({"participants": (Mailbox(HOST.email, "a\nb"),)}, "message.participants[0].display_name"),
        ({"participants": tuple(Mailbox(f"p{i}@x.io") for i in range(3))}, "message.participants"),
        ({"idempotency_key": "k\x00"}, "message.idempotency_key"),
    ],
)
def test_invalid_reminders_are_refused(overrides, field):
    with pytest.raises(InvalidMessage) as exc:
        validate_reminder(reminder_message(**overrides))
    assert field in {v.field for v in exc.value.violations}


# --- over gRPC, through a real SMTP server ----------------------------------------


async def test_a_reminder_is_delivered_and_logged(start_server, smtp_sink, log_events):
    running = await start_server(server_config(smtp_sink))
    message = make_reminder(
        recipient=pb.Recipient(email=GUEST.email, display_name="Gus", time_zone="Asia/Tokyo")
    )
    reply = await running.deliver_reminder(message)
    assert reply.outcome == pb.OUTCOME_DELIVERED, reply.detail
    [received] = smtp_sink.received
    assert received.rcpt_tos == [GUEST.email]
    read = read_mail(received.content)
    assert str(read.mail["Message-ID"]) == f"<{reply.message_id}>"
    assert read.tree == REMINDER_TREE
    assert read.subject == "Reminder: Mock interview: system design starts in 1 hour"
    assert "Tuesday 4 March 2031, 23:00-00:00" not in read.plain  # spans midnight in Tokyo
    assert "Tuesday 4 March 2031, 23:00 - Wednesday 5 March 2031, 00:00 (Asia/Tokyo" in read.plain
    assert "With: Hannah Host <host@example.com>" in read.plain
    [attempt] = log_events("delivery_attempt")
    assert attempt["kind"] == "reminder"
    assert attempt["outcome"] == "DELIVERED"
    assert attempt["idempotency_key"] == "reminder-1"
    assert attempt["itip_method"] is None
    again = await running.deliver_reminder(message)
    assert again.message_id == reply.message_id


async def test_render_reminder_matches_what_is_sent(start_server, smtp_sink):
    running = await start_server(server_config(smtp_sink))
    rendered = await running.render_reminder(make_reminder())
    await running.deliver_reminder(make_reminder())
    assert smtp_sink.received[0].content == rendered.mime


async def test_dry_run_reminder_is_logged_and_not_sent(start_server, smtp_sink, log_events):
    config = replace(server_config(smtp_sink), notifications_enabled=False)
    running = await start_server(config)
    reply = await running.deliver_reminder(make_reminder())
    assert reply.outcome == pb.OUTCOME_DRY_RUN
    [line] = log_events("dry_run_message")
    assert line["kind"] == "reminder"
    assert line["idempotency_key"] == "reminder-1"
    assert f"Message-ID: <{reply.message_id}>" in line["mime"]
    # The reply came after the one attempt, which in dry-run opens no connection.
    assert smtp_sink.handler.sessions == 0


async def test_a_refused_reminder_is_a_permanent_failure(start_server, smtp_sink):
    smtp_sink.handler.mode = "550 5.1.1 no such user"
    running = await start_server(server_config(smtp_sink))
    reply = await running.deliver_reminder(make_reminder())
    assert reply.outcome == pb.OUTCOME_PERMANENT_FAILURE
    assert "550" in reply.detail


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"send_time": START}, "message.send_time"),
        ({"offset": None}, "message.offset"),
        ({"end": START}, "message.end_time"),
        ({"recipient": pb.Recipient(email="x")}, "message.recipient.email"),
        ({"title": "a\u2028b"}, "message.title"),
    ],
)
async def test_invalid_reminders_are_invalid_argument(start_server, smtp_sink, overrides, field):
    running = await start_server(server_config(smtp_sink))
    for call in (running.deliver_reminder, running.render_reminder):
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await call(make_reminder(**overrides))
        assert exc.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert field in exc.value.details()
    assert smtp_sink.received == []
