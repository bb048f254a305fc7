"""The checks of a reminder (a ReminderMessage): the same field checks as invites, and
times that still make a reminder worth sending. Pure."""

from __future__ import annotations

from datetime import timedelta

from notification_service.domain.errors import InvalidMessage
from notification_service.domain.field_checks import MAX_DESCRIPTION, MAX_KEY, MAX_TITLE, Checker
from notification_service.domain.model import Mailbox, ReminderMessage, ValidReminder

MAX_PARTICIPANTS = 2
# Offsets reach 7 days (docs/design.md §9); the limit only keeps the arithmetic sane.
MAX_OFFSET = timedelta(days=30)


def _other(recipient: Mailbox, participants: tuple[Mailbox, ...]) -> Mailbox | None:
    """The participant who is not the recipient: the person the session is with."""
    me = recipient.address.lower()
    return next((p for p in participants if p.address.lower() != me), None)


def validate_reminder(message: ReminderMessage) -> ValidReminder:
    """Check every field; raise InvalidMessage listing all problems."""
    check = Checker()
    uid = check.uid("message.uid", message.uid)
    start = check.time("message.start_time", message.start)
    end = check.time("message.end_time", message.end)
    if message.start is not None and message.end is not None and end <= start:
        check.fail("message.end_time", "must be after start_time")
    send_time = check.time("message.send_time", message.send_time)
    due_time = check.time("message.due_time", message.due_time)
    if message.start is not None and message.send_time is not None and send_time >= start:
        # The relay drops a reminder that could only go out after the start.
        check.fail("message.send_time", "must be before start_time (the session has started)")
    offset = message.offset
    if offset is None:
        check.fail("message.offset", "required")
        offset = timedelta(0)
    elif not timedelta(0) < offset <= MAX_OFFSET or offset.microseconds:
        check.fail("message.offset", f"must be whole seconds, more than 0 and up to {MAX_OFFSET}")
    title = check.text("message.title", message.title, limit=MAX_TITLE, required=True)
    description = check.text(
        "message.description", message.description, limit=MAX_DESCRIPTION, multiline=True
    )
    key = check.text("message.idempotency_key", message.idempotency_key, limit=MAX_KEY)
    rounds = check.rounds("message.rounds", message.rounds)
    recipient = check.mailbox("message.recipient", message.recipient)
    zone = check.zone("message.recipient.time_zone", message.time_zone)
    if len(message.participants) > MAX_PARTICIPANTS:
        check.fail("message.participants", "at most the host and the guest")
    else:
        for index, participant in enumerate(message.participants):
            check.mailbox(f"message.participants[{index}]", participant)
    if check.violations:
        raise InvalidMessage(check.violations)
    return ValidReminder(
        uid=uid,
        start=start,
        end=end,
        title=title,
        description=description,
        rounds=rounds,
        recipient=recipient,
        zone=zone,
        other=_other(recipient, message.participants),
        offset=offset,
        send_time=send_time,
        due_time=due_time,
        idempotency_key=key,
    )
