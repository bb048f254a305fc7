"""The calendar half of the structural check: the iCalendar object is read back with
icalendar's content-line parser and compared with what was meant. Pure.

Content lines are where an injection would show: a caller's text that escaped its
escaping becomes a new line (a property, a BEGIN or END) or a new parameter. So
the check unfolds the object, reads every content line and compares the
component tree, the multiset of property names in each component, the
parameters of every line (only ORGANIZER and ATTENDEE have any: their names and
CN values), and the values meant (METHOD, UID, SEQUENCE, the times, STATUS, and the
texts SUMMARY, DESCRIPTION and COMMENT after unescaping).

`verify_calendar` checks an invite's iTIP object, `verify_stored_calendar` the copy
written into a calendar (no METHOD, CONFIRMED, SCHEDULE-AGENT=CLIENT on every address).
Each states what it means independently of the renderer, then the same reading compares.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from icalendar.parser import Contentline, unescape_backslash

from notification_service.domain.calendar import EventCopy
from notification_service.domain.errors import UnrenderableMessage
from notification_service.domain.model import Mailbox, Method, Status, ValidInvite
from notification_service.render.bodies import event_description
from notification_service.render.ics import ATTENDEE_PARAMS, PRODID, alarm_description, cn

_ATTENDEE_PARAMS = dict(ATTENDEE_PARAMS)
# RFC 6638 section 7.1 on the stored copy: the server sends no scheduling mail.
_CLIENT_AGENT = {"SCHEDULE-AGENT": "CLIENT"}
_NAME = re.compile(r"[A-Za-z0-9-]+")
_WITH_PARAMETERS = frozenset({"ORGANIZER", "ATTENDEE"})
_TEXT = frozenset({"UID", "SUMMARY", "DESCRIPTION", "COMMENT"})


@dataclass
class _Component:
    name: str
    properties: list[tuple[str, dict[str, str], str]] = field(default_factory=list)
    children: list[_Component] = field(default_factory=list)

    def names(self) -> Counter[str]:
        return Counter(name for name, _, _ in self.properties)

    def values(self, name: str) -> list[str]:
        return [value for prop, _, value in self.properties if prop == name]


def _fail(detail: str) -> None:
    raise UnrenderableMessage(f"calendar: {detail}")


def _parts(line: str) -> tuple[str, dict[str, str], str]:
    name, params, value = Contentline(line).parts()
    return str(name).upper(), dict(params), value


# ORGANIZER is MAIL_FROM in every calendar of the process: the same line, read once.
_organizer_parts = functools.lru_cache(maxsize=8)(_parts)


def _read(line: str) -> tuple[str, dict[str, str], str]:
    """(name, parameters, value) of one unfolded content line.

    A line with parameters goes through icalendar's content-line parser (quoted
    values, RFC 6868). A line without is a name, a colon and a value: the colon
    right after the name is the delimiter whatever the value holds, and the TEXT
    values are unescaped by icalendar.
    """
    name = _NAME.match(line)
    if name is None:
        _fail(f"line without a property name: {line[:40]!r}")
        raise AssertionError  # unreachable: _fail raises
    if name.group() in _WITH_PARAMETERS or line[name.end() : name.end() + 1] != ":":
        if name.group() == "ORGANIZER":
            return _organizer_parts(line)
        return _parts(line)
    value = line[name.end() + 1 :]
    if name.group() in _TEXT:
        value = unescape_backslash(value)
    return name.group(), {}, value


def _tree(ics: bytes) -> _Component:
    """The component tree of `ics`; fails on anything but one VCALENDAR."""
    try:
        text = ics.decode("utf-8")
        if not text.endswith("\r\n") or "\r\n\t" in text:
            _fail("does not end in CRLF, or folds with a tab")
        parsed = [_read(line) for line in text[:-2].replace("\r\n ", "").split("\r\n")]
    except UnrenderableMessage:
        raise
    except Exception as exc:  # icalendar raises ValueError and friends
        raise UnrenderableMessage(f"calendar does not parse: {exc}") from None
    root = _Component("")
    stack = [root]
    for name, params, value in parsed:
        if name in ("BEGIN", "END") and params:
            _fail(f"{name} with parameters")
        if name == "BEGIN":
            child = _Component(value)
            stack[-1].children.append(child)
            stack.append(child)
        elif name == "END":
            if len(stack) == 1 or stack[-1].name != value:
                _fail(f"END:{value} does not close a component")
            stack.pop()
        else:
            stack[-1].properties.append((name, params, value))
    if len(stack) != 1 or root.properties or [c.name for c in root.children] != ["VCALENDAR"]:
        _fail("is not one VCALENDAR")
    return root.children[0]


@dataclass(frozen=True)
class _Meant:
    """What the object must say, stated from the checked request."""

    method: Method | None
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
    alarm: bool
    organizer_params: dict[str, str]
    attendee_params: dict[str, str]


def _invite_meant(message: ValidInvite) -> _Meant:
    cancel = message.method is Method.CANCEL
    return _Meant(
        method=message.method,
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
        alarm=message.method is Method.REQUEST,
        organizer_params={},
        attendee_params=_ATTENDEE_PARAMS,
    )


def _copy_meant(copy: EventCopy) -> _Meant:
    return _Meant(
        method=None,
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
        alarm=True,
        organizer_params=_CLIENT_AGENT,
        attendee_params=_ATTENDEE_PARAMS | _CLIENT_AGENT,
    )


def _expected_event_names(meant: _Meant) -> Counter[str]:
    names = Counter(
        ["UID", "SEQUENCE", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY", "ORGANIZER"]
        + ["ATTENDEE"] * len(meant.attendees)
    )
    if meant.description:
        names["DESCRIPTION"] += 1
    if meant.status is not None:
        names["STATUS"] += 1
    if meant.comment:
        names["COMMENT"] += 1
    if meant.alarm:
        names["TRANSP"] += 1
    return names


def _utc(moment: datetime) -> str:
    """A UTC DATE-TIME value (RFC 5545 section 3.3.5, form 2)."""
    return moment.strftime("%Y%m%dT%H%M%SZ")


def _check_address(
    prop: tuple[str, dict[str, str], str], mailbox: Mailbox, fixed: dict[str, str]
) -> None:
    name, params, value = prop
    if value.lower() != f"mailto:{mailbox.address}".lower():
        _fail(f"{name} is not {mailbox.address}")
    expected = dict(fixed)
    if mailbox.name:
        expected["CN"] = cn(mailbox.name)
    if params != expected:
        _fail(f"{name} parameters are not the ones meant: {sorted(params)}")


def _expect(component: _Component, name: str, value: str) -> None:
    if component.values(name) != [value]:
        _fail(f"{component.name} {name} is not the value meant")


def verify_calendar(ics: bytes, message: ValidInvite, organizer: Mailbox) -> None:
    """Raise UnrenderableMessage unless `ics` is exactly the calendar meant."""
    _verify(ics, _invite_meant(message), organizer)


def verify_stored_calendar(ics: bytes, copy: EventCopy, organizer: Mailbox) -> None:
    """Raise UnrenderableMessage unless `ics` is exactly the stored copy meant."""
    _verify(ics, _copy_meant(copy), organizer)


def _verify(ics: bytes, meant: _Meant, organizer: Mailbox) -> None:
    calendar = _tree(ics)
    properties = Counter(["PRODID", "VERSION", "CALSCALE"])
    if meant.method is not None:
        properties["METHOD"] += 1
    if calendar.names() != properties:
        _fail(f"VCALENDAR has properties {sorted(calendar.names().elements())}")
    if meant.method is not None:
        _expect(calendar, "METHOD", meant.method.value)
    _expect(calendar, "PRODID", PRODID)
    if [c.name for c in calendar.children] != ["VEVENT"]:
        _fail("does not hold exactly one VEVENT")
    event = calendar.children[0]
    if event.names() != _expected_event_names(meant):
        _fail(f"VEVENT has properties {sorted(event.names().elements())}")
    _expect(event, "UID", meant.uid)
    _expect(event, "SEQUENCE", str(meant.sequence))
    _expect(event, "DTSTAMP", _utc(meant.dtstamp))
    _expect(event, "DTSTART", _utc(meant.start))
    _expect(event, "DTEND", _utc(meant.end))
    _expect(event, "SUMMARY", meant.title)
    if meant.description:
        _expect(event, "DESCRIPTION", meant.description)
    if meant.status is not None:
        _expect(event, "STATUS", meant.status.value)
    if meant.comment:
        _expect(event, "COMMENT", meant.comment)
    [organizer_prop] = [p for p in event.properties if p[0] == "ORGANIZER"]
    # The service mailbox, named by its address when MAIL_FROM has no name.
    named = Mailbox(organizer.address, organizer.name or organizer.address)
    _check_address(organizer_prop, named, meant.organizer_params)
    attendees = [p for p in event.properties if p[0] == "ATTENDEE"]
    for prop, attendee in zip(attendees, meant.attendees, strict=True):
        _check_address(prop, attendee, meant.attendee_params)
    alarms = [c.name for c in event.children]
    if alarms != (["VALARM"] if meant.alarm else []):
        _fail(f"VEVENT holds {alarms}")
    for alarm in event.children:
        if alarm.names() != Counter(["ACTION", "DESCRIPTION", "TRIGGER"]) or alarm.children:
            _fail("VALARM is not the one meant")
        _expect(alarm, "DESCRIPTION", alarm_description(meant.title))
