"""Who is calling: the user id and the profile claims their token carries."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class User:
    user_id: str
    email: str | None = None
    name: str | None = None
    zoneinfo: str | None = None
    # A trusted backend (its token carries JWT_ADMIN_SCOPE): sees every room's details
    # and anyone's schedule.
    trusted: bool = False

    @property
    def profile(self) -> tuple[str | None, str | None, str | None]:
        return (self.email, self.name, self.zoneinfo)


@dataclass(frozen=True)
class Contact:
    """What the directory knows of a user: where and how to reach them."""

    user_id: str
    email: str | None
    name: str | None
    zoneinfo: str | None


@dataclass(frozen=True)
class People:
    """The people a change to a room concerns: who holds the room's event in their
    calendar now (everyone sent a REQUEST for its UID and no CANCEL since), the
    contact details of everyone a message may name, and who has a connected calendar
    that takes the place of e-mailed invitations (active, `email_invites` off: a broken
    connection's owner gets invitations again, or they would get nothing)."""

    holders: frozenset[str]
    contacts: dict[str, Contact]
    calendar_only: frozenset[str] = frozenset()
