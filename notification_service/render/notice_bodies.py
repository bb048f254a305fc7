"""What the recipient of a calendar notice reads: their connected calendar refused our
writes, why, and what to do. Pure. No calendar part: it is about a connection, not an
event."""

from __future__ import annotations

import html

from notification_service.domain.notice_validation import ValidNotice
from notification_service.render.bodies import Bodies

SUBJECT = "Your calendar stopped accepting practice sessions"


def render_notice_bodies(notice: ValidNotice) -> Bodies:
    lines = [
        "We could no longer write your practice sessions into your calendar:",
        "",
        f"Calendar: {notice.calendar}",
    ]
    if notice.reason:
        lines.append(f"Why: {notice.reason}")
    lines += [
        "",
        "Nothing is lost: every change waits. Connect your calendar again (with a new app",
        "password, or by signing in again) and it is brought up to date.",
    ]
    plain = "\n".join(lines) + "\n"
    esc = html.escape
    why = f"<p>Why: {esc(notice.reason)}</p>" if notice.reason else ""
    body = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html><head><meta charset="utf-8"></head><body>',
            f"<p>{esc(lines[0])}</p>",
            f"<p>Calendar: {esc(notice.calendar)}</p>",
            why,
            "<p>Nothing is lost: every change waits. Connect your calendar again (with a"
            " new app password, or by signing in again) and it is brought up to date.</p>",
            "</body></html>",
        ]
    )
    return Bodies(subject=SUBJECT, plain=plain, html=body + "\n")
