"""gRPC adapter: protobuf in, domain call, protobuf out; domain errors to statuses.

Each call writes one `rpc` log line (method, code, latency, uid, iTIP method,
recipient, outcome), whatever the result.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf import timestamp_pb2
from notification.v1 import notification_pb2 as pb
from notification.v1 import notification_pb2_grpc as pb_grpc

from notification_service import grpc_errors, metrics
from notification_service.model import CalendarMessage, Mailbox, Method, Outcome, Status
from notification_service.notifier import Notifier
from notification_service.validation import FieldViolation, InvalidMessage
from servicekit.logs import log_event

logger = logging.getLogger(__name__)

_METHODS = {pb.METHOD_REQUEST: Method.REQUEST, pb.METHOD_CANCEL: Method.CANCEL}
_STATUSES = {
    pb.EVENT_STATUS_CONFIRMED: Status.CONFIRMED,
    pb.EVENT_STATUS_CANCELLED: Status.CANCELLED,
}
_OUTCOMES = {
    Outcome.DELIVERED: pb.OUTCOME_DELIVERED,
    Outcome.TEMPORARY_FAILURE: pb.OUTCOME_TEMPORARY_FAILURE,
    Outcome.PERMANENT_FAILURE: pb.OUTCOME_PERMANENT_FAILURE,
    Outcome.DRY_RUN: pb.OUTCOME_DRY_RUN,
}
_LOG_TEXT_LIMIT = 256


def _time(holder: Any, name: str, path: str, violations: list[FieldViolation]) -> datetime | None:
    if not holder.HasField(name):
        return None
    stamp: timestamp_pb2.Timestamp = getattr(holder, name)
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        violations.append(FieldViolation(path, "not a valid timestamp"))
        return None


def _mailbox(participant: pb.Participant | pb.Recipient) -> Mailbox:
    return Mailbox(participant.email, participant.display_name)


def from_proto(message: pb.CalendarMessage) -> CalendarMessage:
    """The domain message; InvalidMessage for what cannot even be converted."""
    violations: list[FieldViolation] = []
    event = message.event
    start = _time(event, "start_time", "message.event.start_time", violations)
    end = _time(event, "end_time", "message.event.end_time", violations)
    dtstamp = _time(message, "dtstamp", "message.dtstamp", violations)
    if violations:
        raise InvalidMessage(violations)
    method = _METHODS.get(message.method)
    status = _STATUSES.get(event.status)
    return CalendarMessage(
        method=method,
        uid=event.uid,
        sequence=event.sequence,
        start=start,
        end=end,
        title=event.title,
        description=event.description,
        status=status,
        cancel_reason=event.cancel_reason,
        organizer=_mailbox(message.organizer) if message.HasField("organizer") else None,
        attendees=tuple(_mailbox(a) for a in message.attendees),
        recipient=_mailbox(message.recipient),
        time_zone=message.recipient.time_zone,
        dtstamp=dtstamp,
        idempotency_key=message.idempotency_key,
        uninvite=message.uninvite,
        unknown_method=(
            message.method if method is None and message.method != pb.METHOD_UNSPECIFIED else None
        ),
        unknown_status=(
            event.status if status is None and event.status != pb.EVENT_STATUS_UNSPECIFIED else None
        ),
    )


class _CallLog:
    """Collects the fields of the one log line a call writes."""

    def __init__(self, rpc: str, message: pb.CalendarMessage) -> None:
        self.started = time.monotonic()
        self.rpc = rpc
        self.code = "CANCELLED"  # what is left when the call is cancelled mid-way
        self.outcome: str | None = None
        self.message_id: str | None = None
        self.violations: list[str] | None = None
        # As received (JSON logging escapes any control character).
        self.uid = message.event.uid[:_LOG_TEXT_LIMIT]
        self.recipient = message.recipient.email[:_LOG_TEXT_LIMIT]
        self.itip_method = _METHODS[message.method].value if message.method in _METHODS else None
        self.idempotency_key = message.idempotency_key[:_LOG_TEXT_LIMIT]

    @contextlib.asynccontextmanager
    async def errors_as_status(self, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        """Bad input as INVALID_ARGUMENT with its fields, anything else as INTERNAL."""
        try:
            yield
        except InvalidMessage as exc:
            self.code = "INVALID_ARGUMENT"
            self.violations = [v.field for v in exc.violations]
            await context.abort(*grpc_errors.invalid_argument(exc))
        except Exception:
            self.code = "INTERNAL"
            logger.exception("%s failed", self.rpc)
            await context.abort(*grpc_errors.internal())

    def write(self) -> None:
        ok = self.code == "OK"
        elapsed = time.monotonic() - self.started
        metrics.RPCS.labels(self.rpc, self.code).inc()
        metrics.RPC_LATENCY.labels(self.rpc).observe(elapsed)
        log_event(
            logger,
            logging.INFO if ok else logging.WARNING,
            "rpc",
            method=self.rpc,
            code=self.code,
            latency_ms=round(elapsed * 1000, 1),
            uid=self.uid,
            itip_method=self.itip_method,
            recipient=self.recipient,
            outcome=self.outcome,
            message_id=self.message_id,
            idempotency_key=self.idempotency_key,
            violations=self.violations,
        )


class NotificationServicer(pb_grpc.NotificationServiceServicer):
    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier

    async def DeliverCalendarMessage(
        self, request: pb.DeliverCalendarMessageRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeliverCalendarMessageResponse:
        call = _CallLog("DeliverCalendarMessage", request.message)
        try:
            async with call.errors_as_status(context):
                rendered, result = await self._notifier.deliver(from_proto(request.message))
            call.code = "OK"
            call.outcome = result.outcome.value
            call.message_id = rendered.message_id
            return pb.DeliverCalendarMessageResponse(
                outcome=_OUTCOMES[result.outcome],
                message_id=rendered.message_id,
                detail=result.detail,
            )
        finally:
            call.write()

    async def RenderCalendarMessage(
        self, request: pb.RenderCalendarMessageRequest, context: grpc.aio.ServicerContext
    ) -> pb.RenderCalendarMessageResponse:
        call = _CallLog("RenderCalendarMessage", request.message)
        try:
            async with call.errors_as_status(context):
                rendered = self._notifier.render(from_proto(request.message))
            call.code = "OK"
            call.message_id = rendered.message_id
            return pb.RenderCalendarMessageResponse(mime=rendered.mime, ics=rendered.ics)
        finally:
            call.write()
