"""The iCalendar object of an iTIP message (RFC 5545, RFC 5546). Pure: no I/O.

Input is a `ValidMessage`, so every text is already free of control characters;
`icalendar` escapes TEXT values (`,` `;` `\\` and LF) and folds lines at 75 octets.
"""

from __future__ import annotations

from datetime import timedelta

from icalendar import Alarm, Calendar, Event, vCalAddress

from notification_service.model import Mailbox, Method, ValidMessage

PRODID = "-//Practice Rooms//Notification Service//EN"
REMINDER_BEFORE = timedelta(minutes=15)


def _cn(name: str) -> str:
    # icalendar writes a DQUOTE inside a parameter as RFC 6868 `^'`, which
    # Outlook and vobject show literally; a plain apostrophe reads the same.
    return name.replace('"', "'")


def _address(mailbox: Mailbox) -> vCalAddress:
    address = vCalAddress(f"mailto:{mailbox.address}")
    if mailbox.name:
        address.params["CN"] = _cn(mailbox.name)
    return address


def _attendee(mailbox: Mailbox) -> vCalAddress:
    address = _address(mailbox)
    address.params["CUTYPE"] = "INDIVIDUAL"
    address.params["ROLE"] = "REQ-PARTICIPANT"
    # Both parties already agreed (host created, guest booked); RSVP buttons
    # would send replies to a mailbox nobody reads.
    address.params["PARTSTAT"] = "ACCEPTED"
    address.params["RSVP"] = "FALSE"
    return address


def _alarm(title: str) -> Alarm:
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", f"Reminder: {title}")
    alarm.add("trigger", -REMINDER_BEFORE)
    return alarm


def render_ics(message: ValidMessage, organizer: Mailbox) -> bytes:
    """The VCALENDAR for `message`, organized by `organizer` (the service mailbox).

    The output depends on the arguments only (DTSTAMP comes from the message), so
    a retry renders the same bytes.
    """
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", message.method.value)

    event = Event()
    event.add("uid", message.uid)
    event.add("sequence", message.sequence)
    event.add("dtstamp", message.dtstamp)
    event.add("dtstart", message.start)
    event.add("dtend", message.end)
    event.add("summary", message.title)
    if message.description:
        event.add("description", message.description)
    # Clients show the CN as "organized by"; without one some show nothing at all.
    event.add(
        "organizer", _address(Mailbox(organizer.address, organizer.name or organizer.address))
    )
    for attendee in message.attendees:
        event.add("attendee", _attendee(attendee))
    if message.status is not None:
        event.add("status", message.status.value)
    if message.method is Method.CANCEL and message.cancel_reason:
        event.add("comment", message.cancel_reason)
    if message.method is Method.REQUEST:
        event.add("transp", "OPAQUE")
        event.add_component(_alarm(message.title))
    calendar.add_component(event)
    return calendar.to_ical()
