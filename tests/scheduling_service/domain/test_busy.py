"""What a busy-time read's outcome does (pure rules)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from scheduling_service.domain import busy
from scheduling_service.domain.busy import BusyAttempt, BusyRead
from scheduling_service.domain.calendar import WriteOutcome

NOW = datetime(2030, 1, 1, tzinfo=UTC)
READ = BusyRead("u", "https://cal.example/u/", b"sealed", generation=3, attempts=2)
TOKEN = uuid.uuid4()
SPAN = ((NOW, NOW + timedelta(hours=1)),)


def _decide(attempt: BusyAttempt) -> busy.BusyResult:
    return busy.decide(
        READ,
        attempt,
        TOKEN,
        now=NOW,
        refresh=timedelta(minutes=5),
        backoff=timedelta(seconds=30),
    )


def test_a_read_replaces_the_intervals_and_comes_back_after_the_refresh() -> None:
    result = _decide(BusyAttempt(WriteOutcome.WRITTEN, SPAN, resealed_credentials=b"new"))
    assert (result.intervals, result.next_read_at, result.attempts) == (
        SPAN,
        NOW + timedelta(minutes=5),
        0,
    )
    assert result.resealed_credentials == b"new"


def test_a_temporary_failure_keeps_them_and_backs_off_honouring_retry_after() -> None:
    result = _decide(BusyAttempt(WriteOutcome.TEMPORARY_FAILURE))
    assert (result.intervals, result.next_read_at, result.attempts) == (
        None,
        NOW + timedelta(seconds=30),
        3,
    )
    later = NOW + timedelta(minutes=10)
    assert _decide(BusyAttempt(WriteOutcome.TEMPORARY_FAILURE, retry_at=later)).next_read_at == (
        later
    )


def test_refused_credentials_or_an_unusable_answer_clear_them() -> None:
    for outcome in (WriteOutcome.CREDENTIALS_REJECTED, WriteOutcome.PERMANENT_FAILURE):
        result = _decide(BusyAttempt(outcome))
        assert (result.intervals, result.next_read_at) == ((), NOW + timedelta(minutes=5))


def test_the_range_reaches_as_far_as_a_session_may_and_at_most_400_days() -> None:
    assert busy.read_range(NOW, 30) == (NOW, NOW + timedelta(days=30, hours=9))
    assert busy.read_range(NOW, 999) == (NOW, NOW + timedelta(days=400))
    assert "sealed" not in repr(READ)
