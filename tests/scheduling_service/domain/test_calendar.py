"""Whose calendar copy a change makes due, what a claimed copy asks for, and what an
attempt leaves it as (pure)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from scheduling_service.domain import calendar
from scheduling_service.domain.calendar import (
    ClaimedCopy,
    CopyState,
    WriteAttempt,
    WriteOutcome,
)
from scheduling_service.domain.room import Room

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)
TOKEN = uuid.uuid4()


def _room() -> Room:
    return Room.new(
        host_id="host",
        title="t",
        description="",
        starts=NOW + 24 * HOUR,
        length=HOUR,
        first_round_topic="r",
        uid_domain="d",
        now=NOW,
    )


def _copy(
    room: Room | None, user: str = "guest", *, removing: bool = False, attempts: int = 1
) -> ClaimedCopy:
    return ClaimedCopy(
        room_id=uuid.uuid4(),
        user_id=user,
        ics_uid="uid@d",
        version=3,
        attempts=attempts,
        href=None,
        etag=None,
        calendar_url="https://cal.example/u/c/",
        sealed_credentials=b"sealed",
        generation=1,
        removing=removing,
        room=room,
        contacts={},
    )


def test_a_change_concerns_the_participants_before_and_after_it() -> None:
    room = _room()
    booked = room.booked_by("guest", NOW)
    assert calendar.concerned(None, room) == ("host",)
    assert calendar.concerned(room, booked) == ("guest", "host")
    left = booked.left_by("guest", NOW)
    assert calendar.concerned(booked, left) == ("guest", "host")  # the guest's copy goes


def test_a_copy_is_written_only_while_its_user_is_in_the_room() -> None:
    booked = _room().booked_by("guest", NOW)
    assert _copy(booked).wants_event
    assert not _copy(booked.left_by("guest", NOW)).wants_event
    assert not _copy(None).wants_event  # cancelled
    assert not _copy(booked, removing=True).wants_event  # disconnected with remove_events


@pytest.mark.parametrize(
    ("outcome", "state"),
    [
        (WriteOutcome.WRITTEN, CopyState.WRITTEN),
        (WriteOutcome.REMOVED, CopyState.REMOVED),
        (WriteOutcome.PERMANENT_FAILURE, CopyState.FAILED),
        (WriteOutcome.TEMPORARY_FAILURE, CopyState.PENDING),
        (WriteOutcome.CREDENTIALS_REJECTED, CopyState.PENDING),  # waits for a reconnect
    ],
)
def test_what_an_attempt_leaves_a_copy_as(outcome: WriteOutcome, state: CopyState) -> None:
    result = calendar.decide(
        _copy(_room()), WriteAttempt(outcome), TOKEN, now=NOW, backoff=HOUR, max_attempts=5
    )
    assert result.state is state
    assert result.breaks_connection == (outcome is WriteOutcome.CREDENTIALS_REJECTED)


def test_a_temporary_failure_waits_for_the_servers_retry_after_and_gives_up_at_last() -> None:
    later = NOW + 3 * HOUR
    attempt = WriteAttempt(WriteOutcome.TEMPORARY_FAILURE, retry_at=later)
    waiting = calendar.decide(_copy(_room()), attempt, TOKEN, now=NOW, backoff=HOUR, max_attempts=5)
    assert waiting.next_attempt_at == later
    sooner = WriteAttempt(WriteOutcome.TEMPORARY_FAILURE, retry_at=NOW)
    backing_off = calendar.decide(
        _copy(_room()), sooner, TOKEN, now=NOW, backoff=HOUR, max_attempts=5
    )
    assert backing_off.next_attempt_at == NOW + HOUR
    spent = calendar.decide(
        _copy(_room(), attempts=5), attempt, TOKEN, now=NOW, backoff=HOUR, max_attempts=5
    )
    assert spent.state is CopyState.FAILED


def test_a_copy_being_removed_gives_up_when_its_credentials_are_refused() -> None:
    """After a disconnect no reconnect will come for it: waiting would retry forever."""
    refused = WriteAttempt(WriteOutcome.CREDENTIALS_REJECTED)
    result = calendar.decide(
        _copy(_room(), removing=True), refused, TOKEN, now=NOW, backoff=HOUR, max_attempts=5
    )
    assert result.state is CopyState.FAILED
