"""Errors as gRPC statuses: a canonical code with a google.rpc.ErrorInfo (AIP-193) and,
for bad input, a google.rpc.BadRequest naming every bad field."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status


class Status(NamedTuple):
    """What `context.abort` takes, and the ErrorInfo reason for the log line."""

    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]
    reason: str


def build(
    code: grpc.StatusCode,
    message: str,
    *,
    reason: str,
    domain: str,
    violations: Sequence[tuple[str, str]] = (),
) -> Status:
    """`violations` are (field, description) pairs, for a google.rpc.BadRequest."""
    details = [_pack(error_details_pb2.ErrorInfo(reason=reason, domain=domain))]
    if violations:
        details.append(
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
                        for f, d in violations
                    ]
                )
            )
        )
    proto = status_pb2.Status(code=getattr(code_pb2, code.name), message=message, details=details)
    converted = rpc_status.to_status(proto)
    return Status(converted.code, converted.details, tuple(converted.trailing_metadata), reason)


def _pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


class Failure(NamedTuple):
    """What a client reads of a status: its code, ErrorInfo reason and BadRequest fields."""

    code: grpc.StatusCode
    reason: str
    message: str
    violations: tuple[tuple[str, str], ...]


def read(error: grpc.RpcError) -> Failure:
    """The status a call failed with, its details unpacked."""
    code, message, proto = grpc.StatusCode.UNKNOWN, str(error), None
    if isinstance(error, grpc.aio.AioRpcError):
        code, message, proto = error.code(), error.details() or "", _from_aio(error)
    elif isinstance(error, grpc.Call):
        code, message, proto = error.code(), error.details() or "", rpc_status.from_call(error)
    reason = ""
    violations: tuple[tuple[str, str], ...] = ()
    for detail in proto.details if proto is not None else ():
        info = error_details_pb2.ErrorInfo()
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(info):
            reason = info.reason
        elif detail.Unpack(bad):
            violations = tuple((v.field, v.description) for v in bad.field_violations)
    return Failure(code, reason, message, violations)


def _from_aio(error: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None
