"""What the recipient reads: subject, plain-text and HTML bodies. Pure: no I/O.

Times are shown in the recipient's own zone. Month and day names come from
tables here rather than `strftime`, so the output never depends on the
process locale. No "add to calendar" links: they create a second event with
another UID that no update or cancel reaches; the attached invitation is the
only way into a calendar.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from notification_service.model import Mailbox, Method, ValidMessage

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@dataclass(frozen=True)
class Bodies:
    subject: str
    plain: str
    html: str


def _offset(moment: datetime) -> str:
    offset = moment.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{mins:02d}"


def _date(moment: datetime, *, short: bool = False) -> str:
    day = _DAYS[moment.weekday()]
    month = _MONTHS[moment.month - 1]
    if short:
        return f"{day[:3]} {moment.day} {month[:3]} {moment.year}"
    return f"{day} {moment.day} {month} {moment.year}"


def _zone_label(zone: ZoneInfo, moment: datetime) -> str:
    if zone.key == "UTC":
        return "UTC"
    return f"{zone.key}, {_offset(moment)}"


def format_when(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """E.g. 'Tuesday 1 December 2026, 15:00-16:00 (Europe/Paris, UTC+01:00)'."""
    local_start = start.astimezone(zone)
    local_end = end.astimezone(zone)
    if local_start.date() == local_end.date():
        span = f"{_date(local_start)}, {local_start:%H:%M}-{local_end:%H:%M}"
    else:
        span = f"{_date(local_start)}, {local_start:%H:%M} - {_date(local_end)}, {local_end:%H:%M}"
    return f"{span} ({_zone_label(zone, local_start)})"


def format_when_short(start: datetime, zone: ZoneInfo) -> str:
    local = start.astimezone(zone)
    return f"{_date(local, short=True)} {local:%H:%M} ({zone.key})"


def _person(mailbox: Mailbox) -> str:
    return f"{mailbox.name} <{mailbox.address}>" if mailbox.name else mailbox.address


def _headline(message: ValidMessage) -> tuple[str, str]:
    """(subject prefix, first sentence)."""
    if message.method is Method.REQUEST:
        return "Invitation", "You have a practice session. It is in the attached invitation."
    if message.uninvite:
        return (
            "No longer attending",
            "You are no longer attending this practice session; "
            "the attached update removes it from your calendar.",
        )
    return (
        "Cancelled",
        "This practice session has been cancelled; "
        "the attached update removes it from your calendar.",
    )


def _facts(message: ValidMessage) -> list[tuple[str, str]]:
    facts = [("When", format_when(message.start, message.end, message.zone))]
    if message.organizer is not None:
        facts.append(("Host", _person(message.organizer)))
    if not message.uninvite:
        facts.append(("Participants", ", ".join(_person(a) for a in message.attendees)))
    if message.method is Method.CANCEL and message.cancel_reason:
        facts.append(("Reason", message.cancel_reason))
    return facts


def render_bodies(message: ValidMessage) -> Bodies:
    prefix, headline = _headline(message)
    subject = f"{prefix}: {message.title} @ {format_when_short(message.start, message.zone)}"
    facts = _facts(message)

    plain_lines = [headline, "", message.title, ""]
    plain_lines += [f"{label}: {value}" for label, value in facts]
    if message.description:
        plain_lines += ["", message.description]
    plain = "\n".join(plain_lines) + "\n"

    esc = html.escape
    rows = "\n".join(
        f'<tr><th align="left" valign="top">{esc(label)}</th><td>{esc(value)}</td></tr>'
        for label, value in facts
    )
    description = ""
    if message.description:
        description = "<p>" + esc(message.description).replace("\n", "<br>\n") + "</p>\n"
    html_body = (
        "<!DOCTYPE html>\n"
        '<html><head><meta charset="utf-8"></head><body>\n'
        f"<p>{esc(headline)}</p>\n"
        f"<h2>{esc(message.title)}</h2>\n"
        f"<table>\n{rows}\n</table>\n"
        f"{description}"
        "</body></html>\n"
    )
    return Bodies(subject=subject, plain=plain, html=html_body)
