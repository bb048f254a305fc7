"""The user directory: ids to integer keys and contact details, kept current from tokens.

Writes only when a claim changed (ON CONFLICT … WHERE … IS DISTINCT FROM), and a
per-process cache answers repeat callers without a round trip, so reads stay reads.
A token without a claim keeps what is known (an address is never erased by omission).
"""

from __future__ import annotations

from collections import OrderedDict

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from scheduling_service.domain.users import User

_UPSERT = text(
    """
    INSERT INTO users (user_id, email, name, zoneinfo)
    VALUES (:user_id, :email, :name, :zoneinfo)
    ON CONFLICT (user_id) DO UPDATE
       SET email = coalesce(EXCLUDED.email, users.email),
           name = coalesce(EXCLUDED.name, users.name),
           zoneinfo = coalesce(EXCLUDED.zoneinfo, users.zoneinfo),
           update_time = now()
     WHERE (users.email, users.name, users.zoneinfo) IS DISTINCT FROM (
           coalesce(EXCLUDED.email, users.email),
           coalesce(EXCLUDED.name, users.name),
           coalesce(EXCLUDED.zoneinfo, users.zoneinfo))
    RETURNING user_no
    """
)
_FIND = text("SELECT user_no FROM users WHERE user_id = :user_id")


class Directory:
    def __init__(self, engine: AsyncEngine, cache_size: int = 10_000) -> None:
        self._engine = engine
        self._cache: OrderedDict[str, tuple[tuple[str | None, ...], int]] = OrderedDict()
        self._cache_size = cache_size

    async def user_no(self, user: User) -> int:
        """The user's integer key, after recording any change in their claims.

        Runs in its own short transaction so the cache only ever holds committed rows.
        """
        cached = self._cache.get(user.user_id)
        if cached is not None and cached[0] == user.profile:
            self._cache.move_to_end(user.user_id)
            return cached[1]
        params = {
            "user_id": user.user_id,
            "email": user.email,
            "name": user.name,
            "zoneinfo": user.zoneinfo,
        }
        number: int | None = None
        for attempt in (1, 2):
            try:
                async with self._engine.begin() as conn:
                    number = (await conn.execute(_UPSERT, params)).scalar()
                    if number is None:
                        number = (await conn.execute(_FIND, params)).scalar_one()
                break
            except DBAPIError as error:
                # A pooled connection the database dropped: once more on a fresh one
                # (the upsert is idempotent, so a lost COMMIT reply is harmless too).
                if not error.connection_invalidated or attempt == 2:
                    raise
        assert number is not None
        self._cache[user.user_id] = (user.profile, int(number))
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return int(number)
