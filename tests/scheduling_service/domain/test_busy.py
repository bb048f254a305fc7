"""What a busy-time read's outcome does, and what a read asks (pure rules)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from scheduling_service.domain import busy
from scheduling_service.domain.busy import BusyAttempt, BusyPlan, BusyRead
from scheduling_service.domain.calendar import WriteOutcome

NOW = datetime(2030, 1, 1, tzinfo=UTC)
READ = BusyRead("u", "https://cal.example/u/", b"sealed", generation=3, attempts=2)
TOKEN = uuid.uuid4()
SPAN = ((NOW, NOW + timedelta(hours=1)),)
FULL = BusyPlan(NOW, NOW + timedelta(days=31, hours=9), "")
ASKING = replace(FULL, sync_token="http://cal.example/sync/7")


def _decide(attempt: BusyAttempt, plan: BusyPlan = FULL) -> busy.BusyResult:
    return busy.decide(
        READ,
        plan,
        attempt,
        TOKEN,
        now=NOW,
        refresh=timedelta(minutes=5),
        backoff=timedelta(seconds=30),
    )


def test_a_read_replaces_the_intervals_and_comes_back_after_the_refresh() -> None:
    result = _decide(
        BusyAttempt(WriteOutcome.WRITTEN, SPAN, resealed_credentials=b"new", sync_token="t1")
    )
    assert (result.intervals, result.next_read_at, result.attempts) == (
        SPAN,
        NOW + timedelta(minutes=5),
        0,
    )
    assert result.resealed_credentials == b"new"
    assert (result.covered_until, result.sync_token) == (FULL.ends, "t1")


def test_an_unchanged_calendar_keeps_the_intervals_and_how_far_they_reach() -> None:
    result = _decide(BusyAttempt(WriteOutcome.WRITTEN, sync_token="t2", unchanged=True), ASKING)
    assert (result.intervals, result.covered_until, result.sync_token) == (None, None, "t2")
    assert (result.next_read_at, result.attempts) == (NOW + timedelta(minutes=5), 0)


def test_a_changed_calendar_read_whole_replaces_them() -> None:
    result = _decide(BusyAttempt(WriteOutcome.WRITTEN, SPAN, sync_token="t3"), ASKING)
    assert (result.intervals, result.covered_until, result.sync_token) == (SPAN, ASKING.ends, "t3")


def test_a_server_without_tokens_or_an_overlong_one_leaves_none_kept() -> None:
    assert _decide(BusyAttempt(WriteOutcome.WRITTEN, SPAN)).sync_token == ""
    overlong = "t" * (busy.MAX_SYNC_TOKEN + 1)
    assert _decide(BusyAttempt(WriteOutcome.WRITTEN, SPAN, sync_token=overlong)).sync_token == ""


def test_a_temporary_failure_keeps_them_and_backs_off_honouring_retry_after() -> None:
    result = _decide(BusyAttempt(WriteOutcome.TEMPORARY_FAILURE), ASKING)
    assert (result.intervals, result.next_read_at, result.attempts) == (
        None,
        NOW + timedelta(seconds=30),
        3,
    )
    # The token goes: the next read is a full one, whatever failed (the sync report).
    assert (result.covered_until, result.sync_token) == (None, "")
    later = NOW + timedelta(minutes=10)
    assert _decide(BusyAttempt(WriteOutcome.TEMPORARY_FAILURE, retry_at=later)).next_read_at == (
        later
    )


def test_refused_credentials_or_an_unusable_answer_clear_them_and_the_token() -> None:
    for outcome in (WriteOutcome.CREDENTIALS_REJECTED, WriteOutcome.PERMANENT_FAILURE):
        result = _decide(BusyAttempt(outcome), ASKING)
        assert (result.intervals, result.next_read_at) == ((), NOW + timedelta(minutes=5))
        assert (result.covered_until, result.sync_token) == (None, "")


def test_the_range_reaches_a_day_past_where_a_session_may_end_and_at_most_400_days() -> None:
    plan = busy.plan_read(READ, NOW, 30)
    assert (plan.starts, plan.ends, plan.sync_token) == (
        NOW,
        NOW + timedelta(days=31, hours=9),
        "",
    )
    assert busy.plan_read(READ, NOW, 999).ends == NOW + timedelta(days=400)
    assert "sealed" not in repr(READ)


def test_the_token_is_sent_only_while_the_last_full_read_covers_the_needed_range() -> None:
    kept = replace(READ, sync_token="t1", covered_until=NOW + timedelta(days=31, hours=9))
    assert busy.plan_read(kept, NOW, 30).sync_token == "t1"
    a_day_on = NOW + timedelta(days=1)
    assert busy.plan_read(kept, a_day_on, 30).sync_token == "t1"  # exactly covered
    assert busy.plan_read(kept, a_day_on + timedelta(seconds=1), 30).sync_token == ""
    assert busy.plan_read(replace(kept, covered_until=None), NOW, 30).sync_token == ""
    assert busy.plan_read(replace(kept, sync_token=""), NOW, 30).sync_token == ""
    # Bookings reaching 400 days: the range cannot look further, so every read is full.
    far = replace(kept, covered_until=NOW + timedelta(days=400))
    assert busy.plan_read(far, NOW + timedelta(seconds=1), 999).sync_token == ""


def test_unchanged_without_a_token_sent_is_trusted_with_nothing() -> None:
    """Only a notification service at fault answers so: the intervals stay, and the
    next read is a full one after the backoff."""
    result = _decide(BusyAttempt(WriteOutcome.WRITTEN, sync_token="t9", unchanged=True))
    assert (result.intervals, result.sync_token, result.attempts) == (None, "", 3)
    assert result.next_read_at == NOW + timedelta(seconds=30)
