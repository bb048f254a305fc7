"""Errors as gRPC statuses: a canonical code plus google.rpc.ErrorInfo (and BadRequest)."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from scheduling_service.domain import errors

DOMAIN = "scheduling.v1"

_CODES: list[tuple[type[errors.SchedulingError], grpc.StatusCode]] = [
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.RoomNotFound, grpc.StatusCode.NOT_FOUND),
    (errors.Conflict, grpc.StatusCode.ALREADY_EXISTS),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.EtagMismatch, grpc.StatusCode.ABORTED),
    (errors.RevisionCompacted, grpc.StatusCode.OUT_OF_RANGE),
    (errors.WatcherTooSlow, grpc.StatusCode.RESOURCE_EXHAUSTED),
]


def code_of(error: errors.SchedulingError) -> grpc.StatusCode:
    for kind, code in _CODES:
        if isinstance(error, kind):
            return code
    return grpc.StatusCode.INTERNAL


def build(
    code: grpc.StatusCode,
    message: str,
    reason: str,
    violations: list[errors.FieldViolation] | None = None,
) -> grpc.Status:
    details = [_pack(error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN))]
    if violations:
        details.append(
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=v.field, description=v.description
                        )
                        for v in violations
                    ]
                )
            )
        )
    proto = status_pb2.Status(code=getattr(code_pb2, code.name), message=message, details=details)
    return rpc_status.to_status(proto)


def of_error(error: errors.SchedulingError) -> grpc.Status:
    violations = error.violations if isinstance(error, errors.InvalidArgument) else None
    return build(code_of(error), error.message, error.reason, violations)


def _pack(message: error_details_pb2.ErrorInfo | error_details_pb2.BadRequest) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed
