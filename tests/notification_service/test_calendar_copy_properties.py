"""Property: whatever titles, descriptions, round topics and names a caller sends in a
PUT, the object the calendar server then holds has exactly one VEVENT, no METHOD, and
reads back (icalendar's full parser, and vobject's) with the very texts that were sent;
or the request is INVALID_ARGUMENT naming only fields that were fuzzed, and nothing is
written. Over a real gRPC port, into real Radicale and Xandikos processes, read back
with a plain GET.

Xandikos stores the bytes it was given; Radicale stores its own serialization (vobject),
so what is read back from it is a second writer's work, parsed."""

from __future__ import annotations

from typing import Any

import grpc
import icalendar
import pytest
import vobject
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note
from hypothesis import strategies as st
from notification.v1 import notification_pb2 as pb

from notification_service.domain.model import Round
from notification_service.render.bodies import event_description
from notification_service.render.ics import cn
from tests.caldav_servers import XANDIKOS_CALENDAR
from tests.notification_service.calendar_helpers import (
    calendar_config,
    error_details,
    get_object,
    new_uid,
    radicale_user,
    verify_request,
    write_request,
)
from tests.notification_service.conftest import StartServer
from tests.notification_service.mail_strategies import PROPERTY, clean_text, hostile_text
from tests.notification_service.notification_helpers import Running

pytestmark = pytest.mark.slow

# The examples share one server and one calendar (fixtures made once per test).
SHARED = settings(
    PROPERTY,
    suppress_health_check=[*PROPERTY.suppress_health_check, HealthCheck.function_scoped_fixture],
)
HOST, GUEST = "host@example.com", "guest@example.org"


FIELDS = ("title", "description", "topic", "host_name", "guest_name")


@st.composite
def texts(draw: st.DrawFn) -> dict[str, str]:
    """Text validation accepts for every field, but at times one field is any hostile
    text (so that most examples are written, and some are refused)."""
    values = {name: draw(clean_text()) for name in FIELDS}
    # A description may hold line feeds and tabs.
    lines = st.lists(st.one_of(clean_text(120), st.just("\t")), max_size=5)
    values["description"] = draw(lines.map("\n".join))
    hostile = draw(st.sampled_from([None, None, None, *FIELDS]))
    if hostile is not None:
        values[hostile] = draw(hostile_text(600 if hostile == "description" else 200))
    return values


@pytest.fixture(params=["radicale", "xandikos"])
async def calendar(
    request: pytest.FixtureRequest, start_server: StartServer
) -> tuple[Running, Any, tuple[str, str] | None]:
    """(a running server, a VerifyCalendarResponse, the auth to read the calendar)."""
    running = await start_server(calendar_config())
    if request.param == "radicale":
        username, password, collection = await radicale_user(request.getfixturevalue("radicale"))
        auth: tuple[str, str] | None = (username, password)
    else:
        xandikos = request.getfixturevalue("xandikos")
        collection = xandikos.url.rstrip("/") + XANDIKOS_CALENDAR
        username, password, auth = "anyone", "ignored", None
    verified = await running.verify_calendar(
        verify_request(collection, username=username, password=password)
    )
    return running, verified, auth


@SHARED
@given(fields=texts())
async def test_hostile_texts_are_stored_as_sent(
    calendar: tuple[Running, Any, tuple[str, str] | None], fields: dict[str, str]
) -> None:
    running, verified, auth = calendar
    title, description, topic = fields["title"], fields["description"], fields["topic"]
    host_name, guest_name = fields["host_name"], fields["guest_name"]
    uid = new_uid()
    request = write_request(
        verified,
        uid=uid,
        title=title,
        description=description,
        rounds=[pb.EventRound(number=1, topic=topic)],
        attendees=[
            pb.Participant(email=HOST, display_name=host_name),
            pb.Participant(email=GUEST, display_name=guest_name),
        ],
    )
    try:
        response = await running.write_calendar(request)
    except grpc.aio.AioRpcError as error:
        details = error_details(error)
        assert details.code == grpc.StatusCode.INVALID_ARGUMENT
        fuzzed = {
            "event.title",
            "event.description",
            "event.rounds[0].topic",
            "attendees[0].display_name",
            "attendees[1].display_name",
        }
        assert details.fields and details.fields <= fuzzed
        note("refused")
        return
    note("written")
    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, response.detail

    status, body, _ = await get_object(response.href, auth)
    assert status == 200
    calendar_object = icalendar.Calendar.from_ical(body)
    assert "METHOD" not in calendar_object
    events = calendar_object.walk("VEVENT")
    assert len(events) == 1
    [event] = events
    assert str(event["UID"]) == uid
    assert str(event["SUMMARY"]) == title
    assert str(event["DESCRIPTION"]) == event_description(description, (_round(topic),))
    attendees = event["ATTENDEE"]
    assert [str(a).lower() for a in attendees] == [f"mailto:{HOST}", f"mailto:{GUEST}"]
    for attendee, name in zip(attendees, (host_name, guest_name), strict=True):
        assert attendee.params.get("SCHEDULE-AGENT") == "CLIENT"
        # Radicale stores what vobject re-serializes: a CN that needs no quotes loses
        # them, and icalendar reads an unquoted value without its edge spaces.
        expected = cn(name) if name else ""
        assert attendee.params.get("CN", "") in (expected, expected.strip())
    assert event["ORGANIZER"].params.get("SCHEDULE-AGENT") == "CLIENT"

    parsed = vobject.readOne(body.decode("utf-8"))
    assert len(parsed.contents["vevent"]) == 1
    assert parsed.vevent.summary.value == title
    assert "method" not in parsed.contents


def _round(topic: str) -> Round:
    return Round(1, topic)
