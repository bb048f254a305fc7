"""What the use cases need from the outside, as Protocols: delivery/ implements them."""

from __future__ import annotations

from typing import Protocol

from notification_service.domain.model import DeliveryResult, RenderedMessage


class Provider(Protocol):
    """Makes one delivery attempt; never raises for a delivery failure."""

    name: str

    async def deliver(self, message: RenderedMessage) -> DeliveryResult: ...

    async def close(self) -> None: ...
