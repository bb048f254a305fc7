"""The checks of VerifyCalendar, WriteCalendarEvent and ReadCalendarBusy requests. Pure.

A PUT's event goes through the invitation's own checks (`check_event`,
`check_attendees` of invite_validation.py): the copy written into a calendar is the
invitation's event, under the same rules. What only these requests have is checked
here: the user id, URLs, the credentials (never echoed: a violation names the field and
the rule, not the value or the character), the action, the remembered href and ETag.
Whether a URL may be reached at all (https, no private addresses) is not decided here
but by the calendar adapter (CALENDAR_URL_NOT_ALLOWED, not INVALID_ARGUMENT).
"""

from __future__ import annotations

import re

from notification_service.domain.busy import (
    MAX_RANGE,
    MAX_SYNC_TOKEN,
    BusyReadRequest,
    ValidBusyRead,
    usable_sync_token,
)
from notification_service.domain.calendar import (
    BasicLogin,
    CalendarAction,
    CalendarWriteRequest,
    EventCopy,
    OAuthGrant,
    ValidCalendarWrite,
    ValidVerify,
    VerifyRequest,
)
from notification_service.domain.errors import InvalidMessage
from notification_service.domain.field_checks import MAX_KEY, Checker
from notification_service.domain.invite_validation import check_attendees, check_event
from notification_service.domain.model import Status
from servicekit.text import first_control_character

MAX_USER_ID = 255
MAX_URL = 2048
MAX_USERNAME = 256
MAX_PASSWORD = 1024
MAX_REFRESH_TOKEN = 4096
MAX_ETAG = 256
# Sealed blobs are ~100 bytes plus the credentials; sealing refuses beyond 64 KiB.
MAX_SEALED = 64 * 1024 + 64
PROVIDERS = frozenset({"google"})
MAX_DOMAIN = 253

# A DNS name as ICS_UID_DOMAIN holds it: labels of letters, digits and hyphens.
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(\.{_LABEL})*")

# RFC 9110 section 8.8.3: an optional W/ and a quoted string of visible ASCII but `"`.
_ENTITY_TAG = re.compile(r'(W/)?"[\x21\x23-\x7e]*"')


def _line(check: Checker, field: str, value: str, limit: int) -> str:
    """Required, at most `limit` characters, no control characters."""
    return check.text(field, value, limit=limit, required=True)


def _secret(check: Checker, field: str, value: str, limit: int) -> str:
    """Like `_line`, but blank is allowed when not empty (a password of spaces is one),
    and a violation never says which character it found."""
    if not value:
        check.fail(field, "required")
    elif len(value) > limit:
        check.fail(field, f"longer than {limit} characters")
    elif first_control_character(value) is not None:
        check.fail(field, "contains a control character")
    return value


def _credentials(
    check: Checker, credentials: BasicLogin | OAuthGrant | None
) -> BasicLogin | OAuthGrant:
    if credentials is None:
        check.fail("credentials", "give basic (username, password) or oauth (refresh_token)")
        return BasicLogin("", "")
    if isinstance(credentials, BasicLogin):
        _line(check, "basic.username", credentials.username, MAX_USERNAME)
        _secret(check, "basic.password", credentials.password, MAX_PASSWORD)
        return credentials
    if credentials.provider not in PROVIDERS:
        check.fail("oauth.provider", f"must be one of: {', '.join(sorted(PROVIDERS))}")
    _secret(check, "oauth.refresh_token", credentials.refresh_token, MAX_REFRESH_TOKEN)
    return credentials


def validate_verify(request: VerifyRequest) -> ValidVerify:
    """Check every field; raise InvalidMessage listing all problems."""
    check = Checker()
    user_id = _line(check, "user_id", request.user_id, MAX_USER_ID)
    url = _line(check, "url", request.url, MAX_URL)
    credentials = _credentials(check, request.credentials)
    if check.violations:
        raise InvalidMessage(check.violations)
    return ValidVerify(user_id=user_id, url=url, credentials=credentials)


def _copy(check: Checker, request: CalendarWriteRequest) -> EventCopy:
    event = check_event(
        check,
        "event",
        uid=request.uid,
        sequence=request.sequence,
        start=request.start,
        end=request.end,
        title=request.title,
        description=request.description,
        rounds=request.rounds,
    )
    if request.unknown_status is not None:
        check.fail("event.status", f"unknown status {request.unknown_status}")
    elif request.status is Status.CANCELLED:
        check.fail("event.status", "a copy is never CANCELLED: remove it with DELETE")
    return EventCopy(
        uid=event.uid,
        sequence=event.sequence,
        start=event.start,
        end=event.end,
        title=event.title,
        description=event.description,
        rounds=event.rounds,
        attendees=check_attendees(check, "attendees", request.attendees),
        dtstamp=check.time("dtstamp", request.dtstamp),
    )


def _action(check: Checker, request: CalendarWriteRequest) -> CalendarAction:
    if request.action is None:
        got = f" (got {request.unknown_action})" if request.unknown_action else ""
        check.fail(
            "action", f"must be CALENDAR_WRITE_ACTION_PUT or CALENDAR_WRITE_ACTION_DELETE{got}"
        )
        return CalendarAction.DELETE  # checks the UID alone: no second round of errors
    return request.action


def _where(check: Checker, request: CalendarWriteRequest) -> tuple[str, str]:
    """The remembered href and ETag (both optional; an ETag only with its href)."""
    href, etag = request.href, request.etag
    if href:
        check.text("href", href, limit=MAX_URL)
    if etag:
        if len(etag) > MAX_ETAG or not _ENTITY_TAG.fullmatch(etag):
            check.fail("etag", 'not an entity-tag (a quoted string such as "abc", or W/"abc")')
        elif not href:
            check.fail("etag", "only with the href it belongs to")
    return href, etag


def _sealed(check: Checker, sealed: bytes) -> bytes:
    if not sealed:
        check.fail("sealed_credentials", "required")
    elif len(sealed) > MAX_SEALED:
        check.fail("sealed_credentials", f"longer than {MAX_SEALED} bytes")
    return sealed


def validate_calendar_write(request: CalendarWriteRequest) -> ValidCalendarWrite:
    """Check every field; raise InvalidMessage listing all problems."""
    check = Checker()
    user_id = _line(check, "user_id", request.user_id, MAX_USER_ID)
    calendar_url = _line(check, "calendar_url", request.calendar_url, MAX_URL)
    _sealed(check, request.sealed_credentials)
    action = _action(check, request)
    copy: EventCopy | None = None
    if action is CalendarAction.PUT:
        copy = _copy(check, request)
        uid = copy.uid
    else:
        uid = check.uid("event.uid", request.uid)
    href, etag = _where(check, request)
    key = check.text("idempotency_key", request.idempotency_key, limit=MAX_KEY)
    if check.violations:
        raise InvalidMessage(check.violations)
    return ValidCalendarWrite(
        user_id=user_id,
        calendar_url=calendar_url,
        sealed_credentials=request.sealed_credentials,
        action=action,
        uid=uid,
        copy=copy,
        href=href,
        etag=etag,
        idempotency_key=key,
    )


def validate_busy_read(request: BusyReadRequest) -> ValidBusyRead:
    """Check every field; raise InvalidMessage listing all problems."""
    check = Checker()
    user_id = _line(check, "user_id", request.user_id, MAX_USER_ID)
    calendar_url = _line(check, "calendar_url", request.calendar_url, MAX_URL)
    sealed = _sealed(check, request.sealed_credentials)
    before = len(check.violations)
    start = check.time("start_time", request.start)
    end = check.time("end_time", request.end)
    if len(check.violations) == before:  # the range is judged only when both times are
        if end <= start:
            check.fail("end_time", "must be after start_time")
        elif end - start > MAX_RANGE:
            check.fail("end_time", f"at most {MAX_RANGE.days} days after start_time")
    domain = request.own_uid_domain
    if not domain:
        check.fail("own_uid_domain", "required")
    elif len(domain) > MAX_DOMAIN or not _DOMAIN.fullmatch(domain):
        check.fail("own_uid_domain", f"must be a domain name of at most {MAX_DOMAIN} characters")
    if request.sync_token and usable_sync_token(request.sync_token) != request.sync_token:
        check.fail("sync_token", f"must be at most {MAX_SYNC_TOKEN} visible ASCII characters")
    if check.violations:
        raise InvalidMessage(check.violations)
    return ValidBusyRead(
        user_id=user_id,
        calendar_url=calendar_url,
        sealed_credentials=sealed,
        start=start,
        end=end,
        own_uid_domain=domain,
        sync_token=request.sync_token,
    )
