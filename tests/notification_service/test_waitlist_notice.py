"""The waitlist's e-mails (DeliverWaitlistNotice): an offer of a held room, and the cancel
told to those waiting. Whatever the title, topics and names say, the mail keeps its
shape, names one recipient, says until when the room is held in the recipient's zone,
and carries nothing of the room's description or its participants."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given

from notification_service.delivery.calendar.addresses import shown
from notification_service.delivery.dry_run import DryRunProvider
from notification_service.domain.errors import InvalidMessage
from notification_service.domain.model import Mailbox, Outcome, Round
from notification_service.domain.waitlist_validation import (
    NoticeKind,
    WaitlistNoticeMessage,
    validate_waitlist_notice,
)
from notification_service.render.bodies import format_when_short
from notification_service.service_layer.notifier import Notifier, render_and_verify_waitlist
from tests.notification_service.mail_strategies import (
    INVITE_HEADERS,
    PROPERTY,
    REMINDER_TREE,
    hostile_text,
    no_space,
    read_mail,
)

SENDER = Mailbox("rooms@mail.example.net", "Practice Rooms")
AT = datetime(2030, 1, 31, 17, 0, tzinfo=UTC)
ROOM_ID = "0b7c1d5e-3f9a-4a8e-9d1c-2f4b6a8c0e12"


def notice(**fields: object) -> WaitlistNoticeMessage:
    values: dict[str, object] = {
        "kind": NoticeKind.OFFER,
        "uid": f"{ROOM_ID}@rooms.example.net",
        "room_id": ROOM_ID,
        "title": "Mock interview",
        "start": AT + timedelta(days=1),
        "end": AT + timedelta(days=1, hours=1),
        "rounds": (Round(1, "Arrays"),),
        "recipient": Mailbox("carol@example.org", "Carol"),
        "time_zone": "Europe/Paris",
        "hold_until": AT + timedelta(minutes=15),
        "notice_time": AT,
        "idempotency_key": "outbox-9",
    }
    values.update(fields)
    return WaitlistNoticeMessage(**values)  # type: ignore[arg-type]


def test_an_offer_says_what_is_held_until_when_and_how_to_book_it() -> None:
    read = read_mail(render_and_verify_waitlist(validate_waitlist_notice(notice()), SENDER).mime)
    assert read.header_names == INVITE_HEADERS
    assert read.tree == REMINDER_TREE  # text and HTML, no calendar part: no invitation yet
    assert read.calendar is None
    assert [address for _, address in read.to] == ["carol@example.org"]
    assert read.subject == "Held for you: Mock interview"
    held = format_when_short(AT + timedelta(minutes=15), ZoneInfo("Europe/Paris"))
    assert f"Held until: {held}" in read.plain and "18:15" in held  # the recipient's zone
    assert f"Room: {ROOM_ID}" in read.plain and "Round 1: Arrays" in read.plain
    assert "next person in line" in read.plain


def test_a_cancel_tells_the_waitlist_is_gone() -> None:
    message = notice(kind=NoticeKind.CANCELLED, hold_until=None)
    read = read_mail(render_and_verify_waitlist(validate_waitlist_notice(message), SENDER).mime)
    assert read.subject == "Cancelled: Mock interview"
    assert "cancelled by its host" in read.plain and "Held until" not in read.plain
    assert read.tree == REMINDER_TREE


async def test_a_repeat_renders_the_same_message_id_and_a_new_hold_another() -> None:
    notifier = Notifier(DryRunProvider(), SENDER, show_url=shown)
    first = await notifier.deliver_waitlist(notice())
    again = await notifier.deliver_waitlist(notice())
    assert first.result.outcome is Outcome.DRY_RUN
    assert first.message_id == again.message_id
    later = await notifier.deliver_waitlist(notice(hold_until=AT + timedelta(minutes=30)))
    assert later.message_id != first.message_id


def test_what_makes_a_notice_invalid() -> None:
    with pytest.raises(InvalidMessage) as bad:
        validate_waitlist_notice(
            notice(
                kind=None,
                room_id="has spaces",
                notice_time=None,
                recipient=Mailbox("not an address", ""),
                time_zone="Mars/Olympus",
            )
        )
    assert {v.field for v in bad.value.violations} == {
        "notice.kind",
        "notice.room_id",
        "notice.notice_time",
        "notice.recipient.email",
        "notice.recipient.time_zone",
    }
    with pytest.raises(InvalidMessage) as bad:
        validate_waitlist_notice(notice(hold_until=None))
    assert [v.field for v in bad.value.violations] == ["notice.hold_until"]  # an offer's
    with pytest.raises(InvalidMessage) as bad:
        validate_waitlist_notice(notice(hold_until=AT))
    assert [v.field for v in bad.value.violations] == ["notice.hold_until"]  # not after now
    with pytest.raises(InvalidMessage) as bad:
        validate_waitlist_notice(notice(kind=NoticeKind.CANCELLED))
    assert [v.field for v in bad.value.violations] == ["notice.hold_until"]  # not a cancel's


@PROPERTY
@given(title=hostile_text(200), topic=hostile_text(200), name=hostile_text())
def test_hostile_titles_topics_and_names_never_shape_the_mail(
    title: str, topic: str, name: str
) -> None:
    for kind in NoticeKind:
        message = notice(
            kind=kind,
            title=title,
            rounds=(Round(1, topic),),
            recipient=Mailbox("bob@example.org", name),
            hold_until=AT + timedelta(minutes=15) if kind is NoticeKind.OFFER else None,
        )
        try:
            valid = validate_waitlist_notice(message)
        except InvalidMessage as exc:
            assert {v.field for v in exc.violations} <= {
                "notice.title",
                "notice.rounds[0].topic",
                "notice.recipient.display_name",
            }
            return
        read = read_mail(render_and_verify_waitlist(valid, SENDER).mime)
        assert read.header_names == INVITE_HEADERS
        assert read.tree == REMINDER_TREE
        assert [address for _, address in read.to] == ["bob@example.org"]
        assert no_space(valid.title) in no_space(read.subject)
        assert valid.title in read.plain and html.escape(valid.title) in read.html
        assert f"Round 1: {topic}" in read.plain
        assert f"Room: {ROOM_ID}" in read.plain  # the facts are still where they belong
