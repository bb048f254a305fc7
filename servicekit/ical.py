"""The iCalendar writer both services share (RFC 5545): events in, VCALENDAR bytes out.
Pure: no I/O, no knowledge of either service's domain.

TEXT values are escaped here (RFC 5545 3.3.11: `\\`, `;`, `,` and LF; see
`text_value` for why not by icalendar); parameter values (RFC 6868 escaping, quoting
of a CN holding `;`, `:` or `,`), UTC date-times and durations are serialized by
`icalendar`. The content lines are assembled here in a fixed order and folded at 75
octets (never inside a UTF-8 character, never right after a `\\` or `^` escape),
which costs a tenth of building icalendar's component tree for a handful of
properties.

The texts written here need not have passed any validation: room titles and
descriptions, a display name taken from a token claim. A CR or LF that reached a
content line unescaped would end it, and whatever followed would be read as a property
(or a BEGIN:VEVENT) of the sender's choosing; some readers also end lines at C1 NEL or
U+2028/U+2029 (Python's `str.splitlines` does). So no caller text reaches the output
but through escaping:

- in TEXT values (`text_value`) CR LF and a lone CR become LF before escaping, so
  that a multi-line description still reads back as line breaks; every other control
  character but TAB (which TEXT allows), DEL, the C1 controls, U+2028, U+2029 and lone
  surrogates (which have no UTF-8 form) become U+FFFD, so a reader sees that something
  was there;
- in a CN (`cn`) every control character becomes a space: a parameter has no escape
  for them that clients honour (RFC 6868's `^n` is shown literally by many), and a
  name is one line anyway.

What is ours (METHOD, STATUS, TRANSP, the extra calendar properties, parameter names
and values, addresses) is written as given, but a ValueError is raised if any of it
could end a line or break the property's syntax: that is a bug of the caller, not
something to paper over. PRODID is TEXT, escaped like the others.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from icalendar import vDatetime, vDuration
from icalendar.parser import param_value

MAX_OCTETS = 75  # RFC 5545 3.1, excluding the CRLF

# Characters no content line may carry: every control but TAB (a CR or LF alone
# included), DEL, C1, the Unicode line and paragraph separators, lone surrogates.
_UNSAFE = "\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff"
_LINE_UNSAFE = re.compile(f"[{_UNSAFE}]")
# The same less LF, which a TEXT value escapes (CR is made LF before this applies).
_TEXT_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# In a CN, TAB too: see the module docstring.
_CN_UNSAFE = re.compile(f"[\t{_UNSAFE}]")
_TOKEN = re.compile(r"[A-Za-z0-9-]+")
_PARAM_VALUE = f'(?:"[^"{_UNSAFE}]*"|[^";:,{_UNSAFE}]*)'
_PROPERTY_NAME = re.compile(rf"[A-Za-z0-9-]+(?:;[A-Za-z0-9-]+={_PARAM_VALUE})*")
_PARAM = re.compile(_PARAM_VALUE)


@dataclass(frozen=True)
class Address:
    """A cal-address: `mailto:address`, with a CN when `name` is set, then `params`."""

    address: str
    name: str = ""
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Event:
    """What one VEVENT says. Times are aware datetimes, written in UTC."""

    uid: str
    sequence: int
    dtstamp: datetime
    start: datetime
    end: datetime
    title: str
    description: str = ""  # empty: no DESCRIPTION line
    status: str | None = None  # "CONFIRMED", "CANCELLED", ...; None: no STATUS line
    comment: str = ""  # empty: no COMMENT line
    organizer: Address | None = None  # None: no ORGANIZER line
    attendees: tuple[Address, ...] = ()
    transparency: str | None = None  # "OPAQUE" / "TRANSPARENT"; None: no TRANSP line
    alarm_before: timedelta | None = None  # a display VALARM that long before the start


def cn(name: str) -> str:
    """The name as a CN parameter value.

    icalendar writes a DQUOTE inside a parameter as RFC 6868 `^'`, which Outlook
    and vobject show literally; a plain apostrophe reads the same. A backslash
    is literal in a parameter (RFC 5545 has no escapes there), but parsers such
    as icalendar's read `\\\\` as one: a slash reads the same everywhere. Control
    characters become spaces (see the module docstring).
    """
    return _CN_UNSAFE.sub(" ", name).replace('"', "'").replace("\\", "/")


def text_value(value: str) -> str:
    """A TEXT value cleaned (see the module docstring) and escaped per RFC 5545 3.3.11.

    Not icalendar's vText: it first turns a literal `\\N` of the input into a
    line break (it takes the input for half-escaped text), so a title holding
    `\\N` would not read back as itself (found by the property tests).
    """
    value = _TEXT_UNSAFE.sub("\ufffd", value.replace("\r\n", "\n").replace("\r", "\n"))
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def event_description(description: str, rounds: Iterable[tuple[int, str]] = ()) -> str:
    """A session's DESCRIPTION (before escaping): the room's description, then its
    rounds as `(number, topic)`, one `Round N: topic` line each. Here so that an
    invitation and a feed entry of the same session say the same."""
    lines = "\n".join(f"Round {number}: {topic}" for number, topic in rounds)
    return "\n\n".join(part for part in (description, lines) if part)


def alarm_description(title: str) -> str:
    """The DESCRIPTION of the VALARM of an event titled `title` (before escaping)."""
    return f"Reminder: {title}"


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


def _ours(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not pattern.fullmatch(value):
        raise ValueError(f"{what} {value!r} cannot be written into an iCalendar line")
    return value


def _time(moment: datetime) -> str:
    # A naive time would be read as floating (each reader's local time), and a
    # non-UTC one would lose its zone: vDatetime writes a TZID only as a parameter.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} is not an aware datetime")
    return vDatetime(moment.astimezone(UTC)).to_ical().decode("ascii")


def _address(property_name: str, address: Address) -> str:
    text = property_name
    if address.name:
        text += f";CN={param_value(cn(address.name), always_quote=True)}"
    for key, value in address.params:
        text += f";{_ours(_TOKEN, key, 'parameter')}={_ours(_PARAM, value, 'parameter value')}"
    if _LINE_UNSAFE.search(address.address):
        raise ValueError(f"address {address.address!r} cannot be written into an iCalendar line")
    return f"{text}:mailto:{address.address}"


def _event_lines(event: Event) -> list[str]:
    lines = [
        "BEGIN:VEVENT",
        f"UID:{text_value(event.uid)}",
        f"SEQUENCE:{int(event.sequence)}",
        f"DTSTAMP:{_time(event.dtstamp)}",
        f"DTSTART:{_time(event.start)}",
        f"DTEND:{_time(event.end)}",
        f"SUMMARY:{text_value(event.title)}",
    ]
    if event.description:
        lines.append(f"DESCRIPTION:{text_value(event.description)}")
    if event.organizer is not None:
        lines.append(_address("ORGANIZER", event.organizer))
    lines += [_address("ATTENDEE", attendee) for attendee in event.attendees]
    if event.status is not None:
        lines.append(f"STATUS:{_ours(_TOKEN, event.status, 'STATUS')}")
    if event.comment:
        lines.append(f"COMMENT:{text_value(event.comment)}")
    if event.transparency is not None:
        lines.append(f"TRANSP:{_ours(_TOKEN, event.transparency, 'TRANSP')}")
    if event.alarm_before is not None:
        lines += [
            "BEGIN:VALARM",
            "ACTION:DISPLAY",
            f"DESCRIPTION:{text_value(alarm_description(event.title))}",
            f"TRIGGER:{vDuration(-event.alarm_before).to_ical().decode('ascii')}",
            "END:VALARM",
        ]
    lines.append("END:VEVENT")
    return lines


def calendar(
    events: Sequence[Event],
    *,
    method: str | None = None,
    properties: Sequence[tuple[str, str]] = (),
    prodid: str,
) -> bytes:
    """A VCALENDAR holding `events`, in order: UTF-8, CRLF line ends, folded.

    METHOD (REQUEST or CANCEL for iTIP, PUBLISH for a feed; None for an object stored
    in a calendar, which has none) follows CALSCALE, then
    `properties`, e.g. `("X-WR-CALNAME", text_value(name))` or
    `("REFRESH-INTERVAL;VALUE=DURATION", "PT1H")`. Both parts of a property are written
    as given: a TEXT value must be passed through `text_value` first, and a value
    holding a line break or other control character raises ValueError.
    """
    lines = [
        "BEGIN:VCALENDAR",
        f"PRODID:{text_value(prodid)}",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
    ]
    if method is not None:
        lines.append(f"METHOD:{_ours(_TOKEN, method, 'METHOD')}")
    for name, value in properties:
        if _LINE_UNSAFE.search(value):
            raise ValueError(f"{name} value {value!r} cannot be written into an iCalendar line")
        lines.append(f"{_ours(_PROPERTY_NAME, name, 'property')}:{value}")
    for event in events:
        lines += _event_lines(event)
    lines.append("END:VCALENDAR")
    return ("\r\n".join(fold(line) for line in lines) + "\r\n").encode("utf-8")
