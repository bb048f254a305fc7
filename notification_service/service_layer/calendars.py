"""The calendar use cases (design.md section 11): verify a calendar a user names and seal
their credentials; write or remove one session's copy in it. No protobuf here.

Verify: validate (domain/calendar_validation.py) → the URL's rules (no connection for a
refused one) → discovery with the credentials (a bearer token for OAuth) → seal them
for (user id, collection URL). Every failure is raised: a NotificationError the entry
point turns into a status.

Write: validate → render the stored copy and check it (render/ics.py and verify/ics.py,
the invitation's writer and check) → open the sealed credentials (sealed anew when an
older key sealed them) → one PUT or DELETE. A failure of the calendar server is not
raised but reported as the outcome, which tells the relay what to do; only an invalid
request raises (InvalidMessage). A missing setting (no CALENDAR_SEAL_KEYS, no OAuth
client) is a temporary failure logged as a configuration error: the write is kept
until the settings are fixed, and the user's connection is not blamed.

Reading busy time (calendar_busy.py) opens the credentials and maps failures the same
way: `open_sealed`, `refusal` and `failed` are shared with it.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass, replace

from notification_service import metrics
from notification_service.credentials.sealing import (
    BasicCredentials,
    Credentials,
    Keyring,
    OAuthCredentials,
    UnsealError,
)
from notification_service.domain.calendar import (
    BasicLogin,
    CalendarAction,
    CalendarWriteRequest,
    CalendarWriteResult,
    EventCopy,
    ValidCalendarWrite,
    ValidVerify,
    VerifyRequest,
    WriteOutcome,
)
from notification_service.domain.calendar_validation import (
    validate_calendar_write,
    validate_verify,
)
from notification_service.domain.errors import (
    CalendarAuthRejected,
    CalendarError,
    CalendarRetryLater,
    CalendarSyncDisabled,
    CalendarTemporaryFailure,
    CalendarTokenEndpointError,
    CalendarUrlNotAllowed,
    InvalidMessage,
    NotificationError,
    UnrenderableMessage,
)
from notification_service.domain.model import Mailbox
from notification_service.render.ics import render_stored_ics
from notification_service.service_layer.ports import CalendarGateway
from notification_service.verify.ics import verify_stored_calendar
from servicekit.logs import get_logger

log = get_logger(__name__)

NOT_CONFIGURED = "calendar sync is not configured on this server (CALENDAR_SEAL_KEYS is unset)"
DOES_NOT_OPEN = "the stored credentials no longer open; connect the calendar again"

_LEVELS = {
    WriteOutcome.WRITTEN: logging.INFO,
    WriteOutcome.REMOVED: logging.INFO,
    WriteOutcome.TEMPORARY_FAILURE: logging.WARNING,
    WriteOutcome.CREDENTIALS_REJECTED: logging.WARNING,
    WriteOutcome.PERMANENT_FAILURE: logging.ERROR,
}


@dataclass(frozen=True)
class VerifiedCalendar:
    calendar_url: str
    provider: str
    sealed_credentials: bytes


def render_and_verify_copy(copy: EventCopy, sender: Mailbox) -> bytes:
    """The stored object for `copy`, read back and compared before it may leave;
    raises UnrenderableMessage (or a renderer error)."""
    ics = render_stored_ics(copy, sender)
    verify_stored_calendar(ics, copy, sender)
    return ics


def _credentials(valid: ValidVerify) -> Credentials:
    given = valid.credentials
    if isinstance(given, BasicLogin):
        return BasicCredentials(given.username, given.password)
    return OAuthCredentials(given.provider, given.refresh_token)


def _reason(error: NotificationError) -> str:
    """The bounded label (and ErrorInfo reason) a failed verification counts under."""
    if isinstance(error, InvalidMessage):
        return "INVALID_ARGUMENT"
    return str(getattr(error, "reason", type(error).__name__))


def failed(error: CalendarError) -> CalendarWriteResult:
    """The outcome a calendar error means for a write (design.md section 11, Failures)."""
    if isinstance(error, CalendarUrlNotAllowed):
        return CalendarWriteResult(WriteOutcome.PERMANENT_FAILURE, detail=error.detail)
    if isinstance(error, CalendarTokenEndpointError):
        return CalendarWriteResult(
            WriteOutcome.TEMPORARY_FAILURE, detail=error.detail, config_error=True
        )
    if isinstance(error, CalendarAuthRejected):
        detail = error.detail
        if error.status is not None:
            detail = f"the calendar server refused the credentials (HTTP {error.status})"
        return CalendarWriteResult(WriteOutcome.CREDENTIALS_REJECTED, detail=detail)
    if isinstance(error, CalendarRetryLater):
        return CalendarWriteResult(
            WriteOutcome.TEMPORARY_FAILURE, detail=error.detail, retry_at=error.retry_at
        )
    if isinstance(error, CalendarTemporaryFailure):
        return CalendarWriteResult(WriteOutcome.TEMPORARY_FAILURE, detail=error.detail)
    return CalendarWriteResult(WriteOutcome.PERMANENT_FAILURE, detail=error.detail)


class Calendars:
    """`keyring` is None without CALENDAR_SEAL_KEYS (calendar sync disabled)."""

    def __init__(
        self, gateway: CalendarGateway, keyring: Keyring | None, mail_from: Mailbox
    ) -> None:
        self._gateway = gateway
        self._keyring = keyring
        self._mail_from = mail_from

    async def verify(self, request: VerifyRequest) -> VerifiedCalendar:
        """Prove the calendar works with these credentials, then seal them; raises
        InvalidMessage, CalendarSyncDisabled or a CalendarError."""
        started = time.monotonic()
        try:
            verified = await self._verify(request)
        except NotificationError as error:
            reason = _reason(error)
            metrics.CALENDAR_VERIFICATIONS.labels(reason).inc()
            log.log(
                logging.ERROR if isinstance(error, CalendarSyncDisabled) else logging.INFO,
                "calendar_configuration_error"
                if isinstance(error, CalendarSyncDisabled)
                else "calendar_verification",
                result=reason,
                detail=str(error)[:500],
                user_id=request.user_id[:255],
                latency_ms=round((time.monotonic() - started) * 1000, 1),
            )
            raise
        metrics.CALENDAR_VERIFICATIONS.labels("VERIFIED").inc()
        log.info(
            "calendar_verification",
            result="VERIFIED",
            provider=verified.provider,
            user_id=request.user_id,
            latency_ms=round((time.monotonic() - started) * 1000, 1),
        )
        return verified

    async def _verify(self, request: VerifyRequest) -> VerifiedCalendar:
        valid = validate_verify(request)
        keyring = self._keyring
        if keyring is None:
            raise CalendarSyncDisabled(NOT_CONFIGURED)
        self._gateway.check_url(valid.url)
        if valid.provider != "caldav" and not self._gateway.supports(valid.provider):
            raise CalendarSyncDisabled(
                f"{valid.provider} calendars are not configured on this server "
                "(GOOGLE_OAUTH_CLIENT_ID and GOOGLE_OAUTH_CLIENT_SECRET are unset)"
            )
        credentials = _credentials(valid)
        collection = await self._gateway.discover(valid.user_id, credentials, valid.url)
        sealed = keyring.seal(credentials, user_id=valid.user_id, calendar_url=collection)
        return VerifiedCalendar(collection, valid.provider, sealed)

    async def write(self, request: CalendarWriteRequest) -> CalendarWriteResult:
        """One PUT or DELETE of a session's copy; raises InvalidMessage only."""
        valid = validate_calendar_write(request)
        started = time.monotonic()
        result = await self._write(valid)
        metrics.CALENDAR_WRITES.labels(valid.action.value, result.outcome.value).inc()
        log.log(
            logging.ERROR if result.config_error else _LEVELS[result.outcome],
            "calendar_configuration_error" if result.config_error else "calendar_write",
            action=valid.action.value,
            outcome=result.outcome.value,
            detail=result.detail,
            config_error=result.config_error,
            resealed=bool(result.resealed),
            latency_ms=round((time.monotonic() - started) * 1000, 1),
            uid=valid.uid,
            user_id=valid.user_id,
            idempotency_key=valid.idempotency_key,
        )
        return result

    async def _write(self, valid: ValidCalendarWrite) -> CalendarWriteResult:
        ics = b""
        if valid.copy is not None:
            try:
                ics = self._render(valid)
            except UnrenderableMessage as error:
                return CalendarWriteResult(WriteOutcome.PERMANENT_FAILURE, detail=error.detail)
        opened = self.open_sealed(valid.sealed_credentials, valid.user_id, valid.calendar_url)
        if isinstance(opened, CalendarWriteResult):
            return opened
        credentials, resealed = opened
        result = self.refusal(credentials) or await self._attempt(valid, credentials, ics)
        return replace(result, resealed=resealed)

    def open_sealed(
        self, blob: bytes, user_id: str, url: str
    ) -> tuple[Credentials, bytes] | CalendarWriteResult:
        """The credentials sealed in `blob`, and the same sealed anew when an older key
        sealed them (else b""); or the result saying why they cannot be used."""
        keyring = self._keyring
        if keyring is None:
            return CalendarWriteResult(
                WriteOutcome.TEMPORARY_FAILURE, detail=NOT_CONFIGURED, config_error=True
            )
        try:
            credentials = keyring.open(blob, user_id=user_id, calendar_url=url)
        except UnsealError:
            return CalendarWriteResult(WriteOutcome.CREDENTIALS_REJECTED, detail=DOES_NOT_OPEN)
        resealed = b""
        if keyring.needs_reseal(blob):
            resealed = keyring.seal(credentials, user_id=user_id, calendar_url=url)
        return credentials, resealed

    def refusal(self, credentials: Credentials) -> CalendarWriteResult | None:
        """A temporary failure when this server has no client for the OAuth provider."""
        if isinstance(credentials, OAuthCredentials) and not self._gateway.supports(
            credentials.provider
        ):
            detail = f"{credentials.provider} calendars are not configured on this server"
            return CalendarWriteResult(
                WriteOutcome.TEMPORARY_FAILURE, detail=detail, config_error=True
            )
        return None

    async def _attempt(
        self, valid: ValidCalendarWrite, credentials: Credentials, ics: bytes
    ) -> CalendarWriteResult:
        href, etag = valid.href or None, valid.etag or None
        try:
            if valid.action is CalendarAction.PUT:
                copy = await self._gateway.put_event(
                    valid.user_id,
                    credentials,
                    valid.calendar_url,
                    valid.uid,
                    ics,
                    href=href,
                    etag=etag,
                )
                return CalendarWriteResult(WriteOutcome.WRITTEN, copy.href, copy.etag or "")
            await self._gateway.delete_event(
                valid.user_id, credentials, valid.calendar_url, valid.uid, href=href, etag=etag
            )
            return CalendarWriteResult(WriteOutcome.REMOVED)
        except CalendarError as error:
            return failed(error)

    def _render(self, valid: ValidCalendarWrite) -> bytes:
        """The checked stored object; any failure after validation is one
        UnrenderableMessage, logged once as an error (as invites are)."""
        assert valid.copy is not None
        trace: str | None = None
        try:
            return render_and_verify_copy(valid.copy, self._mail_from)
        except UnrenderableMessage as error:
            detail = error.detail
        except Exception as error:  # a renderer bug on some input: never a retry
            detail = f"renderer failed: {type(error).__name__}: {error}"
            trace = traceback.format_exc()
        metrics.RENDER_FAILURES.labels("calendar_copy").inc()
        log.error(
            "render_failed",
            exception=trace,
            kind="calendar_copy",
            detail=detail,
            uid=valid.uid,
            user_id=valid.user_id,
            idempotency_key=valid.idempotency_key,
        )
        raise UnrenderableMessage(f"unrenderable calendar copy: {detail}")
