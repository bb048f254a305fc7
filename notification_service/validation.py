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
    Change,
    Mailbox,
    Method,
    Round,
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
MAX_ROUNDS = 50
MAX_TOPIC = 200
MAX_ROUND_NUMBER = 1000
MAX_SEQUENCE = 2**31 - 1  # iCalendar INTEGER is 32-bit signed

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)

_UID = re.compile(r"[\x21-\x7e]+")


def describe_char(char: str) -> str:
    return f"U+{ord(char):04X}"


class Checker:
    """Collects violations while reading fields (invites and reminders alike)."""

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

    def uid(self, field: str, uid: str) -> str:
        if not uid:
            self.fail(field, "required")
        elif len(uid) > MAX_UID or not _UID.fullmatch(uid):
            self.fail(field, f"must be 1 to {MAX_UID} printable ASCII characters, no spaces")
        return uid

    def rounds(self, field: str, rounds: tuple[Round, ...]) -> tuple[Round, ...]:
        if len(rounds) > MAX_ROUNDS:
            self.fail(field, f"more than {MAX_ROUNDS} rounds")
            return ()
        for index, round_ in enumerate(rounds):
            if not 1 <= round_.number <= MAX_ROUND_NUMBER:
                self.fail(f"{field}[{index}].number", f"must be 1 to {MAX_ROUND_NUMBER}")
            self.text(f"{field}[{index}].topic", round_.topic, limit=MAX_TOPIC, required=True)
        return rounds

    def time(self, field: str, value: datetime | None) -> datetime:
        if value is None:
            self.fail(field, "required")
            return EARLIEST
        value = value.astimezone(UTC).replace(microsecond=0)
        if not EARLIEST <= value < LATEST:
            # Near year 9999 a time cannot even be shown in an eastern zone.
            self.fail(field, f"must be from {EARLIEST:%Y} to {LATEST:%Y}")
            return EARLIEST
        return value

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


def _derive_status(check: Checker, message: CalendarMessage, method: Method) -> Status | None:
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


_CHANGE_NEEDS = {
    Change.BOOKED: "CHANGE_BOOKED needs METHOD_REQUEST",
    Change.RESCHEDULED: "CHANGE_RESCHEDULED needs METHOD_REQUEST",
    Change.CANCELLED: "CHANGE_CANCELLED needs METHOD_CANCEL without uninvite",
    Change.GUEST_LEFT: "CHANGE_GUEST_LEFT needs METHOD_REQUEST (host) or an uninvite (guest)",
}


def _derive_change(check: Checker, message: CalendarMessage, method: Method) -> Change:
    """The change the mail tells; unspecified follows the method (an uninvite is
    always the guest leaving)."""
    field = "message.change"
    if message.unknown_change is not None:
        check.fail(field, f"unknown change {message.unknown_change}")
    change = message.change
    if change is None:
        if message.uninvite:
            return Change.GUEST_LEFT
        return Change.BOOKED if method is Method.REQUEST else Change.CANCELLED
    fits = {
        Change.BOOKED: method is Method.REQUEST,
        Change.RESCHEDULED: method is Method.REQUEST,
        Change.CANCELLED: method is Method.CANCEL and not message.uninvite,
        # The host gets an updated REQUEST, the guest an uninvite.
        Change.GUEST_LEFT: method is Method.REQUEST or message.uninvite,
    }
    if not fits[change]:
        check.fail(field, _CHANGE_NEEDS[change])
    elif message.uninvite and change is not Change.GUEST_LEFT:
        check.fail(field, "an uninvite tells CHANGE_GUEST_LEFT")
    return change


def _previous_times(
    check: Checker, message: CalendarMessage, change: Change
) -> tuple[datetime | None, datetime | None]:
    start, end = message.previous_start, message.previous_end
    if start is None and end is None:
        return None, None
    if change is not Change.RESCHEDULED:
        check.fail(
            "message.event.previous_start_time", "only with CHANGE_RESCHEDULED (the old time)"
        )
        return None, None
    if start is None or end is None:
        missing = "previous_start_time" if start is None else "previous_end_time"
        check.fail(f"message.event.{missing}", "give both previous times or neither")
        return None, None
    previous_start = check.time("message.event.previous_start_time", start)
    previous_end = check.time("message.event.previous_end_time", end)
    if previous_end <= previous_start:
        check.fail("message.event.previous_end_time", "must be after previous_start_time")
    return previous_start, previous_end


def _departed(check: Checker, message: CalendarMessage, change: Change) -> Mailbox | None:
    if message.departed is None:
        return None
    if change is not Change.GUEST_LEFT:
        check.fail("message.departed", "only with CHANGE_GUEST_LEFT")
        return None
    return check.mailbox("message.departed", message.departed)


def _attendees(check: Checker, message: CalendarMessage) -> tuple[Mailbox, ...]:
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
    check = Checker()
    method = message.method
    if method is None:
        detail = f" (got {message.unknown_method})" if message.unknown_method else ""
        check.fail("message.method", f"must be METHOD_REQUEST or METHOD_CANCEL{detail}")
        method = Method.REQUEST
    uid = check.uid("message.event.uid", message.uid)
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
    change = _derive_change(check, message, method)
    rounds = check.rounds("message.event.rounds", message.rounds)
    previous_start, previous_end = _previous_times(check, message, change)
    departed = _departed(check, message, change)
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
        change=change,
        rounds=rounds,
        previous_start=previous_start,
        previous_end=previous_end,
        departed=departed,
    )
