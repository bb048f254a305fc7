"""The calendar-feed use cases: rotate, revoke, read (domain/calendar_feed.py says what a
feed holds).

A read finds the token by its hash and spends from its rate-limit bucket in one
statement, then reads what the feed shows; the body is rendered only when the caller
does not hold it already (its ETag). The token itself is never logged, stored or put
in an error (calendar_feed.label names a feed on a log line).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduling_service.domain import calendar_feed, errors
from scheduling_service.domain.calendar_feed import FeedContent
from scheduling_service.domain.users import User
from scheduling_service.service_layer.ports import Clock, Database, UnitOfWork, utc_now

# A feed shows at most this many sessions and as many tombstones: a calendar file is
# fetched whole by every subscribed client, so it is kept to a size they all take.
MAX_ENTRIES = 2000

Render = Callable[[FeedContent], bytes]


@dataclass(frozen=True)
class IssuedFeed:
    url: str
    token: str
    create_time: datetime


@dataclass(frozen=True)
class FeedBody:
    etag: str
    body: bytes | None  # None: the caller holds this version (If-None-Match)


def new_token() -> str:
    """256 random bits, URL-safe, without padding: 43 characters."""
    return secrets.token_urlsafe(calendar_feed.TOKEN_BYTES)


class CalendarFeedService:
    def __init__(
        self,
        database: Database,
        *,
        base_url: str,
        rate_per_min: int,
        refresh: timedelta,
        render: Render,
        clock: Clock = utc_now,
        make_token: Callable[[], str] = new_token,
    ) -> None:
        self._db = database
        self._base_url = base_url
        self._burst = float(rate_per_min)
        self._per_s = rate_per_min / 60.0
        self._refresh = refresh
        self._render = render
        # What the renderer makes of a fixed sample goes into every ETag: a change of
        # the rendering changes every ETag, so no client keeps an old body on a 304.
        self._rendering = hashlib.sha256(render(calendar_feed.SAMPLE)).hexdigest()[:16]
        self._clock = clock
        self._make_token = make_token

    async def rotate(self, caller: User, time_left_s: float | None = None) -> IssuedFeed:
        token = self._make_token()
        hashed = calendar_feed.token_hash(token)
        now = self._clock()

        async def work(uow: UnitOfWork) -> None:
            await uow.directory.register(caller)
            await uow.feeds.rotate(caller.user_id, hashed, now, self._burst)

        await self._db.run(work, time_left_s=time_left_s)
        return IssuedFeed(f"{self._base_url}/v1/calendarFeeds/{token}.ics", token, now)

    async def revoke(self, caller: User, time_left_s: float | None = None) -> None:
        async def work(uow: UnitOfWork) -> bool:
            await uow.directory.register(caller)
            return await uow.feeds.revoke(caller.user_id)

        if not await self._db.run(work, time_left_s=time_left_s):
            raise errors.FeedNotFound("you have no calendar feed")

    async def read(
        self, raw_token: str, if_none_match: str | None, time_left_s: float | None = None
    ) -> FeedBody:
        token = calendar_feed.parse_token(raw_token)
        hashed = calendar_feed.token_hash(token)
        now = self._clock()
        since = now - calendar_feed.HISTORY

        async def spend(uow: UnitOfWork) -> tuple[str, bytes, float] | None:
            return await uow.feeds.spend(hashed, now, per_s=self._per_s, burst=self._burst)

        found = await self._db.run(spend, time_left_s=time_left_s)
        # The lookup was by hash; the comparison of what it found is constant-time all
        # the same, so that no code path compares secrets byte by byte.
        if found is None or not hmac.compare_digest(found[1], hashed):
            raise errors.FeedNotFound("no such calendar feed")
        user_id, _, allowance = found
        if allowance < 0:
            raise errors.FeedRateLimited(
                "this calendar feed is read too often; try again in a minute"
            )
        # Sessions and tombstones from one snapshot: a rebooking committed between two
        # reads would otherwise drop the session from both.
        async with self._db.snapshot() as uow:
            sessions = await uow.feeds.sessions(user_id, since, MAX_ENTRIES)
            tombstones = await uow.feeds.tombstones(user_id, since, MAX_ENTRIES)
        content = FeedContent.of(sessions, tombstones, self._refresh)
        etag = content.etag(self._rendering)
        if if_none_match is not None and calendar_feed.matches(if_none_match, etag):
            return FeedBody(etag, None)
        return FeedBody(etag, self._render(content))
