"""The waitlist use cases (docs/design.md §16): join and leave a room's line, and pass
on the holds that ran out.

Each is one unit of work, like a room's change: the room is read with its line and the
contacts of everyone in it, the domain decides (waitlist_changes.py), and the writes go
with the COMMIT, guarded by the room's version: the room's row lock and its revision,
which every change of the room stamps. So a lapse, a join, a booking and a leave of one
room happen one at a time, each on the line and hold it decided on.

The hold keeper (one per replica) finds the holds whose end has come and passes each on
in such a transaction: whichever replica commits first does it, the others find it done.
A replica killed meanwhile rolls back, and the hold is still due for the next look, its
own after a restart or another replica's: the next offer is neither lost nor written
twice (the outbox then sends it once, like any message).
"""

from __future__ import annotations

import asyncio
import functools
import random
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from scheduling_service import metrics
from scheduling_service.domain import change_log, errors, waitlist_changes
from scheduling_service.domain.changes import Change
from scheduling_service.domain.room import Room
from scheduling_service.domain.users import User
from scheduling_service.domain.visibility import RoomView, view_for
from scheduling_service.domain.waitlist import DEFAULT_HOLD, DEFAULT_MAX
from scheduling_service.domain.waitlist_changes import DueHold
from scheduling_service.service_layer.ports import Clock, Database, UnitOfWork, utc_now
from servicekit.logs import get_logger

log = get_logger(__name__)

# How often a change is decided again after another change of the room got there first.
# A line is one per room, so joins arriving together queue on its row: each round one
# of them commits. Enough rounds for a line filled at once from empty (WAITLIST_MAX's
# default) and as many leaving, with a jittered pause between rounds.
_RACES = 50
_PAUSE_S = 0.002
# Holds passed on per look; more wait for the next one, at once.
_BATCH = 50
# The keeper never sleeps less than this (a clock a little behind the database's).
_MIN_SLEEP_S = 0.05
_FAILURE_PAUSE_S = 1.0


class WaitlistService:
    def __init__(
        self,
        database: Database,
        *,
        hold: timedelta = DEFAULT_HOLD,
        max_waiting: int = DEFAULT_MAX,
        clock: Clock = utc_now,
    ) -> None:
        self._db = database
        self._hold = hold
        self._max = max_waiting
        self._clock = clock
        # Whether the last pass_on_due left a due hold behind (the keeper then pauses).
        self.failed_last_round = False

    async def join(
        self, caller: User, room_id: uuid.UUID, time_left_s: float | None = None
    ) -> RoomView:
        now = self._clock()

        def decide(before: Room) -> Room:
            return waitlist_changes.joined_by(before, caller.user_id, now, max_waiting=self._max)

        room, _ = await self._run(caller, room_id, decide, now, time_left_s)
        return view_for(room, caller)

    async def leave(
        self, caller: User, room_id: uuid.UUID, time_left_s: float | None = None
    ) -> RoomView:
        now = self._clock()

        def decide(before: Room) -> Room:
            return waitlist_changes.left_by(before, caller.user_id, now, hold=self._hold)

        room, _ = await self._run(caller, room_id, decide, now, time_left_s)
        return view_for(room, caller)

    async def pass_on_due(self) -> int:
        """Pass on every hold whose end has come; how many were passed on here."""
        moved = 0
        self.failed_last_round = False
        while True:
            now = self._clock()

            due = await self._db.run(functools.partial(_due, now=now))
            this_round = 0
            for hold in due:
                # One hold that cannot be passed on now (its room too busy, a timeout)
                # must not keep the others behind it: the next look tries it again.
                try:
                    this_round += await self._pass_on(hold)
                except Exception as error:
                    self.failed_last_round = True
                    log.warning("hold not passed on", room_id=str(hold.room_id), error=str(error))
            moved += this_round
            # A full batch may have more behind it; one that moved nothing would only
            # be read again (passed on elsewhere meanwhile): the next look will see.
            if len(due) < _BATCH or not this_round:
                return moved

    async def next_due(self) -> datetime | None:
        async def work(uow: UnitOfWork) -> datetime | None:
            return await uow.waitlist.next_due()

        return await self._db.run(work)

    async def _pass_on(self, hold: DueHold) -> int:
        now = self._clock()

        def decide(before: Room) -> Room:
            return waitlist_changes.lapsed(before, hold.holder, hold.until, now, hold=self._hold)

        try:
            after, changed = await self._run(None, hold.room_id, decide, now, None)
        except errors.RoomNotFound:
            return 0  # cancelled meanwhile: the line went with it
        if not changed:
            return 0  # passed on by another replica already, or not due by our clock
        metrics.WAITLIST_CHANGES.labels("lapsed").inc()
        log.info(
            "hold lapsed",
            room_id=str(hold.room_id),
            holder=hold.holder,
            hold_until=hold.until.isoformat(),
            next_holder=after.waitlist.holder,
            next_hold_until=after.waitlist.hold_until.isoformat()
            if after.waitlist.hold_until
            else None,
        )
        return 1

    async def _run(
        self,
        caller: User | None,
        room_id: uuid.UUID,
        decide: Callable[[Room], Room],
        now: datetime,
        time_left_s: float | None,
    ) -> tuple[Room, bool]:
        async def work(uow: UnitOfWork) -> tuple[Room, bool]:
            if caller is not None:
                await uow.directory.register(caller)
            return await _change(
                uow, room_id, "" if caller is None else caller.user_id, decide, now
            )

        return await self._db.run(work, time_left_s=time_left_s)


async def _due(uow: UnitOfWork, *, now: datetime) -> list[DueHold]:
    return await uow.waitlist.due(now, _BATCH)


async def _change(
    uow: UnitOfWork,
    room_id: uuid.UUID,
    caller_id: str,
    decide: Callable[[Room], Room],
    now: datetime,
) -> tuple[Room, bool]:
    """Read the room with its line, let `decide` apply the rule, write the outcome under
    the room's guard: the waitlist's rows and e-mails, then the change-log event that
    tells watchers (the length and the hold's end, never who). The room as it stands
    after, and whether this wrote it (not when there was nothing to change)."""
    for attempt in range(_RACES):
        if attempt:
            await asyncio.sleep(random.uniform(0, _PAUSE_S * min(attempt, 10)))
        found = await uow.rooms.get_for_change(room_id, caller_id)
        if found is None:
            raise errors.RoomNotFound(f"no room {room_id}")
        before, people = found
        after = decide(before)
        if after is before:
            return before, False
        uow.waitlist.lock(before)
        uow.waitlist.record(
            waitlist_changes.writes_for(Change.WAITLIST, before, after, people, now)
        )
        uow.changes.record(change_log.entry_for(Change.WAITLIST, before, after, now))
        result = await uow.commit()
        if result.applied:
            return replace(after, revision=result.revision), True
        # Another change of the room got there first: decide again on what it left.
    raise errors.Unavailable("the room kept changing while this change was decided; retry")


class HoldKeeper:
    """Each replica's loop that passes on the holds whose end has come: it looks when
    the next hold ends, and at least every `poll_s` (a hold begun elsewhere meanwhile)."""

    def __init__(self, service: WaitlistService, poll_s: float, clock: Clock = utc_now) -> None:
        self._service = service
        self._poll_s = poll_s
        self._clock = clock
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        while not self._stopping.is_set():
            wait_s = self._poll_s
            try:
                await self._service.pass_on_due()
                due = await self._service.next_due()
                if due is not None:
                    wait_s = min(wait_s, (due - self._clock()).total_seconds())
                if self._service.failed_last_round:
                    # A hold that failed is still due: not again at once, in a loop.
                    wait_s = max(wait_s, min(self._poll_s, _FAILURE_PAUSE_S))
            except Exception as error:  # the database away: the next look tries again
                log.warning("hold keeper failed", error=str(error))
            try:
                async with asyncio.timeout(max(_MIN_SLEEP_S, wait_s)):
                    await self._stopping.wait()
            except TimeoutError:
                pass

    def stop(self) -> None:
        self._stopping.set()
