"""The use cases: render an invite or a reminder, deliver it. No protobuf here.

The pipeline, for both kinds: validate (domain/) → render the parts and write the bytes
(render/) → the structural check (verify/) → one delivery attempt (a Provider, from
delivery/). A request that fails validation raises InvalidMessage (the caller's fault,
before anything happens). Anything that goes wrong after validation, the structural
check refusing the bytes or the renderer raising, is an UnrenderableMessage: the mail
is never sent, the error is logged once, and delivery reports a permanent failure so
the caller files it instead of retrying for hours.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from notification_service import metrics
from notification_service.domain.errors import UnrenderableMessage
from notification_service.domain.invite_validation import validate_invite
from notification_service.domain.model import (
    CalendarMessage,
    DeliveryResult,
    Mailbox,
    Outcome,
    ReminderMessage,
    RenderedMessage,
    ValidInvite,
    ValidReminder,
)
from notification_service.domain.notice_validation import (
    CalendarNoticeMessage,
    ValidNotice,
    validate_notice,
)
from notification_service.domain.reminder_validation import validate_reminder
from notification_service.domain.waitlist_validation import (
    ValidWaitlistNotice,
    WaitlistNoticeMessage,
    validate_waitlist_notice,
)
from notification_service.render import mime
from notification_service.render.ics import render_ics
from notification_service.render.invite_bodies import render_invite_bodies
from notification_service.render.notice_bodies import render_notice_bodies
from notification_service.render.reminder_bodies import render_reminder_bodies
from notification_service.render.waitlist_bodies import render_waitlist_bodies
from notification_service.service_layer.ports import Provider
from notification_service.verify.ics import verify_calendar
from notification_service.verify.mime import verify_mail
from servicekit.logs import get_logger

# The logger name the log lines have always carried (from before service_layer/
# existed): log queries select on it.
log = get_logger("notification_service.notifier")

_LEVELS = {
    Outcome.DELIVERED: logging.INFO,
    Outcome.DRY_RUN: logging.INFO,
    Outcome.TEMPORARY_FAILURE: logging.WARNING,
    Outcome.PERMANENT_FAILURE: logging.ERROR,
}


@dataclass(frozen=True)
class Attempt:
    """What one delivery call did: the Message-ID meant, and the result."""

    message_id: str
    result: DeliveryResult


@dataclass(frozen=True)
class _Identity:
    """What the log lines say about a message that may not have rendered."""

    kind: str
    message_id: str
    uid: str
    recipient: str
    idempotency_key: str


def _render_or_refuse(
    identity: _Identity, render: Callable[[], RenderedMessage]
) -> RenderedMessage:
    """Run `render`; any failure after validation becomes UnrenderableMessage,
    logged once as an error."""
    trace: str | None = None
    try:
        return render()
    except UnrenderableMessage as exc:
        detail = exc.detail
    except Exception as exc:  # a renderer bug on some input: never INTERNAL, never a retry
        detail = f"renderer failed: {type(exc).__name__}: {exc}"
        trace = traceback.format_exc()
    metrics.RENDER_FAILURES.labels(identity.kind).inc()
    log.error(
        "render_failed",
        exception=trace,
        kind=identity.kind,
        detail=detail,
        message_id=identity.message_id,
        uid=identity.uid,
        recipient=identity.recipient,
        idempotency_key=identity.idempotency_key,
    )
    raise UnrenderableMessage(
        f"unrenderable {identity.kind}: {detail}", message_id=identity.message_id
    ) from None


def render_and_verify_invite(valid: ValidInvite, sender: Mailbox) -> RenderedMessage:
    """The checked invite mail; raises UnrenderableMessage (or a renderer error)."""
    mid = mime.invite_message_id(valid, sender.domain)
    ics = render_ics(valid, sender)
    bodies = render_invite_bodies(valid)
    mail = mime.invite_mail(valid, bodies.subject, bodies.plain, bodies.html, ics, sender, mid)
    data = mime.write(mail)
    verify_mail(data, mail)
    verify_calendar(ics, valid, sender)
    return RenderedMessage(
        kind="invite",
        message_id=mid,
        sender=sender.address,
        recipient=valid.recipient.address,
        mime=data,
        uid=valid.uid,
        idempotency_key=valid.idempotency_key,
        ics=ics,
        sequence=valid.sequence,
        method=valid.method,
        uninvite=valid.uninvite,
    )


def render_and_verify_reminder(valid: ValidReminder, sender: Mailbox) -> RenderedMessage:
    """The checked reminder mail; raises UnrenderableMessage (or a renderer error)."""
    mid = mime.reminder_message_id(valid, sender.domain)
    bodies = render_reminder_bodies(valid)
    mail = mime.reminder_mail(valid, bodies.subject, bodies.plain, bodies.html, sender, mid)
    return _checked(
        "reminder", mail, mid, sender, valid.recipient, valid.uid, valid.idempotency_key
    )


def render_and_verify_notice(valid: ValidNotice, sender: Mailbox) -> RenderedMessage:
    """The checked notice mail; raises UnrenderableMessage (or a renderer error)."""
    mid = mime.notice_message_id(valid, sender.domain)
    bodies = render_notice_bodies(valid)
    mail = mime.notice_mail(valid, bodies.subject, bodies.plain, bodies.html, sender, mid)
    return _checked("notice", mail, mid, sender, valid.recipient, "", valid.idempotency_key)


def render_and_verify_waitlist(valid: ValidWaitlistNotice, sender: Mailbox) -> RenderedMessage:
    """The checked waitlist mail; raises UnrenderableMessage (or a renderer error)."""
    mid = mime.waitlist_message_id(valid, sender.domain)
    bodies = render_waitlist_bodies(valid)
    mail = mime.waitlist_mail(valid, bodies.subject, bodies.plain, bodies.html, sender, mid)
    return _checked(
        "waitlist", mail, mid, sender, valid.recipient, valid.uid, valid.idempotency_key
    )


def _checked(
    kind: str,
    mail: mime.Mail,
    message_id: str,
    sender: Mailbox,
    recipient: Mailbox,
    uid: str,
    idempotency_key: str,
) -> RenderedMessage:
    """A plain mail (no calendar part) written and read back before it may go."""
    data = mime.write(mail)
    verify_mail(data, mail)
    return RenderedMessage(
        kind=kind,
        message_id=message_id,
        sender=sender.address,
        recipient=recipient.address,
        mime=data,
        uid=uid,
        idempotency_key=idempotency_key,
    )


class Notifier:
    def __init__(
        self,
        provider: Provider,
        mail_from: Mailbox,
        *,
        show_url: Callable[[str], str],
    ) -> None:
        """`show_url` is how a user's calendar URL appears in a notice: without
        credentials or query (the calendar adapter's redaction)."""
        self._provider = provider
        self._mail_from = mail_from
        self._show_url = show_url

    @property
    def provider(self) -> Provider:
        return self._provider

    def render_invite(self, message: CalendarMessage) -> RenderedMessage:
        """Validate and render an invite; raises InvalidMessage or UnrenderableMessage."""
        valid = validate_invite(message)
        identity = _Identity(
            "invite",
            mime.invite_message_id(valid, self._mail_from.domain),
            valid.uid,
            valid.recipient.address,
            valid.idempotency_key,
        )
        return _render_or_refuse(identity, lambda: render_and_verify_invite(valid, self._mail_from))

    def render_reminder(self, message: ReminderMessage) -> RenderedMessage:
        """Validate and render a reminder; raises InvalidMessage or UnrenderableMessage."""
        valid = validate_reminder(message)
        identity = _Identity(
            "reminder",
            mime.reminder_message_id(valid, self._mail_from.domain),
            valid.uid,
            valid.recipient.address,
            valid.idempotency_key,
        )
        return _render_or_refuse(
            identity, lambda: render_and_verify_reminder(valid, self._mail_from)
        )

    async def deliver_invite(self, message: CalendarMessage) -> Attempt:
        """Render an invite, then make one delivery attempt; raises InvalidMessage only."""
        return await self._render_and_send(lambda: self.render_invite(message))

    async def deliver_reminder(self, message: ReminderMessage) -> Attempt:
        """Render a reminder, then make one delivery attempt; raises InvalidMessage only."""
        return await self._render_and_send(lambda: self.render_reminder(message))

    async def deliver_notice(self, message: CalendarNoticeMessage) -> Attempt:
        """Render a calendar notice, then make one delivery attempt; raises
        InvalidMessage only."""
        valid = validate_notice(message, self._show_url)
        identity = _Identity(
            "notice",
            mime.notice_message_id(valid, self._mail_from.domain),
            "",
            valid.recipient.address,
            valid.idempotency_key,
        )
        return await self._render_and_send(
            lambda: _render_or_refuse(
                identity, lambda: render_and_verify_notice(valid, self._mail_from)
            )
        )

    def render_waitlist(self, message: WaitlistNoticeMessage) -> RenderedMessage:
        """Validate and render a waitlist notice; raises InvalidMessage or
        UnrenderableMessage."""
        valid = validate_waitlist_notice(message)
        identity = _Identity(
            "waitlist",
            mime.waitlist_message_id(valid, self._mail_from.domain),
            valid.uid,
            valid.recipient.address,
            valid.idempotency_key,
        )
        return _render_or_refuse(
            identity, lambda: render_and_verify_waitlist(valid, self._mail_from)
        )

    async def deliver_waitlist(self, message: WaitlistNoticeMessage) -> Attempt:
        """Render a waitlist notice, then make one delivery attempt; raises
        InvalidMessage only."""
        return await self._render_and_send(lambda: self.render_waitlist(message))

    async def _render_and_send(self, render: Callable[[], RenderedMessage]) -> Attempt:
        """One delivery attempt of what `render` makes; a message that cannot be
        rendered is a permanent failure, not an error."""
        try:
            rendered = render()
        except UnrenderableMessage as exc:
            return self._unrenderable(exc)
        return await self._send(rendered)

    def _unrenderable(self, exc: UnrenderableMessage) -> Attempt:
        # Already logged by _render_or_refuse; the Message-ID is known before rendering.
        return Attempt(exc.message_id, DeliveryResult(Outcome.PERMANENT_FAILURE, exc.detail))

    async def _send(self, rendered: RenderedMessage) -> Attempt:
        started = time.monotonic()
        result = await self._provider.deliver(rendered)
        level = logging.ERROR if result.config_error else _LEVELS[result.outcome]
        metrics.DELIVERIES.labels(self._provider.name, result.outcome.value).inc()
        log.log(
            level,
            "delivery_configuration_error" if result.config_error else "delivery_attempt",
            provider=self._provider.name,
            kind=rendered.kind,
            outcome=result.outcome.value,
            smtp_code=result.smtp_code,
            detail=result.detail,
            config_error=result.config_error,
            latency_ms=round((time.monotonic() - started) * 1000, 1),
            message_id=rendered.message_id,
            uid=rendered.uid,
            sequence=rendered.sequence,
            itip_method=rendered.method.value if rendered.method else None,
            uninvite=rendered.uninvite,
            recipient=rendered.recipient,
            idempotency_key=rendered.idempotency_key,
        )
        return Attempt(rendered.message_id, result)
