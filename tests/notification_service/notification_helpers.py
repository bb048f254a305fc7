"""Test helpers for the notification service: requests, domain messages, a running
server with a client, an SMTP sink."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from notification.v1 import notification_pb2 as pb
from notification.v1 import notification_pb2_grpc as pb_grpc

from notification_service.delivery.smtp import SmtpSettings
from notification_service.domain.invite_validation import validate_invite
from notification_service.domain.model import (
    CalendarMessage,
    Mailbox,
    Method,
    ReminderMessage,
    Round,
    ValidInvite,
)
from notification_service.entrypoints.config import Config
from notification_service.entrypoints.server import NotificationServer
from tests.smtp_sink import Received, Sink, SinkHandler, free_port, start_sink

__all__ = ["Received", "Sink", "SinkHandler", "free_port", "start_sink"]

START = datetime(2031, 3, 4, 14, 0, tzinfo=UTC)


def smtp_settings(sink: Sink | None = None, **overrides: Any) -> SmtpSettings:
    base = SmtpSettings(
        host="127.0.0.1",
        port=sink.port if sink else free_port(),
        timeout_s=5.0,
        pool_size=4,
    )
    return replace(base, **overrides)


def server_config(sink: Sink | None = None, **overrides: Any) -> Config:
    """Listens on a free loopback port; SMTP to `sink` if given, else dry-run."""
    base = Config(
        listen="127.0.0.1:0",
        notifications_enabled=sink is not None,
        smtp=smtp_settings(sink),
        shutdown_grace_s=1.0,
    )
    return replace(base, **overrides)


HOST = pb.Participant(email="host@example.com", display_name="Hannah Host")
GUEST = pb.Participant(email="guest@example.org", display_name="Gus Guest")
_EVENT_KEYS = {"title", "description", "uid", "sequence", "status", "cancel_reason", "rounds"}
_EVENT_TIMES = {"previous_start": "previous_start_time", "previous_end": "previous_end_time"}


def make_message(**overrides: Any) -> pb.CalendarMessage:
    """A valid REQUEST to the guest of a booked session; keywords replace fields.

    `title`, `description`, `uid`, `sequence`, `status`, `cancel_reason`,
    `rounds`, `start`, `end`, `previous_start`, `previous_end` go to the event;
    the others to the message.
    """
    event = pb.CalendarEvent(
        uid="4f1c2a9e-0d7b-4c59-9a53-1f5e2b7c8d10@rooms.localhost",
        sequence=1,
        title="Mock interview: system design",
        description="Round 1: design a URL shortener.\nBring a pen.",
    )
    start = overrides.pop("start", START)
    end = overrides.pop("end", start + timedelta(hours=1))
    event.start_time.FromDatetime(start)
    event.end_time.FromDatetime(end)
    for key in [k for k in overrides if k in _EVENT_KEYS]:
        value = overrides.pop(key)
        if key == "rounds":
            event.rounds.extend(value)
        else:
            setattr(event, key, value)
    for key, field in _EVENT_TIMES.items():
        if key in overrides:
            getattr(event, field).FromDatetime(overrides.pop(key))
    message = pb.CalendarMessage(
        method=overrides.pop("method", pb.METHOD_REQUEST),
        event=event,
        organizer=overrides.pop("organizer", HOST),
        attendees=overrides.pop("attendees", [HOST, GUEST]),
        recipient=overrides.pop(
            "recipient",
            pb.Recipient(email=GUEST.email, display_name=GUEST.display_name, time_zone="UTC"),
        ),
        idempotency_key=overrides.pop("idempotency_key", "outbox-1"),
        uninvite=overrides.pop("uninvite", False),
        change=overrides.pop("change", pb.CHANGE_UNSPECIFIED),
    )
    if "departed" in overrides:
        message.departed.CopyFrom(overrides.pop("departed"))
    message.dtstamp.FromDatetime(overrides.pop("dtstamp", START - timedelta(days=3)))
    assert not overrides, f"unknown fields {overrides}"
    return message


@dataclass
class Running:
    server: NotificationServer
    channel: grpc.aio.Channel
    stub: pb_grpc.NotificationServiceStub
    health: health_pb2_grpc.HealthStub

    async def health_status(self, service: str = "") -> int:
        reply = await self.health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        return int(reply.status)

    async def deliver(self, message: pb.CalendarMessage, **kwargs: Any) -> Any:
        request = pb.DeliverCalendarMessageRequest(message=message)
        return await self.stub.DeliverCalendarMessage(request, timeout=30, **kwargs)

    async def render(self, message: pb.CalendarMessage) -> Any:
        request = pb.RenderCalendarMessageRequest(message=message)
        return await self.stub.RenderCalendarMessage(request, timeout=30)

    async def deliver_reminder(self, message: pb.ReminderMessage) -> Any:
        request = pb.DeliverReminderRequest(message=message)
        return await self.stub.DeliverReminder(request, timeout=30)

    async def render_reminder(self, message: pb.ReminderMessage) -> Any:
        request = pb.RenderReminderRequest(message=message)
        return await self.stub.RenderReminder(request, timeout=30)

    async def verify_calendar(self, request: pb.VerifyCalendarRequest) -> Any:
        return await self.stub.VerifyCalendar(request, timeout=30)

    async def write_calendar(self, request: pb.WriteCalendarEventRequest) -> Any:
        return await self.stub.WriteCalendarEvent(request, timeout=30)

    async def read_busy(self, request: pb.ReadCalendarBusyRequest) -> Any:
        return await self.stub.ReadCalendarBusy(request, timeout=30)


async def wait_for(predicate: Callable[[], bool], within_s: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def domain_message(**overrides: Any) -> CalendarMessage:
    """The domain form of `make_message()`: for the pure rendering tests."""
    base = CalendarMessage(
        method=Method.REQUEST,
        uid="4f1c2a9e-0d7b-4c59-9a53-1f5e2b7c8d10@rooms.localhost",
        sequence=1,
        start=START,
        end=START + timedelta(hours=1),
        title="Mock interview: system design",
        description="Round 1: design a URL shortener.\nBring a pen.",
        status=None,
        cancel_reason="",
        organizer=Mailbox(HOST.email, HOST.display_name),
        attendees=(
            Mailbox(HOST.email, HOST.display_name),
            Mailbox(GUEST.email, GUEST.display_name),
        ),
        recipient=Mailbox(GUEST.email, GUEST.display_name),
        time_zone="UTC",
        dtstamp=START - timedelta(days=3),
        idempotency_key="outbox-1",
    )
    return replace(base, **overrides)


def valid_message(**overrides: Any) -> ValidInvite:
    return validate_invite(domain_message(**overrides))


def reminder_message(**overrides: Any) -> ReminderMessage:
    """A valid domain reminder to the guest, one hour before START, sent on time."""
    base = ReminderMessage(
        uid="4f1c2a9e-0d7b-4c59-9a53-1f5e2b7c8d10@rooms.localhost",
        start=START,
        end=START + timedelta(hours=1),
        title="Mock interview: system design",
        description="Bring a pen.",
        rounds=(Round(1, "Arrays"), Round(2, "Graphs")),
        recipient=Mailbox(GUEST.email, GUEST.display_name),
        time_zone="UTC",
        participants=(
            Mailbox(HOST.email, HOST.display_name),
            Mailbox(GUEST.email, GUEST.display_name),
        ),
        offset=timedelta(hours=1),
        send_time=START - timedelta(hours=1),
        due_time=START - timedelta(hours=1),
        idempotency_key="reminder-1",
    )
    return replace(base, **overrides)


def make_reminder(**overrides: Any) -> pb.ReminderMessage:
    """The protobuf form of `reminder_message()`; keywords replace fields (times as
    datetimes, `offset` as a timedelta)."""
    message = pb.ReminderMessage(
        uid=overrides.pop("uid", "4f1c2a9e-0d7b-4c59-9a53-1f5e2b7c8d10@rooms.localhost"),
        title=overrides.pop("title", "Mock interview: system design"),
        description=overrides.pop("description", "Bring a pen."),
        rounds=overrides.pop(
            "rounds",
            [pb.EventRound(number=1, topic="Arrays"), pb.EventRound(number=2, topic="Graphs")],
        ),
        recipient=overrides.pop(
            "recipient",
            pb.Recipient(email=GUEST.email, display_name=GUEST.display_name, time_zone="UTC"),
        ),
        participants=overrides.pop("participants", [HOST, GUEST]),
        idempotency_key=overrides.pop("idempotency_key", "reminder-1"),
    )
    start = overrides.pop("start", START)
    times = {
        "start_time": start,
        "end_time": overrides.pop("end", start + timedelta(hours=1)),
        "send_time": overrides.pop("send_time", start - timedelta(hours=1)),
        "due_time": overrides.pop("due_time", start - timedelta(hours=1)),
    }
    for field, value in times.items():
        if value is not None:
            getattr(message, field).FromDatetime(value)
    offset = overrides.pop("offset", timedelta(hours=1))
    if offset is not None:
        message.offset.FromTimedelta(offset)
    assert not overrides, f"unknown fields {overrides}"
    return message
