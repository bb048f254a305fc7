"""Test-side helpers: tokens for made-up users and a typed view of gRPC errors."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import jwt
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from scheduling.v1 import scheduling_pb2 as pb

from tests.processes import JWT_SECRET


def new_user(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def token(user_id: str, *, secret: str = JWT_SECRET, ttl_s: int = 600, **claims: Any) -> str:
    body = {"sub": user_id, "exp": int(time.time()) + ttl_s, **claims}
    return jwt.encode(body, secret, algorithm="HS256")


def auth(user_id: str, **claims: Any) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token(user_id, **claims)}"),)


def trusted(user_id: str = "backend") -> tuple[tuple[str, str], ...]:
    """A trusted backend's metadata: its token's scope sees every room whole and anyone's
    schedule (JWT_ADMIN_SCOPE's default)."""
    return auth(user_id, scope="rooms.admin")


def ts(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def minutes(n: int) -> Duration:
    return Duration(seconds=n * 60)


_slot = 0


# Slots are 9 h apart (longer than the longest session) and come round again before
# they would pass MAX_ADVANCE_DAYS (365) in a long run: a slot that comes round again
# is hundreds of rooms later, nearly always another host's.
_ADVANCE_DAYS = 360


def future(days: float = 10.0) -> datetime:
    """A distinct whole-second time in the future, so that tests never overlap."""
    global _slot
    _slot += 1
    slots = max(1, int((_ADVANCE_DAYS - days) * 24 // 9))
    base = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
    return base + timedelta(hours=9 * (_slot % slots))


def create_request(starts: datetime | None = None, **fields: Any) -> pb.CreateRoomRequest:
    values: dict[str, Any] = {
        "title": "Mock system design",
        "description": "Design a URL shortener.\nBring a pen.",
        "start_time": ts(starts or future()),
        "duration": minutes(60),
        "first_round_topic": "Warm-up",
    }
    values.update(fields)
    return pb.CreateRoomRequest(**values)


@dataclass
class Failure:
    code: grpc.StatusCode
    reason: str
    domain: str
    fields: list[str]
    message: str


def failure(error: grpc.RpcError) -> Failure:
    """The code, ErrorInfo reason and BadRequest fields a client sees."""
    assert isinstance(error, grpc.aio.AioRpcError | grpc.Call), error
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    reason, domain, fields = "", "", []
    if status is not None:
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            bad = error_details_pb2.BadRequest()
            if detail.Unpack(info):
                reason, domain = info.reason, info.domain
            elif detail.Unpack(bad):
                fields = [v.field for v in bad.field_violations]
    return Failure(error.code(), reason, domain, fields, error.details() or "")
