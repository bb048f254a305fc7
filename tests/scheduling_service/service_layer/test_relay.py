"""The outbox relay's decisions against fakes: deliver, retry, give up, record."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scheduling_service.config import Settings
from scheduling_service.domain import errors
from scheduling_service.domain.outbox import Attempt, Claimed, Outcome, State
from scheduling_service.service_layer.relay import Relay, backoff_s
from scheduling_service.service_layer.rooms import CreateRoom, RoomService
from tests.scheduling_service.service_layer.fakes import (
    FakeClock,
    FakeDatabase,
    FakeNotices,
    FakeSender,
    person,
)
from tests.scheduling_service.service_layer.fakes.outbox import FakeOutbox

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
SETTINGS = Settings(relay_poll_s=0.01, relay_max_attempts=3, outbox_purge_every_s=3600)


async def _booked(db: FakeDatabase) -> None:
    rooms = RoomService(db, uid_domain="example.test", clock=FakeClock(NOW))
    room = await rooms.create_room(
        person("host"),
        CreateRoom("Mock", "", NOW + timedelta(days=1), timedelta(hours=1), "Arrays", None),
    )
    await rooms.book_room(person("guest"), room.room.room_id)


async def _until(predicate: Callable[[], bool], within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def _relay_until(db: FakeDatabase, sender: FakeSender, done: Callable[[], bool]) -> None:
    relay = Relay(db, FakeNotices(), sender, SETTINGS, clock=db.store.clock)
    task = asyncio.create_task(relay.run())
    try:
        await _until(done)
    finally:
        await relay.stop(1.0)
        await task


def _states(db: FakeDatabase) -> list[tuple[State, int]]:
    return [(m.state, m.attempts) for m in db.store.outbox]


async def test_delivered_messages_are_recorded_once() -> None:
    db = FakeDatabase()
    await _booked(db)
    sender = FakeSender(Outcome.DELIVERED)
    await _relay_until(db, sender, lambda: all(m.state is State.DELIVERED for m in db.store.outbox))
    assert _states(db) == [(State.DELIVERED, 1), (State.DELIVERED, 1)]
    assert sorted(c.recipient_id for c in sender.sent) == ["guest", "host"]


async def test_temporary_failures_are_retried_and_dry_runs_count_as_done() -> None:
    db = FakeDatabase()
    await _booked(db)
    sender = FakeSender(Outcome.TEMPORARY_FAILURE, Outcome.TEMPORARY_FAILURE, Outcome.DRY_RUN)
    await _relay_until(db, sender, lambda: all(m.state is State.DELIVERED for m in db.store.outbox))
    assert sum(m.attempts for m in db.store.outbox) == 4  # two retries, then both done


async def test_permanent_failures_and_too_many_attempts_are_given_up_on() -> None:
    db = FakeDatabase()
    await _booked(db)
    await _relay_until(
        db,
        FakeSender(Outcome.PERMANENT_FAILURE, Outcome.TEMPORARY_FAILURE),
        lambda: all(m.state is State.FAILED for m in db.store.outbox),
    )
    # One refused for good at once; the other after RELAY_MAX_ATTEMPTS temporary ones.
    assert sorted(m.attempts for m in db.store.outbox) == [1, 3]


def test_backoff_grows_and_stays_within_bounds() -> None:
    for attempts in range(1, 12):
        delay = backoff_s(attempts, 1.0, 300.0)
        assert 0.5 <= delay <= min(300.0, 2 ** (attempts - 1))


async def _booked_with_reminders(db: FakeDatabase, clock: FakeClock) -> str:
    rooms = RoomService(
        db, uid_domain="example.test", reminder_offsets=(timedelta(hours=1),), clock=clock
    )
    seen = await rooms.create_room(
        person("host"),
        CreateRoom("Mock", "", NOW + timedelta(hours=3), timedelta(hours=1), "Arrays", None),
    )
    await rooms.book_room(person("guest"), seen.room.room_id)
    return str(seen.room.room_id)


def _reminders(db: FakeDatabase) -> list[tuple[str, State]]:
    return sorted((m.recipient.user_id, m.state) for m in db.store.outbox if m.reminder)


async def test_reminders_go_out_when_due_not_before() -> None:
    clock = FakeClock(NOW)
    db = FakeDatabase()
    db.store.clock = clock
    await _booked_with_reminders(db, clock)
    sender = FakeSender(Outcome.DELIVERED)
    await _relay_until(db, sender, lambda: len(sender.sent) == 2)  # the two invites
    assert _reminders(db) == [("guest", State.PENDING), ("host", State.PENDING)]
    clock.now = NOW + timedelta(hours=2)  # one hour before the start
    await _relay_until(db, sender, lambda: len(sender.sent) == 4)
    assert _reminders(db) == [("guest", State.DELIVERED), ("host", State.DELIVERED)]


async def test_a_reminder_that_no_longer_fits_is_dropped_not_sent() -> None:
    clock = FakeClock(NOW)
    db = FakeDatabase()
    db.store.clock = clock
    await _booked_with_reminders(db, clock)
    sender = FakeSender(Outcome.DELIVERED)
    await _relay_until(db, sender, lambda: len(sender.sent) == 2)
    clock.now = NOW + timedelta(hours=5)  # the notification service was down past the start
    await _relay_until(
        db, sender, lambda: all(state is State.DROPPED for _, state in _reminders(db))
    )
    assert len(sender.sent) == 2
    assert {m.last_error for m in db.store.outbox if m.reminder} == {"too_late"}


async def test_a_cancel_committed_between_the_claim_and_the_hand_off_wins() -> None:
    """The claim saw the room; the cancel commits before the relay hands the reminder
    to the notification service: the reminder is checked again there, and dropped."""
    clock = FakeClock(NOW)
    db = FakeDatabase()
    db.store.clock = clock
    room_id = await _booked_with_reminders(db, clock)
    sender = FakeSender(Outcome.DELIVERED)
    await _relay_until(db, sender, lambda: len(sender.sent) == 2)  # the two invites
    rooms = RoomService(db, uid_domain="example.test", clock=clock)

    async def cancel() -> None:
        await rooms.cancel_room(person("host"), uuid.UUID(room_id), reason="", etag="")

    db.store.after_claim = cancel
    clock.now = NOW + timedelta(hours=2)  # the reminders come due
    await _relay_until(
        db, sender, lambda: all(state is not State.PENDING for _, state in _reminders(db))
    )
    assert [c.recipient_id for c in sender.sent if c.reminder] == []
    assert _reminders(db) == [("guest", State.DROPPED), ("host", State.DROPPED)]
    assert {m.last_error for m in db.store.outbox if m.reminder} == {"room_gone"}


async def test_a_reminder_is_handed_off_while_its_room_is_held() -> None:
    """The send happens inside the hold on the room (a change to it waits), and the hold
    ends with it."""
    clock = FakeClock(NOW)
    db = FakeDatabase()
    db.store.clock = clock
    room_id = uuid.UUID(await _booked_with_reminders(db, clock))
    held_at_send: list[int] = []

    class Watching(FakeSender):
        async def deliver(self, message: Claimed) -> Attempt:
            if message.reminder is not None:
                held_at_send.append(db.store.held[message.room_id])
            return await super().deliver(message)

    sender = Watching(Outcome.DELIVERED)
    await _relay_until(db, sender, lambda: len(sender.sent) == 2)
    clock.now = NOW + timedelta(hours=2)
    await _relay_until(db, sender, lambda: len(sender.sent) == 4)
    assert len(held_at_send) == 2 and all(n >= 1 for n in held_at_send)
    assert db.store.held[room_id] == 0
    assert _reminders(db) == [("guest", State.DELIVERED), ("host", State.DELIVERED)]


async def test_a_reminder_whose_room_cannot_be_checked_is_not_sent_but_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock(NOW)
    db = FakeDatabase()
    db.store.clock = clock
    await _booked_with_reminders(db, clock)
    sender = FakeSender(Outcome.DELIVERED)
    await _relay_until(db, sender, lambda: len(sender.sent) == 2)
    holds = 0
    hold_room = FakeOutbox.hold_room

    def flaky(self: FakeOutbox, claimed: Claimed, hold_s: float) -> Any:
        nonlocal holds
        holds += 1
        if holds <= 2:
            raise errors.Unavailable("the database is unreachable")
        return hold_room(self, claimed, hold_s)

    monkeypatch.setattr(FakeOutbox, "hold_room", flaky)
    clock.now = NOW + timedelta(hours=2)
    await _relay_until(
        db, sender, lambda: all(state is State.DELIVERED for _, state in _reminders(db))
    )
    assert len(sender.sent) == 4  # each reminder once, after its room could be checked
    assert sorted(m.attempts for m in db.store.outbox if m.reminder) == [2, 2]
