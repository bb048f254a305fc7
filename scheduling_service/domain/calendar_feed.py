"""Calendar feeds (docs/design.md §14): what a user's subscribed calendar shows, what a
change writes for it, and how a feed token is read. Pure: no I/O.

- The token is the credential: 256 random bits, URL-safe base64 (43 characters). Only
  its SHA-256 is stored; a token that could never have been issued is refused before
  anything is looked up, alike with an unknown one (NOT_FOUND, no hint which).
- The feed holds the user's sessions (host or guest) that ended at most HISTORY ago,
  and, for HISTORY after the change, each session cancelled, or left by this user, as
  a tombstone (STATUS:CANCELLED) so that a subscribed client drops it. A session the
  user is back in (booked again after leaving) shows as it is, not as its tombstone.
- The ETag is a digest of everything the body is made of, so a conditional read is
  answered without rendering the body.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from scheduling_service.domain import errors
from scheduling_service.domain.changes import Change
from scheduling_service.domain.room import Room

HISTORY = timedelta(days=30)
TOKEN_BYTES = 32
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
_ICS = ".ics"


def token_hash(token: str) -> bytes:
    """What is stored of a token: a plain SHA-256 is enough for 256 random bits."""
    return hashlib.sha256(token.encode("ascii")).digest()


def label(raw: str) -> str:
    """How a log line names the feed a request asks for: a prefix of its token's hash,
    useless to read the feed with (the token itself is never logged)."""
    token = raw.removesuffix(_ICS)
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def parse_token(raw: str) -> str:
    """The token of a feed URL's last segment (a trailing `.ics` is accepted and
    ignored). FeedNotFound for anything no token could be, so that a malformed token
    tells nothing an unknown one would not; InvalidArgument only when it is missing."""
    if not raw:
        raise errors.InvalidArgument([errors.FieldViolation("token", "is required")])
    token = raw.removesuffix(_ICS)
    if _TOKEN.fullmatch(token) is None:
        raise errors.FeedNotFound("no such calendar feed")
    return token


@dataclass(frozen=True)
class FeedSession:
    """A session the feed's owner is in, as the feed shows it."""

    room_id: uuid.UUID
    ics_uid: str
    sequence: int
    title: str
    description: str
    rounds: tuple[tuple[int, str], ...]  # (number, topic)
    starts: datetime
    ends: datetime
    update_time: datetime
    hosting: bool
    # The other participant's display name: None while the room is open, "" when they
    # gave none. Nothing else of theirs (no address, no id) is in a feed.
    other_name: str | None


@dataclass(frozen=True)
class Tombstone:
    """A session the feed's owner was in until it was cancelled or they left it."""

    user_id: str
    room_id: uuid.UUID
    ics_uid: str
    sequence: int
    title: str
    starts: datetime
    ends: datetime
    cancel_time: datetime


@dataclass(frozen=True)
class FeedWrites:
    """What a change writes for the feeds: tombstones (kept only for users with a
    feed), and the users back in the room whose tombstone goes."""

    room_id: uuid.UUID
    tombstones: tuple[Tombstone, ...] = ()
    returned: tuple[str, ...] = ()

    @property
    def nothing(self) -> bool:
        return not (self.tombstones or self.returned)


def writes_for(change: Change, before: Room | None, after: Room, now: datetime) -> FeedWrites:
    """A cancel leaves a tombstone for both participants, a leave for the guest who
    left; a booking takes back the new guest's (they may have left this room before)."""
    if before is None:
        return FeedWrites(after.room_id)
    if change is Change.CANCELLED:
        gone = [before.host_id] + ([before.guest_id] if before.guest_id else [])
    elif change is Change.LEFT and before.guest_id:
        gone = [before.guest_id]
    elif change is Change.BOOKED and after.guest_id:
        return FeedWrites(after.room_id, returned=(after.guest_id,))
    else:
        return FeedWrites(after.room_id)
    return FeedWrites(
        after.room_id,
        tombstones=tuple(
            Tombstone(
                user_id=user_id,
                room_id=before.room_id,
                ics_uid=before.ics_uid,
                sequence=after.sequence,
                title=before.title,
                starts=before.starts,
                ends=before.ends,
                cancel_time=now,
            )
            for user_id in gone
        ),
    )


@dataclass(frozen=True)
class FeedContent:
    """Everything a feed's body is made of."""

    sessions: tuple[FeedSession, ...]
    tombstones: tuple[Tombstone, ...]
    refresh: timedelta

    @classmethod
    def of(
        cls,
        sessions: Sequence[FeedSession],
        tombstones: Sequence[Tombstone],
        refresh: timedelta,
    ) -> FeedContent:
        """Sessions first, then the tombstones of rooms the user is no longer in, each
        in a stable order (the same state gives the same body and ETag)."""
        present = {s.room_id for s in sessions}
        return cls(
            tuple(sorted(sessions, key=lambda s: (s.starts, str(s.room_id)))),
            tuple(
                sorted(
                    (t for t in tombstones if t.room_id not in present),
                    key=lambda t: (t.starts, str(t.room_id)),
                )
            ),
            refresh,
        )

    def etag(self, rendering: str) -> str:
        """A strong ETag (quoted) of the body this content renders to, `rendering`
        naming the renderer (what it makes of SAMPLE)."""
        digest = hashlib.sha256(rendering.encode())
        digest.update(repr(self.refresh.total_seconds()).encode())
        for session in self.sessions:
            digest.update(repr(_session_key(session)).encode("utf-8", "surrogatepass"))
        for tombstone in self.tombstones:
            digest.update(repr(_tombstone_key(tombstone)).encode("utf-8", "surrogatepass"))
        return f'"{digest.hexdigest()[:32]}"'


def matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 13.1.2: If-None-Match holds `*` or a list of entity tags; weak
    comparison (a `W/` prefix matches too)."""
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def _session_key(s: FeedSession) -> tuple[object, ...]:
    return (
        "s",
        str(s.room_id),
        s.ics_uid,
        s.sequence,
        s.title,
        s.description,
        s.rounds,
        s.starts.isoformat(),
        s.ends.isoformat(),
        s.update_time.isoformat(),
        s.hosting,
        s.other_name,
    )


def _tombstone_key(t: Tombstone) -> tuple[object, ...]:
    return (
        "t",
        str(t.room_id),
        t.ics_uid,
        t.sequence,
        t.title,
        t.starts.isoformat(),
        t.ends.isoformat(),
        t.cancel_time.isoformat(),
    )


_SAMPLE_TIME = datetime(2030, 1, 1, 12, tzinfo=UTC)
# What a renderer is known by (its rendering of this goes into every ETag).
SAMPLE = FeedContent(
    sessions=(
        FeedSession(
            room_id=uuid.UUID(int=1),
            ics_uid="sample@rooms",
            sequence=1,
            title="Sample; title, \\ with a long enough text to be folded at least once",
            description="Line one\nline two",
            rounds=((1, "Warm-up"), (2, "Design")),
            starts=_SAMPLE_TIME,
            ends=_SAMPLE_TIME + timedelta(hours=1),
            update_time=_SAMPLE_TIME,
            hosting=True,
            other_name="Sample\tName",
        ),
    ),
    tombstones=(
        Tombstone(
            "u", uuid.UUID(int=2), "gone@rooms", 2, "Gone", _SAMPLE_TIME, _SAMPLE_TIME, _SAMPLE_TIME
        ),
    ),
    refresh=timedelta(hours=1),
)
