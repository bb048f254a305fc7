"""The notification service as the relay sees it (ports.NotificationSender): one gRPC
call per message. The outbox keeps each message as the request's own protobuf; the
idempotency key is the outbox row's."""

from __future__ import annotations

import grpc
from grpc import aio
from notification.v1 import notification_pb2 as npb
from notification.v1 import notification_pb2_grpc as npb_grpc

from scheduling_service.domain.outbox import Attempt, Claimed, Outcome

# Calls that never reached a decision on the other side: try again later.
_TRANSIENT = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.INTERNAL,
    # A token mismatch is a deployment error, fixed by an operator: keep the message.
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
}


_OUTCOMES = {
    npb.OUTCOME_DELIVERED: Outcome.DELIVERED,
    npb.OUTCOME_DRY_RUN: Outcome.DRY_RUN,
    npb.OUTCOME_TEMPORARY_FAILURE: Outcome.TEMPORARY_FAILURE,
    npb.OUTCOME_PERMANENT_FAILURE: Outcome.PERMANENT_FAILURE,
}


class NotificationClient:
    def __init__(self, target: str, token: str, timeout_s: float) -> None:
        self._channel = aio.insecure_channel(target)
        self._stub = npb_grpc.NotificationServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._timeout_s = timeout_s

    async def deliver(self, claimed: Claimed) -> Attempt:
        reply: npb.DeliverCalendarMessageResponse | npb.DeliverReminderResponse
        try:
            if claimed.reminder is not None:
                reply = await self._remind(claimed)
            else:
                reply = await self._invite(claimed)
        except grpc.RpcError as error:
            code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
            outcome = Outcome.TEMPORARY_FAILURE if code in _TRANSIENT else Outcome.PERMANENT_FAILURE
            details = error.details() if isinstance(error, grpc.Call) else str(error)
            return Attempt(outcome, "", f"notification service: {code.name}: {details}")
        # An outcome this client does not know: the service is newer; try again later.
        outcome = _OUTCOMES.get(reply.outcome, Outcome.TEMPORARY_FAILURE)
        return Attempt(outcome, reply.message_id, reply.detail)

    async def _invite(self, claimed: Claimed) -> npb.DeliverCalendarMessageResponse:
        message = npb.CalendarMessage.FromString(claimed.payload)
        message.idempotency_key = f"outbox-{claimed.id}"
        return await self._stub.DeliverCalendarMessage(
            npb.DeliverCalendarMessageRequest(message=message),
            metadata=self._metadata,
            timeout=self._timeout_s,
            wait_for_ready=False,
        )

    async def _remind(self, claimed: Claimed) -> npb.DeliverReminderResponse:
        message = npb.ReminderMessage.FromString(claimed.payload)
        message.idempotency_key = f"outbox-{claimed.id}"
        # The body says how soon the session starts, from the time of this attempt.
        message.send_time.GetCurrentTime()
        message.send_time.nanos = 0
        return await self._stub.DeliverReminder(
            npb.DeliverReminderRequest(message=message),
            metadata=self._metadata,
            timeout=self._timeout_s,
            wait_for_ready=False,
        )

    async def close(self) -> None:
        await self._channel.close()
