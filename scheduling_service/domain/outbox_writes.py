"""What a change writes to the notification outbox, decided once here: the outbox
adapter executes it (one statement after the change's guard), and the in-memory twin
the tests use applies the very same value. Pure.

- Who is sent which calendar message: invites.invites_for.
- A recipient with no address known is sent nothing, but gets a `skipped` row all the
  same: the participant sees that it was never sent, and why (mail.NO_ADDRESS).
- So does one whose connected calendar takes the place of e-mailed invitations
  (`email_invites` off: mail.CALENDAR_CONNECTED), for an invitation that would put the
  event in their calendar afresh. One who already holds an e-mailed copy (connected
  after it was sent) keeps getting its updates and its cancel, or that copy would be
  left behind; their connected calendar's copy is the same event (same UID).
- Every new invite supersedes the invites still pending for its recipient under the
  room's UID (skipped or not: the newer state is what counts), except one in flight,
  which finishes first.
- Who holds the event afterwards (invites.holders_after), as the holders added and
  removed.
- Reminders (reminders.plan): the pending ones are removed when the change says so,
  and new ones are written for the recipients with an address only (their invitation's
  `skipped` row already says why the others get none).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from scheduling_service.domain import mail, reminders
from scheduling_service.domain.changes import Change
from scheduling_service.domain.invites import Invite, Method, holders_after, invites_for
from scheduling_service.domain.outbox import State
from scheduling_service.domain.reminders import Reminder
from scheduling_service.domain.room import Room
from scheduling_service.domain.users import Contact, People


@dataclass(frozen=True)
class InviteToWrite:
    invite: Invite
    recipient: Contact | None  # None: not sent, recorded as skipped
    not_sent_reason: str = ""  # with no recipient: mail.NO_ADDRESS or mail.CALENDAR_CONNECTED

    @property
    def state(self) -> State:
        return State.PENDING if self.recipient is not None else State.SKIPPED


@dataclass(frozen=True)
class ReminderToWrite:
    reminder: Reminder
    recipient: Contact


@dataclass(frozen=True)
class OutboxWrites:
    """Everything a change writes to the outbox, and what its messages are made of
    (the rooms before and after, the contacts they may name, the time they are stamped
    with, a cancel's reason)."""

    change: Change
    before: Room | None
    after: Room
    contacts: Mapping[str, Contact]
    now: datetime
    cancel_reason: str
    holders_added: tuple[str, ...]  # sorted
    holders_removed: tuple[str, ...]  # sorted
    invites: tuple[InviteToWrite, ...]
    # Recipients whose older invites still pending (not in flight) become superseded.
    superseding: tuple[str, ...]
    remove_pending_reminders: bool
    reminders: tuple[ReminderToWrite, ...]

    @property
    def nothing(self) -> bool:
        return not (
            self.invites
            or self.holders_added
            or self.holders_removed
            or self.superseding
            or self.remove_pending_reminders
            or self.reminders
        )

    @property
    def queued(self) -> tuple[InviteToWrite, ...]:
        """The invites that will be sent."""
        return tuple(i for i in self.invites if i.state is State.PENDING)

    @property
    def skipped(self) -> tuple[InviteToWrite, ...]:
        return tuple(i for i in self.invites if i.state is State.SKIPPED)


def for_change(
    change: Change,
    before: Room | None,
    after: Room,
    people: People,
    *,
    now: datetime,
    cancel_reason: str = "",
) -> OutboxWrites:
    invites = invites_for(change, before, after, people.holders)
    plan = reminders.plan(change, before, after, now)
    quiet = {
        i.recipient_id
        for i in invites
        if i.recipient_id in people.calendar_only
        and i.method is Method.REQUEST
        and i.recipient_id not in people.holders
    }
    holders = holders_after(people.holders, [i for i in invites if i.recipient_id not in quiet])
    reachable = {user_id: contact for user_id, contact in people.contacts.items() if contact.email}
    return OutboxWrites(
        change=change,
        before=before,
        after=after,
        contacts=people.contacts,
        now=now,
        cancel_reason=cancel_reason,
        holders_added=tuple(sorted(holders - people.holders)),
        holders_removed=tuple(sorted(people.holders - holders)),
        invites=tuple(_to_write(i, reachable, quiet) for i in invites),
        superseding=tuple(i.recipient_id for i in invites),
        remove_pending_reminders=plan.remove_pending,
        reminders=tuple(
            ReminderToWrite(r, reachable[r.recipient_id])
            for r in plan.add
            if r.recipient_id in reachable
        ),
    )


def _to_write(invite: Invite, reachable: Mapping[str, Contact], quiet: set[str]) -> InviteToWrite:
    if invite.recipient_id in quiet:
        return InviteToWrite(invite, None, mail.CALENDAR_CONNECTED)
    recipient = reachable.get(invite.recipient_id)
    return InviteToWrite(invite, recipient, "" if recipient else mail.NO_ADDRESS)
