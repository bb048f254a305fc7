"""The CalDAV client the notification service uses (RFC 4791): one user's server, and
the operations on it, from discovery.py, objects.py and busy.py. What it needs and no
more: find the collection to write to, PUT an event, read it, find it by UID, DELETE it,
read the busy time over a range; every failure is a CalendarError (domain/errors.py;
what a status means: failures.py)."""

from __future__ import annotations

from datetime import datetime

from notification_service.delivery.calendar import busy, discovery, objects
from notification_service.delivery.calendar.connection import CalDAVConnection
from notification_service.delivery.calendar.discovery import CalendarCollection
from notification_service.delivery.calendar.objects import StoredEvent
from notification_service.domain.busy import CalendarBusy


class CalDAVClient(CalDAVConnection):
    """One user's CalDAV server: `origin_url` is the URL the user gave (credentials go
    to its origin only)."""

    href_for = staticmethod(objects.href_for)

    async def discover(self, url: str) -> CalendarCollection:
        """The collection to write to, from a collection, principal or server URL."""
        return await discovery.discover(self, url)

    async def put_event(
        self,
        collection_url: str,
        uid: str,
        ics: bytes,
        *,
        href: str | None = None,
        etag: str | None = None,
    ) -> StoredEvent:
        """Create (no href/etag known) or update the event; returns where it now lives."""
        return await objects.put_event(self, collection_url, uid, ics, href=href, etag=etag)

    async def current_etag(self, href: str) -> str | None:
        """The object's ETag now, or None when it is gone."""
        return await objects.current_etag(self, href)

    async def get_event(self, href: str) -> tuple[bytes, str | None] | None:
        """The object's body and ETag, or None when it is gone."""
        return await objects.get_event(self, href)

    async def find_by_uid(self, collection_url: str, uid: str) -> StoredEvent | None:
        """The object holding `uid`, or None."""
        return await objects.find_by_uid(self, collection_url, uid)

    async def delete_event(self, href: str, *, etag: str | None = None) -> None:
        """Delete the object; 404 and 410 mean it is already gone (done)."""
        await objects.delete_event(self, href, etag=etag)

    async def read_busy(
        self,
        collection_url: str,
        start: datetime,
        end: datetime,
        own_uid_domain: str,
        sync_token: str = "",
    ) -> CalendarBusy:
        """The occurrences holding time in [start, end), or `unchanged` since
        `sync_token`: busy.py."""
        return await busy.read_busy(self, collection_url, start, end, own_uid_domain, sync_token)
