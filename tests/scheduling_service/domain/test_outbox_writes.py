"""What a change writes to the outbox and to the change log: decided here, once, and
executed as is by the SQL adapters and their in-memory twins (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scheduling_service.domain import change_log, outbox_writes
from scheduling_service.domain.changes import Change
from scheduling_service.domain.invites import Method
from scheduling_service.domain.outbox import State
from scheduling_service.domain.room import Room
from scheduling_service.domain.users import Contact, People

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
DAY, HOUR = timedelta(days=1), timedelta(hours=1)


def _contact(user_id: str, *, email: bool = True) -> Contact:
    return Contact(user_id, f"{user_id}@example.test" if email else None, user_id, None)


def _open() -> Room:
    return Room.new(
        host_id="host",
        title="t",
        description="",
        starts=NOW + 2 * DAY,
        length=HOUR,
        first_round_topic="r",
        uid_domain="d",
        now=NOW,
        reminder_offsets=(DAY, HOUR),
    )


def test_a_booking_invites_both_and_reminds_only_who_has_an_address() -> None:
    room = _open()
    booked = room.booked_by("guest", NOW)
    people = People(
        frozenset(), {"host": _contact("host"), "guest": _contact("guest", email=False)}
    )
    writes = outbox_writes.for_change(Change.BOOKED, room, booked, people, now=NOW)
    assert [(i.invite.recipient_id, i.invite.method, i.state) for i in writes.invites] == [
        ("host", Method.REQUEST, State.PENDING),
        ("guest", Method.REQUEST, State.SKIPPED),  # kept, so the guest sees why
    ]
    assert [i.invite.recipient_id for i in writes.queued] == ["host"]
    assert [i.invite.recipient_id for i in writes.skipped] == ["guest"]
    assert writes.superseding == ("host", "guest")
    assert (writes.holders_added, writes.holders_removed) == (("guest", "host"), ())
    assert not writes.remove_pending_reminders
    assert sorted((r.reminder.recipient_id, r.reminder.offset) for r in writes.reminders) == [
        ("host", HOUR),
        ("host", DAY),
    ]


def test_a_recipient_unknown_to_the_directory_is_skipped_too() -> None:
    room = _open()
    booked = room.booked_by("guest", NOW)
    people = People(frozenset(), {"host": _contact("host")})
    writes = outbox_writes.for_change(Change.BOOKED, room, booked, people, now=NOW)
    assert [i.recipient for i in writes.skipped] == [None]
    assert {r.reminder.recipient_id for r in writes.reminders} == {"host"}


def test_leaving_and_cancelling_remove_holders_and_pending_reminders() -> None:
    booked = _open().booked_by("guest", NOW)
    people = People(frozenset({"host", "guest"}), {u: _contact(u) for u in ("host", "guest")})
    left = outbox_writes.for_change(
        Change.LEFT, booked, booked.left_by("guest", NOW), people, now=NOW
    )
    assert [(i.invite.recipient_id, i.invite.uninvite) for i in left.invites] == [
        ("guest", True),
        ("host", False),
    ]
    assert (left.holders_added, left.holders_removed) == ((), ("guest",))
    assert left.remove_pending_reminders and left.reminders == ()
    cancelled = booked.cancelled_by("host", etag="", now=NOW)
    writes = outbox_writes.for_change(
        Change.CANCELLED, booked, cancelled, people, now=NOW, cancel_reason="ill"
    )
    assert writes.holders_removed == ("guest", "host") and writes.cancel_reason == "ill"
    assert {i.invite.method for i in writes.invites} == {Method.CANCEL}


def test_a_creation_writes_nothing_and_an_open_rooms_cancel_sends_nothing() -> None:
    room = _open()
    people = People(frozenset(), {"host": _contact("host")})
    assert outbox_writes.for_change(Change.CREATED, None, room, people, now=NOW).nothing
    cancelled = room.cancelled_by("host", etag="", now=NOW)  # nobody held an invite
    writes = outbox_writes.for_change(Change.CANCELLED, room, cancelled, people, now=NOW)
    assert writes.invites == () and writes.remove_pending_reminders


def test_the_change_log_names_everyone_before_and_after_and_hides_the_guest() -> None:
    room = _open()
    created = change_log.entry_for(Change.CREATED, None, room, NOW)
    assert created.public is None and created.shown_to_others is created.private
    assert (created.open_before, created.open_after, created.participants) == (
        True,
        True,
        ("host",),
    )
    booked = room.booked_by("guest", NOW)
    entry = change_log.entry_for(Change.BOOKED, room, booked, NOW)
    assert entry.private.room.guest_id == "guest" and entry.private.private
    assert entry.public is not None and entry.public.room.guest_id is None and entry.public.booked
    assert (entry.open_before, entry.open_after) == (True, False)
    left = change_log.entry_for(Change.LEFT, booked, booked.left_by("guest", NOW), NOW)
    assert left.participants == ("guest", "host")  # the guest sees their own leaving
    cancelled = change_log.entry_for(Change.CANCELLED, room, room, NOW)
    assert cancelled.open_before and not cancelled.open_after


def test_a_calendar_that_replaces_invitations_gets_no_new_one() -> None:
    room = _open()
    booked = room.booked_by("guest", NOW)
    people = People(
        frozenset(),
        {"host": _contact("host"), "guest": _contact("guest")},
        calendar_only=frozenset({"guest"}),
    )
    writes = outbox_writes.for_change(Change.BOOKED, room, booked, people, now=NOW)
    assert [(i.invite.recipient_id, i.state, i.not_sent_reason) for i in writes.invites] == [
        ("host", State.PENDING, ""),
        ("guest", State.SKIPPED, "CALENDAR_CONNECTED"),
    ]
    # Not sent, so the guest holds no e-mailed copy a later CANCEL must reach.
    assert writes.holders_added == ("host",)
    # Reminders are e-mail either way.
    assert {r.reminder.recipient_id for r in writes.reminders} == {"host", "guest"}


def test_one_who_holds_an_e_mailed_copy_keeps_getting_its_updates() -> None:
    booked = _open().booked_by("guest", NOW)
    moved = booked.rescheduled_by(
        "host", starts=NOW + 3 * DAY, length=None, etag="", now=NOW + HOUR
    )
    people = People(
        frozenset({"host", "guest"}),
        {"host": _contact("host"), "guest": _contact("guest")},
        calendar_only=frozenset({"guest"}),  # connected after the invitation went
    )
    writes = outbox_writes.for_change(Change.RESCHEDULED, booked, moved, people, now=NOW + HOUR)
    assert [(i.invite.recipient_id, i.state) for i in writes.invites] == [
        ("host", State.PENDING),
        ("guest", State.PENDING),
    ]
