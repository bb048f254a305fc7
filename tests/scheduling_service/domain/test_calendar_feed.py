"""What a calendar feed holds and what a change writes for it (pure rules)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduling_service.domain import calendar_feed, errors
from scheduling_service.domain.calendar_feed import FeedContent, FeedSession, Tombstone
from scheduling_service.domain.changes import Change
from scheduling_service.domain.room import Room

NOW = datetime(2030, 1, 1, tzinfo=UTC)
OPEN = Room.new(
    host_id="host",
    title="Mock interview",
    description="",
    starts=NOW + timedelta(days=1),
    length=timedelta(hours=1),
    first_round_topic="r",
    uid_domain="d",
    now=NOW,
)
BOOKED = OPEN.booked_by("guest", NOW)
R = "renderer-1"
TOKEN = "A" * 21 + "-_" + "z9" * 10


def test_a_token_is_43_url_safe_characters_and_may_end_in_ics() -> None:
    assert calendar_feed.parse_token(TOKEN) == TOKEN
    assert calendar_feed.parse_token(TOKEN + ".ics") == TOKEN
    assert calendar_feed.token_hash(TOKEN) != calendar_feed.token_hash(TOKEN[::-1])
    assert len(calendar_feed.token_hash(TOKEN)) == 32


@given(st.text(max_size=120))
def test_anything_else_is_not_found_and_says_nothing_of_it(raw: str) -> None:
    if raw.removesuffix(".ics") == TOKEN or not raw:
        return
    try:
        calendar_feed.parse_token(raw)
    except errors.FeedNotFound as refused:
        assert refused.message == "no such calendar feed"
    else:
        token = raw.removesuffix(".ics")
        assert len(token) == 43 and all(c.isascii() and (c.isalnum() or c in "-_") for c in token)


def test_a_missing_token_is_an_invalid_argument() -> None:
    with pytest.raises(errors.InvalidArgument) as refused:
        calendar_feed.parse_token("")
    assert [v.field for v in refused.value.violations] == ["token"]


def test_the_log_label_is_a_hash_prefix_the_same_with_or_without_ics() -> None:
    label = calendar_feed.label(TOKEN)
    assert label == calendar_feed.label(TOKEN + ".ics") == calendar_feed.token_hash(TOKEN).hex()[:8]
    assert TOKEN[:8] not in label


def test_cancel_buries_both_participants_and_leave_the_guest() -> None:
    cancelled = BOOKED.cancelled_by("host", etag="", now=NOW)
    writes = calendar_feed.writes_for(Change.CANCELLED, BOOKED, cancelled, NOW)
    assert [t.user_id for t in writes.tombstones] == ["host", "guest"]
    stone = writes.tombstones[0]
    assert (stone.ics_uid, stone.starts, stone.ends, stone.title) == (
        BOOKED.ics_uid,
        BOOKED.starts,
        BOOKED.ends,
        BOOKED.title,
    )
    assert stone.sequence == cancelled.sequence > BOOKED.sequence
    assert stone.cancel_time == NOW

    left = BOOKED.left_by("guest", NOW)
    writes = calendar_feed.writes_for(Change.LEFT, BOOKED, left, NOW)
    assert [t.user_id for t in writes.tombstones] == ["guest"]
    assert writes.tombstones[0].sequence == left.sequence


def test_a_booking_takes_back_the_guests_tombstone_and_other_changes_write_nothing() -> None:
    writes = calendar_feed.writes_for(Change.BOOKED, OPEN, BOOKED, NOW)
    assert (writes.tombstones, writes.returned) == ((), ("guest",))
    assert calendar_feed.writes_for(Change.CREATED, None, OPEN, NOW).nothing
    moved = dataclasses.replace(BOOKED, starts=BOOKED.starts + timedelta(hours=2))
    assert calendar_feed.writes_for(Change.RESCHEDULED, BOOKED, moved, NOW).nothing


def _session(**changes: object) -> FeedSession:
    values: dict[str, object] = {
        "room_id": uuid.UUID(int=1),
        "ics_uid": "u1@d",
        "sequence": 1,
        "title": "t",
        "description": "d",
        "rounds": ((1, "r"),),
        "starts": NOW,
        "ends": NOW + timedelta(hours=1),
        "update_time": NOW,
        "hosting": True,
        "other_name": "Bob",
    }
    values.update(changes)
    return FeedSession(**values)  # type: ignore[arg-type]


def _tombstone(room_id: uuid.UUID) -> Tombstone:
    return Tombstone("u", room_id, "u2@d", 3, "t", NOW, NOW + timedelta(hours=1), NOW)


def test_a_tombstone_of_a_session_the_user_is_back_in_is_not_shown() -> None:
    content = FeedContent.of(
        [_session()], [_tombstone(uuid.UUID(int=1)), _tombstone(uuid.UUID(int=2))], timedelta(1)
    )
    assert [t.room_id for t in content.tombstones] == [uuid.UUID(int=2)]


@pytest.mark.parametrize(
    "field,value",
    [
        ("sequence", 2),
        ("title", "T"),
        ("description", "D"),
        ("rounds", ((1, "R"),)),
        ("starts", NOW + timedelta(seconds=1)),
        ("ends", NOW + timedelta(hours=2)),
        ("update_time", NOW + timedelta(seconds=1)),
        ("hosting", False),
        ("other_name", None),
        ("other_name", ""),
    ],
)
def test_the_etag_changes_with_everything_the_body_shows(field: str, value: object) -> None:
    before = FeedContent.of([_session()], [], timedelta(hours=1)).etag(R)
    after = FeedContent.of([_session(**{field: value})], [], timedelta(hours=1)).etag(R)
    assert before != after
    assert before == FeedContent.of([_session()], [], timedelta(hours=1)).etag(R)


def test_the_etag_changes_with_the_renderer() -> None:
    content = FeedContent.of([_session()], [], timedelta(hours=1))
    assert content.etag("renderer-1") != content.etag("renderer-2")


def test_the_etag_changes_with_tombstones_and_the_refresh_interval() -> None:
    plain = FeedContent.of([_session()], [], timedelta(hours=1)).etag(R)
    assert plain != FeedContent.of([_session()], [_tombstone(uuid.UUID(int=2))], timedelta(1)).etag(
        R
    )
    assert plain != FeedContent.of([_session()], [], timedelta(hours=2)).etag(R)
    assert plain.startswith('"') and plain.endswith('"') and len(plain) == 34


@pytest.mark.parametrize(
    "header,matched",
    [
        ('"abc"', True),
        ('W/"abc"', True),
        ('"x", "abc"', True),
        ("*", True),
        ('"x"', False),
        ("abc", False),
        ("", False),
    ],
)
def test_if_none_match(header: str, matched: bool) -> None:
    assert calendar_feed.matches(header, '"abc"') is matched
