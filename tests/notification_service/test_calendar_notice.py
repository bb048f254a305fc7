"""The broken-connection notice (DeliverCalendarNotice): whatever the reason and the URL
say, the mail keeps its shape, names one recipient, shows the URL without credentials,
and says what to do."""

from __future__ import annotations

import html
from datetime import UTC, datetime

import pytest
from hypothesis import given

from notification_service.delivery.calendar.addresses import shown
from notification_service.delivery.dry_run import DryRunProvider
from notification_service.domain.errors import InvalidMessage
from notification_service.domain.model import Mailbox, Outcome
from notification_service.domain.notice_validation import CalendarNoticeMessage, validate_notice
from notification_service.service_layer.notifier import Notifier, render_and_verify_notice
from tests.notification_service.mail_strategies import (
    INVITE_HEADERS,
    PROPERTY,
    REMINDER_TREE,
    hostile_text,
    read_mail,
)

SENDER = Mailbox("rooms@mail.example.net", "Practice Rooms")
AT = datetime(2030, 1, 31, 17, 0, tzinfo=UTC)


def notice(**fields: object) -> CalendarNoticeMessage:
    values: dict[str, object] = {
        "recipient": Mailbox("alice@example.org", "Alice"),
        "calendar_url": "https://caldav.example.com/dav/alice/work/",
        "reason": "the calendar server refused the credentials (HTTP 401)",
        "notice_time": AT,
        "idempotency_key": "outbox-7",
    }
    values.update(fields)
    return CalendarNoticeMessage(**values)  # type: ignore[arg-type]


def test_the_notice_says_which_calendar_why_and_what_to_do() -> None:
    valid = validate_notice(notice(), shown)
    read = read_mail(render_and_verify_notice(valid, SENDER).mime)
    assert read.header_names == INVITE_HEADERS
    assert read.tree == REMINDER_TREE  # text and HTML, no calendar part
    assert read.calendar is None
    assert [address for _, address in read.to] == ["alice@example.org"]
    assert "calendar" in read.subject.lower()
    assert "https://caldav.example.com/dav/alice/work/" in read.plain
    assert "refused the credentials (HTTP 401)" in read.plain
    assert "Connect your calendar again" in read.plain


def test_the_url_is_shown_without_credentials_or_query() -> None:
    url = "https://caldav.example.com/dav/alice/?token=s3cret"
    valid = validate_notice(notice(calendar_url=url), shown)
    read = read_mail(render_and_verify_notice(valid, SENDER).mime)
    assert "s3cret" not in read.plain and "s3cret" not in read.html


async def test_a_repeat_renders_the_same_message_id() -> None:
    notifier = Notifier(DryRunProvider(), SENDER, show_url=shown)
    first = await notifier.deliver_notice(notice())
    again = await notifier.deliver_notice(notice())
    assert first.result.outcome is Outcome.DRY_RUN
    assert first.message_id == again.message_id


def test_a_notice_without_a_time_or_a_recipient_is_invalid() -> None:
    with pytest.raises(InvalidMessage) as bad:
        validate_notice(notice(notice_time=None, recipient=Mailbox("not an address", "")), shown)
    assert {v.field for v in bad.value.violations} == {
        "notice.notice_time",
        "notice.recipient.email",
    }


@PROPERTY
@given(reason=hostile_text(500), url=hostile_text(300), name=hostile_text())
def test_hostile_reasons_and_urls_never_shape_the_mail(reason: str, url: str, name: str) -> None:
    message = notice(reason=reason, calendar_url=url, recipient=Mailbox("bob@example.org", name))
    try:
        valid = validate_notice(message, shown)
    except InvalidMessage as exc:
        assert {v.field for v in exc.violations} <= {
            "notice.reason",
            "notice.calendar_url",
            "notice.recipient.display_name",
        }
        return
    read = read_mail(render_and_verify_notice(valid, SENDER).mime)
    assert read.header_names == INVITE_HEADERS
    assert read.tree == REMINDER_TREE
    assert [address for _, address in read.to] == ["bob@example.org"]
    assert valid.reason in read.plain and html.escape(valid.reason) in read.html
    assert valid.calendar in read.plain
