"""Text hygiene and request checks (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notification_service.domain.errors import InvalidMessage
from notification_service.domain.invite_validation import validate_invite
from notification_service.domain.model import Mailbox, Method, Status
from tests.notification_service.notification_helpers import START, domain_message

HOSTILE_LINE_TEXTS = [
    "Title\r\nBcc: victim@example.com",
    "Title\rX-Injected: 1",
    "Title\nX-Injected: 1",
    "Title\x00",
    "Tab\there",
    "Escape\x1b[31m",
    "DEL\x7f",
    "C1 next line\x85",
    "Line separator\u2028X",
    "Paragraph separator\u2029X",
    "Lone surrogate\ud800X",
]


def _fields(exc: pytest.ExceptionInfo[InvalidMessage]) -> set[str]:
    return {v.field for v in exc.value.violations}


@pytest.mark.parametrize("text", HOSTILE_LINE_TEXTS)
@pytest.mark.parametrize(
    ("field", "make"),
    [
        ("message.event.title", lambda t: domain_message(title=t)),
        ("message.event.cancel_reason", lambda t: domain_message(cancel_reason=t)),
        (
            "message.recipient.display_name",
            lambda t: domain_message(recipient=Mailbox("guest@example.org", t)),
        ),
        (
            "message.attendees[1].display_name",
            lambda t: domain_message(
                attendees=(Mailbox("host@example.com", "Host"), Mailbox("guest@example.org", t))
            ),
        ),
        (
            "message.organizer.display_name",
            lambda t: domain_message(organizer=Mailbox("host@example.com", t)),
        ),
    ],
)
def test_control_characters_in_single_line_texts_are_rejected(text, field, make):
    with pytest.raises(InvalidMessage) as exc:
        validate_invite(make(text))
    assert field in _fields(exc)
    assert "control character" in str(exc.value)


def test_description_keeps_line_feeds_and_tabs():
    description = "Agenda:\n\t1. warm-up\n\t2. design"
    assert validate_invite(domain_message(description=description)).description == description


@pytest.mark.parametrize("bad", ["a\r\nb", "a\rb", "a\x00b", "a\u2028b", "a\x0bb"])
def test_description_rejects_other_controls(bad):
    with pytest.raises(InvalidMessage) as exc:
        validate_invite(domain_message(description=bad))
    assert _fields(exc) == {"message.event.description"}


@pytest.mark.parametrize(
    ("title", "ok"), [("x" * 200, True), ("x" * 201, False), ("", False), ("   ", False)]
)
def test_title_length_limits(title, ok):
    if ok:
        assert validate_invite(domain_message(title=title)).title == title
    else:
        with pytest.raises(InvalidMessage) as exc:
            validate_invite(domain_message(title=title))
        assert _fields(exc) == {"message.event.title"}


def test_non_ascii_text_is_accepted():
    valid = validate_invite(
        domain_message(title="面试练习", recipient=Mailbox("zoe@example.com", "Zoë Ångström"))
    )
    assert valid.title == "面试练习"
    assert valid.recipient.name == "Zoë Ångström"


@pytest.mark.parametrize(
    "address",
    [
        "",
        "no-at-sign",
        "a@b@c",
        "victim@example.com\r\nBcc: x@y.z",
        "victim@example.com\n",
        "Name <a@b.c>",
        "a@b.c, d@e.f",
        "a b@c.d",
        '"quoted"@example.com',
        "a?cc=x@example.com",
        "zoë@example.com",
        "a..b@example.com",
        "a@-example.com",
        "x" * 65 + "@example.com",
    ],
)
def test_bad_addresses_are_rejected(address):
    with pytest.raises(InvalidMessage) as exc:
        validate_invite(domain_message(recipient=Mailbox(address, "Guest")))
    assert "message.recipient.email" in _fields(exc)


@pytest.mark.parametrize("address", ["a@b", "first.last+tag@sub.example.co.uk", "o'neil@x.io"])
def test_good_addresses_pass(address):
    valid = validate_invite(domain_message(recipient=Mailbox(address, "")))
    assert valid.recipient.address == address


def test_time_zone_empty_means_utc_and_unknown_is_rejected():
    assert validate_invite(domain_message(time_zone="")).zone.key == "UTC"
    assert validate_invite(domain_message(time_zone="Asia/Shanghai")).zone.key == "Asia/Shanghai"
    for bad in ("Mars/Olympus_Mons", "../../etc/passwd", "/etc/localtime", "UTC\n"):
        with pytest.raises(InvalidMessage) as exc:
            validate_invite(domain_message(time_zone=bad))
        assert _fields(exc) == {"message.recipient.time_zone"}


def test_times_required_ordered_and_truncated_to_seconds():
    with pytest.raises(InvalidMessage) as exc:
        validate_invite(domain_message(start=None, dtstamp=None))
    assert {"message.event.start_time", "message.dtstamp"} <= _fields(exc)
    with pytest.raises(InvalidMessage) as exc:
        validate_invite(domain_message(end=START))
    assert _fields(exc) == {"message.event.end_time"}
    stamp = datetime(2031, 1, 1, 12, 0, 0, 654321, tzinfo=UTC)
    assert validate_invite(domain_message(dtstamp=stamp)).dtstamp == stamp.replace(microsecond=0)


def test_status_follows_the_method():
    assert validate_invite(domain_message()).status is Status.CONFIRMED
    cancel = validate_invite(domain_message(method=Method.CANCEL))
    assert cancel.status is Status.CANCELLED
    # A REQUEST cannot carry STATUS:CANCELLED (that left events in calendars).
    with pytest.raises(InvalidMessage) as exc:
        validate_invite(domain_message(status=Status.CANCELLED))
    assert _fields(exc) == {"message.event.status"}


def test_uninvite_names_only_the_recipient_and_has_no_status():
    valid = validate_invite(domain_message(method=Method.CANCEL, uninvite=True))
    assert valid.status is None
    assert valid.attendees == (valid.recipient,)
    with pytest.raises(InvalidMessage) as exc:
        validate_invite(domain_message(method=Method.REQUEST, uninvite=True))
    assert _fields(exc) == {"message.uninvite"}


def test_every_problem_is_reported_at_once():
    with pytest.raises(InvalidMessage) as exc:
        validate_invite(
            domain_message(
                method=None,
                uid="has space",
                sequence=-1,
                title="a\nb",
                recipient=Mailbox("nope", "x"),
                attendees=(),
                end=START - timedelta(hours=1),
            )
        )
    assert _fields(exc) == {
        "message.method",
        "message.event.uid",
        "message.event.sequence",
        "message.event.title",
        "message.recipient.email",
        "message.attendees",
        "message.event.end_time",
    }


def test_times_outside_the_shown_range_are_refused():
    late = datetime(9999, 12, 31, 22, 0, tzinfo=UTC)
    with pytest.raises(InvalidMessage) as exc:
        validate_invite(
            domain_message(start=late, end=late + timedelta(hours=1), time_zone="Asia/Tokyo")
        )
    assert {"message.event.start_time", "message.event.end_time"} <= _fields(exc)
    with pytest.raises(InvalidMessage) as exc:
        validate_invite(domain_message(dtstamp=datetime(1969, 12, 31, tzinfo=UTC)))
    assert _fields(exc) == {"message.dtstamp"}
