"""The notification service's errors as gRPC statuses (AIP-193): which canonical code
each stands for; the ErrorInfo domain is `notification.v1`."""

from __future__ import annotations

import grpc

from notification_service.domain.errors import (
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
    if isinstance(error, Unauthenticated):
        return status.build(
            grpc.StatusCode.UNAUTHENTICATED,
            "missing or wrong service token (authorization: Bearer <NOTIFICATION_AUTH_TOKEN>)",
            reason="UNAUTHENTICATED",
            domain=DOMAIN,
        )
    return None
