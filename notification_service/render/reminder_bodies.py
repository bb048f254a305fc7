"""What the recipient of a reminder reads. Pure.

A reminder is no iTIP message: no calendar part, so no client takes it for a new
event. It says how soon the session starts, counted from the attempt
(`send_time`), so a reminder delayed by an outage still tells the truth.
"""

from __future__ import annotations

from datetime import timedelta

from notification_service.domain.model import ValidReminder
from notification_service.render.bodies import (
    Bodies,
    Facts,
    format_when,
    html_body,
    person,
    plain_body,
)


def _count(number: int, unit: str) -> str:
    return f"{number} {unit}" if number == 1 else f"{number} {unit}s"


def how_soon(delta: timedelta) -> str:
    """'24 hours', '1 hour 30 minutes', '12 minutes': rounded to what a reader
    needs, never '0 minutes' (anything under a minute and a half is '1 minute')."""
    minutes = max(1, round(delta.total_seconds() / 60))
    if minutes < 60:
        return _count(minutes, "minute")
    if minutes < 180:
        hours, rest = divmod(5 * round(minutes / 5), 60)
        text = _count(hours, "hour")
        return f"{text} {_count(rest, 'minute')}" if rest else text
    if minutes < 48 * 60:
        return _count(round(minutes / 60), "hour")
    days, hours = divmod(round(minutes / 60), 24)
    text = _count(days, "day")
    return f"{text} {_count(hours, 'hour')}" if hours else text


def render_reminder_bodies(reminder: ValidReminder) -> Bodies:
    soon = how_soon(reminder.start - reminder.send_time)
    subject = f"Reminder: {reminder.title} starts in {soon}"
    headline = f"Your practice session starts in {soon}."
    facts: Facts = [("When", format_when(reminder.start, reminder.end, reminder.zone))]
    if reminder.other is not None:
        facts.append(("With", person(reminder.other)))
    args = (headline, reminder.title, facts, reminder.rounds, reminder.description)
    return Bodies(subject=subject, plain=plain_body(*args), html=html_body(*args))
