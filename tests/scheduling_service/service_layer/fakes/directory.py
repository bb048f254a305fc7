"""The user directory (adapters/directory_sql.py's twin)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scheduling_service.domain.users import Contact, User

if TYPE_CHECKING:
    from tests.scheduling_service.service_layer.fakes.database import FakeUnitOfWork


class FakeDirectory:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._store = uow.store

    async def register(self, user: User) -> int:
        known = self._store.users.get(user.user_id)
        number = known[0] if known else len(self._store.users) + 1
        old = known[1] if known else Contact(user.user_id, None, None, None)
        self._store.users[user.user_id] = (
            number,
            Contact(
                user.user_id,
                user.email or old.email,
                user.name or old.name,
                user.zoneinfo or old.zoneinfo,
            ),
        )
        return number
