"""What WatchRooms streams: change-log events, and the filters watchers choose."""

from __future__ import annotations

from dataclasses import dataclass


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
    data: bytes  # a serialized scheduling.v1.RoomEvent

    def matches(self, f: WatchFilter) -> bool:
        # A room leaving a filtered view is sent too, so the watcher's copy never
        # keeps a row that no longer belongs in it.
        if f.open_only and not (self.open_before or self.open_after):
            return False
        return not (f.participant_id and f.participant_id not in self.participants)
