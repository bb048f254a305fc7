"""What someone waiting for a room reads: the room is held for them (an offer), or the
session they waited for was cancelled. Pure.

No calendar part: they are invited to nothing yet. Nothing of the room's description or
its participants either: those belong to the people in it. The times are shown in the
recipient's zone, the hold's end among them.
"""

from __future__ import annotations

from notification_service.domain.waitlist_validation import NoticeKind, ValidWaitlistNotice
from notification_service.render.bodies import (
    Bodies,
    Facts,
    format_when,
    format_when_short,
    html_body,
    plain_body,
)

OFFER_HEADLINE = (
    "The practice session you were waiting for is free, and held for you: book it before"
    " the hold ends, or it passes to the next person in line."
)
CANCELLED_HEADLINE = (
    "The practice session you were waiting for was cancelled by its host; its waitlist is gone."
)


def render_waitlist_bodies(notice: ValidWaitlistNotice) -> Bodies:
    facts: Facts = [("When", format_when(notice.start, notice.end, notice.zone))]
    if notice.kind is NoticeKind.OFFER:
        assert notice.hold_until is not None
        subject = f"Held for you: {notice.title}"
        headline = OFFER_HEADLINE
        facts.append(("Held until", format_when_short(notice.hold_until, notice.zone)))
    else:
        subject = f"Cancelled: {notice.title}"
        headline = CANCELLED_HEADLINE
    facts.append(("Room", notice.room_id))
    args = (headline, notice.title, facts, notice.rounds, "")
    return Bodies(subject=subject, plain=plain_body(*args), html=html_body(*args))
