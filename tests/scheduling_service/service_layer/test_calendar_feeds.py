"""The calendar-feed use cases against in-memory fakes: one live token per user, the
bucket, a conditional read answered without rendering, tombstones only for users with a
feed. In-process; the SQL and the wire are tested against real servers
(tests/scheduling_service/test_calendar_feeds.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from scheduling_service.domain import errors
from scheduling_service.domain.calendar_feed import FeedContent
from scheduling_service.service_layer.calendar_feeds import CalendarFeedService, new_token
from scheduling_service.service_layer.rooms import CreateRoom, RoomService
from tests.scheduling_service.service_layer.fakes import FakeClock, FakeDatabase, person

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
HOST, GUEST = person("host"), person("guest")


class Renders:
    """A renderer that counts its calls (what a 304 must not cost)."""

    def __init__(self) -> None:
        self.calls: list[FeedContent] = []

    def __call__(self, content: FeedContent) -> bytes:
        self.calls.append(content)
        return f"{len(content.sessions)} sessions, {len(content.tombstones)} cancelled".encode()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def fake_db() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def renders() -> Renders:
    return Renders()


@pytest.fixture
def feeds(fake_db: FakeDatabase, clock: FakeClock, renders: Renders) -> CalendarFeedService:
    return CalendarFeedService(
        fake_db,
        base_url="https://rooms.example.test",
        rate_per_min=6,
        refresh=timedelta(hours=1),
        render=renders,
        clock=clock,
    )


@pytest.fixture
def rooms(fake_db: FakeDatabase, clock: FakeClock) -> RoomService:
    return RoomService(fake_db, uid_domain="example.test", clock=clock)


async def _booked(rooms: RoomService) -> uuid.UUID:
    create = CreateRoom("Mock", "notes", NOW + timedelta(days=1), timedelta(hours=1), "A", None)
    room = (await rooms.create_room(HOST, create)).room
    await rooms.book_room(GUEST, room.room_id)
    return room.room_id


def test_tokens_are_43_characters_and_never_repeat() -> None:
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000 and {len(t) for t in tokens} == {43}


async def test_the_url_is_the_base_the_token_and_ics(feeds: CalendarFeedService) -> None:
    issued = await feeds.rotate(HOST)
    assert issued.url == f"https://rooms.example.test/v1/calendarFeeds/{issued.token}.ics"
    assert issued.create_time == NOW


async def test_one_live_token_per_user(feeds: CalendarFeedService, fake_db: FakeDatabase) -> None:
    first = (await feeds.rotate(HOST)).token
    second = (await feeds.rotate(HOST)).token
    with pytest.raises(errors.FeedNotFound):
        await feeds.read(first, None)
    await feeds.read(second, None)
    assert first not in repr(fake_db.store.feeds)  # only hashes are kept
    await feeds.revoke(HOST)
    with pytest.raises(errors.FeedNotFound):
        await feeds.read(second, None)
    with pytest.raises(errors.FeedNotFound):
        await feeds.revoke(HOST)


async def test_a_conditional_read_renders_nothing(
    feeds: CalendarFeedService, rooms: RoomService, renders: Renders
) -> None:
    assert len(renders.calls) == 1  # the sample the renderer is known by
    token = (await feeds.rotate(HOST)).token
    await _booked(rooms)
    full = await feeds.read(token, None)
    assert full.body == b"1 sessions, 0 cancelled" and len(renders.calls) == 2
    same = await feeds.read(token, full.etag)
    assert (same.body, same.etag, len(renders.calls)) == (None, full.etag, 2)


async def test_another_rendering_is_another_etag(fake_db: FakeDatabase, clock: FakeClock) -> None:
    """A new version of the renderer (another sample output): no client keeps its body."""
    etags = []
    for renderer in (lambda c: b"v1", lambda c: b"v2"):
        feeds = CalendarFeedService(
            fake_db,
            base_url="https://rooms.example.test",
            rate_per_min=6,
            refresh=timedelta(hours=1),
            render=renderer,
            clock=clock,
        )
        token = (await feeds.rotate(HOST)).token
        etags.append((await feeds.read(token, None)).etag)
    assert etags[0] != etags[1]


async def test_the_bucket_holds_a_burst_then_refills(
    feeds: CalendarFeedService, clock: FakeClock
) -> None:
    token = (await feeds.rotate(HOST)).token
    for _ in range(6):
        await feeds.read(token, None)
    with pytest.raises(errors.FeedRateLimited):
        await feeds.read(token, None)
    # Reading on at the limit keeps it refused; slowing down lets it through again.
    clock.now += timedelta(seconds=5)
    with pytest.raises(errors.FeedRateLimited):
        await feeds.read(token, None)
    clock.now += timedelta(seconds=20)
    await feeds.read(token, None)


async def test_tombstones_only_for_users_with_a_feed(
    feeds: CalendarFeedService, rooms: RoomService, fake_db: FakeDatabase, clock: FakeClock
) -> None:
    token = (await feeds.rotate(GUEST)).token
    room_id = await _booked(rooms)
    await rooms.cancel_room(HOST, room_id, reason="", etag="")
    assert [user for user, _ in fake_db.store.tombstones] == ["guest"]
    assert (await feeds.read(token, None)).body == b"0 sessions, 1 cancelled"
    # A tombstone is shown for 30 days.
    clock.now += timedelta(days=31)
    assert (await feeds.read(token, None)).body == b"0 sessions, 0 cancelled"
