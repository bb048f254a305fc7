"""Calendar data for the busy-time tests, built by hand: events with a title, notes and
an attendee that must never leave the service, and the answers hostile servers send."""

from __future__ import annotations

from datetime import UTC, datetime

from notification_service.delivery.calendar.busy_events import busy_in

START = datetime(2026, 3, 2, tzinfo=UTC)
END = datetime(2026, 3, 30, tzinfo=UTC)
OWN = "rooms.test"
SECRETS = ("Dentist: root canal", "Bring the divorce papers", "secret-person@example.com")


def utc(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def calendar(*events: str, extra: str = "") -> str:
    body = "".join(f"BEGIN:VEVENT\r\n{event}END:VEVENT\r\n" for event in events)
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n{extra}{body}END:VCALENDAR\r\n"


def event(uid: str = "a@elsewhere", *lines: str) -> str:
    people = f"SUMMARY:{SECRETS[0]}\r\nDESCRIPTION:{SECRETS[1]}\r\nATTENDEE:mailto:{SECRETS[2]}\r\n"
    return f"UID:{uid}\r\n" + "".join(line + "\r\n" for line in lines) + people


def read(*texts: str | None) -> list[tuple[datetime, datetime]]:
    found = busy_in(texts, START, END, OWN)
    return sorted((o.start, o.end) for o in found.occurrences)


# An hour of one day in the range, as DTSTART and DTEND lines.
HOUR = ("DTSTART:20260303T100000Z", "DTEND:20260303T110000Z")


def edited_instances(masters: int) -> str:
    """One object of `masters` recurring masters, each with an RDATE on the 4th that an
    edited instance (RECURRENCE-ID) moves to 12:00, but the last, whose RDATE stands."""
    lines = ["BEGIN:VCALENDAR"]
    for n in range(masters):
        lines += [
            "BEGIN:VEVENT",
            f"UID:m{n}@elsewhere",
            "DTSTART:20260303T100000Z",
            "DTEND:20260303T110000Z",
            "RRULE:FREQ=WEEKLY",
            "RDATE:20260304T100000Z",
            "END:VEVENT",
        ]
    for n in range(masters - 1):
        lines += [
            "BEGIN:VEVENT",
            f"UID:m{n}@elsewhere",
            "RECURRENCE-ID:20260304T100000Z",
            "DTSTART:20260304T120000Z",
            "DTEND:20260304T130000Z",
            "END:VEVENT",
        ]
    return "\r\n".join([*lines, "END:VCALENDAR", ""])


def rdates(count: int, uid: str = "r@elsewhere") -> str:
    """One event with `count` RDATE values, five seconds apart, all in the range."""
    stamps = ",".join(
        f"20260303T{n // 720:02}{n // 12 % 60:02}{n % 12 * 5:02}Z" for n in range(count)
    )
    return calendar(event(uid, "DTSTART:20260303T000000Z", "DURATION:PT1S", f"RDATE:{stamps}"))
