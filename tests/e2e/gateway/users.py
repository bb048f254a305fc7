"""Made-up users, their tokens, and room times that never overlap."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from roomsctl.tokens import mint
from tests.e2e.gateway.http import Gateway, Reply
from tests.e2e.gateway.stack import DEV_SECRET


def user(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def token(user_id: str, **claims: str) -> str:
    return mint(user_id, DEV_SECRET, profile=claims)


_slot = 0


def start_at(days: float = 3) -> datetime:
    """A distinct whole hour `days` ahead or later, so that no two rooms overlap."""
    global _slot
    _slot += 1
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return base + timedelta(days=days, hours=3 * _slot)


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def create(http: Gateway, host: str, **fields: Any) -> dict[str, Any]:
    body = {
        "title": "Mock interview",
        "startTime": rfc3339(start_at()),
        "duration": "3600s",
        "firstRoundTopic": "Arrays",
        **fields,
    }
    reply = http.call("POST", "/v1/rooms", token=token(host), body=body)
    assert reply.status == 200, reply
    return dict(reply.body)


def ok(reply: Reply) -> Any:
    assert reply.status == 200, reply
    return reply.body
