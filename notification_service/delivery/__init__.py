"""Delivery providers behind one interface: SMTP, and dry-run (log only)."""

from __future__ import annotations

from typing import Protocol

from notification_service.model import DeliveryResult, RenderedMessage


class Provider(Protocol):
    """Makes one delivery attempt; never raises for a delivery failure."""

    name: str

    async def deliver(self, message: RenderedMessage) -> DeliveryResult: ...

    async def close(self) -> None: ...
