"""What every mail's reader sees, laid out once for invites and reminders: the plain-text
and HTML bodies from a headline, a title, a list of facts, the rounds and the
description; the times, people and rounds those facts are made of. Pure.

Times are shown in the recipient's own zone. Month and day names come from
tables here rather than `strftime`, so the output never depends on the
process locale.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from notification_service.domain.model import Mailbox, Round
from servicekit.ical import event_description as shared_event_description

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


Facts = list[tuple[str, str]]


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


def person(mailbox: Mailbox) -> str:
    return f"{mailbox.name} <{mailbox.address}>" if mailbox.name else mailbox.address


def round_lines(rounds: tuple[Round, ...]) -> list[str]:
    return [f"Round {r.number}: {r.topic}" for r in rounds]


def event_description(description: str, rounds: tuple[Round, ...]) -> str:
    """The iCalendar DESCRIPTION: the room's description, then its rounds (laid out by
    the shared writer, so that a feed's event reads as the invitation's)."""
    return shared_event_description(description, ((r.number, r.topic) for r in rounds))


def plain_body(
    headline: str, title: str, facts: Facts, rounds: tuple[Round, ...], description: str
) -> str:
    lines = [headline, "", title, ""]
    lines += [f"{label}: {value}" for label, value in facts]
    if rounds:
        lines += ["", "Rounds:", *round_lines(rounds)]
    if description:
        lines += ["", description]
    return "\n".join(lines) + "\n"


def html_body(
    headline: str, title: str, facts: Facts, rounds: tuple[Round, ...], description: str
) -> str:
    esc = html.escape
    rows = "\n".join(
        f'<tr><th align="left" valign="top">{esc(label)}</th><td>{esc(value)}</td></tr>'
        for label, value in facts
    )
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"></head><body>',
        f"<p>{esc(headline)}</p>",
        f"<h2>{esc(title)}</h2>",
        f"<table>\n{rows}\n</table>",
    ]
    if rounds:
        items = "\n".join(f"<li>{esc(line)}</li>" for line in round_lines(rounds))
        parts.append(f"<h3>Rounds</h3>\n<ul>\n{items}\n</ul>")
    if description:
        parts.append("<p>" + esc(description).replace("\n", "<br>\n") + "</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
