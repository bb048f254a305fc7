"""The scheduling errors as gRPC statuses: which canonical code each class of
domain/errors.py stands for (docs/design.md §2); the ErrorInfo reason is the error's own."""

from __future__ import annotations

import grpc

from scheduling_service.domain import errors
from servicekit import status

DOMAIN = "scheduling.v1"

_CODES: list[tuple[type[errors.SchedulingError], grpc.StatusCode]] = [
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.RoomNotFound, grpc.StatusCode.NOT_FOUND),
    (errors.CalendarNotConnected, grpc.StatusCode.NOT_FOUND),
    (errors.FeedNotFound, grpc.StatusCode.NOT_FOUND),
    (errors.CalendarUrlNotAllowed, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.Conflict, grpc.StatusCode.ALREADY_EXISTS),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.EtagMismatch, grpc.StatusCode.ABORTED),
    (errors.RevisionCompacted, grpc.StatusCode.OUT_OF_RANGE),
    (errors.WatcherTooSlow, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.TooManyWatches, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.FeedRateLimited, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.WaitlistFull, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
]


def to_status(error: BaseException) -> status.Status | None:
    """The status a caller gets for `error`; None for anything that is not a
    scheduling error (a bug: INTERNAL, logged with its cause)."""
    if not isinstance(error, errors.SchedulingError):
        return None
    code = next((c for kind, c in _CODES if isinstance(error, kind)), grpc.StatusCode.INTERNAL)
    violations = (
        [(v.field, v.description) for v in error.violations]
        if isinstance(error, errors.InvalidArgument)
        else []
    )
    return status.build(
        code, error.message, reason=error.reason, domain=DOMAIN, violations=violations
    )
