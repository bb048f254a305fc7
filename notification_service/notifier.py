"""The use cases: render a calendar message, deliver it. No protobuf here."""

from __future__ import annotations

import logging
import time

from notification_service import metrics
from notification_service.delivery import Provider
from notification_service.ics import render_ics
from notification_service.mime import build_mime, message_id
from notification_service.model import (
    CalendarMessage,
    DeliveryResult,
    Mailbox,
    Outcome,
    RenderedMessage,
)
from notification_service.validation import validate
from servicekit.logs import log_event

logger = logging.getLogger(__name__)

_LEVELS = {
    Outcome.DELIVERED: logging.INFO,
    Outcome.DRY_RUN: logging.INFO,
    Outcome.TEMPORARY_FAILURE: logging.WARNING,
    Outcome.PERMANENT_FAILURE: logging.ERROR,
}


class Notifier:
    def __init__(self, provider: Provider, mail_from: Mailbox) -> None:
        self._provider = provider
        self._mail_from = mail_from

    @property
    def provider(self) -> Provider:
        return self._provider

    def render(self, message: CalendarMessage) -> RenderedMessage:
        """Validate and render; raises InvalidMessage."""
        valid = validate(message)
        ics = render_ics(valid, self._mail_from)
        mid = message_id(valid, self._mail_from.domain)
        mime = build_mime(valid, ics, self._mail_from, mid)
        return RenderedMessage(
            message_id=mid,
            sender=self._mail_from.address,
            recipient=valid.recipient.address,
            mime=mime,
            ics=ics,
            uid=valid.uid,
            sequence=valid.sequence,
            method=valid.method,
            uninvite=valid.uninvite,
            idempotency_key=valid.idempotency_key,
        )

    async def deliver(self, message: CalendarMessage) -> tuple[RenderedMessage, DeliveryResult]:
        """Render, then make one delivery attempt; raises InvalidMessage only."""
        rendered = self.render(message)
        started = time.monotonic()
        result = await self._provider.deliver(rendered)
        level = logging.ERROR if result.config_error else _LEVELS[result.outcome]
        metrics.DELIVERIES.labels(self._provider.name, result.outcome.value).inc()
        log_event(
            logger,
            level,
            "delivery_configuration_error" if result.config_error else "delivery_attempt",
            provider=self._provider.name,
            outcome=result.outcome.value,
            smtp_code=result.smtp_code,
            detail=result.detail,
            config_error=result.config_error,
            latency_ms=round((time.monotonic() - started) * 1000, 1),
            message_id=rendered.message_id,
            uid=rendered.uid,
            sequence=rendered.sequence,
            itip_method=rendered.method.value,
            uninvite=rendered.uninvite,
            recipient=rendered.recipient,
            idempotency_key=rendered.idempotency_key,
        )
        return rendered, result
