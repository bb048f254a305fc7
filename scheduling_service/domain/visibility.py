"""Who sees what of a room (docs/design.md §8).

Open rooms are a marketplace: everyone signed in sees them whole, so they can book one.
Who booked a room, and a booked room's description, belong to its two participants (and
to trusted backends): anyone else sees a booked room as booked, nothing more. One's own
schedule is one's own: filtering by another user's id needs the trusted scope.
A waitlist's length and hold are everyone's; a place in line its owner's; who waits the
host's alone (waitlist.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from scheduling_service.domain import errors
from scheduling_service.domain.room import Room
from scheduling_service.domain.users import User
from scheduling_service.domain.waitlist import WaitlistView, shared_view
from scheduling_service.domain.waitlist import view_for as waitlist_view_for


@dataclass(frozen=True)
class RoomView:
    """A room as one viewer may see it. `room` has what is hidden cleared; `booked`
    says whether it has a guest; `private` marks the participants' view (also a trusted
    backend's); only the participants themselves see the state of their e-mails."""

    room: Room
    booked: bool
    private: bool
    # The waitlist as this viewer sees it; None: as everyone does (and every event).
    waitlist: WaitlistView | None = None

    @property
    def shown_waitlist(self) -> WaitlistView:
        return self.waitlist if self.waitlist is not None else shared_view(self.room.waitlist)


def view_for(room: Room, viewer: User) -> RoomView:
    view = _view_for(room, viewer)
    if not room.waitlist.waiting:
        return view
    return replace(view, waitlist=waitlist_view_for(room.waitlist, viewer.user_id, room.host_id))


def _view_for(room: Room, viewer: User) -> RoomView:
    booked = room.guest_id is not None
    if viewer.user_id in room.participants:
        return RoomView(room, booked=booked, private=True)
    if viewer.trusted:  # every detail, but not the participants' own mail
        return RoomView(
            replace(room, mail=(), calendar=()) if room.mail or room.calendar else room,
            booked=booked,
            private=True,
        )
    return public_view(room)


def public_view(room: Room) -> RoomView:
    """What everyone signed in sees of a room they take no part in."""
    if room.guest_id is None:
        return RoomView(
            replace(room, mail=(), calendar=()) if room.mail or room.calendar else room,
            booked=False,
            private=False,
        )
    return RoomView(
        replace(room, guest_id=None, description="", mail=(), calendar=()),
        booked=True,
        private=False,
    )


def check_schedule_filter(participant_id: str | None, viewer: User) -> None:
    """Filtering by participant shows whom someone meets: one's own schedule only."""
    if participant_id and participant_id != viewer.user_id and not viewer.trusted:
        raise errors.NotOwnSchedule(
            "participant_id can only be your own user id (or a trusted backend's query)"
        )
