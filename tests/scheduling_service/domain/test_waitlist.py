"""The waitlist's rules (domain/waitlist.py, waitlist_changes.py, and where the room's own
changes move it: room.py), and what a change writes for it. Pure: no I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from scheduling_service.domain import errors
from scheduling_service.domain.changes import Change
from scheduling_service.domain.room import Room
from scheduling_service.domain.users import Contact, People
from scheduling_service.domain.waitlist import Waitlist, shared_view, view_for
from scheduling_service.domain.waitlist_changes import (
    NoticeKind,
    joined_by,
    lapsed,
    left_by,
    writes_for,
)

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
HOLD = timedelta(minutes=15)


def _room(**changes: object) -> Room:
    room = Room.new(
        host_id="host",
        title="Mock",
        description="",
        starts=NOW + timedelta(days=1),
        length=timedelta(hours=1),
        first_round_topic="Arrays",
        uid_domain="example.test",
        now=NOW - timedelta(days=1),
    )
    return replace(room, **changes)  # type: ignore[arg-type]


def _booked(*waiting: str) -> Room:
    return _room(guest_id="guest", sequence=1, waitlist=Waitlist(waiting))


def _held(*waiting: str, until: datetime = NOW + HOLD) -> Room:
    return _room(waitlist=Waitlist(waiting, until))


def _people(*users: str, without_address: tuple[str, ...] = ()) -> People:
    contacts = {
        u: Contact(u, None if u in without_address else f"{u}@example.test", u.title(), None)
        for u in users
    }
    return People(frozenset(), contacts)


def test_only_a_taken_room_is_waited_for_and_not_by_its_participants() -> None:
    with pytest.raises(errors.RoomNotBooked):
        joined_by(_room(), "ann", NOW, max_waiting=20)
    for participant in ("host", "guest"):
        with pytest.raises(errors.AlreadyParticipant):
            joined_by(_booked(), participant, NOW, max_waiting=20)
    with pytest.raises(errors.RoomStarted):
        joined_by(_booked(), "ann", NOW + timedelta(days=2), max_waiting=20)
    assert joined_by(_booked("ann"), "bob", NOW, max_waiting=20).waitlist.waiting == ("ann", "bob")
    # A room held for the first in line is taken too: the next may queue behind them.
    held = joined_by(_held("ann"), "bob", NOW, max_waiting=20)
    assert held.waitlist == Waitlist(("ann", "bob"), NOW + HOLD)


def test_joining_twice_changes_nothing_and_the_line_has_a_limit() -> None:
    room = _booked("ann", "bob")
    assert joined_by(room, "bob", NOW, max_waiting=2) is room
    with pytest.raises(errors.WaitlistFull):
        joined_by(room, "cat", NOW, max_waiting=2)


def test_a_guests_leave_holds_the_room_for_the_first_in_line() -> None:
    left = _booked("ann", "bob").left_by("guest", NOW, hold=HOLD)
    assert left.is_open and left.waitlist == Waitlist(("ann", "bob"), NOW + HOLD)
    assert left.waitlist.holder == "ann"
    # Never beyond the start: nobody can book a started session.
    soon = _booked("ann")
    soon = replace(soon, starts=NOW + timedelta(minutes=5), ends=NOW + timedelta(hours=1))
    assert soon.left_by("guest", NOW, hold=HOLD).waitlist.hold_until == NOW + timedelta(minutes=5)
    # Nobody waiting: open to all, no hold.
    assert _booked().left_by("guest", NOW, hold=HOLD).waitlist == Waitlist()


def test_during_a_hold_only_the_holder_books_and_leaves_the_line_with_it() -> None:
    room = _held("ann", "bob")
    with pytest.raises(errors.RoomHeld) as refused:
        room.booked_by("cat", NOW)
    assert "ann" not in refused.value.message  # never says for whom
    with pytest.raises(errors.RoomHeld):
        room.booked_by("bob", NOW)  # second in line waits for their turn
    booked = room.booked_by("ann", NOW + HOLD - timedelta(seconds=1))
    assert booked.guest_id == "ann" and booked.waitlist == Waitlist(("bob",))
    # A hold past its end still stands until it is passed on, for the holder too.
    with pytest.raises(errors.RoomHeld):
        room.booked_by("ann", NOW + HOLD)
    assert _room().booked_by("cat", NOW).guest_id == "cat"  # no line, no hold


def test_a_lapsed_hold_passes_to_the_next_in_line_then_the_room_opens() -> None:
    room = _held("ann", "bob")
    assert lapsed(room, "ann", NOW + HOLD, NOW, hold=HOLD) is room  # not due yet
    later = NOW + HOLD
    passed = lapsed(room, "ann", NOW + HOLD, later, hold=HOLD)
    assert passed.waitlist == Waitlist(("bob",), later + HOLD)
    # Already passed on (another replica), or a hold that is not this one: nothing.
    assert lapsed(passed, "ann", NOW + HOLD, later, hold=HOLD) is passed
    opened = lapsed(passed, "bob", later + HOLD, later + HOLD, hold=HOLD)
    assert opened.waitlist == Waitlist() and opened.is_open
    assert opened.booked_by("cat", later + HOLD).guest_id == "cat"


def test_a_hold_lapsing_at_the_start_ends_the_line() -> None:
    room = _held("ann", "bob", until=NOW + timedelta(days=1))
    after = lapsed(room, "ann", room.starts, room.starts, hold=HOLD)
    assert after.waitlist == Waitlist()


def test_leaving_the_line_and_giving_up_a_hold() -> None:
    room = _booked("ann", "bob")
    assert left_by(room, "cat", NOW, hold=HOLD) is room  # not waiting: fine
    assert left_by(room, "ann", NOW, hold=HOLD).waitlist == Waitlist(("bob",))
    held = _held("ann", "bob", until=NOW + timedelta(minutes=3))
    given_up = left_by(held, "ann", NOW, hold=HOLD)
    assert given_up.waitlist == Waitlist(("bob",), NOW + HOLD)  # bob's, at once, in full
    assert left_by(held, "bob", NOW, hold=HOLD).waitlist == Waitlist(
        ("ann",), held.waitlist.hold_until
    )
    assert left_by(_held("ann"), "ann", NOW, hold=HOLD).waitlist == Waitlist()


def test_a_reschedule_keeps_the_line_and_starts_a_hold_again() -> None:
    later = NOW + timedelta(days=2)
    booked = _booked("ann").rescheduled_by(
        "host", starts=later, length=None, etag="", now=NOW, hold=HOLD
    )
    assert booked.waitlist == Waitlist(("ann",))
    held = _held("ann", "bob", until=NOW + timedelta(minutes=1))
    moved = held.rescheduled_by("host", starts=later, length=None, etag="", now=NOW, hold=HOLD)
    assert moved.waitlist == Waitlist(("ann", "bob"), NOW + HOLD)


def test_a_reschedule_after_a_hold_ended_gives_the_next_in_line_their_turn() -> None:
    later = NOW + timedelta(days=2)
    ended = _held("ann", "bob", until=NOW - timedelta(seconds=1))  # not yet passed on
    moved = ended.rescheduled_by("host", starts=later, length=None, etag="", now=NOW, hold=HOLD)
    assert moved.waitlist == Waitlist(("bob",), NOW + HOLD)
    alone = _held("ann", until=NOW - timedelta(seconds=1))
    moved = alone.rescheduled_by("host", starts=later, length=None, etag="", now=NOW, hold=HOLD)
    assert moved.waitlist == Waitlist()


def test_a_cancel_ends_the_line() -> None:
    assert _held("ann", "bob").cancelled_by("host", etag="", now=NOW).waitlist == Waitlist()


def test_what_a_leave_writes_an_offer_to_the_new_holder() -> None:
    before = _booked("ann", "bob")
    after = before.left_by("guest", NOW, hold=HOLD)
    writes = writes_for(Change.LEFT, before, after, _people("ann", "bob"), NOW)
    assert (writes.removed, writes.added) == ((), ())
    assert (writes.hold_changed, writes.holder, writes.hold_until) == (True, "ann", NOW + HOLD)
    assert [(n.kind, n.recipient_id, n.hold_until) for n in writes.notices] == [
        (NoticeKind.OFFER, "ann", NOW + HOLD)
    ]
    assert writes.superseding == ("ann",)


def test_what_a_lapse_writes_and_a_join_writes() -> None:
    before = _held("ann", "bob")
    after = lapsed(before, "ann", NOW + HOLD, NOW + HOLD, hold=HOLD)
    writes = writes_for(Change.WAITLIST, before, after, _people("ann", "bob"), NOW + HOLD)
    assert writes.removed == ("ann",) and writes.holder == "bob"
    assert [(n.kind, n.recipient_id) for n in writes.notices] == [(NoticeKind.OFFER, "bob")]
    # The old holder's offer, if still unsent, is stale: superseded with the new one.
    assert writes.superseding == ("ann", "bob")
    joined = joined_by(_booked("ann"), "bob", NOW, max_waiting=20)
    writes = writes_for(Change.WAITLIST, _booked("ann"), joined, _people("ann", "bob"), NOW)
    assert writes.added == ("bob",) and not writes.hold_changed and writes.notices == ()


def test_a_cancel_tells_everyone_waiting_and_skips_who_has_no_address() -> None:
    before = _held("ann", "bob", "cat")
    after = before.cancelled_by("host", etag="", now=NOW)
    people = _people("ann", "bob", "cat", without_address=("cat",))
    writes = writes_for(Change.CANCELLED, before, after, people, NOW)
    assert writes.removed == ("ann", "bob", "cat") and writes.holder is None
    told = [(n.kind, n.recipient_id, n.recipient is not None) for n in writes.notices]
    assert told == [
        (NoticeKind.CANCELLED, "ann", True),
        (NoticeKind.CANCELLED, "bob", True),
        (NoticeKind.CANCELLED, "cat", False),  # recorded as skipped: no address known
    ]


def test_a_booking_by_the_holder_writes_no_mail() -> None:
    before = _held("ann", "bob")
    after = before.booked_by("ann", NOW)
    writes = writes_for(Change.BOOKED, before, after, _people("ann", "bob"), NOW)
    assert writes.removed == ("ann",) and writes.hold_changed and writes.holder is None
    assert writes.notices == ()
    nothing = writes_for(Change.BOOKED, _room(), _room().booked_by("x", NOW), _people(), NOW)
    assert nothing.nothing


def test_who_sees_what_of_a_waitlist() -> None:
    line = Waitlist(("ann", "bob"), NOW + HOLD)
    assert shared_view(line).length == 2 and shared_view(line).hold_until == NOW + HOLD
    assert shared_view(line).waiting == () and shared_view(line).your_position == 0
    ann = view_for(line, "ann", host_id="host")
    assert (ann.your_position, ann.hold_is_yours, ann.waiting) == (1, True, ())
    bob = view_for(line, "bob", host_id="host")
    assert (bob.your_position, bob.hold_is_yours, bob.waiting) == (2, False, ())
    stranger = view_for(line, "cat", host_id="host")
    assert (stranger.your_position, stranger.hold_is_yours, stranger.waiting) == (0, False, ())
    host = view_for(line, "host", host_id="host")
    assert host.waiting == ("ann", "bob") and host.your_position == 0
