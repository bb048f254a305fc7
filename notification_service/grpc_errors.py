"""Domain errors as gRPC statuses with google.rpc details (AIP-193)."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from notification_service.validation import InvalidMessage

DOMAIN = "notification.v1"


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def _status(
    code: int, grpc_code: grpc.StatusCode, message: str, reason: str, extra: list[object]
) -> tuple[grpc.StatusCode, str, tuple[tuple[str, str | bytes], ...]]:
    info = error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN)
    status = status_pb2.Status(
        code=code, message=message, details=[_pack(d) for d in [*extra, info]]
    )
    converted = rpc_status.to_status(status)
    assert converted.code is grpc_code
    return converted.code, converted.details, tuple(converted.trailing_metadata)


def invalid_argument(exc: InvalidMessage) -> tuple[grpc.StatusCode, str, tuple]:
    """Arguments for `context.abort`: INVALID_ARGUMENT with BadRequest and ErrorInfo."""
    bad_request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            for v in exc.violations
        ]
    )
    first = exc.violations[0] if exc.violations else None
    summary = f"{first.field}: {first.description}" if first else "invalid message"
    more = len(exc.violations) - 1
    if more > 0:
        summary += f" (and {more} more)"
    return _status(
        code_pb2.INVALID_ARGUMENT,
        grpc.StatusCode.INVALID_ARGUMENT,
        f"invalid calendar message: {summary}",
        "INVALID_ARGUMENT",
        [bad_request],
    )


def unrenderable(detail: str) -> tuple[grpc.StatusCode, str, tuple]:
    """INVALID_ARGUMENT, reason UNRENDERABLE: the request validated, but the mail
    rendered from it failed the structural guard (or the renderer failed on it);
    sending it again will not help."""
    return _status(
        code_pb2.INVALID_ARGUMENT,
        grpc.StatusCode.INVALID_ARGUMENT,
        f"message cannot be rendered safely: {detail}"[:1000],
        "UNRENDERABLE",
        [],
    )


def unauthenticated() -> tuple[grpc.StatusCode, str, tuple]:
    return _status(
        code_pb2.UNAUTHENTICATED,
        grpc.StatusCode.UNAUTHENTICATED,
        "missing or wrong service token (authorization: Bearer <NOTIFICATION_AUTH_TOKEN>)",
        "UNAUTHENTICATED",
        [],
    )


def internal() -> tuple[grpc.StatusCode, str, tuple]:
    return _status(code_pb2.INTERNAL, grpc.StatusCode.INTERNAL, "internal error", "INTERNAL", [])
