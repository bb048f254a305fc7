"""The outbox: messages recorded with the change, claimed under a lease, finished
(adapters/outbox_sql.py's twin).

What a change records is the domain's OutboxWrites, applied as the SQL adapter applies
it. Claiming and finishing keep what the relay's tests depend on (a lease, due times),
not all the SQL does: here an older pending invite does not hold a newer one back at
the claim, and an invite to retry is not superseded by a newer one when its result is
recorded. Those two are the SQL statements' own (_CLAIM, _FINISH), seen end to end
(tests/system/test_invites_end_to_end.py: invites arrive in SEQUENCE order).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from scheduling_service.domain.invites import Invite, Method
from scheduling_service.domain.outbox import (
    Claimed,
    DueReminder,
    FailedMessage,
    Finished,
    OutboxStats,
    State,
)
from scheduling_service.domain.outbox_writes import OutboxWrites
from scheduling_service.domain.users import Contact

if TYPE_CHECKING:
    from tests.scheduling_service.service_layer.fakes.database import FakeUnitOfWork
from tests.scheduling_service.service_layer.fakes.store import Message


class FakeOutbox:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow
        self._store = uow.store

    def record(self, writes: OutboxWrites) -> None:
        """Apply what the domain decided, as the SQL adapter's one statement does."""
        if writes.nothing:
            return
        store, room = self._store, writes.after

        def write() -> None:
            holders = store.holders.get(room.room_id, frozenset())
            holders = (holders - set(writes.holders_removed)) | set(writes.holders_added)
            if holders:
                store.holders[room.room_id] = holders
            else:
                store.holders.pop(room.room_id, None)
            # Like the statement's one snapshot: what it adds is not what it replaces.
            for older in store.outbox:
                if (
                    older.reminder is None
                    and older.ics_uid == room.ics_uid
                    and older.recipient.user_id in writes.superseding
                    and older.state is State.PENDING
                    and older.lease is None
                ):
                    older.state = State.SUPERSEDED
            if writes.remove_pending_reminders:
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
            for invite in writes.invites:
                store.outbox.append(
                    Message(
                        next(store.outbox_ids),
                        room.room_id,
                        room.ics_uid,
                        room.sequence,
                        writes.change,
                        invite.invite,
                        invite.recipient or Contact(invite.invite.recipient_id, None, None, None),
                        state=invite.state,
                    )
                )
            for reminder in writes.reminders:
                store.outbox.append(
                    Message(
                        next(store.outbox_ids),
                        room.room_id,
                        room.ics_uid,
                        room.sequence,
                        writes.change,
                        Invite(reminder.reminder.recipient_id, Method.REQUEST),
                        reminder.recipient,
                        reminder=reminder.reminder,
                    )
                )

        self._uow.queue(write)

    async def claim(self, token: uuid.UUID, limit: int, lease_s: float) -> list[Claimed]:
        claimed: list[Claimed] = []
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
        if message.notice is not None:
            method, kind = "WAITLIST", "waitlist"
        else:
            method, kind = "REMINDER" if reminder else message.invite.method.value, "invite"
        return Claimed(
            message.id,
            message.room_id,
            message.ics_uid,
            message.sequence,
            method,
            message.recipient.user_id,
            message.attempts,
            b"",
            reminder,
            kind,
        )

    def _due(self, recipient_id: str, starts: datetime, room_id: uuid.UUID) -> DueReminder:
        """A reminder with its room as it stands now."""
        room = self._store.rooms.get(room_id)
        return DueReminder(
            recipient_id,
            starts,
            room.starts if room else None,
            room.participants if room else (),
        )

    @asynccontextmanager
    async def hold_room(self, claimed: Claimed, hold_s: float) -> AsyncIterator[DueReminder]:
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
