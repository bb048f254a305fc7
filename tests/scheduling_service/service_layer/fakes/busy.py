"""Busy time (adapters/calendar_busy_sql.py's twin): the intervals by user_no, enough
for the use cases' rules. Claims and reads are tested against PostgreSQL and real
CalDAV servers (tests/system/test_calendar_busy.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from scheduling_service.domain.busy import BusyRead, BusyResult

if TYPE_CHECKING:
    from tests.scheduling_service.service_layer.fakes.database import FakeUnitOfWork


class FakeBusy:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._store = uow.store

    async def claim(self, token: uuid.UUID, limit: int, lease_s: float) -> list[BusyRead]:
        return []

    async def finish(self, result: BusyResult) -> None:
        return None

    async def overlaps(self, user_no: int, starts: datetime, ends: datetime) -> bool:
        return any(s < ends and starts < e for s, e in self._store.busy.get(user_no, ()))
