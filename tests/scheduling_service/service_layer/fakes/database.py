"""The unit of work and the database that hands them out (adapters/database.py's twin)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from scheduling_service.domain.commit_result import CommitResult
from scheduling_service.domain.room import Room
from tests.scheduling_service.service_layer.fakes.busy import FakeBusy
from tests.scheduling_service.service_layer.fakes.calendars import FakeCalendars
from tests.scheduling_service.service_layer.fakes.change_log import FakeChangeLog
from tests.scheduling_service.service_layer.fakes.directory import FakeDirectory
from tests.scheduling_service.service_layer.fakes.feeds import FakeCalendarFeeds
from tests.scheduling_service.service_layer.fakes.outbox import FakeOutbox
from tests.scheduling_service.service_layer.fakes.rooms import FakeRooms
from tests.scheduling_service.service_layer.fakes.store import (
    GuardFailed,
    Store,
    restore,
    snapshot,
)
from tests.scheduling_service.service_layer.fakes.waitlist import FakeWaitlist

T = TypeVar("T")


class FakeUnitOfWork:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._guard: Callable[[], None] | None = None
        self._current: Callable[[], Room | None] = lambda: None
        self._writes: list[Callable[[], None]] = []
        self.rooms = FakeRooms(self)
        self.outbox = FakeOutbox(self)
        self.directory = FakeDirectory(self)
        self.changes = FakeChangeLog(self)
        self.calendars = FakeCalendars(self)
        self.feeds = FakeCalendarFeeds(self)
        self.busy = FakeBusy(self)
        self.waitlist = FakeWaitlist(self)
        self._revision = 0

    def guard(self, check: Callable[[], None], current: Callable[[], Room | None]) -> None:
        assert self._guard is None and not self._writes, "the guard goes first, once"
        self._guard, self._current = check, current

    def queue(self, write: Callable[[], None]) -> None:
        assert self._guard is not None, "a queued write follows a guard"
        self._writes.append(write)

    async def commit(self) -> CommitResult:
        if self.store.before_commit is not None:
            hook, self.store.before_commit = self.store.before_commit, None
            hook()
        guard, writes = self._guard, self._writes
        self._guard, self._writes = None, []
        assert guard is not None, "nothing to commit"
        saved = snapshot(self.store)
        try:
            guard()
        except GuardFailed:
            return CommitResult(applied=False, current=self._current())
        try:
            for write in writes:
                write()
        except Exception:
            restore(self.store, saved)  # all or nothing, like a transaction
            raise
        return CommitResult(applied=True, revision=self._revision)

    async def ping(self) -> None:
        return None


class FakeDatabase:
    def __init__(self, store: Store | None = None) -> None:
        self.store = store or Store()

    async def run(
        self,
        work: Callable[[FakeUnitOfWork], Awaitable[T]],
        *,
        time_left_s: float | None = None,
    ) -> T:
        return await work(FakeUnitOfWork(self.store))

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[FakeUnitOfWork]:
        yield FakeUnitOfWork(self.store)
