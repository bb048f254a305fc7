"""The iCalendar object of an iTIP message (RFC 5545, RFC 5546). Pure: no I/O.

Input is a `ValidInvite`, so every text is already free of control characters.
TEXT values are escaped here (RFC 5545 3.3.11: `\\`, `;`, `,` and LF; see
`text_value` for why not by icalendar); parameter values (RFC 6868 escaping,
quoting of a CN holding `;`, `:` or `,`), UTC date-times and durations are
serialized by `icalendar`. The content lines are assembled here in a fixed
order and folded at 75 octets (never inside a UTF-8 character, never right after
a `\\` or `^` escape), which costs a tenth of building icalendar's component tree
for a handful of properties. DESCRIPTION carries the room's description and its
rounds. `verify.ics` parses the result back before it is sent.

One writer for both objects: `render_ics` (the iTIP message of an invite) and
`render_stored_ics` (the copy written into a person's calendar, design.md section 11).
The copy is the REQUEST's event without METHOD (RFC 4791 section 4.1: a stored object
has none), STATUS:CONFIRMED, and SCHEDULE-AGENT=CLIENT on ORGANIZER and every ATTENDEE
(RFC 6638 section 7.1), so that the calendar server sends no mail of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from icalendar import vDatetime, vDuration
from icalendar.parser import param_value

from notification_service.domain.calendar import EventCopy
from notification_service.domain.model import Mailbox, Method, Status, ValidInvite
from notification_service.render.bodies import event_description

PRODID = "-//Practice Rooms//Notification Service//EN"
REMINDER_BEFORE = timedelta(minutes=15)
MAX_OCTETS = 75  # RFC 5545 3.1, excluding the CRLF
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


def cn(name: str) -> str:
    """The name as a CN parameter value.

    icalendar writes a DQUOTE inside a parameter as RFC 6868 `^'`, which Outlook
    and vobject show literally; a plain apostrophe reads the same. A backslash
    is literal in a parameter (RFC 5545 has no escapes there), but parsers such
    as icalendar's read `\\\\` as one: a slash reads the same everywhere.
    """
    return name.replace('"', "'").replace("\\", "/")


def _ends_in_escape(line: str, start: int, cut: int) -> bool:
    """Whether line[start:cut] ends with an odd run of `\\` or of `^`."""
    char = line[cut - 1]
    if char not in "\\^":
        return False
    run = 0
    while cut - 1 - run >= start and line[cut - 1 - run] == char:
        run += 1
    return run % 2 == 1 and cut - 1 > start


def fold(line: str) -> str:
    """RFC 5545 3.1 folding: CRLF SPACE before the 76th octet of each line."""
    if len(line) <= MAX_OCTETS and line.isascii():
        return line
    pieces: list[str] = []
    start = 0
    used = 0
    for index, char in enumerate(line):
        size = 1 if char < "\x80" else len(char.encode("utf-8"))
        # A continuation line starts with the folding space.
        limit = MAX_OCTETS if not pieces else MAX_OCTETS - 1
        if used + size > limit:
            cut = index
            # Clients mis-read an escape (`\\,` or RFC 6868 `^'`) split across
            # lines (icalendar #1501): never end a piece inside one.
            if _ends_in_escape(line, start, cut):
                cut -= 1
            pieces.append(line[start:cut])
            used = sum(1 if c < "\x80" else len(c.encode("utf-8")) for c in line[cut:index])
            start = cut
        used += size
    pieces.append(line[start:])
    return "\r\n ".join(pieces)


def text_value(value: str) -> str:
    """A TEXT value escaped per RFC 5545 3.3.11.

    Not icalendar's vText: it first turns a literal `\\N` of the input into a
    line break (it takes the input for half-escaped text), so a title holding
    `\\N` would not read back as itself (found by the property tests).
    """
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _time(moment: datetime) -> str:
    return vDatetime(moment).to_ical().decode("ascii")


def _address(name: str, mailbox: Mailbox, params: tuple[tuple[str, str], ...] = ()) -> str:
    text = name
    if mailbox.name:
        text += f";CN={param_value(cn(mailbox.name), always_quote=True)}"
    for key, value in params:
        text += f";{key}={value}"
    return f"{text}:mailto:{mailbox.address}"


@dataclass(frozen=True)
class _Event:
    """What one VEVENT says, whichever object carries it."""

    uid: str
    sequence: int
    dtstamp: datetime
    start: datetime
    end: datetime
    title: str
    description: str
    attendees: tuple[Mailbox, ...]
    status: Status | None
    comment: str
    # TRANSP:OPAQUE and the VALARM: an event that holds the time (REQUEST, the copy).
    holds_time: bool
    organizer_params: tuple[tuple[str, str], ...]
    attendee_params: tuple[tuple[str, str], ...]


def _lines(method: Method | None, event: _Event, organizer: Mailbox) -> list[str]:
    lines = ["BEGIN:VCALENDAR", f"PRODID:{PRODID}", "VERSION:2.0", "CALSCALE:GREGORIAN"]
    if method is not None:
        lines.append(f"METHOD:{method.value}")
    lines += [
        "BEGIN:VEVENT",
        f"UID:{text_value(event.uid)}",
        f"SEQUENCE:{event.sequence}",
        f"DTSTAMP:{_time(event.dtstamp)}",
        f"DTSTART:{_time(event.start)}",
        f"DTEND:{_time(event.end)}",
        f"SUMMARY:{text_value(event.title)}",
    ]
    if event.description:
        lines.append(f"DESCRIPTION:{text_value(event.description)}")
    # Clients show the CN as "organized by"; without one some show nothing at all.
    named = Mailbox(organizer.address, organizer.name or organizer.address)
    lines.append(_address("ORGANIZER", named, event.organizer_params))
    lines += [_address("ATTENDEE", a, event.attendee_params) for a in event.attendees]
    if event.status is not None:
        lines.append(f"STATUS:{event.status.value}")
    if event.comment:
        lines.append(f"COMMENT:{text_value(event.comment)}")
    if event.holds_time:
        lines += [
            "TRANSP:OPAQUE",
            "BEGIN:VALARM",
            "ACTION:DISPLAY",
            f"DESCRIPTION:{text_value(alarm_description(event.title))}",
            f"TRIGGER:{vDuration(-REMINDER_BEFORE).to_ical().decode('ascii')}",
            "END:VALARM",
        ]
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return lines


def _write(lines: list[str]) -> bytes:
    return ("\r\n".join(fold(line) for line in lines) + "\r\n").encode("utf-8")


def render_ics(message: ValidInvite, organizer: Mailbox) -> bytes:
    """The VCALENDAR for `message`, organized by `organizer` (the service mailbox).

    The output depends on the arguments only (DTSTAMP comes from the message), so
    a retry renders the same bytes.
    """
    cancel = message.method is Method.CANCEL
    event = _Event(
        uid=message.uid,
        sequence=message.sequence,
        dtstamp=message.dtstamp,
        start=message.start,
        end=message.end,
        title=message.title,
        description=event_description(message.description, message.rounds),
        attendees=message.attendees,
        status=message.status,
        comment=message.cancel_reason if cancel else "",
        holds_time=message.method is Method.REQUEST,
        organizer_params=(),
        attendee_params=ATTENDEE_PARAMS,
    )
    return _write(_lines(message.method, event, organizer))


def render_stored_ics(copy: EventCopy, organizer: Mailbox) -> bytes:
    """The calendar object stored in a person's calendar for `copy`: the REQUEST's
    event, without METHOD, CONFIRMED, every address with SCHEDULE-AGENT=CLIENT. The same
    arguments give the same bytes."""
    event = _Event(
        uid=copy.uid,
        sequence=copy.sequence,
        dtstamp=copy.dtstamp,
        start=copy.start,
        end=copy.end,
        title=copy.title,
        description=event_description(copy.description, copy.rounds),
        attendees=copy.attendees,
        status=Status.CONFIRMED,
        comment="",
        holds_time=True,
        organizer_params=SCHEDULE_AGENT_CLIENT,
        attendee_params=STORED_ATTENDEE_PARAMS,
    )
    return _write(_lines(None, event, organizer))


def alarm_description(title: str) -> str:
    return f"Reminder: {title}"
