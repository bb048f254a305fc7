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
TRANSIENT = {
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


# The relay decides when to try again (RELAY_BACKOFF_*), so the channel must not add a
# wait of its own: gRPC's reconnect backoff grows to 120 s while the service is down, and
# a call made meanwhile fails at once without connecting. After a 26 s outage the relay's
# attempts went on failing for 14-16 s with the service back, long enough to drop a
# reminder due before its session. Capped, the channel reconnects within about a second.
_CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 1000),
)


def _status(error: grpc.RpcError) -> tuple[grpc.StatusCode, str]:
    # grpc.aio raises AioRpcError, which is not a grpc.Call but carries the same status.
    if isinstance(error, grpc.Call | aio.AioRpcError):
        return error.code(), error.details() or ""
    return grpc.StatusCode.UNKNOWN, str(error)


class NotificationClient:
    def __init__(self, target: str, token: str, timeout_s: float) -> None:
        self._channel = aio.insecure_channel(target, options=_CHANNEL_OPTIONS)
        self._stub = npb_grpc.NotificationServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._timeout_s = timeout_s

    async def deliver(self, claimed: Claimed) -> Attempt:
        reply: (
            npb.DeliverCalendarMessageResponse
            | npb.DeliverReminderResponse
            | npb.DeliverCalendarNoticeResponse
            | npb.DeliverWaitlistNoticeResponse
        )
        try:
            if claimed.reminder is not None:
                reply = await self._remind(claimed)
            elif claimed.kind == "notice":
                reply = await self._notice(claimed)
            elif claimed.kind == "waitlist":
                reply = await self._waitlist(claimed)
            else:
                reply = await self._invite(claimed)
        except grpc.RpcError as error:
            code, details = _status(error)
            outcome = Outcome.TEMPORARY_FAILURE if code in TRANSIENT else Outcome.PERMANENT_FAILURE
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

    async def _notice(self, claimed: Claimed) -> npb.DeliverCalendarNoticeResponse:
        notice = npb.CalendarNotice.FromString(claimed.payload)
        notice.idempotency_key = f"outbox-{claimed.id}"
        return await self._stub.DeliverCalendarNotice(
            npb.DeliverCalendarNoticeRequest(notice=notice),
            metadata=self._metadata,
            timeout=self._timeout_s,
            wait_for_ready=False,
        )

    async def _waitlist(self, claimed: Claimed) -> npb.DeliverWaitlistNoticeResponse:
        notice = npb.WaitlistNotice.FromString(claimed.payload)
        notice.idempotency_key = f"outbox-{claimed.id}"
        return await self._stub.DeliverWaitlistNotice(
            npb.DeliverWaitlistNoticeRequest(notice=notice),
            metadata=self._metadata,
            timeout=self._timeout_s,
            wait_for_ready=False,
        )

    @property
    def stub(self) -> npb_grpc.NotificationServiceStub:
        """For the calendar side's calls (adapters/calendar_client.py), on this channel."""
        return self._stub

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    async def close(self) -> None:
        await self._channel.close()
