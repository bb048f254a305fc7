"""A taken room's waitlist, and the hold of the first in line (docs/design.md §16). Pure.

The line is a tuple of user ids, first first. While `hold_until` is set, the first in
line holds the room: only they can book it, until then. The holder stays first in line
until they book (and leave the line with it), give the hold up, or it lapses; then it
passes to the next in line. A line is never left without a hold on an open room: with
nobody left to hold it, the room is open to all.

What each viewer may see of it (WaitlistView): the length and the hold's end are
everyone's, a place in line and whose hold it is only its owner's, who waits only the
host's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduling_service.domain import errors

# The defaults of WAITLIST_HOLD and WAITLIST_MAX (config.py).
DEFAULT_HOLD = timedelta(minutes=15)
DEFAULT_MAX = 20


@dataclass(frozen=True)
class Waitlist:
    waiting: tuple[str, ...] = ()
    # Set: the first in line holds the room until then.
    hold_until: datetime | None = None

    @property
    def length(self) -> int:
        return len(self.waiting)

    @property
    def holder(self) -> str | None:
        return self.waiting[0] if self.hold_until is not None and self.waiting else None

    def position(self, user_id: str) -> int:
        """1 for the first in line; 0 for someone not in it."""
        try:
            return self.waiting.index(user_id) + 1
        except ValueError:
            return 0

    def check_booking(self, user_id: str, now: datetime) -> None:
        """ROOM_HELD unless the room is free of holds, or the booker's own hold runs.

        A hold past its end still stands until it is passed on (within RELAY_POLL_S):
        the next in line is owed the room, so no one else may take it meanwhile."""
        if self.hold_until is None:
            return
        if self.holder == user_id:
            if now < self.hold_until:
                return
            raise errors.RoomHeld("your hold on this room has ended")
        raise errors.RoomHeld(
            "the room is held for someone on its waitlist until "
            f"{self.hold_until.isoformat()}; join the waitlist to be next"
        )

    def without(self, user_id: str) -> Waitlist:
        """The line once `user_id` left it; their hold, if any, ends (a holder who books)."""
        if user_id not in self.waiting:
            return self
        rest = tuple(u for u in self.waiting if u != user_id)
        return Waitlist(rest, None if self.holder == user_id else self.hold_until)

    def offered(self, now: datetime, hold: timedelta, starts: datetime) -> Waitlist:
        """The first in line holds the room from `now` (none beyond the session's start,
        when nobody can book it any more); with nobody in line, no hold."""
        if not self.waiting:
            return Waitlist()
        return Waitlist(self.waiting, min(now + hold, starts))


@dataclass(frozen=True)
class WaitlistView:
    """A waitlist as one viewer may see it."""

    length: int
    hold_until: datetime | None
    your_position: int = 0
    hold_is_yours: bool = False
    waiting: tuple[str, ...] = ()  # the host's alone

    @property
    def empty(self) -> bool:
        return self.length == 0 and self.hold_until is None


def shared_view(waitlist: Waitlist) -> WaitlistView:
    """What everyone, and every WatchRooms event, may know: how long, held until when."""
    return WaitlistView(waitlist.length, waitlist.hold_until)


def view_for(waitlist: Waitlist, viewer_id: str, host_id: str) -> WaitlistView:
    """`viewer_id`'s own place and hold, and who waits when they are the host."""
    return WaitlistView(
        length=waitlist.length,
        hold_until=waitlist.hold_until,
        your_position=waitlist.position(viewer_id),
        hold_is_yours=waitlist.holder == viewer_id,
        waiting=waitlist.waiting if viewer_id == host_id else (),
    )
