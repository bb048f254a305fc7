"""What an unexpected CalDAV answer means for the caller (the hierarchy is in
domain/errors.py):

- 401/403 → CalendarAuthRejected (the connection turns BROKEN);
- 429/503 with Retry-After (delta-seconds or an HTTP-date) → CalendarRetryLater;
- other 5xx and 408 → CalendarTemporaryFailure (safe_http.py raises the same for
  timeouts and network errors);
- other 4xx → CalendarPermanentFailure. An answer we cannot read safely (XML with a DTD
  or entities, malformed XML, a body over the cap) is a CalendarProtocolError, raised
  where it is read (caldav_xml.py, safe_http.py).

Pure: a status and its headers in, an error out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Final

from notification_service.delivery.calendar.addresses import shown
from notification_service.delivery.calendar.safe_http import HttpResponse
from notification_service.domain.errors import (
    CalendarAuthRejected,
    CalendarError,
    CalendarPermanentFailure,
    CalendarRetryLater,
    CalendarTemporaryFailure,
)

MAX_RETRY_AFTER: Final = timedelta(days=1)


def retry_after(value: str | None, now: datetime) -> datetime | None:
    """When a Retry-After header says to come back: delta-seconds or an HTTP-date, clamped
    to [now, now + 1 day]; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    # ASCII digits only, and few of them: str.isdigit() takes "²" and other scripts'
    # digits, which int() refuses, and int() refuses more than 4,300 digits.
    if value.isascii() and value.isdigit() and len(value) <= 10:
        at = now + timedelta(seconds=min(int(value), int(MAX_RETRY_AFTER.total_seconds())))
    else:
        try:
            at = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if at.tzinfo is None:  # "-0000": RFC 5322 says UTC, the source zone unknown
            at = at.replace(tzinfo=UTC)
    return min(max(at, now), now + MAX_RETRY_AFTER)


def failure(response: HttpResponse, what: str, now: datetime | None = None) -> CalendarError:
    """The error an unexpected status means (never called for a success)."""
    status = response.status
    detail = f"{what}: HTTP {status} from {shown(response.url)}"
    if status in (401, 403):
        return CalendarAuthRejected(detail, status=status)
    if status in (429, 503):
        at = retry_after(response.headers.get("retry-after"), now or datetime.now(UTC))
        if at is not None:
            return CalendarRetryLater(
                f"{detail}, retry at {at.isoformat()}", retry_at=at, status=status
            )
        return CalendarTemporaryFailure(detail, status=status)
    if status >= 500 or status == 408:
        return CalendarTemporaryFailure(detail, status=status)
    return CalendarPermanentFailure(detail, status=status)
