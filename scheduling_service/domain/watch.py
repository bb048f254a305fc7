"""What WatchRooms streams: change-log events, and the filters watchers choose.

Each event comes serialized twice at most: as its participants see it, and as everyone
else does (domain/visibility.py); a watcher gets one of the two, never its own copy.
"""

from __future__ import annotations

from dataclasses import dataclass

from scheduling_service.domain.users import User


@dataclass(frozen=True, slots=True)
class WatchFilter:
    open_only: bool = False
    participant_id: str | None = None


@dataclass(frozen=True, slots=True)
class WatchEvent:
    revision: int
    participants: frozenset[str]
    open_before: bool
    open_after: bool
    private: bytes  # a serialized scheduling.v1.RoomEvent, as the participants see it
    public: bytes  # as everyone else sees it (the same object when nothing is hidden)
    # A kind of change this code does not know (written by a newer release during a
    # rolling update): it moves every reader's position past it and is sent to nobody.
    unknown: bool = False

    @classmethod
    def unreadable(cls, revision: int) -> WatchEvent:
        return cls(revision, frozenset(), False, False, b"", b"", unknown=True)

    def serialized_for(self, viewer: User) -> bytes:
        """The event as `viewer` may see it."""
        if viewer.trusted or viewer.user_id in self.participants:
            return self.private
        return self.public

    def matches(self, watch_filter: WatchFilter) -> bool:
        if self.unknown:
            return False
        # A room leaving a filtered view is sent too, so the watcher's copy never
        # keeps a row that no longer belongs in it.
        if watch_filter.open_only and not (self.open_before or self.open_after):
            return False
        participant_id = watch_filter.participant_id
        return not (participant_id and participant_id not in self.participants)
