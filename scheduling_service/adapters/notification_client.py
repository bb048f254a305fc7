"""The notification service as the relay sees it: one gRPC call per message."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from grpc import aio
from notification.v1 import notification_pb2 as npb
from notification.v1 import notification_pb2_grpc as npb_grpc

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


@dataclass(frozen=True)
class Attempt:
    outcome: npb.Outcome
    message_id: str
    detail: str


class NotificationClient:
    def __init__(self, target: str, token: str, timeout_s: float) -> None:
        self._channel = aio.insecure_channel(target)
        self._stub = npb_grpc.NotificationServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._timeout_s = timeout_s

    async def deliver(self, message: npb.CalendarMessage) -> Attempt:
        try:
            reply = await self._stub.DeliverCalendarMessage(
                npb.DeliverCalendarMessageRequest(message=message),
                metadata=self._metadata,
                timeout=self._timeout_s,
                wait_for_ready=False,
            )
        except grpc.RpcError as error:
            code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
            outcome = (
                npb.OUTCOME_TEMPORARY_FAILURE
                if code in _TRANSIENT
                else npb.OUTCOME_PERMANENT_FAILURE
            )
            details = error.details() if isinstance(error, grpc.Call) else str(error)
            return Attempt(outcome, "", f"notification service: {code.name}: {details}")
        return Attempt(reply.outcome, reply.message_id, reply.detail)

    async def close(self) -> None:
        await self._channel.close()
