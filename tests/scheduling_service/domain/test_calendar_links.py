"""'Add to calendar' links (pure): the exact URLs, times in UTC, caller text that can
neither add nor change a parameter, and the length bound with its cuts."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, quote, urlsplit
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduling_service.domain.calendar_links import (
    ELLIPSIS,
    URL_LIMIT,
    CalendarLinks,
    add_to_calendar,
    clean,
)
from scheduling_service.domain.validation import DESCRIPTION_MAX, TITLE_MAX

STARTS = datetime(2030, 3, 1, 17, 0, tzinfo=UTC)
ENDS = STARTS + timedelta(minutes=90)
GOOGLE = ("calendar.google.com", "/calendar/render")
OUTLOOK = ("outlook.office.com", "/calendar/deeplink/compose")
GOOGLE_NAMES = {"action", "text", "dates"}
OUTLOOK_NAMES = {"path", "rru", "subject", "startdt", "enddt"}


def query(url: str, where: tuple[str, str]) -> dict[str, str]:
    """The parameters of `url` (each exactly once), after checking where it points."""
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", *where), url
    assert parts.fragment == "", url
    # strict: a cut inside an escape or a character would fail to decode here.
    params = parse_qs(parts.query, keep_blank_values=True, strict_parsing=True, errors="strict")
    assert all(len(values) == 1 for values in params.values()), params
    return {name: values[0] for name, values in params.items()}


def google(links: CalendarLinks) -> dict[str, str]:
    return query(links.google_url, GOOGLE)


def outlook(links: CalendarLinks) -> dict[str, str]:
    return query(links.outlook_url, OUTLOOK)


def test_the_exact_links() -> None:
    links = add_to_calendar("Mock interview", "Arrays, then graphs.", STARTS, ENDS)
    assert links.google_url == (
        "https://calendar.google.com/calendar/render?action=TEMPLATE&text=Mock%20interview"
        "&dates=20300301T170000Z/20300301T183000Z&details=Arrays%2C%20then%20graphs."
    )
    assert links.outlook_url == (
        "https://outlook.office.com/calendar/deeplink/compose?path=%2Fcalendar%2Faction"
        "%2Fcompose&rru=addevent&subject=Mock%20interview&startdt=2030-03-01T17:00:00Z"
        "&enddt=2030-03-01T18:30:00Z&body=Arrays%2C%20then%20graphs."
    )


def test_without_a_description_there_is_no_details_or_body() -> None:
    links = add_to_calendar("Mock interview", "", STARTS, ENDS)
    assert set(google(links)) == GOOGLE_NAMES
    assert set(outlook(links)) == OUTLOOK_NAMES
    # Nothing but control characters is no description either.
    assert add_to_calendar("Mock interview", "\r\t\x00", STARTS, ENDS) == links


def test_times_are_shown_in_utc() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    links = add_to_calendar("t", "", STARTS.astimezone(berlin), ENDS.astimezone(berlin))
    assert google(links)["dates"] == "20300301T170000Z/20300301T183000Z"
    assert outlook(links)["startdt"] == "2030-03-01T17:00:00Z"
    assert outlook(links)["enddt"] == "2030-03-01T18:30:00Z"


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        add_to_calendar("t", "", STARTS.replace(tzinfo=None), ENDS)


def test_caller_text_adds_and_changes_no_parameter() -> None:
    title = "a&dates=19700101T000000Z/19700101T000000Z&text=x#frag+1 %41?"
    description = "&action=EVIL&details=&body=x;y=z\n"
    links = add_to_calendar(title, description, STARTS, ENDS)
    assert google(links) == {
        "action": "TEMPLATE",
        "text": title,
        "dates": "20300301T170000Z/20300301T183000Z",
        "details": description,
    }
    shown = outlook(links)
    assert set(shown) == OUTLOOK_NAMES | {"body"}
    assert (shown["subject"], shown["body"], shown["path"]) == (
        title,
        description,
        "/calendar/action/compose",
    )


def test_control_characters_other_than_lf_are_dropped() -> None:
    links = add_to_calendar("Mock\x1b[31m\r interview\x7f\x85", "one\r\ntwo\x00\n", STARTS, ENDS)
    assert google(links)["text"] == "Mock[31m interview"
    assert google(links)["details"] == "one\ntwo\n"
    assert outlook(links)["body"] == "one\ntwo\n"


def test_the_cleaning_drops_exactly_the_control_characters_but_lf() -> None:
    for code in range(0x10000):
        char = chr(code)
        category = unicodedata.category(char)
        dropped = (category == "Cc" and char != "\n") or category == "Cs"
        assert clean(char) == ("" if dropped else char), hex(code)


def test_a_lone_surrogate_is_dropped_rather_than_failing() -> None:
    links = add_to_calendar("a\ud800b", "c\udfffd", STARTS, ENDS)
    assert (google(links)["text"], google(links)["details"]) == ("ab", "cd")


@pytest.mark.parametrize("char", ["x", "%", "é", "中", "😀"])
def test_a_long_description_is_cut_to_the_most_that_fits(char: str) -> None:
    description = char * DESCRIPTION_MAX
    links = add_to_calendar("Mock interview", description, STARTS, ENDS)
    for url, name, params in (
        (links.google_url, "details", google(links)),
        (links.outlook_url, "body", outlook(links)),
    ):
        assert len(url) < URL_LIMIT
        shown = params[name]
        assert shown.endswith(ELLIPSIS) and description.startswith(shown[: -len(ELLIPSIS)])
        # One more character would not have fitted.
        assert len(url) + len(quote(char, safe="")) >= URL_LIMIT


@pytest.mark.parametrize("char", ["é", "中", "😀"])  # two, three and four UTF-8 bytes
def test_a_cut_never_splits_an_escape_or_a_character(char: str) -> None:
    for pad in range(12):  # every alignment of the escapes against the limit
        description = "x" * pad + char * 2000
        links = add_to_calendar("t", description, STARTS, ENDS)
        # query() decodes strictly: half an escape or half a character would fail there.
        for shown in (google(links)["details"], outlook(links)["body"]):
            assert set(shown.removesuffix(ELLIPSIS).lstrip("x")) == {char}


def test_a_full_length_title_of_the_bmp_is_never_cut() -> None:
    title = "\uffff" * TITLE_MAX  # three UTF-8 bytes each: the longest such title encoded
    links = add_to_calendar(title, "d" * DESCRIPTION_MAX, STARTS, ENDS)
    assert google(links)["text"] == title
    assert outlook(links)["subject"] == title
    assert len(links.google_url) < URL_LIMIT and len(links.outlook_url) < URL_LIMIT


def test_a_title_that_alone_would_not_fit_is_cut_too() -> None:
    title = "😀" * 1000
    links = add_to_calendar(title, "description", STARTS, ENDS)
    for url, name, params in (
        (links.google_url, "text", google(links)),
        (links.outlook_url, "subject", outlook(links)),
    ):
        assert len(url) < URL_LIMIT
        shown = params[name]
        assert shown.endswith(ELLIPSIS) and title.startswith(shown[: -len(ELLIPSIS)])
        assert len(shown) > 100


def _is_start_of(shown: str, text: str) -> bool:
    """All of `text`, a start of it marked as cut, or nothing (no room was left)."""
    return shown in (text, "") or (
        shown.endswith(ELLIPSIS) and text.startswith(shown[: -len(ELLIPSIS)])
    )


# Hypothesis draws short texts, which would never reach the cuts: long ones are made of
# a drawn piece repeated, then a drawn tail.
_long_text = st.builds(
    lambda piece, times, tail: piece * times + tail,
    st.text(min_size=1, max_size=8),
    st.integers(min_value=1, max_value=1000),
    st.text(max_size=20),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=st.text(max_size=TITLE_MAX) | _long_text.map(lambda t: t[:TITLE_MAX]) | _long_text,
    description=st.text(max_size=DESCRIPTION_MAX) | _long_text,
    starts=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.timezones(),
        allow_imaginary=False,
    ),
    minutes=st.integers(min_value=5, max_value=8 * 60),
)
def test_any_text_gives_exactly_the_expected_parameters(
    title: str, description: str, starts: datetime, minutes: int
) -> None:
    starts = starts.replace(microsecond=0)
    ends = starts + timedelta(minutes=minutes)
    links = add_to_calendar(title, description, starts, ends)
    # Compared in UTC: an aware time that is ambiguous in its own zone (the hour repeated
    # when summer time ends) compares unequal to every time of another zone (PEP 495).
    starts, ends = starts.astimezone(UTC), ends.astimezone(UTC)
    title, description = clean(title), clean(description)
    fits_whole = len(title) <= TITLE_MAX and all(ord(c) <= 0xFFFF for c in title)
    # Short texts are carried whole; the rest are cut (see above), never exceed the bound.
    short = len(quote(title, safe="")) + len(quote(description, safe="")) <= 1700

    g = google(links)
    assert set(g) == GOOGLE_NAMES | ({"details"} if "details" in g else set())
    assert g["action"] == "TEMPLATE"
    first, _, last = g["dates"].partition("/")
    assert datetime.strptime(first, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) == starts
    assert datetime.strptime(last, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) == ends

    o = outlook(links)
    assert set(o) == OUTLOOK_NAMES | ({"body"} if "body" in o else set())
    assert (o["path"], o["rru"]) == ("/calendar/action/compose", "addevent")
    assert datetime.strptime(o["startdt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) == starts
    assert datetime.strptime(o["enddt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) == ends

    for url, shown_title, shown_description in (
        (links.google_url, g["text"], g.get("details", "")),
        (links.outlook_url, o["subject"], o.get("body", "")),
    ):
        assert len(url) < URL_LIMIT
        if fits_whole:
            assert shown_title == title
        else:
            assert _is_start_of(shown_title, title)
        if short:
            assert shown_description == description
        else:
            assert _is_start_of(shown_description, description)
