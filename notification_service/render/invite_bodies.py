"""What the recipient of an invite reads: subject, plain-text and HTML bodies. Pure.

The subject and the first sentence say what happened (booked, moved, cancelled, a
guest left); the facts follow in the recipient's own zone. No "add to calendar"
links: they create a second event with another UID that no update or cancel reaches;
the attached invitation is the only way into a calendar.
"""

from __future__ import annotations

from notification_service.domain.model import Change, Method, ValidInvite
from notification_service.render.bodies import (
    Bodies,
    Facts,
    format_when,
    format_when_short,
    html_body,
    person,
    plain_body,
)


def _headline(message: ValidInvite) -> tuple[str, str]:
    """(subject prefix, first sentence)."""
    change = message.change
    if message.uninvite:
        return (
            "No longer attending",
            "You left this practice session, so you are no longer attending it; "
            "the attached update removes it from your calendar.",
        )
    if message.method is Method.CANCEL:
        return (
            "Cancelled",
            "The host cancelled this practice session; "
            "the attached update removes it from your calendar.",
        )
    if change is Change.RESCHEDULED:
        return (
            "Updated invitation",
            "Your practice session has moved to a new time; "
            "the attached update moves it in your calendar.",
        )
    if change is Change.GUEST_LEFT:
        who = message.departed.name or message.departed.address if message.departed else ""
        return (
            "Updated invitation",
            f"{who or 'Your guest'} left this practice session; it is open for booking again, "
            "and the attached update takes them off the event in your calendar.",
        )
    return "Invitation", "You have a practice session. It is in the attached invitation."


def _facts(message: ValidInvite) -> Facts:
    when = format_when(message.start, message.end, message.zone)
    facts: Facts = []
    if message.change is Change.RESCHEDULED:
        facts.append(("New time", when))
        if message.previous_start is not None and message.previous_end is not None:
            previous = format_when(message.previous_start, message.previous_end, message.zone)
            facts.append(("Old time", previous))
    else:
        facts.append(("When", when))
    if message.organizer is not None:
        facts.append(("Host", person(message.organizer)))
    if message.departed is not None:
        facts.append(("Left", person(message.departed)))
    if not message.uninvite:
        facts.append(("Participants", ", ".join(person(a) for a in message.attendees)))
    if message.method is Method.CANCEL and message.cancel_reason:
        facts.append(("Reason", message.cancel_reason))
    return facts


def render_invite_bodies(message: ValidInvite) -> Bodies:
    prefix, headline = _headline(message)
    subject = f"{prefix}: {message.title} @ {format_when_short(message.start, message.zone)}"
    facts = _facts(message)
    args = (headline, message.title, facts, message.rounds, message.description)
    return Bodies(subject=subject, plain=plain_body(*args), html=html_body(*args))
