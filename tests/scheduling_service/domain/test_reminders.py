"""Which reminders a change writes or removes, and when a due one is dropped (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scheduling_service.domain import reminders
from scheduling_service.domain.changes import Change
from scheduling_service.domain.outbox import DueReminder
from scheduling_service.domain.reminders import Dropped, Reminder
from scheduling_service.domain.room import Room

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
DAY, HOUR = timedelta(days=1), timedelta(hours=1)


def _open(starts: datetime = NOW + 2 * DAY) -> Room:
    return Room.new(
        host_id="host",
        title="t",
        description="",
        starts=starts,
        length=HOUR,
        first_round_topic="r",
        uid_domain="d",
        now=NOW,
        reminder_offsets=(DAY, HOUR),
    )


def test_a_booking_reminds_both_participants_at_every_offset() -> None:
    room = _open()
    booked = room.booked_by("guest", NOW)
    plan = reminders.plan(Change.BOOKED, room, booked, NOW)
    assert not plan.remove_pending
    assert sorted((r.recipient_id, r.due) for r in plan.add) == sorted(
        (user, booked.starts - offset) for user in ("host", "guest") for offset in (DAY, HOUR)
    )


def test_offsets_already_past_are_skipped() -> None:
    room = _open(starts=NOW + 5 * HOUR)  # the 24 h reminder's time has passed
    booked = room.booked_by("guest", NOW)
    plan = reminders.plan(Change.BOOKED, room, booked, NOW)
    assert {r.offset for r in plan.add} == {HOUR}


def test_a_reschedule_moves_them_and_leave_or_cancel_removes_them() -> None:
    booked = _open().booked_by("guest", NOW)
    later = booked.rescheduled_by("host", starts=NOW + 3 * DAY, length=None, etag="", now=NOW)
    moved = reminders.plan(Change.RESCHEDULED, booked, later, NOW)
    assert moved.remove_pending and {r.starts for r in moved.add} == {later.starts}
    left = booked.left_by("guest", NOW)
    assert reminders.plan(Change.LEFT, booked, left, NOW) == reminders.ReminderPlan(True, ())
    cancelled = booked.cancelled_by("host", etag="", now=NOW)
    assert reminders.plan(Change.CANCELLED, booked, cancelled, NOW).add == ()
    open_room = _open()
    open_later = open_room.rescheduled_by(
        "host", starts=NOW + 3 * DAY, length=None, etag="", now=NOW
    )
    assert not reminders.plan(Change.RESCHEDULED, open_room, open_later, NOW).changes_anything
    assert not reminders.plan(Change.CREATED, None, open_room, NOW).changes_anything


def test_a_room_without_offsets_gets_no_reminders() -> None:
    room = Room.new(
        host_id="host",
        title="t",
        description="",
        starts=NOW + DAY,
        length=HOUR,
        first_round_topic="r",
        uid_domain="d",
        now=NOW,
    )
    assert reminders.plan(Change.BOOKED, room, room.booked_by("guest", NOW), NOW).add == ()


def test_a_due_reminder_is_sent_only_if_it_still_fits() -> None:
    starts = NOW + HOUR
    fits = DueReminder("guest", starts, starts, ("host", "guest"))
    assert reminders.why_not_send(fits, NOW) is None
    assert reminders.why_not_send(DueReminder("guest", starts, None, ()), NOW) is Dropped.ROOM_GONE
    moved = DueReminder("guest", starts, starts + DAY, ("host", "guest"))
    assert reminders.why_not_send(moved, NOW) is Dropped.MOVED
    left = DueReminder("guest", starts, starts, ("host",))
    assert reminders.why_not_send(left, NOW) is Dropped.NOT_A_PARTICIPANT
    assert reminders.why_not_send(fits, starts) is Dropped.TOO_LATE
    assert Reminder("guest", HOUR, starts).due == NOW
