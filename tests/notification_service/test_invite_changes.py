"""What the invites say (issue 15): subjects, what changed, rounds; the new fields'
validation; and delivered reschedule, cancel and leave mails read back from a real
SMTP server."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from notification.v1 import notification_pb2 as pb

from notification_service.domain.errors import InvalidMessage
from notification_service.domain.invite_validation import validate_invite
from notification_service.domain.model import Change, Mailbox, Method, Round
from notification_service.service_layer.notifier import render_and_verify_invite
from tests.notification_service.mail_strategies import read_mail
from tests.notification_service.notification_helpers import (
    GUEST,
    HOST,
    START,
    domain_message,
    make_message,
    server_config,
)

SENDER = Mailbox("rooms@mail.example.net", "Practice Rooms")
LEFT = Mailbox(GUEST.email, GUEST.display_name)
ROUNDS = (Round(1, "Arrays"), Round(2, "Graphs & <trees>"))


def _read(**overrides):
    return read_mail(
        render_and_verify_invite(validate_invite(domain_message(**overrides)), SENDER).mime
    )


@pytest.mark.parametrize(
    ("overrides", "prefix"),
    [
        ({}, "Invitation: "),
        ({"change": Change.BOOKED}, "Invitation: "),
        ({"change": Change.RESCHEDULED}, "Updated invitation: "),
        ({"change": Change.GUEST_LEFT, "departed": LEFT}, "Updated invitation: "),
        ({"method": Method.CANCEL}, "Cancelled: "),
        ({"method": Method.CANCEL, "change": Change.CANCELLED}, "Cancelled: "),
        ({"method": Method.CANCEL, "uninvite": True}, "No longer attending: "),
        (
            {"method": Method.CANCEL, "uninvite": True, "change": Change.GUEST_LEFT},
            "No longer attending: ",
        ),
    ],
)
def test_the_subject_says_what_happened(overrides, prefix):
    read = _read(**overrides)
    assert read.subject.startswith(prefix + "Mock interview: system design @ ")


def test_a_reschedule_shows_the_old_and_the_new_time_in_the_recipients_zone():
    moved = START + timedelta(days=1, hours=2)
    read = _read(
        change=Change.RESCHEDULED,
        start=moved,
        end=moved + timedelta(hours=1),
        previous_start=START,
        previous_end=START + timedelta(hours=1),
        time_zone="Asia/Kolkata",
    )
    for body in (read.plain, read.html):
        assert "moved to a new time" in body
        assert "Wednesday 5 March 2031, 21:30-22:30 (Asia/Kolkata, UTC+05:30)" in body
        assert "Tuesday 4 March 2031, 19:30-20:30 (Asia/Kolkata, UTC+05:30)" in body
    assert "New time: Wednesday 5 March" in read.plain
    assert "Old time: Tuesday 4 March" in read.plain


def test_a_cancel_says_what_was_cancelled_and_why():
    read = _read(method=Method.CANCEL, cancel_reason="Host is ill & sorry <3")
    assert "The host cancelled this practice session" in read.plain
    assert "Mock interview: system design" in read.plain
    assert "When: Tuesday 4 March 2031, 14:00-15:00 (UTC)" in read.plain
    assert "Reason: Host is ill & sorry <3" in read.plain
    assert "Host is ill &amp; sorry &lt;3" in read.html


def test_the_hosts_update_names_the_guest_who_left():
    host = Mailbox(HOST.email, HOST.display_name)
    read = _read(
        change=Change.GUEST_LEFT,
        departed=LEFT,
        recipient=host,
        attendees=(host,),
    )
    assert read.plain.startswith("Gus Guest left this practice session")
    assert "Left: Gus Guest <guest@example.org>" in read.plain
    assert "Gus Guest left this practice session" in read.html


def test_the_guests_uninvite_says_they_left():
    read = _read(method=Method.CANCEL, uninvite=True, change=Change.GUEST_LEFT)
    assert read.plain.startswith("You left this practice session")
    assert "no longer attending" in read.html


def test_rounds_and_description_appear_in_both_bodies_and_the_calendar():
    read = _read(rounds=ROUNDS, description="Bring a pen.")
    assert "Rounds:\nRound 1: Arrays\nRound 2: Graphs & <trees>\n" in read.plain
    assert "<li>Round 2: Graphs &amp; &lt;trees&gt;</li>" in read.html
    [event] = read.calendar.walk("VEVENT")
    assert str(event["DESCRIPTION"]) == (
        "Bring a pen.\n\nRound 1: Arrays\nRound 2: Graphs & <trees>"
    )


def _fields(**overrides) -> set[str]:
    with pytest.raises(InvalidMessage) as exc:
        validate_invite(domain_message(**overrides))
    return {v.field for v in exc.value.violations}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"rounds": tuple(Round(n, "t") for n in range(1, 52))}, "message.event.rounds"),
        ({"rounds": (Round(1, ""),)}, "message.event.rounds[0].topic"),
        ({"rounds": (Round(1, "x" * 201),)}, "message.event.rounds[0].topic"),
        ({"rounds": (Round(1, "a\nb"),)}, "message.event.rounds[0].topic"),
        ({"rounds": (Round(1, "a\u2028b"),)}, "message.event.rounds[0].topic"),
        ({"rounds": (Round(0, "Arrays"),)}, "message.event.rounds[0].number"),
        ({"previous_start": START}, "message.event.previous_start_time"),
        (
            {"change": Change.RESCHEDULED, "previous_start": START},
            "message.event.previous_end_time",
        ),
        (
            {"change": Change.RESCHEDULED, "previous_end": START},
            "message.event.previous_start_time",
        ),
        (
            {"change": Change.RESCHEDULED, "previous_start": START, "previous_end": START},
            "message.event.previous_end_time",
        ),
        ({"departed": LEFT}, "message.departed"),
        ({"change": Change.GUEST_LEFT, "departed": Mailbox("nope", "x")}, "message.departed.email"),
        (
            {"change": Change.GUEST_LEFT, "departed": Mailbox(GUEST.email, "a\rb")},
            "message.departed.display_name",
        ),
        ({"change": Change.CANCELLED}, "message.change"),
        ({"method": Method.CANCEL, "change": Change.BOOKED}, "message.change"),
        ({"method": Method.CANCEL, "change": Change.RESCHEDULED}, "message.change"),
        ({"method": Method.CANCEL, "change": Change.GUEST_LEFT}, "message.change"),
        ({"method": Method.CANCEL, "uninvite": True, "change": Change.CANCELLED}, "message.change"),
        ({"unknown_change": 9}, "message.change"),
    ],
)
def test_new_fields_are_validated(overrides, field):
    assert field in _fields(**overrides)


def test_fifty_rounds_and_both_previous_times_are_fine():
    valid = validate_invite(
        domain_message(
            rounds=tuple(Round(n, "t" * 200) for n in range(1, 51)),
            change=Change.RESCHEDULED,
            previous_start=START - timedelta(days=1),
            previous_end=START - timedelta(days=1) + timedelta(minutes=30),
        )
    )
    assert len(valid.rounds) == 50
    assert valid.previous_start == START - timedelta(days=1)


# --- delivered through a real SMTP server -----------------------------------------


def _topics() -> list[pb.EventRound]:
    return [pb.EventRound(number=1, topic="Arrays"), pb.EventRound(number=2, topic="Graphs")]


async def test_delivered_reschedule_cancel_and_leave_mails_say_what_changed(
    start_server, smtp_sink
):
    running = await start_server(server_config(smtp_sink))
    moved = START + timedelta(hours=3)
    host_recipient = pb.Recipient(email=HOST.email, display_name=HOST.display_name)
    messages = {
        "reschedule": make_message(
            sequence=2,
            change=pb.CHANGE_RESCHEDULED,
            start=moved,
            previous_start=START,
            previous_end=START + timedelta(hours=1),
            rounds=_topics(),
        ),
        "host after leave": make_message(
            sequence=3,
            change=pb.CHANGE_GUEST_LEFT,
            departed=GUEST,
            recipient=host_recipient,
            attendees=[HOST],
        ),
        "guest after leave": make_message(
            method=pb.METHOD_CANCEL, sequence=3, uninvite=True, change=pb.CHANGE_GUEST_LEFT
        ),
        "cancel": make_message(
            method=pb.METHOD_CANCEL,
            sequence=4,
            change=pb.CHANGE_CANCELLED,
            cancel_reason="Host is ill",
        ),
    }
    for message in messages.values():
        reply = await running.deliver(message)
        assert reply.outcome == pb.OUTCOME_DELIVERED, reply.detail
    mails = dict(zip(messages, (read_mail(m.content) for m in smtp_sink.received), strict=True))

    reschedule = mails["reschedule"]
    assert reschedule.subject.startswith("Updated invitation: Mock interview")
    assert "New time: Tuesday 4 March 2031, 17:00-18:00 (UTC)" in reschedule.plain
    assert "Old time: Tuesday 4 March 2031, 14:00-15:00 (UTC)" in reschedule.plain
    assert "Round 2: Graphs" in reschedule.plain and "Round 2: Graphs" in reschedule.html
    [event] = reschedule.calendar.walk("VEVENT")
    assert "Round 1: Arrays\nRound 2: Graphs" in str(event["DESCRIPTION"])
    assert int(event["SEQUENCE"]) == 2

    host = mails["host after leave"]
    assert host.subject.startswith("Updated invitation: ")
    assert "Gus Guest left this practice session" in host.plain
    assert str(host.calendar["METHOD"]) == "REQUEST"

    guest = mails["guest after leave"]
    assert guest.subject.startswith("No longer attending: ")
    assert "You left this practice session" in guest.plain
    assert str(guest.calendar["METHOD"]) == "CANCEL"

    cancel = mails["cancel"]
    assert cancel.subject.startswith("Cancelled: Mock interview: system design")
    assert "The host cancelled this practice session" in cancel.plain
    assert "Reason: Host is ill" in cancel.plain
    [event] = cancel.calendar.walk("VEVENT")
    assert str(event["STATUS"]) == "CANCELLED"


async def test_bad_new_fields_are_invalid_argument_over_grpc(start_server):
    running = await start_server(server_config())
    cases = {
        "message.event.previous_start_time": make_message(previous_start=START),
        "message.departed": make_message(departed=GUEST),
        "message.change": make_message(change=pb.CHANGE_CANCELLED),
        "message.event.rounds[0].topic": make_message(
            rounds=[pb.EventRound(number=1, topic="a\r\nBcc: x@y.z")]
        ),
    }
    for field, message in cases.items():
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await running.deliver(message)
        assert exc.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert field in exc.value.details()
