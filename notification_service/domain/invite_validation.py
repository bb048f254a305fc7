"""The checks of an invite (a CalendarMessage): every field, and how method, status,
change, previous times and the departed guest fit together. Pure.

All problems are collected, so the caller learns about every bad field in one answer.
The event's own fields and the attendee list are checked by `check_event` and
`check_attendees`, which the calendar copy's checks (calendar_validation.py) use too: a
copy in a calendar and the invitation are the same event, under the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from notification_service.domain.errors import InvalidMessage
from notification_service.domain.field_checks import (
    MAX_DESCRIPTION,
    MAX_KEY,
    MAX_TITLE,
    Checker,
)
from notification_service.domain.model import (
    CalendarMessage,
    Change,
    Mailbox,
    Method,
    Round,
    Status,
    ValidInvite,
)

MAX_REASON = 500
MAX_ATTENDEES = 50
MAX_SEQUENCE = 2**31 - 1  # iCalendar INTEGER is 32-bit signed


@dataclass(frozen=True)
class EventFields:
    """The checked fields every form of the event shares (times in UTC, whole seconds)."""

    uid: str
    sequence: int
    start: datetime
    end: datetime
    title: str
    description: str
    rounds: tuple[Round, ...]


def check_event(
    check: Checker,
    prefix: str,
    *,
    uid: str,
    sequence: int,
    start: datetime | None,
    end: datetime | None,
    title: str,
    description: str,
    rounds: tuple[Round, ...],
) -> EventFields:
    """UID, SEQUENCE, the times (end after start), title, description and rounds, each
    reported under `prefix` (e.g. `message.event`)."""
    checked_uid = check.uid(f"{prefix}.uid", uid)
    if not 0 <= sequence <= MAX_SEQUENCE:
        check.fail(f"{prefix}.sequence", f"must be between 0 and {MAX_SEQUENCE}")
    checked_start = check.time(f"{prefix}.start_time", start)
    checked_end = check.time(f"{prefix}.end_time", end)
    if start is not None and end is not None and checked_end <= checked_start:
        check.fail(f"{prefix}.end_time", "must be after start_time")
    return EventFields(
        uid=checked_uid,
        sequence=sequence,
        start=checked_start,
        end=checked_end,
        title=check.text(f"{prefix}.title", title, limit=MAX_TITLE, required=True),
        description=check.text(
            f"{prefix}.description", description, limit=MAX_DESCRIPTION, multiline=True
        ),
        rounds=check.rounds(f"{prefix}.rounds", rounds),
    )


def check_attendees(
    check: Checker, field: str, attendees: tuple[Mailbox, ...]
) -> tuple[Mailbox, ...]:
    """At least one and at most MAX_ATTENDEES, each a valid mailbox; the first of each
    address (compared without case) is kept."""
    if not attendees:
        check.fail(field, "at least one attendee is required")
    if len(attendees) > MAX_ATTENDEES:
        check.fail(field, f"more than {MAX_ATTENDEES} attendees")
        return ()
    seen: set[str] = set()
    unique: list[Mailbox] = []
    for index, attendee in enumerate(attendees):
        check.mailbox(f"{field}[{index}]", attendee)
        if attendee.address.lower() not in seen:
            seen.add(attendee.address.lower())
            unique.append(attendee)
    return tuple(unique)


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
    return check_attendees(check, "message.attendees", message.attendees)


def validate_invite(message: CalendarMessage) -> ValidInvite:
    """Check every field; raise InvalidMessage listing all problems."""
    check = Checker()
    method = message.method
    if method is None:
        detail = f" (got {message.unknown_method})" if message.unknown_method else ""
        check.fail("message.method", f"must be METHOD_REQUEST or METHOD_CANCEL{detail}")
        method = Method.REQUEST
    event = check_event(
        check,
        "message.event",
        uid=message.uid,
        sequence=message.sequence,
        start=message.start,
        end=message.end,
        title=message.title,
        description=message.description,
        rounds=message.rounds,
    )
    dtstamp = check.time("message.dtstamp", message.dtstamp)
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
    previous_start, previous_end = _previous_times(check, message, change)
    departed = _departed(check, message, change)
    if check.violations:
        raise InvalidMessage(check.violations)
    return ValidInvite(
        method=method,
        uid=event.uid,
        sequence=event.sequence,
        start=event.start,
        end=event.end,
        title=event.title,
        description=event.description,
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
        rounds=event.rounds,
        previous_start=previous_start,
        previous_end=previous_end,
        departed=departed,
    )
