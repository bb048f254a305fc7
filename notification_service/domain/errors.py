"""Every error of the notification service, drawn once, here.

    NotificationError            the base: nothing else is raised on purpose
    ├── InvalidMessage           the request is wrong; `violations` names each bad field
    ├── UnrenderableMessage      the request validated, but the mail rendered from it is
    │                            not provably what was meant (the structural check refused
    │                            it, or a renderer failed on it): it is never sent
    └── Unauthenticated          no service token, or the wrong one

entrypoints/status.py maps each to a gRPC status. Two kinds of failure are not here on
purpose: a bad setting is servicekit's `ConfigError` (shared with the scheduling service,
it stops `serve` before any request), and a failed delivery is never raised: a provider
returns it as a `DeliveryResult` (domain/model.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class NotificationError(Exception):
    """Base of the service's domain errors."""


class InvalidMessage(NotificationError):
    """The request cannot be rendered; `violations` names each bad field."""

    def __init__(self, violations: list[FieldViolation]) -> None:
        self.violations = tuple(violations)
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))


class UnrenderableMessage(NotificationError):
    """The rendered mail is not provably what was meant; it must not be sent."""

    def __init__(self, detail: str, *, message_id: str = "") -> None:
        self.detail = detail
        self.message_id = message_id
        super().__init__(detail)


class Unauthenticated(NotificationError):
    """No service token, or the wrong one."""
