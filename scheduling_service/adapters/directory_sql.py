"""The user directory: ids to integer keys and contact details, kept current from tokens.

Writes only when a claim changed (ON CONFLICT … WHERE … IS DISTINCT FROM), and a
per-process cache answers repeat callers without a round trip (or a connection), so
reads stay reads. A token without a claim keeps what is known (an address is never
erased by omission).
"""

from __future__ import annotations

from collections import OrderedDict

from scheduling_service.adapters.statements import Statements
from scheduling_service.domain.users import User

_UPSERT = """
    INSERT INTO users (user_id, email, name, zoneinfo)
    VALUES (%(user_id)s, %(email)s, %(name)s, %(zoneinfo)s)
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
_FIND = "SELECT user_no FROM users WHERE user_id = %(user_id)s"


class DirectoryCache:
    """Who was registered with which claims, and their key: the last `size` callers."""

    def __init__(self, size: int = 10_000) -> None:
        self._entries: OrderedDict[str, tuple[tuple[str | None, ...], int]] = OrderedDict()
        self._size = size

    def get(self, user: User) -> int | None:
        entry = self._entries.get(user.user_id)
        if entry is None or entry[0] != user.profile:
            return None
        self._entries.move_to_end(user.user_id)
        return entry[1]

    def put(self, user: User, number: int) -> None:
        self._entries[user.user_id] = (user.profile, number)
        self._entries.move_to_end(user.user_id)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)


class DirectorySql:
    def __init__(self, statements: Statements, cache: DirectoryCache) -> None:
        self._statements = statements
        self._cache = cache

    async def register(self, user: User) -> int:
        """The user's integer key, after recording any change in their claims.

        The upsert is its own transaction, so the cache only ever holds committed rows.
        """
        cached = self._cache.get(user)
        if cached is not None:
            return cached
        params = {
            "user_id": user.user_id,
            "email": user.email,
            "name": user.name,
            "zoneinfo": user.zoneinfo,
        }
        rows = await self._statements.execute(_UPSERT, params, idempotent=True)
        if not rows:  # nothing changed: the row as it is
            found = await self._statements.fetchone(_FIND, params)
            assert found is not None, "the upsert found the row it conflicted with"
            rows = [found]
        number = int(rows[0][0])
        self._cache.put(user, number)
        return number
