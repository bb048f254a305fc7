"""The checks of a calendar notice (a CalendarNotice: the e-mail telling a user that their
connected calendar refused our writes). Pure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from notification_service.domain.errors import InvalidMessage
from notification_service.domain.field_checks import MAX_KEY, Checker
from notification_service.domain.model import Mailbox

MAX_URL = 2048
MAX_REASON = 500


@dataclass(frozen=True)
class CalendarNoticeMessage:
    """A notice request as received; any field may be missing or hostile."""

    recipient: Mailbox
    calendar_url: str
    reason: str
    notice_time: datetime | None
    idempotency_key: str = ""


@dataclass(frozen=True)
class ValidNotice:
    recipient: Mailbox
    # Shown to the recipient without credentials or query (addresses.shown).
    calendar: str
    reason: str
    notice_time: datetime
    idempotency_key: str


def validate_notice(message: CalendarNoticeMessage, shown: Callable[[str], str]) -> ValidNotice:
    """Check every field; raise InvalidMessage listing all problems. `shown` redacts
    the URL for display."""
    check = Checker()
    recipient = check.mailbox("notice.recipient", message.recipient)
    url = check.text("notice.calendar_url", message.calendar_url, limit=MAX_URL, required=True)
    reason = check.text("notice.reason", message.reason, limit=MAX_REASON)
    notice_time = check.time("notice.notice_time", message.notice_time)
    key = check.text("notice.idempotency_key", message.idempotency_key, limit=MAX_KEY)
    if check.violations:
        raise InvalidMessage(check.violations)
    return ValidNotice(recipient, shown(url), reason, notice_time, key)
