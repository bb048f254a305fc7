"""Dry-run delivery: the default. Renders and logs, sends nothing."""

from __future__ import annotations

from notification_service.domain.model import DeliveryResult, Outcome, RenderedMessage
from servicekit.logs import get_logger

log = get_logger(__name__)


class DryRunProvider:
    name = "dry-run"

    async def deliver(self, message: RenderedMessage) -> DeliveryResult:
        # The whole message on one JSON line (the renderer guarantees 7-bit
        # ASCII), so lower environments can see exactly what would be sent.
        log.info(
            "dry_run_message",
            kind=message.kind,
            message_id=message.message_id,
            sender=message.sender,
            recipient=message.recipient,
            uid=message.uid,
            sequence=message.sequence,
            itip_method=message.method.value if message.method else None,
            idempotency_key=message.idempotency_key,
            mime=message.mime.decode("ascii"),
        )
        return DeliveryResult(Outcome.DRY_RUN, "NOTIFICATIONS_ENABLED is false: nothing sent")

    async def close(self) -> None:
        return None
