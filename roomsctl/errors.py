"""Failures as one line on stderr, and an exit code that is stable per gRPC code.

| exit | meaning |
|---|---|
| 0 | success (also `watch` stopped with Ctrl-C) |
| 1 | a bug in roomsctl (a Python traceback) |
| 2 | usage: bad options or input; INVALID_ARGUMENT, OUT_OF_RANGE |
| 3 | NOT_FOUND |
| 4 | conflicts: ALREADY_EXISTS, ABORTED |
| 5 | PERMISSION_DENIED, UNAUTHENTICATED |
| 6 | FAILED_PRECONDITION |
| 7 | UNAVAILABLE, DEADLINE_EXCEEDED and every other code |
| 130 | interrupted (Ctrl-C) outside `watch` |
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

EXIT_USAGE = 2
EXIT_OTHER = 7
EXIT_INTERRUPTED = 130

EXIT_CODES: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: EXIT_USAGE,
    grpc.StatusCode.OUT_OF_RANGE: EXIT_USAGE,
    grpc.StatusCode.NOT_FOUND: 3,
    grpc.StatusCode.ALREADY_EXISTS: 4,
    grpc.StatusCode.ABORTED: 4,
    grpc.StatusCode.PERMISSION_DENIED: 5,
    grpc.StatusCode.UNAUTHENTICATED: 5,
    grpc.StatusCode.FAILED_PRECONDITION: 6,
}


class CliError(Exception):
    """A problem found before any call: bad input, missing credentials."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@dataclass(frozen=True)
class RpcFailure:
    code: grpc.StatusCode
    reason: str
    fields: tuple[str, ...]
    message: str

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.code, EXIT_OTHER)

    def line(self, target: str) -> str:
        """`error: CODE REASON (fields: a, b): message`, on one line."""
        head = f"error: {self.code.name}"
        if self.reason:
            head += f" {self.reason}"
        if self.fields:
            head += f" (fields: {', '.join(self.fields)})"
        message, context = self.message, ""
        if self.code == grpc.StatusCode.UNAVAILABLE:
            context = f"cannot reach {target}"
        elif self.code == grpc.StatusCode.DEADLINE_EXCEEDED:
            context = f"no answer from {target} in time (--timeout)"
        if context:
            message = f"{context}: {message}" if message else context
        return f"{head}: {message}" if message else head


def describe(error: grpc.RpcError) -> RpcFailure:
    """The code, ErrorInfo reason, BadRequest fields and message of a failed call."""
    code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = error.details() if isinstance(error, grpc.Call) else str(error)
    reason, fields = "", ()
    status = None
    if isinstance(error, grpc.Call):
        try:
            status = rpc_status.from_call(error)
        except ValueError:  # a status detail that contradicts the code: ignore the detail
            status = None
    if status is not None:
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            bad = error_details_pb2.BadRequest()
            if detail.Is(info.DESCRIPTOR) and detail.Unpack(info):
                reason = info.reason
            elif detail.Is(bad.DESCRIPTOR) and detail.Unpack(bad):
                fields = tuple(dict.fromkeys(v.field for v in bad.field_violations))
    return RpcFailure(code, reason, fields, one_line(details or ""))


def one_line(text: str) -> str:
    return " ".join(text.split())
