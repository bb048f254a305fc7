"""What a CalDAV answer means, and safe XML: pure, no network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from notification_service.delivery.calendar.caldav_xml import parse_xml
from notification_service.delivery.calendar.failures import failure, retry_after
from notification_service.delivery.calendar.objects import entity_tag
from notification_service.delivery.calendar.safe_http import HttpResponse
from notification_service.domain.errors import (
    CalendarAuthRejected,
    CalendarError,
    CalendarPermanentFailure,
    CalendarProtocolError,
    CalendarRetryLater,
    CalendarTemporaryFailure,
    NotificationError,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _response(status: int, **headers: str) -> HttpResponse:
    return HttpResponse(status, httpx.Headers(headers), b"", "https://cal.example.com/x")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", NOW),
        ("120", NOW + timedelta(seconds=120)),
        ("Wed, 02 Dec 2026 12:07:00 GMT", NOW + timedelta(minutes=7)),
        ("Wed, 02 Dec 2026 11:00:00 GMT", NOW),  # in the past: now
        ("99999999", NOW + timedelta(days=1)),  # clamped
        ("Fri, 01 Jan 2100 00:00:00 GMT", NOW + timedelta(days=1)),
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after(value: str | None, expected: datetime | None) -> None:
    assert retry_after(value, NOW) == expected


@given(st.integers(min_value=100, max_value=599))
def test_every_status_is_classified_once(status: int) -> None:
    error = failure(_response(status), "PUT", NOW)
    assert isinstance(error, CalendarError) and isinstance(error, NotificationError)
    assert error.status == status
    if status in (401, 403):
        assert type(error) is CalendarAuthRejected
    elif status >= 500 or status in (408, 429):
        assert isinstance(error, CalendarTemporaryFailure)
    else:
        assert type(error) is CalendarPermanentFailure


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_makes_a_retry_at(status: int) -> None:
    error = failure(_response(status, **{"Retry-After": "30"}), "PUT", NOW)
    assert isinstance(error, CalendarRetryLater)
    assert error.retry_at == NOW + timedelta(seconds=30)


def test_reasons_are_the_designs_names() -> None:
    assert CalendarAuthRejected("x").reason == "CALENDAR_AUTH_REJECTED"
    assert CalendarTemporaryFailure("x").reason == "CALENDAR_UNREACHABLE"


@pytest.mark.parametrize(
    "body",
    [
        b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>',
        b'<!DOCTYPE a SYSTEM "http://169.254.169.254/">\n<a/>',
        b"<a>",
        b"",
    ],
)
def test_unsafe_or_malformed_xml_is_a_protocol_error(body: bytes) -> None:
    with pytest.raises(CalendarProtocolError):
        parse_xml(body, "https://cal.example.com/")


@pytest.mark.parametrize("value", ["9" * 5000, "\u00b2", "\u0661\u0662", "1" * 11])
def test_a_retry_after_int_cannot_read_is_ignored(value: str) -> None:
    # str.isdigit() takes these; int() refuses them or more than 4,300 digits.
    assert retry_after(value, datetime.now(UTC)) is None


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ('"abc"', '"abc"'),
        ('W/"abc"', 'W/"abc"'),
        (' "abc" ', '"abc"'),
        ('"\u00e9t\u00e9"', None),  # not ASCII: could not be sent back in If-Match
        ('"a"b"', None),
        ("abc", None),
        ('"a\r\nX-Injected: 1"', None),
        (None, None),
    ],
)
def test_only_an_entity_tag_is_taken_as_an_etag(value: str | None, kept: str | None) -> None:
    assert entity_tag(value) == kept
