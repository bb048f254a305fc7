"""The outbox: messages recorded with the change, claimed under a lease, finished
(adapters/outbox_sql.py's twin)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from scheduling_service.domain.changes import Change
from scheduling_service.domain.invites import Invite, Method, holders_after
from scheduling_service.domain.outbox import (
    Claimed,
    FailedMessage,
    Finished,
    OutboxStats,
    State,
)
from scheduling_service.domain.reminders import Due, ReminderPlan
from scheduling_service.domain.room import Room
from scheduling_service.domain.users import People

if TYPE_CHECKING:
    from tests.scheduling_service.service_layer.fakes.database import FakeUnitOfWork
from tests.scheduling_service.service_layer.fakes.store import Message


class FakeOutbox:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow
        self._store = uow.store

    def record(
        self,
        change: Change,
        before: Room | None,
        after: Room,
        invites: list[Invite],
        reminders: ReminderPlan,
        people: People,
        *,
        now: datetime,
        cancel_reason: str = "",
    ) -> None:
        if invites:
            self._invite(after, invites, people, change)
        self._remind(after, reminders, people)

    def _invite(self, after: Room, invites: list[Invite], people: People, change: Change) -> None:
        store = self._store

        def write() -> None:
            store.holders[after.room_id] = holders_after(people.holders, invites)
            for invite in invites:
                contact = people.contacts.get(invite.recipient_id)
                if contact is None or not contact.email:
                    continue  # skipped: no address known
                for older in store.outbox:
                    if (
                        older.reminder is None
                        and older.ics_uid == after.ics_uid
                        and older.recipient.user_id == invite.recipient_id
                        and older.state is State.PENDING
                        and older.lease is None
                    ):
                        older.state = State.SUPERSEDED
                store.outbox.append(
                    Message(
                        len(store.outbox) + 1,
                        after.room_id,
                        after.ics_uid,
                        after.sequence,
                        change,
                        invite,
                        contact,
                    )
                )

        self._uow.queue(write)

    def _remind(self, room: Room, plan: ReminderPlan, people: People) -> None:
        if not plan.changes_anything:
            return
        store = self._store

        def write() -> None:
            if plan.remove_pending:
                store.outbox = [
                    m
                    for m in store.outbox
                    if not (
                        m.reminder is not None
                        and m.room_id == room.room_id
                        and m.state is State.PENDING
                        and m.lease is None
                    )
                ]
            for reminder in plan.add:
                contact = people.contacts.get(reminder.recipient_id)
                if contact is None or not contact.email:
                    continue
                store.outbox.append(
                    Message(
                        len(store.outbox) + 1000,
                        room.room_id,
                        room.ics_uid,
                        room.sequence,
                        Change.BOOKED,
                        Invite(reminder.recipient_id, Method.REQUEST),
                        contact,
                        reminder=reminder,
                    )
                )

        self._uow.queue(write)

    async def claim(self, token: uuid.UUID, limit: int, lease_s: float) -> list[Claimed]:
        claimed = []
        now = self._store.clock()
        for message in self._store.outbox:
            if len(claimed) == limit:
                break
            due = message.reminder is None or message.reminder.due <= now
            if message.state is State.PENDING and message.lease is None and due:
                message.lease = token
                message.attempts += 1
                claimed.append(self._claimed(message))
        if claimed and self._store.after_claim is not None:
            hook, self._store.after_claim = self._store.after_claim, None
            await hook()
        return claimed

    def _claimed(self, message: Message) -> Claimed:
        reminder = None
        if message.reminder is not None:
            reminder = self._due(
                message.recipient.user_id, message.reminder.starts, message.room_id
            )
        return Claimed(
            message.id,
            message.room_id,
            message.ics_uid,
            message.sequence,
            "REMINDER" if reminder else message.invite.method.value,
            message.recipient.user_id,
            message.attempts,
            b"",
            reminder,
        )

    def _due(self, recipient_id: str, starts: datetime, room_id: uuid.UUID) -> Due:
        """A reminder with its room as it stands now."""
        room = self._store.rooms.get(room_id)
        return Due(
            recipient_id,
            starts,
            room.starts if room else None,
            room.participants if room else (),
        )

    @asynccontextmanager
    async def hold_room(self, claimed: Claimed, hold_s: float) -> AsyncIterator[Due]:
        assert claimed.reminder is not None, "only a reminder's room is held"
        self._store.held[claimed.room_id] += 1
        try:
            yield self._due(claimed.recipient_id, claimed.reminder.starts, claimed.room_id)
        finally:
            self._store.held[claimed.room_id] -= 1

    async def finish(self, results: list[Finished]) -> dict[int, State]:
        recorded = {}
        for result in results:
            message = next(m for m in self._store.outbox if m.id == result.claimed.id)
            if message.lease != result.token:
                continue
            message.lease, message.state, message.last_error = None, result.state, result.error
            message.outcome = result.outcome
            recorded[message.id] = result.state
        return recorded

    async def failed(self, limit: int) -> list[FailedMessage]:
        return [
            FailedMessage(
                m.id,
                m.room_id,
                m.ics_uid,
                m.sequence,
                m.invite.method.value,
                m.recipient.user_id,
                m.attempts,
                m.last_error,
                datetime.min,
            )
            for m in self._store.outbox
            if m.state is State.FAILED
        ][:limit]

    async def retry_failed(self, ids: list[int] | None) -> list[int]:
        again = [m for m in self._store.outbox if m.state is State.FAILED]
        again = [m for m in again if ids is None or m.id in ids]
        for message in again:
            message.state, message.attempts = State.PENDING, 0
        return [m.id for m in again]

    async def purge(self, before: datetime) -> int:
        return 0

    async def stats(self) -> OutboxStats:
        pending = sum(m.state is State.PENDING for m in self._store.outbox)
        failed = sum(m.state is State.FAILED for m in self._store.outbox)
        return OutboxStats(pending, failed, 0.0)
