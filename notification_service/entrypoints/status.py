"""The notification service's errors as gRPC statuses (AIP-193): which canonical code
each stands for; the ErrorInfo domain is `notification.v1`.

Calendar checks (VerifyCalendar): a URL the address rules refuse is the caller's input,
INVALID_ARGUMENT `CALENDAR_URL_NOT_ALLOWED`; every other CalendarError is
FAILED_PRECONDITION with its own reason (CALENDAR_AUTH_REJECTED, CALENDAR_NOT_FOUND,
CALENDAR_NOT_WRITABLE, CALENDAR_UNREACHABLE), and so is CALENDAR_SYNC_DISABLED. Their
messages are the errors' details, which never hold a secret or a URL's userinfo or
query (delivery/calendar/addresses.py `shown`)."""

from __future__ import annotations

import grpc

from notification_service.domain.errors import (
    CalendarError,
    CalendarSyncDisabled,
    CalendarUrlNotAllowed,
    InvalidMessage,
    Unauthenticated,
    UnrenderableMessage,
)
from servicekit import status

DOMAIN = "notification.v1"


def to_status(error: BaseException) -> status.Status | None:
    """The status a caller gets for `error`; None for a fault of the service itself
    (INTERNAL, logged with its cause)."""
    if isinstance(error, InvalidMessage):
        first = error.violations[0] if error.violations else None
        summary = f"{first.field}: {first.description}" if first else "invalid message"
        if len(error.violations) > 1:
            summary += f" (and {len(error.violations) - 1} more)"
        return status.build(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"invalid message: {summary}",
            reason="INVALID_ARGUMENT",
            domain=DOMAIN,
            violations=[(v.field, v.description) for v in error.violations],
        )
    if isinstance(error, UnrenderableMessage):
        # The request validated, but the mail rendered from it failed the structural
        # check (or the renderer failed on it): sending it again will not help.
        return status.build(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"message cannot be rendered safely: {error.detail}"[:1000],
            reason="UNRENDERABLE",
            domain=DOMAIN,
        )
    if isinstance(error, CalendarUrlNotAllowed):
        return status.build(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"calendar URL not allowed: {error.detail}"[:1000],
            reason=error.reason,
            domain=DOMAIN,
        )
    if isinstance(error, CalendarError | CalendarSyncDisabled):
        return status.build(
            grpc.StatusCode.FAILED_PRECONDITION,
            f"calendar check failed: {error.detail}"[:1000],
            reason=error.reason,
            domain=DOMAIN,
        )
    if isinstance(error, Unauthenticated):
        return status.build(
            grpc.StatusCode.UNAUTHENTICATED,
            "missing or wrong service token (authorization: Bearer <NOTIFICATION_AUTH_TOKEN>)",
            reason="UNAUTHENTICATED",
            domain=DOMAIN,
        )
    return None
