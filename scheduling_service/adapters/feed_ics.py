"""A calendar feed's body: FeedContent as one VCALENDAR, written by the writer the
invitations and the calendar copies use (servicekit/ical.py).

Each session is the invitation's event (same UID, SEQUENCE, times, title, and the same
DESCRIPTION after a first line naming the other participant) without ORGANIZER or
ATTENDEE: a feed URL is a bearer secret that ends up in shared calendars, so it carries
no one's address, and a subscribed client has nobody to reply to. A tombstone is the
event as STATUS:CANCELLED, TRANSP:TRANSPARENT: subscribed clients drop or strike it.
No VALARM: reminders come by e-mail, and a subscribed alarm would ring on every device
the calendar is shared to.
"""

from __future__ import annotations

from icalendar import vDuration

from scheduling_service.domain.calendar_feed import FeedContent, FeedSession, Tombstone
from servicekit import ical

PRODID = "-//Practice Rooms//Scheduling Service//EN"
CALENDAR_NAME = "Practice sessions"


def render(content: FeedContent) -> bytes:
    refresh = vDuration(content.refresh).to_ical().decode("ascii")
    events = [_session(s) for s in content.sessions]
    events += [_tombstone(t) for t in content.tombstones]
    return ical.calendar(
        events,
        method="PUBLISH",
        properties=(
            ("NAME", ical.text_value(CALENDAR_NAME)),
            ("X-WR-CALNAME", ical.text_value(CALENDAR_NAME)),
            ("REFRESH-INTERVAL;VALUE=DURATION", refresh),
            ("X-PUBLISHED-TTL", refresh),
        ),
        prodid=PRODID,
    )


def with_whom(session: FeedSession) -> str:
    """The first line of a session's DESCRIPTION: the other participant, by name only."""
    if session.other_name is None:
        return "Not booked yet"
    role = "Your guest" if session.hosting else "Your host"
    # A name is one line, whatever the token claim held.
    name = " ".join("".join(c if c.isprintable() else " " for c in session.other_name).split())
    return f"{role}: {name or '(no name given)'}"


def _session(session: FeedSession) -> ical.Event:
    description = ical.event_description(session.description, session.rounds)
    return ical.Event(
        uid=session.ics_uid,
        sequence=session.sequence,
        dtstamp=session.update_time,
        start=session.starts,
        end=session.ends,
        title=session.title,
        description="\n\n".join(part for part in (with_whom(session), description) if part),
        status="CONFIRMED",
        transparency="OPAQUE",
    )


def _tombstone(tombstone: Tombstone) -> ical.Event:
    return ical.Event(
        uid=tombstone.ics_uid,
        sequence=tombstone.sequence,
        dtstamp=tombstone.cancel_time,
        start=tombstone.starts,
        end=tombstone.ends,
        title=tombstone.title,
        status="CANCELLED",
        transparency="TRANSPARENT",
    )
