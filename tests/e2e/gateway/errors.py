"""What a client sees of an error through the gateway, before or during a stream."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc

from tests.e2e.gateway.http import Reply


@dataclass
class Observed:
    """One error as the HTTP client got it."""

    http_status: int  # the status line, or a stream error line's httpCode
    grpc_code: int
    reasons: list[str]  # ErrorInfo reasons in the details
    message: str
    details: list[dict[str, Any]]
    mid_stream: bool = False
    # Only for a stream cut by a shutting-down replica: grpc's own server shutdown can
    # cancel the call ("Cancelling all calls", no ErrorInfo) before the service ends it
    # with its UNAVAILABLE status (a race in the service, reported; code and HTTP
    # status are the same either way).
    reason_may_be_missing: bool = False

    @property
    def code_name(self) -> str:
        return next(c.name for c in grpc.StatusCode if c.value[0] == self.grpc_code)


def _reasons(details: list[dict[str, Any]]) -> list[str]:
    return [str(d["reason"]) for d in details if d["@type"].endswith("/google.rpc.ErrorInfo")]


def from_reply(reply: Reply) -> Observed:
    """A unary call's error, or a stream's error before its first line."""
    body = reply.body
    if isinstance(body.get("error"), dict):  # a stream's error line, sent as the body
        observed = from_stream_line(body)
        observed.http_status, observed.mid_stream = reply.status, False
        return observed
    details = list(body.get("details", []))
    return Observed(reply.status, int(body["code"]), _reasons(details), body["message"], details)


def from_stream_line(line: dict[str, Any]) -> Observed:
    """grpc-gateway's last line of a stream that failed after it had begun."""
    error = line["error"]
    details = list(error.get("details", []))
    return Observed(
        int(error["httpCode"]),
        int(error["grpcCode"]),
        _reasons(details),
        str(error["message"]),
        details,
        mid_stream=True,
    )
