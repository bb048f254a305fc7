"""What a sync-collection answer means for a busy read (delivery/calendar/sync.py), and
the token's way there and back: pure, on hand-made answers (the real servers' answers
are tests/notification_service/test_calendar_busy_sync.py)."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notification_service.delivery.calendar.caldav_xml import dav_tag, sync_collection_body
from notification_service.delivery.calendar.objects import href_for, is_our_copy
from notification_service.delivery.calendar.safe_http import HttpResponse
from notification_service.delivery.calendar.sync import Changes, read_changes
from notification_service.domain.busy import MAX_SYNC_TOKEN, usable_sync_token

COLLECTION = "https://cal.example/dav/alice/work/"
DOMAIN = "rooms.test"
UID = "session-1@rooms.test"
OURS = href_for(COLLECTION, UID)
TOKEN = "http://cal.example/ns/sync/42"
NO_UID = (
    "BEGIN:VEVENT\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260304T100000Z\r\n"
    "DTEND:20260304T110000Z\r\nEND:VEVENT\r\n"
)


def _data(uid: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260303T100000Z\r\n"
        "DTEND:20260303T110000Z\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def _member(href: str, data: str | None = None, status: str | None = None) -> str:
    if status is not None:  # the member's own status: removed (404), truncated (507)
        return (
            f"<D:response><D:href>{escape(href)}</D:href>"
            f"<D:status>HTTP/1.1 {status} X</D:status></D:response>"
        )
    found = "" if data is None else f"<C:calendar-data>{escape(data)}</C:calendar-data>"
    return (
        f"<D:response><D:href>{escape(href)}</D:href><D:propstat><D:prop>"
        f'<D:getetag>"e"</D:getetag>{found}</D:prop>'
        "<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>"
    )


def _answer(*members: str, token: str | None = TOKEN) -> HttpResponse:
    sync = f"<D:sync-token>{escape(token)}</D:sync-token>" if token is not None else ""
    body = (
        '<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        f"{''.join(members)}{sync}</D:multistatus>"
    )
    return HttpResponse(207, None, body.encode(), COLLECTION)  # type: ignore[arg-type]


def _read(response: HttpResponse) -> Changes | None:
    return read_changes(response, COLLECTION, DOMAIN, lambda: None)


UNCHANGED, CHANGED = Changes(TOKEN, others_changed=False), Changes(TOKEN, others_changed=True)


def test_nothing_changed_is_unchanged_with_the_new_token() -> None:
    assert _read(_answer()) == UNCHANGED


def test_only_our_own_copies_written_is_unchanged() -> None:
    other = "session-2@rooms.test"
    answer = _answer(
        _member(OURS, _data(UID)),
        _member(href_for(COLLECTION, other).removeprefix("https://cal.example"), _data(other)),
        _member(COLLECTION),
    )
    assert _read(answer) == UNCHANGED


def test_a_removal_is_a_change_even_under_our_name() -> None:
    """Whose object went can no longer be told: a person's Evolution event is named by
    a hash of its UID too."""
    assert _read(_answer(_member(OURS, status="404"))) == CHANGED


def test_a_person_s_event_named_like_ours_is_a_change() -> None:
    """Evolution names an event <sha1 of its UID>.ics: 40 hex digits, like ours."""
    uid = hashlib.sha1(b"evolution").hexdigest()
    name = f"{COLLECTION}{uid}.ics"
    assert _read(_answer(_member(name, _data(uid)))) == CHANGED
    # Our UID domain, but not at the name we would write it under (an imported invite):
    assert _read(_answer(_member(name, _data(UID)))) == CHANGED


@pytest.mark.parametrize(
    "member",
    [
        _member("/dav/alice/work/dentist.ics", _data("dentist@x")),
        _member(OURS, _data(UID) + _data("other@x")),  # two UIDs
        _member(OURS, "not a calendar"),
        _member(OURS.replace("/work/", "/other/"), _data(UID)),  # another collection
        _member("https://elsewhere.example/dav/alice/work/x.ics", _data(UID)),
        _member(OURS, _data("session-1@rooms.test.evil.example")),
        # Ours, and beside it a VEVENT with no UID (a full read counts it as busy).
        _member(OURS, _data(UID).replace("END:VCALENDAR\r\n", NO_UID + "END:VCALENDAR\r\n")),
        f"<D:response><D:href>{OURS}</D:href><D:href>/dav/alice/work/b.ics</D:href>"
        "<D:status>HTTP/1.1 200 OK</D:status></D:response>",  # several under one status
    ],
    ids=[
        "a-persons-event",
        "two-uids",
        "unreadable",
        "other-collection",
        "other-host",
        "lookalike-domain",
        "an-event-without-a-uid-beside-ours",
        "several-hrefs",
    ],
)
def test_any_other_change_is_a_change(member: str) -> None:
    assert _read(_answer(_member(OURS, _data(UID)), member)) == CHANGED


def test_members_named_as_ours_sent_without_data_are_to_be_confirmed() -> None:
    """Xandikos 0.4 sends no calendar-data in a sync report: the data is fetched."""
    other = href_for(COLLECTION, "session-2@rooms.test")
    answer = _answer(_member(OURS), _member(other, _data("session-2@rooms.test")))
    assert _read(answer) == Changes(TOKEN, others_changed=False, to_confirm=(OURS,))
    # Anything else without data is a change at once (nothing to confirm).
    assert _read(_answer(_member(OURS), _member(f"{COLLECTION}x.ics"))) == CHANGED


def test_a_truncated_answer_is_a_change() -> None:
    """RFC 6578 section 3.6: the collection itself with 507 says more changes exist."""
    truncated = _answer(_member(OURS, _data(UID)), _member(COLLECTION, status="507"))
    assert _read(truncated) == CHANGED


@pytest.mark.parametrize(
    "token", [None, "", "a b", "tok\u00e9n", "x" * (MAX_SYNC_TOKEN + 1), "t\x7f"]
)
def test_an_answer_without_a_usable_token_says_nothing(token: str | None) -> None:
    assert _read(_answer(token=token)) is None


def test_an_answer_that_is_not_a_multistatus_says_nothing() -> None:
    response = HttpResponse(207, None, b"<D:error xmlns:D='DAV:'/>", COLLECTION)  # type: ignore[arg-type]
    assert _read(response) is None


def test_is_our_copy_is_by_uid_and_href_in_that_collection() -> None:
    assert is_our_copy(COLLECTION, OURS, _data(UID), DOMAIN)
    # The domain in any case, but the href is the UID's own: another UID's is not ours.
    assert is_our_copy(COLLECTION, OURS, _data(UID), "Rooms.Test")
    assert not is_our_copy(COLLECTION, OURS, _data("SESSION-1@ROOMS.TEST"), DOMAIN)
    assert is_our_copy(COLLECTION, OURS.replace("cal.example", "CAL.example"), _data(UID), DOMAIN)
    assert not is_our_copy(COLLECTION, OURS, _data(UID), "other.test")
    assert not is_our_copy(COLLECTION, OURS + ".bak", _data(UID), DOMAIN)


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


@given(
    st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E),
        min_size=1,
        max_size=MAX_SYNC_TOKEN - 5,
    )
)
def test_xml_specials_in_a_token_are_escaped_on_the_way_out(text: str) -> None:
    token = usable_sync_token("<&>\"'" + text)
    assert token == "<&>\"'" + text
    assert ET.fromstring(sync_collection_body(token)).findtext(dav_tag("sync-token")) == token
