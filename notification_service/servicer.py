"""gRPC adapter: protobuf in, domain call, protobuf out; domain errors to statuses.

Each call writes one `rpc` log line (method, code, latency, uid, iTIP method,
recipient, outcome), whatever the result. A request the caller got wrong is
INVALID_ARGUMENT (reason INVALID_ARGUMENT); a message that validated but could
not be rendered into a provably safe mail is INVALID_ARGUMENT with reason
UNRENDERABLE from the Render RPCs and OUTCOME_PERMANENT_FAILURE from the Deliver
RPCs, so a relay files it instead of retrying. INTERNAL is left for faults of
the service itself.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator

import grpc
from notification.v1 import notification_pb2 as pb
from notification.v1 import notification_pb2_grpc as pb_grpc

from notification_service import grpc_errors, metrics, wire
from notification_service.guard import UnrenderableMessage
from notification_service.model import Outcome
from notification_service.notifier import Attempt, Notifier
from notification_service.validation import InvalidMessage
from servicekit.logs import log_event

logger = logging.getLogger(__name__)

_OUTCOMES = {
    Outcome.DELIVERED: pb.OUTCOME_DELIVERED,
    Outcome.TEMPORARY_FAILURE: pb.OUTCOME_TEMPORARY_FAILURE,
    Outcome.PERMANENT_FAILURE: pb.OUTCOME_PERMANENT_FAILURE,
    Outcome.DRY_RUN: pb.OUTCOME_DRY_RUN,
}
_LOG_TEXT_LIMIT = 256


class _CallLog:
    """Collects the fields of the one log line a call writes."""

    def __init__(self, rpc: str, message: pb.CalendarMessage | pb.ReminderMessage) -> None:
        self.started = time.monotonic()
        self.rpc = rpc
        self.code = "CANCELLED"  # what is left when the call is cancelled mid-way
        self.reason: str | None = None
        self.outcome: str | None = None
        self.message_id: str | None = None
        self.violations: list[str] | None = None
        # As received (JSON logging escapes any control character).
        self.recipient = message.recipient.email[:_LOG_TEXT_LIMIT]
        self.idempotency_key = message.idempotency_key[:_LOG_TEXT_LIMIT]
        self.itip_method: str | None = None
        if isinstance(message, pb.CalendarMessage):
            self.uid = message.event.uid[:_LOG_TEXT_LIMIT]
            method = wire.METHODS.get(message.method)
            self.itip_method = method.value if method else None
        else:
            self.uid = message.uid[:_LOG_TEXT_LIMIT]

    def delivered(self, attempt: Attempt) -> None:
        self.code = "OK"
        self.outcome = attempt.result.outcome.value
        self.message_id = attempt.message_id

    @contextlib.asynccontextmanager
    async def errors_as_status(self, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        """Bad input as INVALID_ARGUMENT with its fields (or reason UNRENDERABLE),
        anything else as INTERNAL."""
        try:
            yield
        except InvalidMessage as exc:
            self.code = "INVALID_ARGUMENT"
            self.violations = [v.field for v in exc.violations]
            await context.abort(*grpc_errors.invalid_argument(exc))
        except UnrenderableMessage as exc:
            self.code = "INVALID_ARGUMENT"
            self.reason = "UNRENDERABLE"
            self.message_id = exc.message_id
            await context.abort(*grpc_errors.unrenderable(exc.detail))
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
            reason=self.reason,
            latency_ms=round(elapsed * 1000, 1),
            uid=self.uid,
            itip_method=self.itip_method,
            recipient=self.recipient,
            outcome=self.outcome,
            message_id=self.message_id,
            idempotency_key=self.idempotency_key,
            violations=self.violations,
        )


_OUTCOMES = {
    Outcome.DELIVERED: pb.OUTCOME_DELIVERED,
    Outcome.TEMPORARY_FAILURE: pb.OUTCOME_TEMPORARY_FAILURE,
    Outcome.PERMANENT_FAILURE: pb.OUTCOME_PERMANENT_FAILURE,
    Outcome.DRY_RUN: pb.OUTCOME_DRY_RUN,
}


class NotificationServicer(pb_grpc.NotificationServiceServicer):
    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier

    async def DeliverCalendarMessage(
        self, request: pb.DeliverCalendarMessageRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeliverCalendarMessageResponse:
        call = _CallLog("DeliverCalendarMessage", request.message)
        try:
            async with call.errors_as_status(context):
                attempt = await self._notifier.deliver(wire.calendar_message(request.message))
            call.delivered(attempt)
            return pb.DeliverCalendarMessageResponse(
                outcome=_OUTCOMES[attempt.result.outcome],
                message_id=attempt.message_id,
                detail=attempt.result.detail,
            )
        finally:
            call.write()

    async def RenderCalendarMessage(
        self, request: pb.RenderCalendarMessageRequest, context: grpc.aio.ServicerContext
    ) -> pb.RenderCalendarMessageResponse:
        call = _CallLog("RenderCalendarMessage", request.message)
        try:
            async with call.errors_as_status(context):
                rendered = self._notifier.render(wire.calendar_message(request.message))
            call.code = "OK"
            call.message_id = rendered.message_id
            return pb.RenderCalendarMessageResponse(mime=rendered.mime, ics=rendered.ics)
        finally:
            call.write()

    async def DeliverReminder(
        self, request: pb.DeliverReminderRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeliverReminderResponse:
        call = _CallLog("DeliverReminder", request.message)
        try:
            async with call.errors_as_status(context):
                reminder = wire.reminder_message(request.message)
                attempt = await self._notifier.deliver_reminder(reminder)
            call.delivered(attempt)
            return pb.DeliverReminderResponse(
                outcome=_OUTCOMES[attempt.result.outcome],
                message_id=attempt.message_id,
                detail=attempt.result.detail,
            )
        finally:
            call.write()

    async def RenderReminder(
        self, request: pb.RenderReminderRequest, context: grpc.aio.ServicerContext
    ) -> pb.RenderReminderResponse:
        call = _CallLog("RenderReminder", request.message)
        try:
            async with call.errors_as_status(context):
                reminder = wire.reminder_message(request.message)
                rendered = self._notifier.render_reminder(reminder)
            call.code = "OK"
            call.message_id = rendered.message_id
            return pb.RenderReminderResponse(mime=rendered.mime)
        finally:
            call.write()
