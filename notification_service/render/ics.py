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
"""

from __future__ import annotations

from datetime import datetime, timedelta

from icalendar import vDatetime, vDuration
from icalendar.parser import param_value

from notification_service.domain.model import Mailbox, Method, ValidInvite
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


def render_ics(message: ValidInvite, organizer: Mailbox) -> bytes:
    """The VCALENDAR for `message`, organized by `organizer` (the service mailbox).

    The output depends on the arguments only (DTSTAMP comes from the message), so
    a retry renders the same bytes.
    """
    lines = [
        "BEGIN:VCALENDAR",
        f"PRODID:{PRODID}",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        f"METHOD:{message.method.value}",
        "BEGIN:VEVENT",
        f"UID:{text_value(message.uid)}",
        f"SEQUENCE:{message.sequence}",
        f"DTSTAMP:{_time(message.dtstamp)}",
        f"DTSTART:{_time(message.start)}",
        f"DTEND:{_time(message.end)}",
        f"SUMMARY:{text_value(message.title)}",
    ]
    description = event_description(message.description, message.rounds)
    if description:
        lines.append(f"DESCRIPTION:{text_value(description)}")
    # Clients show the CN as "organized by"; without one some show nothing at all.
    lines.append(
        _address("ORGANIZER", Mailbox(organizer.address, organizer.name or organizer.address))
    )
    lines += [_address("ATTENDEE", a, ATTENDEE_PARAMS) for a in message.attendees]
    if message.status is not None:
        lines.append(f"STATUS:{message.status.value}")
    if message.method is Method.CANCEL and message.cancel_reason:
        lines.append(f"COMMENT:{text_value(message.cancel_reason)}")
    if message.method is Method.REQUEST:
        lines += [
            "TRANSP:OPAQUE",
            "BEGIN:VALARM",
            "ACTION:DISPLAY",
            f"DESCRIPTION:{text_value(alarm_description(message.title))}",
            f"TRIGGER:{vDuration(-REMINDER_BEFORE).to_ical().decode('ascii')}",
            "END:VALARM",
        ]
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return ("\r\n".join(fold(line) for line in lines) + "\r\n").encode("utf-8")


def alarm_description(title: str) -> str:
    return f"Reminder: {title}"
