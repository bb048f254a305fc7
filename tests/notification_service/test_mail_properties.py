"""Property tests: no caller text, in any encoding, shapes a rendered mail (pure).

Every header-bound and body-bound field is fuzzed with encoded words (several
charsets, q and b, carrying CR, LF, NUL and whole headers), RFC 2231-looking
parameters, Unicode separators, quotes, semicolons, colons and very long words.
Each example is either refused by validation (InvalidMessage, naming only fields
that were fuzzed) or rendered; a rendered mail is read back with the `email`
package's default policy and icalendar's full parser, independently of the
service's own structural check: exactly the headers meant, one recipient, the part tree,
the decoded subject holding the literal title, the iCalendar properties
unchanged, SUMMARY equal to the title.
"""

from __future__ import annotations

import html
from collections import Counter
from datetime import timedelta
from zoneinfo import available_timezones

from hypothesis import example, given
from hypothesis import strategies as st

from notification_service.domain.errors import InvalidMessage
from notification_service.domain.invite_validation import validate_invite
from notification_service.domain.model import Change, Mailbox, Method, Round
from notification_service.domain.reminder_validation import validate_reminder
from notification_service.service_layer.notifier import (
    render_and_verify_invite,
    render_and_verify_reminder,
)
from tests.notification_service.mail_strategies import (
    ADDRESSES,
    HOSTILE_ADDRESSES,
    INVITE_HEADERS,
    INVITE_TREE,
    PROPERTY,
    REMINDER_TREE,
    clean_text,
    hostile_text,
    no_space,
    read_mail,
)
from tests.notification_service.notification_helpers import START, domain_message, reminder_message

SENDER = Mailbox("rooms@mail.example.net", "Practice Rooms")
ZONES = sorted(available_timezones())


def _attendees(event) -> list:
    value = event.get("ATTENDEE", [])
    return value if isinstance(value, list) else [value]


def _event_names(event) -> Counter[str]:
    return Counter(name for name, _ in event.property_items(recursive=False)) - Counter(
        {"BEGIN": 1, "END": 1}
    )


def _expected_event_names(message) -> Counter[str]:
    names = Counter(["UID", "SEQUENCE", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY", "ORGANIZER"])
    names["ATTENDEE"] = len(message.attendees)
    if message.description or message.rounds:
        names["DESCRIPTION"] = 1
    if message.status is not None:
        names["STATUS"] = 1
    if message.method is Method.CANCEL and message.cancel_reason:
        names["COMMENT"] = 1
    if message.method is Method.REQUEST:
        names["TRANSP"] = 1
    return names


def _check_invite(message) -> None:
    """Validate, render, read back; the properties every mail must have."""
    try:
        valid = validate_invite(message)
    except InvalidMessage:
        raise
    data = render_and_verify_invite(valid, SENDER).mime
    read = read_mail(data)
    assert read.header_names == INVITE_HEADERS
    assert read.tree == INVITE_TREE
    assert len(read.to) == 1 and read.to[0][1] == valid.recipient.address
    assert no_space(read.to[0][0]) == no_space(valid.recipient.name)
    assert read.sender == [(SENDER.name, SENDER.address)]
    assert valid.title in read.subject
    assert valid.title in read.plain
    assert html.escape(valid.title) in read.html
    for line in data.split(b"\r\n"):
        assert len(line) <= 998
    # No caller text reached a MIME parameter.
    for part in read.mail.walk():
        params = dict(part["Content-Type"].params)
        assert set(params) <= {"boundary", "charset", "method", "name"}
        assert params.get("name", "invite.ics") == "invite.ics"
        assert params.get("method", valid.method.value) == valid.method.value
        if part.get_content_disposition() == "attachment":
            assert part.get_filename() == "invite.ics"
    calendar = read.calendar
    assert calendar is not None
    assert str(calendar["METHOD"]) == valid.method.value
    [event] = calendar.walk("VEVENT")
    assert [c.name for c in calendar.subcomponents] == ["VEVENT"]
    assert _event_names(event) == _expected_event_names(valid)
    assert str(event["SUMMARY"]) == valid.title
    assert str(event["UID"]) == valid.uid
    attendees = _attendees(event)
    assert [str(a).lower() for a in attendees] == [
        f"mailto:{a.address}".lower() for a in valid.attendees
    ]
    for attendee, meant in zip(attendees, valid.attendees, strict=True):
        names = {"CUTYPE", "ROLE", "PARTSTAT", "RSVP"} | ({"CN"} if meant.name else set())
        assert set(attendee.params) == names
        if meant.name:
            # The two substitutions a parameter needs (see ics.cn), nothing else.
            assert attendee.params["CN"] == meant.name.replace('"', "'").replace("\\", "/")
    if valid.description:
        assert str(event["DESCRIPTION"]).startswith(valid.description)
    for round_ in valid.rounds:
        assert f"Round {round_.number}: {round_.topic}" in str(event["DESCRIPTION"])
        assert f"Round {round_.number}: {round_.topic}" in read.plain
    if valid.method is Method.CANCEL and valid.cancel_reason:
        assert str(event["COMMENT"]) == valid.cancel_reason
        assert valid.cancel_reason in read.plain


def _render_or_refuse(message, fuzzed: set[str]) -> None:
    try:
        _check_invite(message)
    except InvalidMessage as exc:
        fields = {v.field for v in exc.violations}
        assert fields <= fuzzed, f"{fields} refused, only {fuzzed} were fuzzed"


@PROPERTY
@given(title=hostile_text(), description=hostile_text(600), reason=hostile_text(300))
def test_event_texts_never_shape_the_mail(title, description, reason):
    for method in (Method.REQUEST, Method.CANCEL):
        message = domain_message(
            method=method, title=title, description=description, cancel_reason=reason
        )
        _render_or_refuse(
            message,
            {"message.event.title", "message.event.description", "message.event.cancel_reason"},
        )


@PROPERTY
@given(
    recipient=hostile_text(),
    organizer=hostile_text(),
    attendee=hostile_text(),
    departed=hostile_text(),
    address=HOSTILE_ADDRESSES,
    organizer_address=HOSTILE_ADDRESSES,
    departed_address=HOSTILE_ADDRESSES,
)
def test_names_and_addresses_never_shape_the_mail(
    recipient, organizer, attendee, departed, address, organizer_address, departed_address
):
    guest = Mailbox(address, recipient)
    message = domain_message(
        recipient=guest,
        organizer=Mailbox(organizer_address, organizer),
        attendees=(Mailbox("host@example.com", attendee), guest),
        change=Change.GUEST_LEFT,
        departed=Mailbox(departed_address, departed),
    )
    _render_or_refuse(
        message,
        {
            "message.recipient.email",
            "message.recipient.display_name",
            "message.organizer.email",
            "message.organizer.display_name",
            "message.attendees[0].display_name",
            "message.attendees[1].email",
            "message.attendees[1].display_name",
            "message.departed.email",
            "message.departed.display_name",
        },
    )


@PROPERTY
@given(
    topics=st.lists(hostile_text(), max_size=4),
    zone=st.one_of(st.sampled_from(ZONES), hostile_text(40)),
)
def test_round_topics_and_time_zones_never_shape_the_mail(topics, zone):
    rounds = tuple(Round(n, t) for n, t in enumerate(topics, start=1))
    message = domain_message(rounds=rounds, time_zone=zone)
    fuzzed = {f"message.event.rounds[{i}].topic" for i in range(len(topics))}
    _render_or_refuse(message, fuzzed | {"message.recipient.time_zone"})


@PROPERTY
@given(title=clean_text(), name=clean_text(), topic=clean_text(), address=ADDRESSES)
# Found by these tests: icalendar's TEXT escaping read a literal "\N" as a line
# break; icalendar's parameter parser reads "\\" in a CN as one backslash.
@example(title="ends in \\N", name="a\\\\b", topic="x", address="a@b")
def test_text_without_controls_always_renders(title, name, topic, address):
    """What validation lets through, the renderer can always handle."""
    guest = Mailbox(address, name)
    message = domain_message(
        title=title,
        description=topic,
        recipient=guest,
        attendees=(Mailbox("host@example.com", name), guest),
        rounds=(Round(1, topic),),
        cancel_reason=topic,
        method=Method.CANCEL,
    )
    _check_invite(message)


@PROPERTY
@given(
    title=hostile_text(),
    description=hostile_text(600),
    topic=hostile_text(),
    name=hostile_text(),
    other=hostile_text(),
    zone=st.one_of(st.sampled_from(ZONES), hostile_text(40)),
)
def test_reminder_texts_never_shape_the_mail(title, description, topic, name, other, zone):
    message = reminder_message(
        title=title,
        description=description,
        rounds=(Round(1, topic),),
        recipient=Mailbox("guest@example.org", name),
        participants=(Mailbox("host@example.com", other), Mailbox("guest@example.org", name)),
        time_zone=zone,
    )
    try:
        valid = validate_reminder(message)
    except InvalidMessage as exc:
        fields = {v.field for v in exc.violations}
        assert fields <= {
            "message.title",
            "message.description",
            "message.rounds[0].topic",
            "message.recipient.display_name",
            "message.recipient.time_zone",
            "message.participants[0].display_name",
            "message.participants[1].display_name",
        }
        return
    read = read_mail(render_and_verify_reminder(valid, SENDER).mime)
    assert read.header_names == INVITE_HEADERS
    assert read.tree == REMINDER_TREE
    assert read.calendar is None
    assert len(read.to) == 1 and read.to[0][1] == "guest@example.org"
    assert valid.title in read.subject
    assert read.subject.startswith("Reminder: ")
    assert read.subject.endswith(" starts in 1 hour")
    assert valid.title in read.plain and html.escape(valid.title) in read.html
    assert f"Round 1: {valid.rounds[0].topic}" in read.plain
    assert START.astimezone(valid.zone).strftime("%H:%M") in read.plain
    assert valid.start - valid.send_time == timedelta(hours=1)
