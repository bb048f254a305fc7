"""What a sync-collection answer means for a busy read (delivery/calendar/sync.py), and
the token's way there and back: pure, on hand-made answers (the real servers' answers
are tests/notification_service/test_calendar_busy_sync.py)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notification_service.delivery.calendar.caldav_xml import dav_tag, sync_collection_body
from notification_service.delivery.calendar.objects import href_for, named_as_ours
from notification_service.delivery.calendar.safe_http import HttpResponse
from notification_service.delivery.calendar.sync import Changes, read_changes
from notification_service.domain.busy import MAX_SYNC_TOKEN, usable_sync_token

COLLECTION = "https://cal.example/dav/alice/work/"
OURS = href_for(COLLECTION, "session-1@rooms.test")
TOKEN = "http://cal.example/ns/sync/42"


def _answer(*members: tuple[str, str], token: str | None = TOKEN) -> HttpResponse:
    responses = "".join(
        f"<D:response><D:href>{escape(href)}</D:href>"
        + (
            f"<D:status>HTTP/1.1 {status} X</D:status>"
            if status in ("404", "507")
            else '<D:propstat><D:prop><D:getetag>"e"</D:getetag></D:prop>'
            f"<D:status>HTTP/1.1 {status} X</D:status></D:propstat>"
        )
        + "</D:response>"
        for href, status in members
    )
    sync = f"<D:sync-token>{escape(token)}</D:sync-token>" if token is not None else ""
    body = f'<D:multistatus xmlns:D="DAV:">{responses}{sync}</D:multistatus>'
    return HttpResponse(207, None, body.encode(), COLLECTION)  # type: ignore[arg-type]


def _read(response: HttpResponse) -> Changes | None:
    return read_changes(response, COLLECTION, lambda: None)


def test_nothing_changed_is_unchanged_with_the_new_token() -> None:
    assert _read(_answer()) == Changes(TOKEN, others_changed=False)


def test_only_our_own_objects_changed_or_removed_is_unchanged() -> None:
    path = OURS.removeprefix("https://cal.example")
    answer = _answer((OURS, "200"), (path, "404"), (COLLECTION, "200"))
    assert _read(answer) == Changes(TOKEN, others_changed=False)


@pytest.mark.parametrize(
    "href",
    [
        "/dav/alice/work/dentist.ics",  # a person's event
        "/dav/alice/work/" + OURS.rsplit("/", 1)[1].upper(),  # not our spelling
        "/dav/alice/other/" + OURS.rsplit("/", 1)[1],  # our name in another collection
        "https://elsewhere.example/dav/alice/work/" + OURS.rsplit("/", 1)[1],
        "/dav/alice/work/sub/" + OURS.rsplit("/", 1)[1],
    ],
)
def test_any_other_member_changed_or_removed_is_a_change(href: str) -> None:
    for status in ("200", "404"):
        assert _read(_answer((OURS, "200"), (href, status))) == Changes(TOKEN, True)


def test_a_truncated_answer_is_a_change() -> None:
    """RFC 6578 section 3.6: the collection itself with 507 says more changes exist."""
    truncated = _answer((OURS, "200"), (COLLECTION, "507"))
    assert _read(truncated) == Changes(TOKEN, others_changed=True)


@pytest.mark.parametrize(
    "token", [None, "", "a b", "tok\u00e9n", "x" * (MAX_SYNC_TOKEN + 1), "t\x7f"]
)
def test_an_answer_without_a_usable_token_says_nothing(token: str | None) -> None:
    assert _read(_answer(token=token)) is None


def test_an_answer_that_is_not_a_multistatus_says_nothing() -> None:
    response = HttpResponse(207, None, b"<D:error xmlns:D='DAV:'/>", COLLECTION)  # type: ignore[arg-type]
    assert _read(response) is None


def test_named_as_ours_is_exactly_href_for_s_names_in_that_collection() -> None:
    assert named_as_ours(COLLECTION, OURS)
    assert named_as_ours(COLLECTION.upper().replace("/DAV/ALICE/WORK/", "/dav/alice/work/"), OURS)
    assert not named_as_ours(COLLECTION, COLLECTION)
    assert not named_as_ours(COLLECTION, OURS + ".bak")


@given(st.text(max_size=2 * MAX_SYNC_TOKEN))
def test_a_token_is_kept_only_as_visible_ascii_and_goes_back_unchanged(text: str) -> None:
    kept = usable_sync_token(text)
    if kept:
        assert len(kept) <= MAX_SYNC_TOKEN and kept.isascii() and kept.isprintable()
        assert " " not in kept
        sent = ET.fromstring(sync_collection_body(kept))
        assert sent.findtext(dav_tag("sync-token")) == kept
        assert sent.findtext(dav_tag("sync-level")) == "1"
    else:
        stripped = text.strip()
        assert (
            not stripped
            or len(stripped) > MAX_SYNC_TOKEN
            or any(not "\x21" <= c <= "\x7e" for c in stripped)
        )


@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1))
def test_xml_specials_in_a_token_are_escaped_on_the_way_out(text: str) -> None:
    token = usable_sync_token("<&>\"'" + text)
    assert ET.fromstring(sync_collection_body(token)).findtext(dav_tag("sync-token")) == token
