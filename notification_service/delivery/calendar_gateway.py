"""The calendar port of the use cases (service_layer/ports.py CalendarGateway), made of
the CalDAV client (calendar/) and the OAuth refresher (credentials/oauth.py).

One `SafeHttpClient` and one `TokenRefresher` serve the whole process: access tokens
are cached until shortly before they expire, whoever's call asked for them. Each
operation (a discovery, a write, a removal, a busy read) runs under one deadline,
CALDAV_TIMEOUT_S, whatever number of requests it takes (well-known, principal, home
set; a PUT that meets `no-uid-conflict` and a calendar-query). The refresher's
failures become the domain's calendar errors here, so that the use cases know one
hierarchy:

- `invalid_grant` → CalendarAuthRejected ("Google revoked the refresh token");
- the token endpoint away (5xx, 429, timeouts) → CalendarTemporaryFailure, or
  CalendarRetryLater when it said when;
- any other refusal → CalendarTokenEndpointError (our client's settings, most likely).

A bearer token the calendar server answers 401 to (expired early, or revoked while
cached) is dropped from the cache and the operation is tried once more with a fresh
one; a second 401 is the answer. No message built here carries a secret or a URL's
userinfo or query (addresses.shown).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from notification_service.credentials.oauth import (
    RefreshTokenRevoked,
    TokenEndpointError,
    TokenEndpointUnavailable,
    TokenRefresher,
)
from notification_service.credentials.sealing import (
    BasicCredentials,
    Credentials,
    OAuthCredentials,
)
from notification_service.delivery.calendar.authorization import BasicAuth, BearerToken
from notification_service.delivery.calendar.busy import MAX_BUSY_BODY
from notification_service.delivery.calendar.client import CalDAVClient
from notification_service.delivery.calendar.safe_http import Limits, SafeHttpClient
from notification_service.domain.busy import CalendarBusy
from notification_service.domain.calendar import CalendarCopy
from notification_service.domain.errors import (
    CalendarAuthRejected,
    CalendarRetryLater,
    CalendarSyncDisabled,
    CalendarTemporaryFailure,
    CalendarTimeout,
    CalendarTokenEndpointError,
)
from servicekit.logs import get_logger

log = get_logger(__name__)

T = TypeVar("T")
Operation = Callable[[CalDAVClient], Awaitable[T]]

PROVIDER_NAMES = {"google": "Google"}


def http_limits(timeout_s: float) -> Limits:
    """The per-request bounds of safe_http, within the operation's own deadline."""
    return Limits(
        connect_timeout_s=min(10.0, timeout_s),
        read_timeout_s=min(20.0, timeout_s),
        total_timeout_s=timeout_s,
    )


class CalDAVGateway:
    """CalendarGateway over CalDAV. `tokens` is None when no OAuth client is configured
    (then only user name and password credentials work)."""

    def __init__(
        self, http: SafeHttpClient, *, tokens: TokenRefresher | None, timeout_s: float
    ) -> None:
        self._http = http
        self._tokens = tokens
        self._timeout_s = timeout_s

    def supports(self, provider: str) -> bool:
        return provider in PROVIDER_NAMES and self._tokens is not None

    def check_url(self, url: str) -> None:
        self._http.check_url(url)

    async def discover(self, user_id: str, credentials: Credentials, url: str) -> str:
        async def discover(client: CalDAVClient) -> str:
            return (await client.discover(url)).url

        return await self._run(user_id, credentials, url, discover)

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
        async def put(client: CalDAVClient) -> CalendarCopy:
            stored = await client.put_event(collection_url, uid, ics, href=href, etag=etag)
            return CalendarCopy(stored.href, stored.etag)

        return await self._run(user_id, credentials, collection_url, put)

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
        async def delete(client: CalDAVClient) -> None:
            if href:
                await client.delete_event(href, etag=etag)
                return
            # Where the copy is was never learnt (or was lost): wherever the UID lives,
            # our href or the one the person's client imported the invite under.
            holder = await client.find_by_uid(collection_url, uid)
            if holder is not None:
                await client.delete_event(holder.href)

        await self._run(user_id, credentials, collection_url, delete)

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
        async def read(client: CalDAVClient) -> CalendarBusy:
            return await client.read_busy(collection_url, start, end, own_uid_domain, sync_token)

        # Months of a person's events come whole (no server takes a partial retrieval).
        http = self._http.with_body_cap(MAX_BUSY_BODY)
        return await self._run(user_id, credentials, collection_url, read, http)

    async def close(self) -> None:
        if self._tokens is not None:
            await self._tokens.aclose()

    async def _run(
        self,
        user_id: str,
        credentials: Credentials,
        origin_url: str,
        operation: Operation[T],
        http: SafeHttpClient | None = None,
    ) -> T:
        http = http or self._http
        try:
            async with asyncio.timeout(self._timeout_s):
                if isinstance(credentials, BasicCredentials):
                    login = BasicAuth(credentials.username, credentials.password)
                    return await operation(CalDAVClient(http, login, origin_url))
                return await self._with_bearer(user_id, credentials, origin_url, operation, http)
        except TimeoutError:
            raise CalendarTimeout(
                f"the calendar operation took longer than {self._timeout_s:g}s"
            ) from None

    async def _with_bearer(
        self,
        user_id: str,
        credentials: OAuthCredentials,
        origin_url: str,
        operation: Operation[T],
        http: SafeHttpClient,
    ) -> T:
        for attempt in (1, 2):
            token = await self._access_token(user_id, credentials)
            client = CalDAVClient(http, BearerToken(token), origin_url)
            try:
                return await operation(client)
            except CalendarAuthRejected as error:
                if attempt == 2 or error.status != 401 or self._tokens is None:
                    raise
                # Revoked or expired before its time: one fresh token, then the answer.
                self._tokens.forget(user_id)
                log.info("calendar_bearer_refused", user_id=user_id, detail=error.detail)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _access_token(self, user_id: str, credentials: OAuthCredentials) -> str:
        provider = PROVIDER_NAMES.get(credentials.provider, credentials.provider)
        if self._tokens is None:
            raise CalendarSyncDisabled(f"{provider} calendars are not configured here")
        try:
            token = await self._tokens.access_token(user_id, credentials.refresh_token)
        except RefreshTokenRevoked:
            raise CalendarAuthRejected(
                f"{provider} revoked the refresh token (invalid_grant)"
            ) from None
        except TokenEndpointUnavailable as error:
            detail = f"{provider}'s token endpoint is unavailable: {error}"
            if error.retry_after_s:
                at = datetime.now(UTC) + timedelta(seconds=error.retry_after_s)
                raise CalendarRetryLater(detail, retry_at=at) from None
            raise CalendarTemporaryFailure(detail) from None
        except TokenEndpointError as error:
            raise CalendarTokenEndpointError(f"{provider}'s token endpoint: {error}") from None
        if token.refresh_token is not None:
            # RFC 6749 section 6 allows a new refresh token; Google does not issue one, and
            # the old one keeps working until the user connects again.
            log.warning("oauth_refresh_token_rotated_not_stored", user_id=user_id)
        return token.token
