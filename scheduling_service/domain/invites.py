"""Who is sent which calendar message for a change (RFC 5546 semantics). Pure.

`invited` is who holds the event in their calendar now: everyone sent a REQUEST for
the room's UID and no CANCEL since. A booking invites host and guest; a reschedule
updates whoever holds the event; a guest who leaves gets the RFC 5546 §3.2.5
"uninvite" and the host an updated REQUEST; a cancel reaches exactly the holders,
so an unbooked room's cancel sends nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from scheduling_service.domain.changes import Change
from scheduling_service.domain.room import Room


class Method(enum.Enum):
    REQUEST = "REQUEST"
    CANCEL = "CANCEL"


@dataclass(frozen=True)
class Invite:
    recipient_id: str
    method: Method
    uninvite: bool = False


def invites_for(
    change: Change, before: Room | None, after: Room, invited: frozenset[str]
) -> list[Invite]:
    if change is Change.BOOKED:
        return [Invite(user, Method.REQUEST) for user in after.participants]
    if change is Change.RESCHEDULED:
        holders = set(invited) | (set(after.participants) if not after.is_open else set())
        return [Invite(user, Method.REQUEST) for user in _ordered(after, holders)]
    if change is Change.LEFT:
        assert before is not None and before.guest_id is not None
        invites = []
        if before.guest_id in invited:
            invites.append(Invite(before.guest_id, Method.CANCEL, uninvite=True))
        if after.host_id in invited:
            invites.append(Invite(after.host_id, Method.REQUEST))
        return invites
    if change is Change.CANCELLED:
        return [Invite(user, Method.CANCEL) for user in _ordered(after, set(invited))]
    return []


def holders_after(invited: frozenset[str], invites: list[Invite]) -> frozenset[str]:
    holders = set(invited)
    for invite in invites:
        if invite.method is Method.REQUEST:
            holders.add(invite.recipient_id)
        else:
            holders.discard(invite.recipient_id)
    return frozenset(holders)


def _ordered(room: Room, users: set[str]) -> list[str]:
    """Host first, then the rest in a stable order."""
    return sorted(users, key=lambda user: (user != room.host_id, user))
