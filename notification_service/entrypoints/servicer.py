"""notification.v1.NotificationService: protobuf in, domain call, protobuf out.

Errors travel as domain exceptions; the shared interceptor turns them into statuses
(status.py, next to this module) and writes one `rpc` log line per call, to which each
handler adds what it knows (uid, iTIP method, recipient, outcome, Message-ID). A
request the caller got wrong is INVALID_ARGUMENT (reason INVALID_ARGUMENT); a message
that validated but could not be rendered into a provably safe mail is INVALID_ARGUMENT
with reason UNRENDERABLE from the Render RPCs and OUTCOME_PERMANENT_FAILURE from the
Deliver RPCs, so a relay files it instead of retrying.

The calendar RPCs (service_layer/calendars.py, calendar_busy.py) put on their line the
user id, the URL as `shown` (no userinfo, no query), the UID, the action and the
outcome; never a credential, a sealed blob or an access token. ReadCalendarBusy adds
only how many intervals it answered: nothing of the events read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import grpc
from notification.v1 import notification_pb2 as pb
from notification.v1 import notification_pb2_grpc as pb_grpc

from notification_service.delivery.calendar.addresses import shown
from notification_service.domain.busy import ReadOutcome
from notification_service.domain.calendar import WriteOutcome
from notification_service.domain.errors import (
    CalendarError,
    CalendarSyncDisabled,
    InvalidMessage,
    UnrenderableMessage,
)
from notification_service.domain.model import Outcome
from notification_service.entrypoints import wire
from notification_service.service_layer.calendar_busy import CalendarBusyReader
from notification_service.service_layer.calendars import Calendars
from notification_service.service_layer.notifier import Attempt, Notifier
from servicekit.interceptor import annotate

_OUTCOMES = {
    Outcome.DELIVERED: pb.OUTCOME_DELIVERED,
    Outcome.TEMPORARY_FAILURE: pb.OUTCOME_TEMPORARY_FAILURE,
    Outcome.PERMANENT_FAILURE: pb.OUTCOME_PERMANENT_FAILURE,
    Outcome.DRY_RUN: pb.OUTCOME_DRY_RUN,
}
_WRITE_OUTCOMES = {
    WriteOutcome.WRITTEN: pb.CALENDAR_WRITE_OUTCOME_WRITTEN,
    WriteOutcome.REMOVED: pb.CALENDAR_WRITE_OUTCOME_REMOVED,
    WriteOutcome.TEMPORARY_FAILURE: pb.CALENDAR_WRITE_OUTCOME_TEMPORARY_FAILURE,
    WriteOutcome.CREDENTIALS_REJECTED: pb.CALENDAR_WRITE_OUTCOME_CREDENTIALS_REJECTED,
    WriteOutcome.PERMANENT_FAILURE: pb.CALENDAR_WRITE_OUTCOME_PERMANENT_FAILURE,
}
# The response shares the writes' outcome enum: WRITTEN there means read.
_READ_OUTCOMES = {
    ReadOutcome.READ: pb.CALENDAR_WRITE_OUTCOME_WRITTEN,
    ReadOutcome.TEMPORARY_FAILURE: pb.CALENDAR_WRITE_OUTCOME_TEMPORARY_FAILURE,
    ReadOutcome.CREDENTIALS_REJECTED: pb.CALENDAR_WRITE_OUTCOME_CREDENTIALS_REJECTED,
    ReadOutcome.PERMANENT_FAILURE: pb.CALENDAR_WRITE_OUTCOME_PERMANENT_FAILURE,
}
_LOG_TEXT_LIMIT = 256


def _about(message: pb.CalendarMessage | pb.ReminderMessage) -> None:
    """Name the message on the call's log line, as received (logs escape controls)."""
    fields: dict[str, str | None] = {
        "recipient": message.recipient.email[:_LOG_TEXT_LIMIT],
        "idempotency_key": message.idempotency_key[:_LOG_TEXT_LIMIT],
    }
    if isinstance(message, pb.CalendarMessage):
        method = wire.METHODS.get(message.method)
        fields["uid"] = message.event.uid[:_LOG_TEXT_LIMIT]
        fields["itip_method"] = method.value if method else None
    else:
        fields["uid"] = message.uid[:_LOG_TEXT_LIMIT]
    annotate(**fields)


@contextlib.contextmanager
def _noting_failures() -> Iterator[None]:
    """Put what a failure says on the log line, then let the interceptor answer."""
    try:
        yield
    except InvalidMessage as error:
        annotate(violations=[v.field for v in error.violations])
        raise
    except UnrenderableMessage as error:
        annotate(message_id=error.message_id or None)
        raise
    except (CalendarError, CalendarSyncDisabled) as error:
        annotate(detail=error.detail[:_LOG_TEXT_LIMIT])
        raise


def _delivered(attempt: Attempt) -> None:
    annotate(outcome=attempt.result.outcome.value, message_id=attempt.message_id)


class NotificationServicer(pb_grpc.NotificationServiceServicer):
    def __init__(self, notifier: Notifier, calendars: Calendars, busy: CalendarBusyReader) -> None:
        self._notifier = notifier
        self._calendars = calendars
        self._busy = busy

    async def DeliverCalendarMessage(
        self, request: pb.DeliverCalendarMessageRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeliverCalendarMessageResponse:
        _about(request.message)
        with _noting_failures():
            attempt = await self._notifier.deliver_invite(wire.calendar_message(request.message))
        _delivered(attempt)
        return pb.DeliverCalendarMessageResponse(
            outcome=_OUTCOMES[attempt.result.outcome],
            message_id=attempt.message_id,
            detail=attempt.result.detail,
        )

    async def RenderCalendarMessage(
        self, request: pb.RenderCalendarMessageRequest, context: grpc.aio.ServicerContext
    ) -> pb.RenderCalendarMessageResponse:
        _about(request.message)
        with _noting_failures():
            rendered = self._notifier.render_invite(wire.calendar_message(request.message))
        annotate(message_id=rendered.message_id)
        return pb.RenderCalendarMessageResponse(mime=rendered.mime, ics=rendered.ics)

    async def DeliverReminder(
        self, request: pb.DeliverReminderRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeliverReminderResponse:
        _about(request.message)
        with _noting_failures():
            reminder = wire.reminder_message(request.message)
            attempt = await self._notifier.deliver_reminder(reminder)
        _delivered(attempt)
        return pb.DeliverReminderResponse(
            outcome=_OUTCOMES[attempt.result.outcome],
            message_id=attempt.message_id,
            detail=attempt.result.detail,
        )

    async def DeliverCalendarNotice(
        self, request: pb.DeliverCalendarNoticeRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeliverCalendarNoticeResponse:
        annotate(
            recipient=request.notice.recipient.email[:_LOG_TEXT_LIMIT],
            idempotency_key=request.notice.idempotency_key[:_LOG_TEXT_LIMIT],
        )
        with _noting_failures():
            attempt = await self._notifier.deliver_notice(wire.calendar_notice(request.notice))
        _delivered(attempt)
        return pb.DeliverCalendarNoticeResponse(
            outcome=_OUTCOMES[attempt.result.outcome],
            message_id=attempt.message_id,
            detail=attempt.result.detail,
        )

    async def DeliverWaitlistNotice(
        self, request: pb.DeliverWaitlistNoticeRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeliverWaitlistNoticeResponse:
        notice = request.notice
        annotate(
            recipient=notice.recipient.email[:_LOG_TEXT_LIMIT],
            idempotency_key=notice.idempotency_key[:_LOG_TEXT_LIMIT],
            uid=notice.uid[:_LOG_TEXT_LIMIT],
            kind=pb.WaitlistNotice.Kind.Name(notice.kind)
            if notice.kind in pb.WaitlistNotice.Kind.values()
            else None,
        )
        with _noting_failures():
            attempt = await self._notifier.deliver_waitlist(wire.waitlist_notice(notice))
        _delivered(attempt)
        return pb.DeliverWaitlistNoticeResponse(
            outcome=_OUTCOMES[attempt.result.outcome],
            message_id=attempt.message_id,
            detail=attempt.result.detail,
        )

    async def RenderReminder(
        self, request: pb.RenderReminderRequest, context: grpc.aio.ServicerContext
    ) -> pb.RenderReminderResponse:
        _about(request.message)
        with _noting_failures():
            rendered = self._notifier.render_reminder(wire.reminder_message(request.message))
        annotate(message_id=rendered.message_id)
        return pb.RenderReminderResponse(mime=rendered.mime)

    async def VerifyCalendar(
        self, request: pb.VerifyCalendarRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyCalendarResponse:
        annotate(
            user_id=request.user_id[:_LOG_TEXT_LIMIT],
            calendar=shown(request.url),
            credentials=request.WhichOneof("credentials"),
        )
        with _noting_failures():
            verified = await self._calendars.verify(wire.verify_request(request))
        annotate(calendar=shown(verified.calendar_url), provider=verified.provider)
        return pb.VerifyCalendarResponse(
            calendar_url=verified.calendar_url,
            provider=verified.provider,
            sealed_credentials=verified.sealed_credentials,
        )

    async def WriteCalendarEvent(
        self, request: pb.WriteCalendarEventRequest, context: grpc.aio.ServicerContext
    ) -> pb.WriteCalendarEventResponse:
        action = wire.ACTIONS.get(request.action)
        annotate(
            uid=request.event.uid[:_LOG_TEXT_LIMIT],
            action=action.value if action else None,
            user_id=request.user_id[:_LOG_TEXT_LIMIT],
            calendar=shown(request.calendar_url),
            idempotency_key=request.idempotency_key[:_LOG_TEXT_LIMIT],
        )
        with _noting_failures():
            result = await self._calendars.write(wire.calendar_write(request))
        annotate(outcome=result.outcome.value, resealed=bool(result.resealed))
        response = pb.WriteCalendarEventResponse(
            outcome=_WRITE_OUTCOMES[result.outcome],
            href=result.href,
            etag=result.etag,
            detail=result.detail,
            resealed_credentials=result.resealed,
        )
        if result.retry_at is not None:
            response.retry_time.FromDatetime(result.retry_at)
        return response

    async def ReadCalendarBusy(
        self, request: pb.ReadCalendarBusyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReadCalendarBusyResponse:
        annotate(
            user_id=request.user_id[:_LOG_TEXT_LIMIT],
            calendar=shown(request.calendar_url),
        )
        with _noting_failures():
            result = await self._busy.read(wire.busy_read(request))
        annotate(
            outcome=result.outcome.value,
            intervals=len(result.intervals),
            resealed=bool(result.resealed),
            unchanged=result.unchanged,
        )
        response = pb.ReadCalendarBusyResponse(
            outcome=_READ_OUTCOMES[result.outcome],
            detail=result.detail,
            resealed_credentials=result.resealed,
            sync_token=result.sync_token,
            unchanged=result.unchanged,
        )
        for interval in result.intervals:
            busy = response.busy.add()
            busy.start_time.FromDatetime(interval.start)
            busy.end_time.FromDatetime(interval.end)
        if result.retry_at is not None:
            response.retry_time.FromDatetime(result.retry_at)
        return response
