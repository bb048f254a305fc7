"""The checks of VerifyCalendar and WriteCalendarEvent requests (pure): every problem at
once, the invitation's own rules for the event, and never a secret in a violation."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from notification_service.domain.calendar import (
    BasicLogin,
    CalendarAction,
    CalendarWriteRequest,
    OAuthGrant,
    VerifyRequest,
)
from notification_service.domain.calendar_validation import (
    validate_calendar_write,
    validate_verify,
)
from notification_service.domain.errors import InvalidMessage
from notification_service.domain.model import Mailbox, Round, Status
from tests.notification_service.notification_helpers import START

SECRET = "pa\x00ss-w0rd-\u2028"


def verify(**overrides: object) -> VerifyRequest:
    base = VerifyRequest("user-1", "https://cal.example.com/", BasicLogin("alice", "pw"))
    return replace(base, **overrides)  # type: ignore[arg-type]


def write(**overrides: object) -> CalendarWriteRequest:
    base = CalendarWriteRequest(
        user_id="user-1",
        calendar_url="https://cal.example.com/cal/",
        sealed_credentials=b"v1.k1.sealed",
        action=CalendarAction.PUT,
        uid="uid-1@rooms.test",
        sequence=3,
        start=START,
        end=START + timedelta(hours=1),
        title="Mock interview",
        description="Bring a pen.",
        rounds=(Round(1, "Arrays"),),
        attendees=(Mailbox("host@example.com", "Host"), Mailbox("guest@example.org")),
        dtstamp=START - timedelta(days=1),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def fields(error: pytest.ExceptionInfo[InvalidMessage]) -> set[str]:
    return {v.field for v in error.value.violations}


def test_a_valid_verify_request_names_its_provider() -> None:
    assert validate_verify(verify()).provider == "caldav"
    oauth = validate_verify(verify(credentials=OAuthGrant("google", "1//token")))
    assert oauth.provider == "google"


def test_every_verify_problem_at_once_and_no_secret_in_them() -> None:
    with pytest.raises(InvalidMessage) as caught:
        validate_verify(
            VerifyRequest("", "x" * 2049, BasicLogin("bob\n", SECRET)),
        )
    assert fields(caught) == {"user_id", "url", "basic.username", "basic.password"}
    assert "U+0000" not in str(caught.value) and SECRET not in str(caught.value)
    with pytest.raises(InvalidMessage) as caught:
        validate_verify(verify(credentials=OAuthGrant("yahoo", SECRET)))
    assert fields(caught) == {"oauth.provider", "oauth.refresh_token"}
    assert SECRET not in str(caught.value) and "U+2028" not in str(caught.value)
    with pytest.raises(InvalidMessage) as caught:
        validate_verify(verify(credentials=None))
    assert fields(caught) == {"credentials"}


def test_a_password_of_spaces_is_a_password() -> None:
    validate_verify(verify(credentials=BasicLogin("alice", "   ")))


def test_a_credential_repr_shows_no_secret() -> None:
    assert "hunter2" not in repr(BasicLogin("alice", "hunter2"))
    assert "1//tok" not in repr(OAuthGrant("google", "1//tok"))
    assert "sealed" not in repr(write())


def test_a_valid_put_carries_the_copy() -> None:
    valid = validate_calendar_write(write(status=Status.CONFIRMED))
    assert valid.copy is not None
    assert (valid.uid, valid.copy.sequence, valid.copy.title) == (
        "uid-1@rooms.test",
        3,
        "Mock interview",
    )
    assert valid.copy.attendees[1] == Mailbox("guest@example.org")


def test_the_event_is_checked_by_the_invitations_rules() -> None:
    with pytest.raises(InvalidMessage) as caught:
        validate_calendar_write(
            write(
                uid="has space",
                sequence=-1,
                end=START,
                title="a\r\nMETHOD:CANCEL",
                description="x" * 4001,
                rounds=(Round(0, "t"),),
                attendees=(Mailbox("not an address"),),
                dtstamp=None,
                status=Status.CANCELLED,
            )
        )
    assert fields(caught) == {
        "event.uid",
        "event.sequence",
        "event.end_time",
        "event.title",
        "event.description",
        "event.rounds[0].number",
        "attendees[0].email",
        "dtstamp",
        "event.status",
    }


def test_a_delete_needs_the_uid_alone() -> None:
    valid = validate_calendar_write(
        write(action=CalendarAction.DELETE, title="", start=None, attendees=(), dtstamp=None)
    )
    assert valid.copy is None and valid.uid == "uid-1@rooms.test"
    with pytest.raises(InvalidMessage) as caught:
        validate_calendar_write(write(action=CalendarAction.DELETE, uid=""))
    assert fields(caught) == {"event.uid"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"action": None, "unknown_action": 9}, "action"),
        ({"action": None}, "action"),
        ({"user_id": "u" * 256}, "user_id"),
        ({"calendar_url": ""}, "calendar_url"),
        ({"sealed_credentials": b""}, "sealed_credentials"),
        ({"sealed_credentials": b"x" * 70_000}, "sealed_credentials"),
        ({"etag": '"e"'}, "etag"),
        ({"href": "https://cal.example.com/cal/a.ics", "etag": "no-quotes"}, "etag"),
        ({"href": "https://cal.example.com/cal/a.ics", "etag": '"' + "e" * 300 + '"'}, "etag"),
        ({"href": "https://cal.example.com/\x00"}, "href"),
        ({"idempotency_key": "k" * 201}, "idempotency_key"),
        ({"unknown_status": 7}, "event.status"),
    ],
)
def test_a_bad_write_field_is_named(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        validate_calendar_write(write(**overrides))
    assert fields(caught) == {field}


def test_a_weak_etag_with_its_href_is_accepted() -> None:
    valid = validate_calendar_write(write(href="https://cal.example.com/cal/a.ics", etag='W/"1"'))
    assert (valid.href, valid.etag) == ("https://cal.example.com/cal/a.ics", 'W/"1"')
