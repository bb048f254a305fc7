"""A feed's body (adapters/feed_ics.py) as readers see it, whatever the texts in it: the
events given and no other, each text read back as written (control characters aside),
no address of anyone. icalendar and vobject here; ical.js reads real feeds in
tests/scheduling_service/test_calendar_feeds.py."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import icalendar
import vobject
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling_service.adapters.feed_ics import render, with_whom
from scheduling_service.domain.calendar_feed import FeedContent, FeedSession, Tombstone

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
# Anything a title, description, topic or display name could hold on its way in.
hostile = st.lists(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)
    | st.sampled_from(["\r\n", "\r", "\n", "\\", ";", ",", ":", '"', "\u2028", "\r\nBEGIN:VEVENT"]),
    max_size=10,
).map("".join)


def _clean(text: str) -> str:
    """What a reader gets back: line breaks as LF, other controls as U+FFFD."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return re.sub("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]", "\ufffd", text)


def _session(title: str, description: str, topic: str, name: str | None, n: int) -> FeedSession:
    return FeedSession(
        room_id=uuid.UUID(int=n),
        ics_uid=f"{uuid.UUID(int=n)}@rooms.example.test",
        sequence=n,
        title=title,
        description=description,
        rounds=((1, topic),),
        starts=NOW + timedelta(days=n),
        ends=NOW + timedelta(days=n, hours=1),
        update_time=NOW,
        hosting=n % 2 == 0,
        other_name=name,
    )


@settings(max_examples=150, deadline=None)
@given(title=hostile, description=hostile, topic=hostile, name=hostile, gone=hostile)
def test_hostile_texts_read_back_as_written_and_add_nothing(
    title: str, description: str, topic: str, name: str, gone: str
) -> None:
    sessions = [_session(title, description, topic, name, 1), _session(title, "", "", None, 2)]
    tombstone = Tombstone("u", uuid.UUID(int=3), "t@x", 4, gone, NOW, NOW + timedelta(hours=1), NOW)
    body = render(FeedContent.of(sessions, [tombstone], timedelta(hours=1)))
    assert all(len(line) <= 75 for line in body.split(b"\r\n"))
    assert b"\r" not in body.replace(b"\r\n", b"") and b"\n" not in body.replace(b"\r\n", b"")

    calendar = icalendar.Calendar.from_ical(body)
    events = calendar.walk("VEVENT")
    assert [str(e["UID"]) for e in events] == [s.ics_uid for s in sessions] + ["t@x"]
    assert {name for e in events for name in e} == {
        "UID", "SEQUENCE", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY", "DESCRIPTION",
        "STATUS", "TRANSP",
    }  # fmt: skip
    first, second, cancelled = events
    assert str(first["SUMMARY"]) == _clean(title)
    whom = with_whom(sessions[0])
    assert "\n" not in whom and whom.isprintable()
    assert str(first["DESCRIPTION"]).startswith(_clean(whom) + "\n\n")
    assert str(first["DESCRIPTION"]).endswith(f"Round 1: {_clean(topic)}")
    assert str(second["DESCRIPTION"]) == "Not booked yet\n\nRound 1: "
    assert (str(cancelled["SUMMARY"]), str(cancelled["STATUS"])) == (_clean(gone), "CANCELLED")

    parsed = vobject.readOne(body.decode("utf-8"))
    assert [e.summary.value for e in parsed.vevent_list] == [_clean(title)] * 2 + [_clean(gone)]


def test_the_other_participant_by_name_and_nobody_s_address() -> None:
    hosting = _session("t", "", "r", "Bob Guest", 2)
    guest = _session("t", "", "r", "", 1)
    assert with_whom(hosting) == "Your guest: Bob Guest"
    assert with_whom(guest) == "Your host: (no name given)"
    body = render(FeedContent.of([hosting, guest], [], timedelta(hours=1)))
    assert b"mailto:" not in body and b"ORGANIZER" not in body and b"ATTENDEE" not in body


def test_the_calendar_asks_to_be_refreshed_and_carries_no_alarm() -> None:
    body = render(FeedContent.of([_session("t", "", "r", "B", 1)], [], timedelta(minutes=90)))
    calendar = icalendar.Calendar.from_ical(body)
    assert calendar["REFRESH-INTERVAL"].to_ical() == b"PT1H30M"
    assert str(calendar["X-PUBLISHED-TTL"]) == "PT1H30M"
    assert (str(calendar["METHOD"]), str(calendar["X-WR-CALNAME"])) == (
        "PUBLISH",
        "Practice sessions",
    )
    assert b"VALARM" not in body


def test_the_same_content_gives_the_same_bytes() -> None:
    content = FeedContent.of([_session("t", "d", "r", "B", 1)], [], timedelta(hours=1))
    assert render(content) == render(content)
