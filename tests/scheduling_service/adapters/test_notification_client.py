"""The relay's client of the notification service, against the real service process:
what each answer means to the outbox, and how soon the client reaches a service that
was down."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from notification.v1 import notification_pb2 as npb

from scheduling_service.adapters.notification_client import NotificationClient
from scheduling_service.domain.outbox import Claimed, Outcome
from tests.notification_service.notification_helpers import make_message
from tests.processes import NotificationProcess
from tests.smtp_sink import free_port

pytestmark = pytest.mark.slow


def _claimed(message: npb.CalendarMessage) -> Claimed:
    return Claimed(
        id=1,
        room_id=uuid.uuid4(),
        ics_uid=message.event.uid,
        sequence=message.event.sequence,
        method="REQUEST",
        recipient_id="guest",
        attempts=0,
        payload=message.SerializeToString(),
    )


def _dry_run(tmp_path: Path) -> NotificationProcess:
    # Nothing listens on the SMTP port: in dry-run the service never connects.
    return NotificationProcess(tmp_path, free_port(), NOTIFICATIONS_ENABLED="false")


async def test_a_message_the_service_refuses_is_a_permanent_failure_naming_its_code(
    tmp_path: Path,
) -> None:
    service = _dry_run(tmp_path).start()
    client = NotificationClient(service.address, "", timeout_s=10)
    try:
        accepted = await client.deliver(_claimed(make_message()))
        refused = await client.deliver(_claimed(make_message(recipient=npb.Recipient())))
    finally:
        await client.close()
        assert service.stop() == 0
    assert accepted.outcome is Outcome.DRY_RUN
    # Sending it again cannot help: the outbox keeps it as failed, for `outbox failed`.
    assert refused.outcome is Outcome.PERMANENT_FAILURE
    assert refused.detail.startswith("notification service: INVALID_ARGUMENT: invalid message")


async def test_a_service_back_from_an_outage_is_reached_within_about_a_second(
    tmp_path: Path,
) -> None:
    # gRPC's own reconnect backoff, uncapped, would be about 16 s by the time the
    # service comes back after this outage (attempts at 0, 1, 2.6, 5.2, 9.3, 15.8,
    # 26.3 s, each +-20 %): every call in between fails without trying to connect.
    service = _dry_run(tmp_path)
    client = NotificationClient(service.address, "", timeout_s=10)
    claimed = _claimed(make_message())
    try:
        down_until = time.monotonic() + 27
        while time.monotonic() < down_until:
            attempt = await client.deliver(claimed)
            assert attempt.outcome is Outcome.TEMPORARY_FAILURE
            assert attempt.detail.startswith("notification service: UNAVAILABLE: ")
            await asyncio.sleep(0.2)
        service.start()  # returns once it answers SERVING on a channel of its own
        back = time.monotonic()
        while (attempt := await client.deliver(claimed)).outcome is Outcome.TEMPORARY_FAILURE:
            # The channel reconnects on its own schedule, capped at 1 s (+-20 %).
            assert time.monotonic() - back < 3, f"still not reached: {attempt.detail}"
            await asyncio.sleep(0.2)
    finally:
        await client.close()
        if service.process is not None:
            assert service.stop() == 0
    assert attempt.outcome is Outcome.DRY_RUN
