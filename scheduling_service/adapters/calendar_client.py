"""The notification service's calendar side as the scheduling service sees it
(ports.CalendarWriter, ports.BusySource): VerifyCalendar for ConnectCalendar,
WriteCalendarEvent for the calendar relay, ReadCalendarBusy for the busy readers. Only
the notification service talks to calendar servers and opens credentials; this side
carries sealed blobs and never logs one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import grpc
from notification.v1 import notification_pb2 as npb

from scheduling_service.adapters import outbox_messages
from scheduling_service.adapters.notification_client import TRANSIENT, NotificationClient
from scheduling_service.domain import errors
from scheduling_service.domain.busy import BusyAttempt, BusyPlan, BusyRead
from scheduling_service.domain.calendar import (
    BasicCredentials,
    CalendarCredentials,
    ClaimedCopy,
    VerifiedCalendar,
    WriteAttempt,
    WriteOutcome,
)
from servicekit import status

_REFUSALS: dict[str, type[errors.SchedulingError]] = {
    "CALENDAR_UNREACHABLE": errors.CalendarUnreachable,
    "CALENDAR_AUTH_REJECTED": errors.CalendarAuthRejected,
    "CALENDAR_NOT_FOUND": errors.CalendarNotFound,
    "CALENDAR_NOT_WRITABLE": errors.CalendarNotWritable,
    "CALENDAR_SYNC_DISABLED": errors.CalendarSyncDisabled,
    "CALENDAR_URL_NOT_ALLOWED": errors.CalendarUrlNotAllowed,
}
_OUTCOMES = {
    npb.CALENDAR_WRITE_OUTCOME_WRITTEN: WriteOutcome.WRITTEN,
    npb.CALENDAR_WRITE_OUTCOME_REMOVED: WriteOutcome.REMOVED,
    npb.CALENDAR_WRITE_OUTCOME_TEMPORARY_FAILURE: WriteOutcome.TEMPORARY_FAILURE,
    npb.CALENDAR_WRITE_OUTCOME_CREDENTIALS_REJECTED: WriteOutcome.CREDENTIALS_REJECTED,
    npb.CALENDAR_WRITE_OUTCOME_PERMANENT_FAILURE: WriteOutcome.PERMANENT_FAILURE,
}


class CalendarClient:
    def __init__(
        self, notification: NotificationClient, timeout_s: float, own_uid_domain: str = ""
    ) -> None:
        self._notification = notification
        self._timeout_s = timeout_s
        # ICS_UID_DOMAIN: events of this domain are our own sessions, never busy time.
        self._own_uid_domain = own_uid_domain

    async def verify(
        self, user_id: str, url: str, credentials: CalendarCredentials
    ) -> VerifiedCalendar:
        request = npb.VerifyCalendarRequest(user_id=user_id, url=url)
        if isinstance(credentials, BasicCredentials):
            request.basic.username = credentials.username
            request.basic.password = credentials.password
        else:
            request.oauth.provider = credentials.provider
            request.oauth.refresh_token = credentials.refresh_token
        try:
            reply = await self._notification.stub.VerifyCalendar(
                request, metadata=self._notification.metadata, timeout=self._timeout_s
            )
        except grpc.RpcError as error:
            raise _refusal(status.read(error)) from None
        return VerifiedCalendar(reply.calendar_url, reply.provider, reply.sealed_credentials)

    async def write(self, copy: ClaimedCopy) -> WriteAttempt:
        request = outbox_messages.calendar_write(copy)
        try:
            reply = await self._call(self._notification.stub.WriteCalendarEvent, request)
        except grpc.RpcError as error:
            failure = status.read(error)
            outcome = (
                WriteOutcome.TEMPORARY_FAILURE
                if failure.code in TRANSIENT
                else WriteOutcome.PERMANENT_FAILURE
            )
            return WriteAttempt(outcome, detail=_detail(failure))
        return WriteAttempt(
            # An outcome this client does not know: the service is newer; try again later.
            _OUTCOMES.get(reply.outcome, WriteOutcome.TEMPORARY_FAILURE),
            href=reply.href,
            etag=reply.etag,
            detail=reply.detail,
            retry_at=_retry_at(reply),
            resealed_credentials=reply.resealed_credentials,
        )

    def notice(self, copy: ClaimedCopy, reason: str, now: datetime) -> bytes | None:
        return outbox_messages.calendar_notice(copy, reason, now)

    async def read_busy(self, read: BusyRead, plan: BusyPlan) -> BusyAttempt:
        request = npb.ReadCalendarBusyRequest(
            user_id=read.user_id,
            calendar_url=read.calendar_url,
            sealed_credentials=read.sealed_credentials,
            own_uid_domain=self._own_uid_domain,
            sync_token=plan.sync_token,
        )
        request.start_time.FromDatetime(plan.starts)
        request.end_time.FromDatetime(plan.ends)
        try:
            reply = await self._call(self._notification.stub.ReadCalendarBusy, request)
        except grpc.RpcError as error:
            failure = status.read(error)
            # Away, or a service too old to know the RPC: try again later. A request it
            # refuses would be refused again: not a retry, a failure (logged).
            outcome = (
                WriteOutcome.PERMANENT_FAILURE
                if failure.code is grpc.StatusCode.INVALID_ARGUMENT
                else WriteOutcome.TEMPORARY_FAILURE
            )
            return BusyAttempt(outcome, detail=_detail(failure))
        return BusyAttempt(
            _OUTCOMES.get(reply.outcome, WriteOutcome.TEMPORARY_FAILURE),
            intervals=tuple(
                (i.start_time.ToDatetime(tzinfo=UTC), i.end_time.ToDatetime(tzinfo=UTC))
                for i in reply.busy
                if i.end_time.ToDatetime(tzinfo=UTC) > i.start_time.ToDatetime(tzinfo=UTC)
            ),
            detail=reply.detail,
            retry_at=_retry_at(reply),
            resealed_credentials=reply.resealed_credentials,
            sync_token=reply.sync_token,
            unchanged=reply.unchanged,
        )

    async def _call(self, rpc: Any, request: Any) -> Any:
        """One call of the relays' and readers': no waiting for a notification service
        that is away (the item goes again later)."""
        return await rpc(
            request,
            metadata=self._notification.metadata,
            timeout=self._timeout_s,
            wait_for_ready=False,
        )


def _retry_at(reply: Any) -> datetime | None:
    """The server's "not before", when it gave one."""
    return reply.retry_time.ToDatetime(tzinfo=UTC) if reply.HasField("retry_time") else None


def _detail(failure: status.Failure) -> str:
    return f"notification service: {failure.code.name}: {failure.message}"


def _refusal(failure: status.Failure) -> errors.SchedulingError:
    """What VerifyCalendar's failure means for ConnectCalendar's caller."""
    kind = _REFUSALS.get(failure.reason)
    if kind is not None:
        return kind(failure.message)
    if failure.code is grpc.StatusCode.INVALID_ARGUMENT:
        return errors.InvalidArgument(
            [errors.FieldViolation(field, why) for field, why in failure.violations]
            or [errors.FieldViolation("url", failure.message)]
        )
    # The notification service is away or failed: nothing the caller sent.
    return errors.Unavailable(f"the calendar could not be checked now: {failure.code.name}")
