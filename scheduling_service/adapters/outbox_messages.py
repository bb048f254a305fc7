"""What the outbox stores for each message: the notification service's requests
(notification.v1), built from the domain's room, invite or reminder and the contacts
the change read. Only participants with an address are named."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from google.protobuf.duration_pb2 import Duration
from notification.v1 import notification_pb2 as npb

from scheduling_service.adapters import wire
from scheduling_service.domain.calendar import ClaimedCopy
from scheduling_service.domain.changes import Change
from scheduling_service.domain.invites import Invite, Method
from scheduling_service.domain.reminders import Reminder
from scheduling_service.domain.room import Room
from scheduling_service.domain.users import Contact
from scheduling_service.domain.waitlist_changes import NoticeKind, NoticeToWrite

_CHANGES = {
    Change.BOOKED: npb.CHANGE_BOOKED,
    Change.RESCHEDULED: npb.CHANGE_RESCHEDULED,
    Change.LEFT: npb.CHANGE_GUEST_LEFT,
    Change.CANCELLED: npb.CHANGE_CANCELLED,
}


def _participant(contact: Contact) -> npb.Participant:
    return npb.Participant(email=contact.email or "", display_name=contact.name or "")


def _recipient(contact: Contact) -> npb.Recipient:
    return npb.Recipient(
        email=contact.email or "",
        display_name=contact.name or "",
        time_zone=contact.zoneinfo or "",
    )


def _rounds(room: Room) -> list[npb.EventRound]:
    return [npb.EventRound(number=r.number, topic=r.topic) for r in room.rounds]


_NOTICE_KINDS = {
    NoticeKind.OFFER: npb.WaitlistNotice.KIND_OFFER,
    NoticeKind.CANCELLED: npb.WaitlistNotice.KIND_CANCELLED,
}


def waitlist_notice(room: Room, notice: NoticeToWrite, recipient: Contact, now: datetime) -> bytes:
    """The e-mail to someone waiting for `room`: an offer of its hold, or its cancel.
    Nothing of the room's description or its participants: those are theirs."""
    message = npb.WaitlistNotice(
        kind=_NOTICE_KINDS[notice.kind],
        uid=room.ics_uid,
        room_id=str(room.room_id),
        title=room.title,
        start_time=wire.timestamp(room.starts),
        end_time=wire.timestamp(room.ends),
        rounds=_rounds(room),
        recipient=_recipient(recipient),
        notice_time=wire.timestamp(now),
    )
    if notice.hold_until is not None:
        message.hold_until.CopyFrom(wire.timestamp(notice.hold_until))
    return message.SerializeToString()


def reminder_message(
    room: Room, reminder: Reminder, contacts: Mapping[str, Contact], recipient: Contact
) -> bytes:
    """The reminder as the notification service renders it; the relay adds the time of
    each attempt (the body says how soon the session starts from then)."""
    return npb.ReminderMessage(
        uid=room.ics_uid,
        start_time=wire.timestamp(room.starts),
        end_time=wire.timestamp(room.ends),
        title=room.title,
        description=room.description,
        rounds=_rounds(room),
        recipient=_recipient(recipient),
        participants=[
            _participant(contacts[user])
            for user in room.participants
            if user in contacts and contacts[user].email
        ],
        offset=Duration(seconds=int(reminder.offset.total_seconds())),
        due_time=wire.timestamp(reminder.due),
    ).SerializeToString()


def calendar_message(
    change: Change,
    before: Room | None,
    room: Room,
    invite: Invite,
    contacts: Mapping[str, Contact],
    recipient: Contact,
    now: datetime,
    cancel_reason: str,
) -> npb.CalendarMessage:
    def participant(user_id: str) -> npb.Participant:
        return _participant(contacts[user_id])

    def reachable(user_id: str | None) -> bool:
        return user_id is not None and user_id in contacts and bool(contacts[user_id].email)

    event = npb.CalendarEvent(
        uid=room.ics_uid,
        sequence=room.sequence,
        start_time=wire.timestamp(room.starts),
        end_time=wire.timestamp(room.ends),
        title=room.title,
        description=room.description,
        cancel_reason=cancel_reason if invite.method is Method.CANCEL else "",
        rounds=_rounds(room),
    )
    if change is Change.RESCHEDULED and before is not None:
        event.previous_start_time.CopyFrom(wire.timestamp(before.starts))
        event.previous_end_time.CopyFrom(wire.timestamp(before.ends))
    message = npb.CalendarMessage(
        method=npb.METHOD_REQUEST if invite.method is Method.REQUEST else npb.METHOD_CANCEL,
        event=event,
        attendees=[participant(user) for user in room.participants if reachable(user)],
        recipient=_recipient(recipient),
        dtstamp=wire.timestamp(now),
        uninvite=invite.uninvite,
        change=_CHANGES[change],
    )
    if reachable(room.host_id):
        message.organizer.CopyFrom(participant(room.host_id))
    departed = before.guest_id if change is Change.LEFT and before is not None else None
    if reachable(departed):
        assert departed is not None
        message.departed.CopyFrom(participant(departed))
    return message


def calendar_write(copy: ClaimedCopy) -> npb.WriteCalendarEventRequest:
    """The write that puts `copy` right: the room as the claim read it (PUT) when its
    user is still in it, otherwise the copy's removal (DELETE)."""
    request = npb.WriteCalendarEventRequest(
        user_id=copy.user_id,
        calendar_url=copy.calendar_url,
        sealed_credentials=copy.sealed_credentials,
        href=copy.href or "",
        etag=copy.etag or "",
        idempotency_key=f"calendar-{copy.room_id}-{copy.user_id}-{copy.version}",
    )
    room = copy.room
    if room is None or not copy.wants_event:
        request.action = npb.CALENDAR_WRITE_ACTION_DELETE
        request.event.uid = copy.ics_uid
        return request
    request.action = npb.CALENDAR_WRITE_ACTION_PUT
    request.event.CopyFrom(
        npb.CalendarEvent(
            uid=room.ics_uid,
            sequence=room.sequence,
            start_time=wire.timestamp(room.starts),
            end_time=wire.timestamp(room.ends),
            title=room.title,
            description=room.description,
            rounds=_rounds(room),
        )
    )
    request.attendees.extend(
        _participant(copy.contacts[user])
        for user in room.participants
        if user in copy.contacts and copy.contacts[user].email
    )
    request.dtstamp.CopyFrom(wire.timestamp(room.update_time))
    return request


def calendar_notice(copy: ClaimedCopy, reason: str, now: datetime) -> bytes | None:
    """The e-mail telling `copy`'s owner that their calendar refused our writes; None
    when no address is known for them."""
    owner = copy.contacts.get(copy.user_id)
    if owner is None or not owner.email:
        return None
    return npb.CalendarNotice(
        recipient=_recipient(owner),
        calendar_url=copy.calendar_url,
        reason=reason[:500],
        notice_time=wire.timestamp(now),
    ).SerializeToString()
