"""The iCalendar objects of the notification service (RFC 5545, RFC 5546). Pure: no I/O.

Maps an invite and a stored copy onto `servicekit.ical`, the writer both services share
(escaping, folding and the order of the lines are its business). Input is a
`ValidInvite` or an `EventCopy`, so every text is already free of control characters.
DESCRIPTION carries the room's description and its rounds. `verify.ics` parses the
result back before it is sent.

`render_ics` writes the iTIP message of an invite; `render_stored_ics` the copy written
into a person's calendar (design.md section 11). The copy is the REQUEST's event without
METHOD (RFC 4791 section 4.1: a stored object has none), STATUS:CONFIRMED, and
SCHEDULE-AGENT=CLIENT on ORGANIZER and every ATTENDEE (RFC 6638 section 7.1), so that
the calendar server sends no mail of its own.
"""

from __future__ import annotations

from datetime import timedelta

from notification_service.domain.calendar import EventCopy
from notification_service.domain.model import Mailbox, Method, Round, Status, ValidInvite
from servicekit.ical import (
    Address,
    Event,
    alarm_description,
    calendar,
    cn,
    event_description,
    fold,
    text_value,
)

# Re-exported: verify/ics.py states what is meant with the writer's own CN and alarm
# text; fold and text_value stay importable from here for code written before the move.
__all__ = [
    "ATTENDEE_PARAMS",
    "PRODID",
    "REMINDER_BEFORE",
    "alarm_description",
    "cn",
    "fold",
    "render_ics",
    "render_stored_ics",
    "text_value",
]

PRODID = "-//Practice Rooms//Notification Service//EN"
REMINDER_BEFORE = timedelta(minutes=15)
# Both parties already agreed (host created, guest booked); RSVP buttons would
# send replies to a mailbox nobody reads.
ATTENDEE_PARAMS = (
    ("CUTYPE", "INDIVIDUAL"),
    ("ROLE", "REQ-PARTICIPANT"),
    ("PARTSTAT", "ACCEPTED"),
    ("RSVP", "FALSE"),
)
# The stored copy: the client (we) does the scheduling, the server sends nothing.
SCHEDULE_AGENT_CLIENT = (("SCHEDULE-AGENT", "CLIENT"),)
STORED_ATTENDEE_PARAMS = ATTENDEE_PARAMS + SCHEDULE_AGENT_CLIENT


def _organizer(mailbox: Mailbox, params: tuple[tuple[str, str], ...]) -> Address:
    # Clients show the CN as "organized by"; without one some show nothing at all.
    return Address(mailbox.address, mailbox.name or mailbox.address, params)


def _attendees(
    mailboxes: tuple[Mailbox, ...], params: tuple[tuple[str, str], ...]
) -> tuple[Address, ...]:
    return tuple(Address(m.address, m.name, params) for m in mailboxes)


def _description(description: str, rounds: tuple[Round, ...]) -> str:
    # The shared layout, so that the scheduling service's feed entry of the same
    # session says the same (verify/ics.py checks it against render/bodies.py's).
    return event_description(description, ((r.number, r.topic) for r in rounds))


def render_ics(message: ValidInvite, organizer: Mailbox) -> bytes:
    """The VCALENDAR for `message`, organized by `organizer` (the service mailbox).

    The output depends on the arguments only (DTSTAMP comes from the message), so
    a retry renders the same bytes.
    """
    # A REQUEST holds the time in the attendee's calendar and reminds of it; a
    # CANCEL frees it.
    holds_time = message.method is Method.REQUEST
    event = Event(
        uid=message.uid,
        sequence=message.sequence,
        dtstamp=message.dtstamp,
        start=message.start,
        end=message.end,
        title=message.title,
        description=_description(message.description, message.rounds),
        status=message.status.value if message.status is not None else None,
        comment=message.cancel_reason if message.method is Method.CANCEL else "",
        organizer=_organizer(organizer, ()),
        attendees=_attendees(message.attendees, ATTENDEE_PARAMS),
        transparency="OPAQUE" if holds_time else None,
        alarm_before=REMINDER_BEFORE if holds_time else None,
    )
    return calendar([event], method=message.method.value, prodid=PRODID)


def render_stored_ics(copy: EventCopy, organizer: Mailbox) -> bytes:
    """The calendar object stored in a person's calendar for `copy`: the REQUEST's
    event, without METHOD, CONFIRMED, every address with SCHEDULE-AGENT=CLIENT. The same
    arguments give the same bytes."""
    event = Event(
        uid=copy.uid,
        sequence=copy.sequence,
        dtstamp=copy.dtstamp,
        start=copy.start,
        end=copy.end,
        title=copy.title,
        description=_description(copy.description, copy.rounds),
        status=Status.CONFIRMED.value,
        organizer=_organizer(organizer, SCHEDULE_AGENT_CLIENT),
        attendees=_attendees(copy.attendees, STORED_ATTENDEE_PARAMS),
        transparency="OPAQUE",
        alarm_before=REMINDER_BEFORE,
    )
    return calendar([event], prodid=PRODID)
