"""What the use cases need from the outside, as Protocols: delivery/ implements them."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from notification_service.credentials.sealing import Credentials
from notification_service.domain.busy import CalendarBusy
from notification_service.domain.calendar import CalendarCopy
from notification_service.domain.model import DeliveryResult, RenderedMessage


class Provider(Protocol):
    """Makes one delivery attempt; never raises for a delivery failure."""

    name: str

    async def deliver(self, message: RenderedMessage) -> DeliveryResult: ...

    async def close(self) -> None: ...


class CalendarGateway(Protocol):
    """A user's own calendar server (delivery/calendar_gateway.py). Every failure is a
    CalendarError of domain/errors.py; an operation as a whole is bounded in time."""

    def supports(self, provider: str) -> bool:
        """Whether credentials of this OAuth provider can be used here (configured)."""
        ...

    def check_url(self, url: str) -> None:
        """CalendarUrlNotAllowed unless `url` passes the address rules that need no
        network (scheme, userinfo, host spelling, IP literals): nothing is connected."""
        ...

    async def discover(self, user_id: str, credentials: Credentials, url: str) -> str:
        """The collection to write to, proven to take events and to be writable."""
        ...

    async def put_event(
        self,
        user_id: str,
        credentials: Credentials,
        collection_url: str,
        uid: str,
        ics: bytes,
        *,
        href: str | None,
        etag: str | None,
    ) -> CalendarCopy:
        """Create or update the event (If-Match `etag` at `href` when known)."""
        ...

    async def delete_event(
        self,
        user_id: str,
        credentials: Credentials,
        collection_url: str,
        uid: str,
        *,
        href: str | None,
        etag: str | None,
    ) -> None:
        """Remove the event (at `href`, else wherever `uid` lives); gone is done."""
        ...

    async def read_busy(
        self,
        user_id: str,
        credentials: Credentials,
        collection_url: str,
        start: datetime,
        end: datetime,
        own_uid_domain: str,
        sync_token: str = "",
    ) -> CalendarBusy:
        """The occurrences of events holding time in [start, end) (recurrences
        expanded; not ours, not transparent, not cancelled), unmerged; only times.
        With a `sync_token`: `unchanged` and no occurrences when nothing but our own
        objects changed since."""
        ...

    async def close(self) -> None: ...
