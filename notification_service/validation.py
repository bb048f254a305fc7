"""Text hygiene and request checks: nothing unchecked reaches a header or an ICS line.

Python 3.11's `email` package lets ``"x\\n"`` into a header and emits a stray LF,
and a lone CR or a U+2028 is read as a line break by some clients, so every
user-supplied text is checked here, once, before rendering. All problems are
collected, so the caller learns about every bad field in one answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from notification_service.model import (
    CalendarMessage,
    Mailbox,
    Method,
    Status,
    ValidMessage,
)
from servicekit.text import MAX_ADDRESS, address_problem, control_character

__all__ = ["MAX_ADDRESS", "address_problem", "control_character"]


class NotificationError(Exception):
    """Base of the service's domain errors."""


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class InvalidMessage(NotificationError):
    """The request cannot be rendered; `violations` names each bad field."""

    def __init__(self, violations: list[FieldViolation]) -> None:
        self.violations = tuple(violations)
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))


MAX_TITLE = 200
MAX_DESCRIPTION = 4000
MAX_NAME = 200
MAX_REASON = 500
MAX_UID = 255
MAX_KEY = 200
MAX_ATTENDEES = 50
MAX_SEQUENCE = 2**31 - 1  # iCalendar INTEGER is 32-bit signed

_UID = re.compile(r"[\x21-\x7e]+")


def describe_char(char: str) -> str:
    return f"U+{ord(char):04X}"


class _Checker:
    """Collects violations while reading fields."""

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def fail(self, field: str, description: str) -> None:
        self.violations.append(FieldViolation(field, description))

    def text(
        self,
        field: str,
        value: str,
        *,
        limit: int,
        required: bool = False,
        multiline: bool = False,
    ) -> str:
        bad = control_character(value, multiline=multiline)
        if bad is not None:
            allowed = " (line feeds and tabs are allowed)" if multiline else ""
            self.fail(field, f"contains control character {describe_char(bad)}{allowed}")
        elif len(value) > limit:
            self.fail(field, f"longer than {limit} characters")
        elif required and not value.strip():
            self.fail(field, "required")
        return value

    def address(self, field: str, value: str) -> str:
        if not value:
            self.fail(field, "required")
            return value
        if control_character(value) is not None:
            self.fail(field, "contains a control character")
            return value
        problem = address_problem(value)
        if problem:
            self.fail(field, problem)
        return value

    def mailbox(self, field: str, mailbox: Mailbox) -> Mailbox:
        self.address(f"{field}.email", mailbox.address)
        self.text(f"{field}.display_name", mailbox.name, limit=MAX_NAME)
        return mailbox

    def time(self, field: str, value: datetime | None) -> datetime:
        if value is None:
            self.fail(field, "required")
            return datetime.fromtimestamp(0, UTC)
        return value.astimezone(UTC).replace(microsecond=0)

    def zone(self, field: str, name: str) -> ZoneInfo:
        utc = ZoneInfo("UTC")
        if not name:
            return utc
        if control_character(name) is not None or len(name) > 64:
            self.fail(field, "not an IANA time zone name")
            return utc
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            self.fail(field, f"unknown time zone {name!r}")
            return utc


def _derive_status(check: _Checker, message: CalendarMessage, method: Method) -> Status | None:
    status = message.status
    if message.unknown_status is not None:
        check.fail("message.event.status", f"unknown status {message.unknown_status}")
    if message.uninvite:
        if method is not Method.CANCEL:
            check.fail("message.uninvite", "an uninvite must use METHOD_CANCEL")
        if status is not None:
            check.fail(
                "message.event.status", "must be unspecified on an uninvite (it has no STATUS)"
            )
        return None
    if method is Method.REQUEST:
        if status is Status.CANCELLED:
            # Cal.com's REQUEST + STATUS:CANCELLED left events in calendars.
            check.fail(
                "message.event.status",
                "a REQUEST cannot be CANCELLED; send METHOD_CANCEL to remove an event",
            )
        return Status.CONFIRMED
    if status is Status.CONFIRMED:
        check.fail("message.event.status", "a CANCEL cannot be CONFIRMED")
    return Status.CANCELLED


def _attendees(check: _Checker, message: CalendarMessage) -> tuple[Mailbox, ...]:
    if message.uninvite:
        # RFC 5546 3.2.5: the CANCEL names only the attendee who is removed.
        return (message.recipient,)
    if not message.attendees:
        check.fail("message.attendees", "at least one attendee is required")
    if len(message.attendees) > MAX_ATTENDEES:
        check.fail("message.attendees", f"more than {MAX_ATTENDEES} attendees")
        return ()
    seen: set[str] = set()
    unique: list[Mailbox] = []
    for index, attendee in enumerate(message.attendees):
        check.mailbox(f"message.attendees[{index}]", attendee)
        if attendee.address.lower() not in seen:
            seen.add(attendee.address.lower())
            unique.append(attendee)
    return tuple(unique)


def validate(message: CalendarMessage) -> ValidMessage:
    """Check every field; raise InvalidMessage listing all problems."""
    check = _Checker()
    method = message.method
    if method is None:
        detail = f" (got {message.unknown_method})" if message.unknown_method else ""
        check.fail("message.method", f"must be METHOD_REQUEST or METHOD_CANCEL{detail}")
        method = Method.REQUEST
    uid = message.uid
    if not uid:
        check.fail("message.event.uid", "required")
    elif len(uid) > MAX_UID or not _UID.fullmatch(uid):
        check.fail(
            "message.event.uid", f"must be 1 to {MAX_UID} printable ASCII characters, no spaces"
        )
    if not 0 <= message.sequence <= MAX_SEQUENCE:
        check.fail("message.event.sequence", f"must be between 0 and {MAX_SEQUENCE}")
    start = check.time("message.event.start_time", message.start)
    end = check.time("message.event.end_time", message.end)
    if message.start is not None and message.end is not None and end <= start:
        check.fail("message.event.end_time", "must be after start_time")
    dtstamp = check.time("message.dtstamp", message.dtstamp)
    title = check.text("message.event.title", message.title, limit=MAX_TITLE, required=True)
    description = check.text(
        "message.event.description", message.description, limit=MAX_DESCRIPTION, multiline=True
    )
    reason = check.text("message.event.cancel_reason", message.cancel_reason, limit=MAX_REASON)
    key = check.text("message.idempotency_key", message.idempotency_key, limit=MAX_KEY)
    status = _derive_status(check, message, method)
    organizer = message.organizer
    if organizer is not None:
        check.mailbox("message.organizer", organizer)
    recipient = check.mailbox("message.recipient", message.recipient)
    zone = check.zone("message.recipient.time_zone", message.time_zone)
    attendees = _attendees(check, message)
    if check.violations:
        raise InvalidMessage(check.violations)
    return ValidMessage(
        method=method,
        uid=uid,
        sequence=message.sequence,
        start=start,
        end=end,
        title=title,
        description=description,
        status=status,
        cancel_reason=reason,
        organizer=organizer,
        attendees=attendees,
        recipient=recipient,
        zone=zone,
        dtstamp=dtstamp,
        idempotency_key=key,
        uninvite=message.uninvite,
    )
