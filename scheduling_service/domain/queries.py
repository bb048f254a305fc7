"""Room queries: the filters of ListRooms, and its page tokens.

A page token says where the last page ended, bound to the filters it used. Opaque to
callers (base64url JSON); a token used with other filters, or one that was tampered
with, is a bad argument rather than a silently wrong page (AIP-158).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

QUERY_MAX = 200


@dataclass(frozen=True)
class RoomQuery:
    open_only: bool = False
    participant_id: str | None = None
    start_after: datetime | None = None
    start_before: datetime | None = None
    # Rooms the caller could book now (open, not theirs, not started, no overlap with
    # a session of theirs).
    bookable: bool = False
    # Words each found in the title, a topic or the description the caller may see
    # (PostgreSQL's `simple` text search: whole words, any case).
    text: str = ""
    min_length: timedelta | None = None
    max_length: timedelta | None = None
    # Nor overlapping busy time in the caller's connected calendar (as last read).
    respect_calendar: bool = False

    @property
    def filters(self) -> tuple[object, ...]:
        """What a page token is bound to."""
        return (
            self.open_only,
            self.participant_id,
            self.start_after,
            self.start_before,
            self.bookable,
            self.text,
            self.min_length,
            self.max_length,
            self.respect_calendar,
        )


def query_problem(text: str) -> str | None:
    """Why `text` cannot be a search; None when it can (its length and control
    characters are the request parser's, as for every text)."""
    if not any(c.isalnum() for c in text):
        return "must hold at least one letter or digit"
    return None


class BadPageToken(ValueError):
    pass


def _fingerprint(filters: tuple[object, ...]) -> str:
    return hashlib.sha256(repr(filters).encode()).hexdigest()[:16]


def encode(starts: datetime, room_id: uuid.UUID, filters: tuple[object, ...]) -> str:
    body = {"s": starts.timestamp(), "r": str(room_id), "f": _fingerprint(filters)}
    return base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode()


def decode(token: str, filters: tuple[object, ...]) -> tuple[datetime, uuid.UUID]:
    try:
        body = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        starts, room_id, fingerprint = body["s"], body["r"], body["f"]
        if not (isinstance(starts, float | int) and isinstance(room_id, str)):
            raise TypeError(body)
        position = (datetime.fromtimestamp(float(starts), UTC), uuid.UUID(room_id))
    except (
        ValueError,
        KeyError,
        TypeError,
        binascii.Error,
        UnicodeEncodeError,
        OverflowError,
        OSError,
    ):
        raise BadPageToken("is not a page token from this API") from None
    if fingerprint != _fingerprint(filters):
        raise BadPageToken("was issued for other filters") from None
    return position
