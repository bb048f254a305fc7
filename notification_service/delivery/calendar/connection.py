"""One user's CalDAV server, reached through safe_http: every request carries the
user's credentials and goes only to the origin of the URL the user gave (a discovered
href on another origin is refused before connecting)."""

from __future__ import annotations

from notification_service.delivery.calendar.addresses import Target, shown
from notification_service.delivery.calendar.authorization import Credentials
from notification_service.delivery.calendar.caldav_xml import (
    Resource,
    parse_multistatus,
    propfind_body,
)
from notification_service.delivery.calendar.failures import failure
from notification_service.delivery.calendar.safe_http import HttpResponse, SafeHttpClient
from notification_service.domain.errors import CalendarUrlNotAllowed


class CalDAVConnection:
    """`origin_url` is the URL the user gave (credentials go to its origin only)."""

    def __init__(self, http: SafeHttpClient, credentials: Credentials, origin_url: str) -> None:
        self._http = http
        self._authorization = credentials.header()
        self._origin = http.check_url(origin_url).origin

    def target(self, url: str) -> Target:
        """`url` under the address rules (raises CalendarUrlNotAllowed)."""
        return self._http.check_url(url)

    def require_origin(self, url: str) -> None:
        """Raises CalendarUrlNotAllowed unless `url` is on the origin the user gave."""
        if self._http.check_url(url).origin != self._origin:
            raise CalendarUrlNotAllowed(f"{shown(url)} is not on the origin the user gave")

    async def send(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> HttpResponse:
        self.require_origin(url)
        return await self._http.request(
            method, url, headers=headers, body=body, authorization=self._authorization
        )

    async def send_xml(
        self, method: str, url: str, body: bytes, depth: str | None = None
    ) -> HttpResponse:
        """A WebDAV request with an XML body (PROPFIND, REPORT), and its Depth when
        given (a calendar-multiget takes none)."""
        headers = {"Content-Type": "application/xml; charset=utf-8"}
        if depth is not None:
            headers["Depth"] = depth
        return await self.send(method, url, body=body, headers=headers)

    async def propfind(self, url: str, depth: str, *props: str) -> list[Resource] | None:
        """The multistatus of a PROPFIND, or None for 404/405 (nothing there)."""
        response = await self.send_xml("PROPFIND", url, propfind_body(*props), depth)
        if response.status in (404, 405, 410):
            return None
        if response.status != 207:
            raise failure(response, "PROPFIND")
        return parse_multistatus(response.body, response.url)
