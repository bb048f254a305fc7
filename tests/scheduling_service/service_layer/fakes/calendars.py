"""Calendar connections and copies (adapters/calendar_sql.py's twin): enough for the use
cases' rules (who gets a copy made due, what a connect replaces). The relay's claim and
results are tested against PostgreSQL and real CalDAV servers (tests/system/)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from scheduling_service.domain.calendar import (
    ClaimedCopy,
    Connection,
    ConnectionState,
    CopyResult,
    CopyState,
    VerifiedCalendar,
)
from scheduling_service.domain.outbox import FailedCopy

if TYPE_CHECKING:
    from tests.scheduling_service.service_layer.fakes.database import FakeUnitOfWork


class FakeCalendars:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow
        self._store = uow.store

    def mark(self, room_id: uuid.UUID, ics_uid: str, users: tuple[str, ...]) -> None:
        def write() -> None:
            for user in users:
                if user in self._store.connections:
                    version = self._store.copies.get((room_id, user), (CopyState.PENDING, 0))[1]
                    self._store.copies[(room_id, user)] = (CopyState.PENDING, version + 1)

        self._uow.queue(write)

    def connect(self, user_id: str, verified: VerifiedCalendar, email_invites: bool) -> None:
        def write() -> None:
            old = self._store.connections.get(user_id)
            if old is not None and old.calendar_url != verified.calendar_url:
                for key in [k for k in self._store.copies if k[1] == user_id]:
                    del self._store.copies[key]
            self._store.connections[user_id] = Connection(
                user_id,
                verified.calendar_url,
                verified.provider,
                ConnectionState.ACTIVE,
                "",
                email_invites,
                self._store.clock(),
                None,
            )
            for room in self._store.rooms.values():
                if user_id in room.participants and room.ends > self._store.clock():
                    version = self._store.copies.get((room.room_id, user_id), (None, 0))[1]
                    self._store.copies[(room.room_id, user_id)] = (CopyState.PENDING, version + 1)

        self._uow.guard(lambda: None, lambda: None)
        self._uow.queue(write)

    def disconnect(self, user_id: str, *, remove_events: bool) -> None:
        def write() -> None:
            connection = self._store.connections.pop(user_id)
            keys = [k for k in self._store.copies if k[1] == user_id]
            if remove_events and keys:
                removing = replace(connection, state=ConnectionState.REMOVING)
                self._store.connections[user_id] = removing
                for key in keys:
                    self._store.copies[key] = (CopyState.PENDING, self._store.copies[key][1] + 1)
            else:
                for key in keys:
                    del self._store.copies[key]

        self._uow.guard(lambda: None, lambda: None)
        self._uow.queue(write)

    async def get(self, user_id: str) -> Connection | None:
        connection = self._store.connections.get(user_id)
        if connection is None or connection.state is ConnectionState.REMOVING:
            return None
        return connection

    async def claim(self, token: uuid.UUID, limit: int, lease_s: float) -> list[ClaimedCopy]:
        return []

    async def finish(self, results: list[CopyResult]) -> dict[tuple[uuid.UUID, str], CopyState]:
        return {}

    async def break_connection(
        self, result: CopyResult, notice: bytes | None, not_sent_reason: str | None
    ) -> bool:
        return False

    async def failed(self, limit: int) -> list[FailedCopy]:
        return []

    async def retry_failed(
        self, keys: list[tuple[uuid.UUID, str]] | None
    ) -> list[tuple[uuid.UUID, str]]:
        return []

    async def purge(self, before: datetime) -> int:
        return 0

    async def stats(self) -> tuple[int, int, int]:
        return 0, 0, 0
