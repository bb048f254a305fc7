"""The outbox relay: every replica runs one; together they deliver each message once.

Claim due messages under a lease, call the notification service, record the result
while still holding the lease: delivered, retried later (exponential backoff with
full jitter), or failed for good (kept, logged, counted). A crash anywhere loses
nothing: an unfinished claim comes back when its lease ends, and a repeat renders
the same bytes (same Message-ID, UID, SEQUENCE), which calendars treat as one.

A reminder is checked against its room once more right before its call, and the room
is held until the call is over, so a cancel either commits first (and the reminder is
dropped) or waits until the mail was handed off (Relay._hand_off says why).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import uuid
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any

from scheduling_service import metrics
from scheduling_service.config import Settings
from scheduling_service.domain import reminders
from scheduling_service.domain.outbox import (
    Attempt,
    Claimed,
    Finished,
    OutboxStats,
    Outcome,
    State,
)
from scheduling_service.service_layer.claim_loop import ClaimLoop
from scheduling_service.service_layer.ports import (
    Clock,
    Database,
    Notices,
    NotificationSender,
    UnitOfWork,
    utc_now,
)
from servicekit.logs import get_logger

log = get_logger(__name__)

CHANNEL = "notification_outbox"
_STATS_EVERY_S = 5.0
# How long past its call's deadline a reminder's room may stay held: the database ends a
# session that holds it longer (a stuck process keeps no room locked).
_HOLD_MARGIN_S = 5.0


async def _finish(
    batch: list[tuple[Finished, asyncio.Future[State | None]]], uow: UnitOfWork
) -> dict[int, State]:
    return await uow.outbox.finish([finished for finished, _ in batch])


# The log line of an attempt that is not a reminder's, by the message's kind (a
# calendar notice: as ever, an "invite attempt").
_ATTEMPT_LINES = {"waitlist": "waitlist notice attempt"}


def backoff_s(attempts: int, minimum: float, maximum: float) -> float:
    """Full jitter: uniform in [0, min(max, min * 2^(n-1))], never below `minimum`/2."""
    ceiling = min(maximum, minimum * 2 ** max(0, attempts - 1))
    return max(minimum / 2, random.uniform(0, ceiling))


class Relay(ClaimLoop[Claimed]):
    """The outbox's claim loop (claim_loop.py): invites, reminders and notices."""

    channel = CHANNEL
    noun = "outbox"

    def __init__(
        self,
        database: Database,
        notices: Notices,
        sender: NotificationSender,
        settings: Settings,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(database, notices, settings)
        self._clock = clock
        self._sender = sender
        # Results waiting to be recorded, and the task recording a batch of them.
        self._unrecorded: list[tuple[Finished, asyncio.Future[State | None]]] = []
        self._recorder: asyncio.Task[None] | None = None

    def _background(self) -> list[Coroutine[Any, Any, None]]:
        return [self._report_stats(), self._purge_forever()]

    async def _take(self, uow: UnitOfWork, token: uuid.UUID, limit: int) -> list[Claimed]:
        return await uow.outbox.claim(token, limit, self._settings.relay_lease_s)

    async def _handle(self, item: Claimed, token: uuid.UUID) -> None:
        await self._deliver(item, token)

    async def _deliver(self, item: Claimed, token: uuid.UUID) -> None:
        if item.reminder is None:
            attempt = await self._sender.deliver(item)
        else:
            # What no longer fitted the room as the claim read it goes without holding it.
            dropped = reminders.why_not_send(item.reminder, self._clock())
            sent = dropped if dropped is not None else await self._hand_off(item)
            if isinstance(sent, reminders.Dropped):
                await self._drop(item, token, sent)
                return
            attempt = sent
        state, next_at = self._decide(item, attempt)
        recorded = await self._record(
            item,
            token,
            state,
            attempt.outcome,
            attempt.detail or None,
            attempt.message_id or None,
            next_at,
        )
        self._count(item, state, attempt)
        log.log(
            logging.WARNING if state is State.FAILED else logging.INFO,
            "reminder attempt"
            if item.reminder
            else _ATTEMPT_LINES.get(item.kind, "invite attempt"),
            room_id=str(item.room_id),
            outbox_id=item.id,
            ics_uid=item.ics_uid,
            sequence=item.sequence,
            method=item.method,
            recipient_id=item.recipient_id,
            attempt=item.attempts,
            outcome=attempt.outcome.value,
            state=recorded.value if recorded else "lease lost",
            message_id=attempt.message_id or None,
            detail=attempt.detail or None,
            retry_at=next_at.isoformat() if next_at else None,
        )

    async def _hand_off(self, item: Claimed) -> Attempt | reminders.Dropped:
        """Check a reminder against its room once more and, if it still fits, send it
        while the room is held: from that check until the notification service answers
        (the SMTP server accepted or refused the mail, or the call's deadline passed).

        The notification service owns SMTP and has no database, so the relay's last look
        at the room comes before the call, and the call (rendering, a free SMTP
        connection, the SMTP dialogue) can take seconds. Holding the room across it means
        no cancel, leave or reschedule commits between that look and the hand-off: one
        that committed first is seen and the reminder dropped; one that comes during the
        call waits for it, usually milliseconds (a call slower than that change's own
        lock timeout fails the change, retryably, having changed nothing; the hold never
        outlasts the call's deadline, RELAY_RPC_TIMEOUT_S). The price: a pooled
        connection idle in a transaction and one room's row share-locked per reminder in
        flight (RELAY_CONCURRENCY at most). Checking just before the call without a hold
        would cost nothing and fix nothing: the call itself is the window in which a
        cancelled session was still reminded (issue 18, item 6).
        """
        sent: list[Attempt] = []

        async def work(uow: UnitOfWork) -> reminders.Dropped | None:
            if sent:
                return None  # handed off already: a unit of work run again never resends
            hold_s = self._settings.relay_rpc_timeout_s + _HOLD_MARGIN_S
            async with uow.outbox.hold_room(item, hold_s) as due:
                dropped = reminders.why_not_send(due, self._clock())
                if dropped is None:
                    sent.append(await self._sender.deliver(item))
                return dropped

        try:
            dropped = await self._db.run(work)
        except Exception as error:
            if sent:
                return sent[0]  # handed off: what the notification service said stands
            # Not sent: the room could not be checked. Tried again later, like a call
            # that did not get through.
            return Attempt(Outcome.TEMPORARY_FAILURE, "", f"room not checked: {error}")
        return dropped if dropped is not None else sent[0]

    async def _drop(self, item: Claimed, token: uuid.UUID, dropped: reminders.Dropped) -> None:
        await self._record(item, token, State.DROPPED, None, dropped.value, None, None)
        metrics.REMINDERS_DROPPED.labels(dropped.value).inc()
        log.info(
            "reminder dropped",
            room_id=str(item.room_id),
            outbox_id=item.id,
            recipient_id=item.recipient_id,
            reason=dropped.value,
        )

    async def _record(
        self,
        item: Claimed,
        token: uuid.UUID,
        state: State,
        outcome: Outcome | None,
        error: str | None,
        message_id: str | None,
        next_at: datetime | None,
    ) -> State | None:
        """The state recorded, None when the lease was lost or the database did not
        answer (the message then goes again when its lease ends: a repeat, never a
        loss). Results that arrive while a batch is being written go in the next one:
        one statement for many deliveries when the relay is busy."""
        recorded: asyncio.Future[State | None] = asyncio.get_running_loop().create_future()
        finished = Finished(item, token, state, outcome, error, message_id, next_at)
        self._unrecorded.append((finished, recorded))
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._record_batches())
        return await recorded

    async def _record_batches(self) -> None:
        while self._unrecorded:
            batch, self._unrecorded = self._unrecorded, []

            try:
                states = await self._db.run(functools.partial(_finish, batch))
            except Exception as error:
                log.warning("outbox results not recorded", error=str(error), messages=len(batch))
                states = {}
            for finished, recorded in batch:
                if not recorded.done():
                    recorded.set_result(states.get(finished.claimed.id))

    def _decide(self, item: Claimed, attempt: Attempt) -> tuple[State, datetime | None]:
        if attempt.outcome in (Outcome.DELIVERED, Outcome.DRY_RUN):
            return State.DELIVERED, None
        if attempt.outcome is Outcome.TEMPORARY_FAILURE:
            if item.attempts >= self._settings.relay_max_attempts:
                return State.FAILED, None
            settings = self._settings
            delay = backoff_s(
                item.attempts, settings.relay_backoff_min_s, settings.relay_backoff_max_s
            )
            return State.PENDING, self._clock() + timedelta(seconds=delay)
        return State.FAILED, None

    @staticmethod
    def _count(item: Claimed, state: State, attempt: Attempt) -> None:
        if state is State.DELIVERED:
            metrics.OUTBOX_DELIVERED.labels(f"OUTCOME_{attempt.outcome.value}").inc()
            if item.reminder is not None:
                metrics.REMINDERS_SENT.labels(attempt.outcome.value).inc()
        elif state is State.PENDING:
            metrics.OUTBOX_RETRIED.inc()
        else:
            metrics.OUTBOX_FAILED.inc()

    async def _report_stats(self) -> None:
        async def work(uow: UnitOfWork) -> OutboxStats:
            return await uow.outbox.stats()

        while True:
            try:
                stats = await self._db.run(work)
                metrics.OUTBOX_PENDING.set(stats.pending)
                metrics.OUTBOX_OLDEST_PENDING.set(stats.oldest_pending_s)
            except Exception as error:
                log.debug("outbox stats failed", error=str(error))
            await asyncio.sleep(_STATS_EVERY_S)

    async def _purge_forever(self) -> None:
        """Delete finished messages past OUTBOX_RETENTION_H: addresses are not kept forever."""
        while True:
            try:
                await self._purge()
            except Exception as error:
                log.warning("outbox purge failed", error=str(error))
            await asyncio.sleep(self._settings.outbox_purge_every_s)

    async def _purge(self) -> None:
        before = self._clock() - timedelta(hours=self._settings.outbox_retention_h)

        async def work(uow: UnitOfWork) -> int:
            return await uow.outbox.purge(before)

        deleted = await self._db.run(work)
        if deleted:
            log.info("outbox purged", deleted=deleted)
