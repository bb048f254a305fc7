"""Protobuf in, domain messages out. Only what cannot even be converted (a
timestamp out of range) is refused here; every rule lives in the domain's validation."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import duration_pb2, timestamp_pb2
from notification.v1 import notification_pb2 as pb

from notification_service.domain.busy import BusyReadRequest
from notification_service.domain.calendar import (
    BasicLogin,
    CalendarAction,
    CalendarWriteRequest,
    OAuthGrant,
    VerifyRequest,
)
from notification_service.domain.errors import FieldViolation, InvalidMessage
from notification_service.domain.model import (
    CalendarMessage,
    Change,
    Mailbox,
    Method,
    ReminderMessage,
    Round,
    Status,
)
from notification_service.domain.notice_validation import CalendarNoticeMessage
from notification_service.domain.waitlist_validation import NoticeKind, WaitlistNoticeMessage

METHODS = {pb.METHOD_REQUEST: Method.REQUEST, pb.METHOD_CANCEL: Method.CANCEL}
_STATUSES = {
    pb.EVENT_STATUS_CONFIRMED: Status.CONFIRMED,
    pb.EVENT_STATUS_CANCELLED: Status.CANCELLED,
}
ACTIONS = {
    pb.CALENDAR_WRITE_ACTION_PUT: CalendarAction.PUT,
    pb.CALENDAR_WRITE_ACTION_DELETE: CalendarAction.DELETE,
}
_CHANGES = {
    pb.CHANGE_BOOKED: Change.BOOKED,
    pb.CHANGE_RESCHEDULED: Change.RESCHEDULED,
    pb.CHANGE_GUEST_LEFT: Change.GUEST_LEFT,
    pb.CHANGE_CANCELLED: Change.CANCELLED,
}


class _Reader:
    """Collects conversion problems, so that all of them are reported at once."""

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def time(self, holder: Any, name: str, path: str) -> datetime | None:
        if not holder.HasField(name):
            return None
        stamp: timestamp_pb2.Timestamp = getattr(holder, name)
        try:
            return stamp.ToDatetime(tzinfo=UTC)
        except (ValueError, OverflowError):
            self.violations.append(FieldViolation(path, "not a valid timestamp"))
            return None

    def duration(self, holder: Any, name: str, path: str) -> timedelta | None:
        if not holder.HasField(name):
            return None
        value: duration_pb2.Duration = getattr(holder, name)
        try:
            return value.ToTimedelta()
        except (ValueError, OverflowError):
            self.violations.append(FieldViolation(path, "not a valid duration"))
            return None

    def done(self) -> None:
        if self.violations:
            raise InvalidMessage(self.violations)


def _mailbox(participant: pb.Participant | pb.Recipient) -> Mailbox:
    return Mailbox(participant.email, participant.display_name)


def _rounds(rounds: Any) -> tuple[Round, ...]:
    return tuple(Round(r.number, r.topic) for r in rounds)


def _unknown(value: int, known: Mapping[Any, object]) -> int | None:
    return value if value and value not in known else None


def calendar_message(message: pb.CalendarMessage) -> CalendarMessage:
    """The domain message; InvalidMessage for what cannot even be converted."""
    read = _Reader()
    event = message.event
    start = read.time(event, "start_time", "message.event.start_time")
    end = read.time(event, "end_time", "message.event.end_time")
    previous_start = read.time(event, "previous_start_time", "message.event.previous_start_time")
    previous_end = read.time(event, "previous_end_time", "message.event.previous_end_time")
    dtstamp = read.time(message, "dtstamp", "message.dtstamp")
    read.done()
    return CalendarMessage(
        method=METHODS.get(message.method),
        uid=event.uid,
        sequence=event.sequence,
        start=start,
        end=end,
        title=event.title,
        description=event.description,
        status=_STATUSES.get(event.status),
        cancel_reason=event.cancel_reason,
        organizer=_mailbox(message.organizer) if message.HasField("organizer") else None,
        attendees=tuple(_mailbox(a) for a in message.attendees),
        recipient=_mailbox(message.recipient),
        time_zone=message.recipient.time_zone,
        dtstamp=dtstamp,
        idempotency_key=message.idempotency_key,
        uninvite=message.uninvite,
        change=_CHANGES.get(message.change),
        rounds=_rounds(event.rounds),
        previous_start=previous_start,
        previous_end=previous_end,
        departed=_mailbox(message.departed) if message.HasField("departed") else None,
        unknown_method=_unknown(message.method, METHODS),
        unknown_status=_unknown(event.status, _STATUSES),
        unknown_change=_unknown(message.change, _CHANGES),
    )


def reminder_message(message: pb.ReminderMessage) -> ReminderMessage:
    """The domain reminder; InvalidMessage for what cannot even be converted."""
    read = _Reader()
    start = read.time(message, "start_time", "message.start_time")
    end = read.time(message, "end_time", "message.end_time")
    send_time = read.time(message, "send_time", "message.send_time")
    due_time = read.time(message, "due_time", "message.due_time")
    offset = read.duration(message, "offset", "message.offset")
    read.done()
    return ReminderMessage(
        uid=message.uid,
        start=start,
        end=end,
        title=message.title,
        description=message.description,
        rounds=_rounds(message.rounds),
        recipient=_mailbox(message.recipient),
        time_zone=message.recipient.time_zone,
        participants=tuple(_mailbox(p) for p in message.participants),
        offset=offset,
        send_time=send_time,
        due_time=due_time,
        idempotency_key=message.idempotency_key,
    )


def calendar_notice(notice: pb.CalendarNotice) -> CalendarNoticeMessage:
    """The domain notice; InvalidMessage for what cannot even be converted."""
    read = _Reader()
    notice_time = read.time(notice, "notice_time", "notice.notice_time")
    read.done()
    return CalendarNoticeMessage(
        recipient=_mailbox(notice.recipient),
        calendar_url=notice.calendar_url,
        reason=notice.reason,
        notice_time=notice_time,
        idempotency_key=notice.idempotency_key,
    )


_NOTICE_KINDS = {
    pb.WaitlistNotice.KIND_OFFER: NoticeKind.OFFER,
    pb.WaitlistNotice.KIND_CANCELLED: NoticeKind.CANCELLED,
}


def waitlist_notice(notice: pb.WaitlistNotice) -> WaitlistNoticeMessage:
    """The domain notice; InvalidMessage for what cannot even be converted."""
    read = _Reader()
    start = read.time(notice, "start_time", "notice.start_time")
    end = read.time(notice, "end_time", "notice.end_time")
    hold_until = read.time(notice, "hold_until", "notice.hold_until")
    notice_time = read.time(notice, "notice_time", "notice.notice_time")
    read.done()
    return WaitlistNoticeMessage(
        kind=_NOTICE_KINDS.get(notice.kind),
        uid=notice.uid,
        room_id=notice.room_id,
        title=notice.title,
        start=start,
        end=end,
        rounds=_rounds(notice.rounds),
        recipient=_mailbox(notice.recipient),
        time_zone=notice.recipient.time_zone,
        hold_until=hold_until,
        notice_time=notice_time,
        idempotency_key=notice.idempotency_key,
    )


def verify_request(request: pb.VerifyCalendarRequest) -> VerifyRequest:
    """The domain request (nothing here can fail to convert)."""
    which = request.WhichOneof("credentials")
    credentials: BasicLogin | OAuthGrant | None = None
    if which == "basic":
        credentials = BasicLogin(request.basic.username, request.basic.password)
    elif which == "oauth":
        credentials = OAuthGrant(request.oauth.provider, request.oauth.refresh_token)
    return VerifyRequest(user_id=request.user_id, url=request.url, credentials=credentials)


def calendar_write(request: pb.WriteCalendarEventRequest) -> CalendarWriteRequest:
    """The domain request; InvalidMessage for what cannot even be converted."""
    read = _Reader()
    event = request.event
    start = read.time(event, "start_time", "event.start_time")
    end = read.time(event, "end_time", "event.end_time")
    dtstamp = read.time(request, "dtstamp", "dtstamp")
    read.done()
    return CalendarWriteRequest(
        user_id=request.user_id,
        calendar_url=request.calendar_url,
        sealed_credentials=request.sealed_credentials,
        action=ACTIONS.get(request.action),
        uid=event.uid,
        sequence=event.sequence,
        start=start,
        end=end,
        title=event.title,
        description=event.description,
        status=_STATUSES.get(event.status),
        rounds=_rounds(event.rounds),
        attendees=tuple(_mailbox(a) for a in request.attendees),
        dtstamp=dtstamp,
        href=request.href,
        etag=request.etag,
        idempotency_key=request.idempotency_key,
        unknown_action=_unknown(request.action, ACTIONS),
        unknown_status=_unknown(event.status, _STATUSES),
    )


def busy_read(request: pb.ReadCalendarBusyRequest) -> BusyReadRequest:
    """The domain request; InvalidMessage for what cannot even be converted."""
    read = _Reader()
    start = read.time(request, "start_time", "start_time")
    end = read.time(request, "end_time", "end_time")
    read.done()
    return BusyReadRequest(
        user_id=request.user_id,
        calendar_url=request.calendar_url,
        sealed_credentials=request.sealed_credentials,
        start=start,
        end=end,
        own_uid_domain=request.own_uid_domain,
        sync_token=request.sync_token,
    )
